"""Per-layer diagnosis: where the quantization error of a model comes from.

For every layer of the integer model, on the verification data:

- own SQNR: the layer alone. Its inputs are the float model's values of the same tensors, quantized at
  the layer's input quantization; the golden model runs the layer; its output, dequantized, is compared
  with the float layer's output. This isolates what the layer's own quantization (input and output
  grids, weights, bias, clamps) costs, free of the error that earlier layers pass on.
- input SQNR: the float inputs against their quantized values alone (the grid the layer is fed), and
  from it the SQNR of the noise the layer adds on top (own noise minus input noise, as powers). A layer
  fed a coarse grid has a low own SQNR without being at fault; the added SQNR ranks the blame.
- cumulative SQNR: the whole integer model up to this layer (measured by `verify`).
- activation ranges: the calibrated range, the range the output's quantization can represent, the
  range the float model reaches, and the share of float values outside the representable range by more
  than half a step (clipped values).
- weight ranges: per output channel max |w|, summarized (min, median, max, the widest channel).

Then the layers that lose most by their own quantization are named first, each with what would help.
And where a model output's SQNR against the float model falls below `LOW_SQNR_DB`, a warning names the
layer on the way to that output where the cumulative SQNR first falls below it (`low_sqnr_warnings`);
the list of offenders names that layer too, whatever its op.
Everything here is a measurement for the report: nothing in it changes the generated code.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from mcuq import golden
from mcuq.ir import float_exec
from mcuq.ir.graph import Graph
from mcuq.qir.kernels import KERNELS, has_int16_form, kernel_spec
from mcuq.qir.model import DTYPE_NUMPY, DTYPE_RANGE, Layer, QModel, QOp, QTensor
from mcuq.verify.compare import SqnrAccumulator, energy

MAX_SAMPLES = 256  # the first samples of the verification data are enough for these statistics

OFFENDERS = 3
LOW_SQNR_DB = 20.0  # an output below this against the float model gets a warning naming where it falls
CLIPPED_HINT = 1e-3  # a clipped share above this is worth a hint (0.1 %)
OUTLIER_HINT = 4.0  # max |x| this many times the 99.9th percentile: the range is set by rare outliers
SPREAD_HINT = 20.0  # widest channel's max |w| this many times the median channel's


# --------------------------------------------------------------------------------------------------
# small pure functions
# --------------------------------------------------------------------------------------------------


def quantize_real(x: np.ndarray, t: QTensor) -> np.ndarray:
    """Float values onto ``t``'s integer grid (round half away from zero, saturate to its dtype)."""
    scaled = np.asarray(x, dtype=np.float64) / t.scale
    # trunc(s ± 0.5) is sign(s) * floor(|s| + 0.5) in two passes: float rounding is symmetric about 0.
    rounded = np.trunc(np.add(scaled, np.copysign(0.5, scaled), out=scaled), out=scaled)
    rounded += t.zero_point
    lo, hi = DTYPE_RANGE[t.dtype]
    return np.clip(rounded, lo, hi, out=rounded).astype(DTYPE_NUMPY[t.dtype])


def dequantize(q: np.ndarray, t: QTensor) -> np.ndarray:
    return (q.astype(np.float64) - t.zero_point) * t.scale


def representable_range(t: QTensor) -> tuple[float, float]:
    return t.real_range()


def clipped_count(values: np.ndarray, t: QTensor) -> int:
    """Values that fall outside ``t``'s grid by more than half a step (they saturate)."""
    lo, hi = representable_range(t)
    half = 0.5 * t.scale
    return int(np.count_nonzero((values < lo - half) | (values > hi + half)))


def weight_summary(w: np.ndarray, channel_axis: int) -> dict:
    """Per output channel max |w|: smallest, median, largest, and which channel is widest."""
    per_channel = np.abs(np.moveaxis(np.asarray(w, dtype=np.float64), channel_axis, 0))
    absmax = per_channel.reshape(per_channel.shape[0], -1).max(axis=1)
    median = float(np.median(absmax))
    widest = int(np.argmax(absmax))
    return dict(
        min=float(np.min(w)),
        max=float(np.max(w)),
        channels=int(absmax.size),
        channel_absmax_min=float(absmax.min()),
        channel_absmax_median=median,
        channel_absmax_max=float(absmax[widest]),
        widest_channel=widest,
        spread=float(absmax[widest] / median) if median > 0 else math.inf,
    )


