"""Metrics of the int8 model against its references.

Against the golden model the contract is equality (0 LSB). Against the float model it is closeness:
SQNR in dB, max abs error, top-1 agreement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mcuq import data, golden, quant
from mcuq.ir import float_exec
from mcuq.ir.graph import Graph
from mcuq.qir.model import QModel
from mcuq.verify.host import HostModel
from mcuq.verify.reference import real_outputs, reference_outputs


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal to quantization-noise ratio, 10*log10(sum ref^2 / sum (ref - test)^2); inf when equal."""
    ref = np.asarray(reference, dtype=np.float64)
    noise = np.sum((ref - np.asarray(test, dtype=np.float64)) ** 2)
    signal = np.sum(ref**2)
    if noise == 0:
        return float("inf")
    if signal == 0:
        return float("-inf")
    return float(10.0 * np.log10(signal / noise))


def top1_agreement(reference: np.ndarray, test: np.ndarray) -> float:
    """Share of samples (first axis) whose arg-max over the flattened rest agrees."""
    ref = np.asarray(reference).reshape(len(reference), -1)
    tst = np.asarray(test).reshape(len(test), -1)
    return float(np.mean(ref.argmax(axis=1) == tst.argmax(axis=1)))


@dataclass
class OutputMetrics:
    name: str
    sqnr_db: float
    max_abs_error: float
    top1_agreement: float | None  # None for outputs that are not class scores

    def to_dict(self) -> dict:
        return asdict(self)


def compare_outputs(name: str, float_out: np.ndarray, dequant_out: np.ndarray) -> OutputMetrics:
    per_sample = float_out.reshape(len(float_out), -1)
    is_scores = per_sample.shape[1] > 1
    return OutputMetrics(
        name=name,
        sqnr_db=sqnr_db(float_out, dequant_out),
        max_abs_error=float(np.max(np.abs(float_out.astype(np.float64) - dequant_out))),
        top1_agreement=top1_agreement(float_out, dequant_out) if is_scores else None,
    )


def lsb_mismatch(golden_out: np.ndarray, c_out: np.ndarray) -> tuple[int, int]:
    """(number of differing elements, largest difference in LSB)."""
    diff = np.abs(golden_out.astype(np.int32) - c_out.astype(np.int32))
    return int(np.count_nonzero(diff)), int(diff.max(initial=0))


def energy(reference: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """(sum of reference², sum of (reference - test)²) in float64."""
    ref = reference.astype(np.float64)
    return float(np.sum(ref**2)), float(np.sum((ref - test) ** 2))


@dataclass
class SqnrAccumulator:
    """SQNR over many samples without keeping them: running sums of signal and noise energy."""

    signal: dict[str, float] = field(default_factory=dict)
    noise: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, reference: np.ndarray, test: np.ndarray) -> None:
        self.add_energy(name, *energy(reference, test))

    def add_energy(self, name: str, signal: float, noise: float) -> None:
        """Add sums of squares that `energy` gave (for a comparison that counts under several names)."""
        self.signal[name] = self.signal.get(name, 0.0) + signal
        self.noise[name] = self.noise.get(name, 0.0) + noise

    def add_samples(self, name: str, reference: np.ndarray, test: np.ndarray) -> None:
        """`add` of each sample (first axis) in turn, with one numpy reduction per tensor instead of one
        per sample: each row's sum is the same pairwise sum over the same contiguous values as a
        one-sample array's, and the Python sums take the rows in sample order, so the totals are those
        of `add`. Arrays whose layout could change that order go sample by sample."""
        if reference.shape != test.shape or not (reference.flags.c_contiguous and test.flags.c_contiguous):
            for i in range(len(reference)):
                self.add(name, reference[i : i + 1], test[i : i + 1])
            return
        rows = reference.astype(np.float64).reshape(len(reference), -1)
        signal = np.sum(rows**2, axis=1).tolist()
        noise = np.sum((rows - test.reshape(len(test), -1)) ** 2, axis=1).tolist()
        total_signal, total_noise = self.signal.get(name, 0.0), self.noise.get(name, 0.0)
        for s, n in zip(signal, noise):
            total_signal += s
            total_noise += n
        self.signal[name], self.noise[name] = total_signal, total_noise

    def sqnr_db(self) -> dict[str, float]:
        out = {}
        for name, signal in self.signal.items():
            noise = self.noise[name]
            out[name] = float("inf") if noise == 0 else float("-inf") if signal == 0 else float(
                10.0 * np.log10(signal / noise))
        return out


def _quiet(_: str) -> None:
    pass