def added_sqnr_db(own_db: float | None, input_db: float | None) -> float | None:
    """SQNR of the noise a layer adds to what its quantized input brings: noise powers (relative to
    the signal) subtract. An approximation: it takes the input noise to pass through at the same
    relative power, so a layer that averages noise away (pooling, a wide dot product) can come out
    cleaner than its input: then None (nothing measurable added), as when either is unknown."""
    if own_db is None or input_db is None:
        return None
    own_noise = 10.0 ** (-own_db / 10.0) if math.isfinite(own_db) else 0.0
    input_noise = 10.0 ** (-input_db / 10.0) if math.isfinite(input_db) else 0.0
    added = own_noise - input_noise
    return -10.0 * math.log10(added) if added > 0 else None


# --------------------------------------------------------------------------------------------------
# statistics gathered over the data
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _TensorStats:
    """Float-side statistics of one layer output over all samples."""

    lo: float = math.inf
    hi: float = -math.inf
    count: int = 0
    clipped: int = 0
    p999_sum: float = 0.0  # 99.9th percentile of |x|, averaged over chunks weighted by size
    absmax: float = 0.0

    def add(self, values: np.ndarray, t: QTensor) -> None:
        flat = values.reshape(-1)
        if flat.size == 0:
            return
        self.lo = min(self.lo, float(flat.min()))
        self.hi = max(self.hi, float(flat.max()))
        mag = np.abs(flat)
        self.absmax = max(self.absmax, float(mag.max()))
        self.p999_sum += float(np.percentile(mag, 99.9)) * flat.size
        self.count += flat.size
        self.clipped += clipped_count(flat, t)

    def outlier_ratio(self) -> float:
        p999 = self.p999_sum / self.count if self.count else 0.0
        return self.absmax / p999 if p999 > 0 else 1.0


def _float_name(model: QModel, name: str) -> str:
    return model.float_name(name)


def _float_batches(graph: Graph, samples_ir: np.ndarray, runs: float_exec.FloatRuns | None, batchable: bool):
    """The float activations of the first `MAX_SAMPLES` samples: `float_exec.BATCH` samples at a time
    (from ``runs``, the same graph on ``samples_ir``, where another stage has them), or one at a time
    for a model whose layers cannot run on a batch."""
    if not batchable:
        for i in range(min(len(samples_ir), MAX_SAMPLES)):
            yield float_exec.run(graph, {graph.inputs[0]: samples_ir[i : i + 1]})
        return
    runs = runs or float_exec.FloatRuns(graph, samples_ir[:MAX_SAMPLES])
    yield from itertools.islice(runs.batches(), math.ceil(MAX_SAMPLES / float_exec.BATCH))


def _on_grid(real: np.ndarray, t: QTensor) -> tuple[np.ndarray, tuple[float, float]]:
    """A layer input's float values on ``t``'s grid, and the energies of the values and of the rounding."""
    q = quantize_real(real, t)
    return q, energy(real, dequantize(q, t))


def _own_pass(graph: Graph, model: QModel, samples_ir: np.ndarray, runs: float_exec.FloatRuns | None = None):
    """Run every layer alone on quantized float inputs; gather own SQNR and output statistics."""
    own, fed = SqnrAccumulator(), SqnrAccumulator()
    stats = {layer.output: _TensorStats() for layer in model.layers}
    batchable = golden.batchable(model)
    for values in _float_batches(graph, samples_ir, runs, batchable):
        batch = len(values[graph.inputs[0]])
        tensors = golden.batched_tensors(model.tensors, batch) if batchable else model.tensors
        grids: dict[str, tuple[np.ndarray, tuple[float, float]]] = {}  # several layers may read one tensor
        for layer in model.layers:
            if any(_float_name(model, n) not in values for n in (*layer.inputs, layer.output)):
                continue  # a requantizing table after a kernel (QDQ models): no float tensor to compare with
            ins = []
            for name in layer.inputs:
                if name not in grids:
                    grids[name] = _on_grid(values[_float_name(model, name)], model.tensors[name])
                q, input_energy = grids[name]
                ins.append(q)
                fed.add_energy(layer.output, *input_energy)
            out = golden.run_layer(layer, ins, tensors)
            reference = values[_float_name(model, layer.output)]
            own.add(layer.output, reference, dequantize(out, model.tensors[layer.output]))
            stats[layer.output].add(reference, model.tensors[layer.output])
    return own.sqnr_db(), fed.sqnr_db(), stats


# --------------------------------------------------------------------------------------------------
# rows and blame
# --------------------------------------------------------------------------------------------------


def _weights(graph: Graph, layer: Layer) -> dict | None:
    axes = kernel_spec(layer.op).weights
    node = next((n for n in graph.nodes if n.name == layer.name), None)
    if axes is None or node is None or len(node.inputs) < 2:
        return None
    w = graph.const(node.inputs[1])
    return None if w is None else weight_summary(w, axes.output)


def layer_row(graph: Graph, model: QModel, layer: Layer, index: int, ranges: dict, own_db: float,
              input_db: float, cumulative_db: float | None, stats: _TensorStats) -> dict:
    out = model.tensors[layer.output]
    calibrated = ranges.get(_float_name(model, layer.output))
    return dict(
        index=index,
        name=layer.name,
        op=layer.op.value,
        dtype=out.dtype,
        own_sqnr_db=own_db,
        input_sqnr_db=input_db,
        added_sqnr_db=added_sqnr_db(own_db, input_db),
        sqnr_db=cumulative_db,
        calibrated_range=None if calibrated is None else [float(calibrated[0]), float(calibrated[1])],
        representable_range=list(representable_range(out)),
        observed_range=[stats.lo, stats.hi] if stats.count else None,
        clipped_share=stats.clipped / stats.count if stats.count else 0.0,
        outlier_ratio=stats.outlier_ratio(),
        weights=_weights(graph, layer),
    )


def hints(row: dict, calib_method: str) -> list[str]:
    """What would help a layer that loses much by its own quantization, most specific first."""
    out = []
    share = row["clipped_share"]
    if share > CLIPPED_HINT:
        lo, hi = row["observed_range"]
        if calib_method == "minmax":
            out.append(f"output range clipped on {100 * share:.2g} % of values (float reaches [{lo:.3g}, {hi:.3g}]) "
                       "→ calibrate on more representative samples")
        else:
            out.append(f"output range clipped on {100 * share:.2g} % of values by --calib-method {calib_method} "
                       "→ try --calib-method minmax")
    elif row["outlier_ratio"] > OUTLIER_HINT:
        out.append(f"output range set by rare outliers (max |x| is {row['outlier_ratio']:.0f}× the 99.9th "
                   "percentile) → try --calib-method percentile")
    w = row["weights"]
    if w is not None and w["spread"] > SPREAD_HINT:
        out.append(f"weights of channel {w['widest_channel']} span {w['spread']:.0f}× the median channel "
                   "→ per-channel already; consider cross-layer equalization")
    if has_int16_form(QOp(row["op"])) and row["dtype"] == "int8":
        out.append(f"int16 activations for this layer: --int16 {row['name']}")
    return out