def _add_layer_sqnr(layer_sqnr: SqnrAccumulator, qmodel: QModel, float_values: dict[str, np.ndarray],
                    golds: list[dict[str, np.ndarray]], stacked: dict[str, np.ndarray] | None) -> None:
    """Each activation's (golden, dequantized) noise against the float IR's same tensor, sample by sample:
    the whole batch per tensor where the golden model ran it at once (``stacked``)."""
    for name, t in qmodel.tensors.items():
        float_name = qmodel.float_name(name)
        if name not in golds[0] or float_name not in float_values:  # not the inputs of requantizing tables
            continue
        if stacked is not None:
            layer_sqnr.add_samples(name, float_values[float_name],
                                   quant.dequantize(stacked[name], t.scale, t.zero_point))
            continue
        for i, gold in enumerate(golds):
            real = quant.dequantize(gold[name], t.scale, t.zero_point)
            layer_sqnr.add(name, float_values[float_name][i : i + 1], real)


def verify_model(model_path: Path, graph: Graph, qmodel: QModel, host: HostModel, samples_ir: np.ndarray,
                 labels: np.ndarray | None = None, say: Callable[[str], None] = _quiet,
                 runs: float_exec.FloatRuns | None = None) -> tuple[dict, dict]:
    """Run the host-built C and the golden model on every sample (IR layout): C against golden must be
    exact; the C's outputs against the original ONNX model are measured. Returns the verification
    summary and each activation's SQNR (golden, dequantized) against the float IR's same tensor.
    ``runs``: ``graph``'s activations on ``samples_ir`` where another stage has them."""
    in_t = qmodel.tensors[qmodel.inputs[0]]
    out_ts = [qmodel.tensors[n] for n in qmodel.outputs]
    c_outs: list[list[np.ndarray]] = [[] for _ in out_ts]
    mismatches, max_lsb = 0, 0
    layer_sqnr = SqnrAccumulator()
    runs = runs or float_exec.FloatRuns(graph, samples_ir)
    quarter = max(1, len(samples_ir) // 4)
    for start, float_values in zip(range(0, len(samples_ir), float_exec.BATCH), runs.batches()):
        q = quant.quantize_input(samples_ir[start : start + float_exec.BATCH], in_t.scale, in_t.zero_point)
        stacked = golden.run_stacked(qmodel, in_t.name, q)  # the golden model on the whole batch at once
        golds = golden.run_samples(qmodel, in_t.name, q) if stacked is None else golden.split_samples(stacked, len(q))
        for i, gold in enumerate(golds):
            if start + i and (start + i) % quarter == 0:
                say(f"  {start + i}/{len(samples_ir)} samples: C and golden model agree so far" if mismatches == 0
                    else f"  {start + i}/{len(samples_ir)} samples: {mismatches} values differ")
            for k, (t, y) in enumerate(zip(out_ts, host.invoke(q[i : i + 1]))):
                n, m = lsb_mismatch(gold[t.name], y)
                mismatches += n
                max_lsb = max(max_lsb, m)
                c_outs[k].append(y)
        _add_layer_sqnr(layer_sqnr, qmodel, float_values, golds, stacked)

    raw_outs, engine = reference_outputs(model_path, graph, data.to_onnx_layout(samples_ir, graph))
    float_outs = real_outputs(graph, raw_outs)
    metrics, deq_outs, reference_lsb = [], [], []
    for k, t in enumerate(out_ts):
        c_out = data.output_to_onnx_layout(np.concatenate(c_outs[k]), graph, t.name)
        deq = quant.dequantize(c_out, t.scale, t.zero_point)
        deq_outs.append(deq)
        metrics.append(compare_outputs(t.name, float_outs[k].reshape(deq.shape), deq).to_dict())
        if t.name in graph.io_quant:  # the reference gives int8 too: count the LSBs apart
            n, m = lsb_mismatch(raw_outs[k].reshape(c_out.shape), c_out)
            reference_lsb.append(dict(name=t.name, mismatches=n, max_lsb=m, total=int(c_out.size)))
    result = dict(
        samples=len(samples_ir),
        float_reference=engine,
        c_vs_golden=dict(mismatches=mismatches, max_lsb=max_lsb),
        float_metrics=metrics,
    )
    if reference_lsb:
        result["int8_vs_reference"] = reference_lsb
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        result["accuracy"] = dict(
            float=float(np.mean(float_outs[0].reshape(len(labels), -1).argmax(1) == labels)),
            int8=float(np.mean(deq_outs[0].reshape(len(labels), -1).argmax(1) == labels)),
        )
    return result, layer_sqnr.sqnr_db()