def offenders(rows: list[dict], calib_method: str, count: int = OFFENDERS,
              falls: tuple[dict, ...] = ()) -> list[dict]:
    """The layers that add the most noise of their own (lowest added SQNR; never pass-through ops),
    worst first, with hints; first of all, the layers where an output's SQNR falls below the
    threshold (``falls``, from `low_sqnr_warnings`), marked with that threshold."""
    # Ops that only select or copy values add no error of their own (their own SQNR is their input's
    # rounding): never named as offenders.
    skip = {spec.op.value for spec in KERNELS.values() if not spec.adds_error}
    below = {f["index"]: f["threshold_db"] for f in falls}
    candidates = [r for r in rows if r["op"] not in skip and r["added_sqnr_db"] is not None
                  and r["index"] not in below]
    worst = [rows[i] for i in below] + sorted(candidates, key=lambda r: r["added_sqnr_db"])[:count]
    return [dict(index=r["index"], name=r["name"], op=r["op"], own_sqnr_db=r["own_sqnr_db"],
                 input_sqnr_db=r["input_sqnr_db"], added_sqnr_db=r["added_sqnr_db"],
                 sqnr_db=r["sqnr_db"], clipped_share=r["clipped_share"], falls_below_db=below.get(r["index"]),
                 hints=hints(r, calib_method)) for r in worst]


def layers_before(model: QModel, tensor: str) -> list[int]:
    """Indices of the layers whose results reach ``tensor`` (its producer included), in order."""
    needed, found = {tensor}, []
    for index in range(len(model.layers) - 1, -1, -1):
        layer = model.layers[index]
        if layer.output in needed:
            needed.update(layer.inputs)
            found.append(index)
    return found[::-1]


def where_sqnr_falls(model: QModel, rows: list[dict], output: str, threshold: float) -> dict | None:
    """The first layer on the way to ``output`` whose cumulative SQNR is below ``threshold``; else
    (the output's SQNR measured against ONNX Runtime is lower than against the float IR) the one
    with the lowest cumulative SQNR; None when no layer's is measured."""
    measured = [rows[i] for i in layers_before(model, output) if rows[i]["sqnr_db"] is not None]
    below = [r for r in measured if r["sqnr_db"] < threshold]
    if below:
        return below[0]
    return min(measured, key=lambda r: r["sqnr_db"], default=None)


def low_sqnr_warnings(model: QModel, rows: list[dict], output_metrics, threshold: float = LOW_SQNR_DB) -> list[dict]:
    """One entry per model output whose SQNR against the float model (``output_metrics``: `verify`'s
    float_metrics) is below ``threshold``: the output, the layer where it falls, and a message."""
    found = []
    for m in output_metrics:
        if m["sqnr_db"] >= threshold:
            continue
        row = where_sqnr_falls(model, rows, m["name"], threshold)
        if row is None:
            continue
        message = (f"output {m['name']!r}: SQNR {m['sqnr_db']:.1f} dB against the float model, below "
                   f"{threshold:g} dB; it falls below at layer L{row['index']} {row['name']!r} ({row['op']}), "
                   f"{row['sqnr_db']:.1f} dB there (see \"Where the error comes from\" in report.md)")
        found.append(dict(output=m["name"], output_sqnr_db=m["sqnr_db"], index=row["index"], name=row["name"],
                          op=row["op"], sqnr_db=row["sqnr_db"], threshold_db=threshold, message=message))
    return found


def diagnose(graph: Graph, model: QModel, ranges: dict[str, tuple[float, float]], samples_ir: np.ndarray,
             cumulative_sqnr: dict[str, float], calib_method: str, output_metrics=(),
             threshold: float = LOW_SQNR_DB, runs: float_exec.FloatRuns | None = None) -> dict:
    """The per-layer diagnosis of ``model`` on the first `MAX_SAMPLES` of ``samples_ir`` (IR layout):
    rows, offenders, and the outputs whose SQNR (``output_metrics``, `verify`'s float_metrics) is
    below ``threshold`` with the layer where it falls (low_sqnr). ``runs``: ``graph``'s activations on
    ``samples_ir``, where another stage has them."""
    own, fed, stats = _own_pass(graph, model, samples_ir, runs)
    samples_ir = samples_ir[:MAX_SAMPLES]
    rows = [layer_row(graph, model, layer, i, ranges, own.get(layer.output), fed.get(layer.output),
                      cumulative_sqnr.get(layer.output), stats[layer.output])
            for i, layer in enumerate(model.layers)]
    low = low_sqnr_warnings(model, rows, output_metrics, threshold)
    return dict(samples=len(samples_ir), layers=rows, offenders=offenders(rows, calib_method, falls=tuple(low)),
                low_sqnr=low)
