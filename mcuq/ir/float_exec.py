"""Run a float IR graph with numpy (float32, NHWC): the reference for calibration and per-layer checks.

Shapes in the IR have batch 1; the executor runs whatever batch N the feeds carry, so calibration
can push many samples through at once: the samples are folded into the first axis, and an op that
may move that axis (a transpose of attention's [T, N, D]) unfolds it (`PER_SAMPLE_OPS`). Convolutions
and pools are vectorized over the output by looping over kernel positions only (a few matmuls/maxima
per layer, no per-pixel Python).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from mcuq import ir
from mcuq.errors import CalibrationError

OpFunction = Callable[..., np.ndarray]

BATCH = 64  # samples per run: bounds the memory of one batch's activations
KEEP_BYTES = 1 << 30  # activations kept between passes over the same samples (`FloatRuns`)


def run(graph: ir.Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Execute ``graph`` on ``feeds`` (IR layout, batch first); return every activation by name."""
    values = {name: checked_feed(graph, name, feeds) for name in graph.inputs}
    return run_nodes(graph, graph.nodes, values)


def run_nodes(graph: ir.Graph, nodes: list[ir.Node], values: dict[str, np.ndarray],
              ops: dict[str, OpFunction] | None = None) -> dict[str, np.ndarray]:
    """Execute ``nodes`` in order, reading and adding activations to ``values`` (returned); ``ops``:
    the functions by op (default `OPS`; `FAST_OPS` where the last float32 bits do not matter)."""
    ops = ops or OPS
    for node in nodes:
        args = [values[name] if name in values else graph.tensors[name].data for name in node.inputs]
        if node.op in PER_SAMPLE_OPS:
            samples = args[0].shape[0] // max(1, graph.tensors[node.inputs[0]].shape[0])
            result = PER_SAMPLE_OPS[node.op](node.attrs, samples, *args)
        else:
            result = ops[node.op](node.attrs, *args)
        for name, value in zip(node.outputs, result if isinstance(result, tuple) else (result,)):  # LSTM: two
            values[name] = value.astype(np.float32, copy=False)
    return values


class FloatRuns:
    """Every activation of ``graph`` on ``samples``, `BATCH` samples at a time, for the stages that each
    pass over the float model's values (calibration, auto calibration, bias correction, diagnosis):
    the first complete pass keeps the activations while they total at most ``keep_bytes``, and later
    passes read them instead of running the graph again; beyond that every pass runs the graph anew.
    ``check(values, first_sample)`` sees each batch once, when it is computed. Callers must not change
    the dictionaries they are given (copy one to add trial values)."""

    def __init__(self, graph: ir.Graph, samples: np.ndarray, check: Callable[[dict, int], None] | None = None,
                 keep_bytes: int = KEEP_BYTES) -> None:
        self.graph, self.samples, self.check, self.keep_bytes = graph, samples, check, keep_bytes
        self.kept: list[dict[str, np.ndarray]] | None = None

    def batches(self, progress: Callable[[int, int], None] | None = None) -> Iterator[dict[str, np.ndarray]]:
        """(Each batch's activations by name), in sample order; ``progress(done, total)`` after each."""
        total = len(self.samples)
        if self.kept is not None:
            for start, values in zip(range(0, total, BATCH), self.kept):
                yield values
                if progress:
                    progress(min(start + BATCH, total), total)
            return
        kept, size = [], 0
        for start in range(0, total, BATCH):
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # ``check`` names the tensor
                values = run(self.graph, {self.graph.inputs[0]: self.samples[start : start + BATCH]})
            if self.check:
                self.check(values, start)
            size += sum(v.nbytes for v in values.values())
            kept = kept if kept is not None and size <= self.keep_bytes else None
            if kept is not None:
                kept.append(values)
            yield values
            if progress:
                progress(min(start + BATCH, total), total)
        self.kept = kept


def checked_feed(graph: ir.Graph, name: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
    if name not in feeds:
        raise CalibrationError(f"no data for model input {name!r}; inputs: {graph.inputs}")
    array = np.asarray(feeds[name], dtype=np.float32)
    expected = graph.tensors[name].shape
    if array.ndim != len(expected) or array.shape[1:] != tuple(expected[1:]):
        raise CalibrationError(
            f"input {name!r}: data of shape {array.shape} does not fit the model's [N, "
            f"{', '.join(map(str, expected[1:]))}] (IR layout, see input_perms)"
        )
    return array


def clamped(attrs: dict, x: np.ndarray) -> np.ndarray:
    low, high = attrs.get("act_min", -math.inf), attrs.get("act_max", math.inf)
    if low == -math.inf and high == math.inf:
        return x
    return np.clip(x, low, high)


def padded(x: np.ndarray, pads: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    top, left, bottom, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def kernel_slices(x: np.ndarray, kernel, strides, dilations):
    """Yield (kh, kw, view) where view[n, oh, ow, c] = x[n, oh*sh + kh*dh, ow*sw + kw*dw, c]."""
    (kh_size, kw_size), (sh, sw), (dh, dw) = kernel, strides, dilations
    out_h = (x.shape[1] - (kh_size - 1) * dh - 1) // sh + 1
    out_w = (x.shape[2] - (kw_size - 1) * dw - 1) // sw + 1
    for kh in range(kh_size):
        for kw in range(kw_size):
            top, left = kh * dh, kw * dw
            yield (
                kh,
                kw,
                x[:, top : top + (out_h - 1) * sh + 1 : sh, left : left + (out_w - 1) * sw + 1 : sw, :],
            )


def conv2d(attrs: dict, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One matrix product per kernel tap, summed tap by tap in float32. This order (and the shapes of the
    BLAS calls, whose kernels round differently) sets the last bits of every activation and so, through
    the calibrated ranges, of the scales and of the generated C's outputs: the reference pass keeps it.
    `conv2d_fast` (a float pass of resnet18 64x64 or regnet_x_400mf 96x96 1.8-3.8x faster) serves what
    needs no such bits. Grouped convs take `conv2d_tap_rows` (the same tap-by-tap summation; numpy's einsum
    over groups has no BLAS and was 5-15x slower on regnet_x_400mf's layers)."""
    if attrs.get("groups", 1) > 1:
        return conv2d_tap_rows(attrs, x, w, b)
    kh_size, kw_size = w.shape[1:3]
    out = None
    for kh, kw, view in kernel_slices(padded(x, attrs["pads"]), (kh_size, kw_size), attrs["strides"],
                                      attrs["dilations"]):
        term = view @ w[:, kh, kw, :].T  # one BLAS call per (sample, output row): see above
        out = term if out is None else out + term
    out = out + b
    return clamped(attrs, out)


def conv2d_tap_rows(attrs: dict, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`conv2d`'s tap-by-tap float32 summation with one matrix product per tap (per group) over all
    samples and pixels: the tap's input window copied to contiguous rows [pixels, I]. Few large BLAS calls
    instead of one per output row; the same sums, but BLAS rounds a product's last bit by its shape, so not
    bit for bit `conv2d`'s ungrouped form."""
    groups = attrs.get("groups", 1)
    out_channels, kh_size, kw_size, group_in = w.shape
    out = None
    for kh, kw, view in kernel_slices(padded(x, attrs["pads"]), (kh_size, kw_size), attrs["strides"],
                                      attrs["dilations"]):
        rows = np.ascontiguousarray(view).reshape(-1, groups, group_in)
        if groups == 1:
            term = rows[:, 0] @ w[:, kh, kw, :].T
        else:  # [G, pixels, I/G] @ [G, I/G, O/G], back to [pixels, O] with the groups' outputs side by side
            w_tap = w[:, kh, kw, :].reshape(groups, out_channels // groups, group_in)
            term = (rows.transpose(1, 0, 2) @ w_tap.transpose(0, 2, 1)).transpose(1, 0, 2).reshape(len(rows), -1)
        if out is None:
            out = term
        else:
            out += term
    out = out.reshape(view.shape[:3] + (out_channels,)) + b
    return clamped(attrs, out)


def patches(x: np.ndarray, kernel, strides, dilations) -> np.ndarray:
    """im2col: [N, OH, OW, KH*KW, C], the input window of each output pixel in the weights' (kh, kw, c) order."""
    return np.stack([view for _, _, view in kernel_slices(x, kernel, strides, dilations)], axis=3)


def conv2d_one_product(attrs: dict, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`conv2d` as one BLAS matrix product over all samples and pixels (per group): the input windows
    (im2col) times the OHWI weights flattened to [O, KH*KW*I]. Equal to `conv2d` to float32 rounding,
    not bit for bit (another summation order)."""
    groups = attrs.get("groups", 1)
    out_channels, kh_size, kw_size, group_in = w.shape
    cols = patches(padded(x, attrs["pads"]), (kh_size, kw_size), attrs["strides"], attrs["dilations"])
    n, out_h, out_w, taps, _ = cols.shape
    rows = n * out_h * out_w
    if groups == 1:
        out = cols.reshape(rows, taps * group_in) @ w.reshape(out_channels, -1).T
    else:  # [G, rows, taps*I/G] @ [G, taps*I/G, O/G], the groups stacked on the first axis
        per_group = cols.reshape(rows, taps, groups, group_in).transpose(2, 0, 1, 3).reshape(groups, rows, -1)
        w_grouped = w.reshape(groups, out_channels // groups, -1).transpose(0, 2, 1)
        out = (per_group @ w_grouped).transpose(1, 0, 2)
    out = out.reshape(n, out_h, out_w, out_channels) + b
    return clamped(attrs, out)


# Below this many input channels per group, a tap's matrix product is too thin for BLAS (K = I/G): the
# one-product form (K = KH*KW*I/G) is faster there (a 3-channel first conv: 2.5 ms against 8.2; single
# thread, 16 samples 96x96); above it the tap rows are (regnet_x_400mf's grouped 3x3 convs 2-5x, ResNet-8's
# 16-32-channel 3x3 convs 1.2-2.4x).
TAP_ROWS_MIN_CHANNELS = 8


def conv2d_fast(attrs: dict, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`conv2d` to float32 rounding, in few large BLAS calls: `conv2d_tap_rows` or `conv2d_one_product`."""
    if w.shape[3] < TAP_ROWS_MIN_CHANNELS:
        return conv2d_one_product(attrs, x, w, b)
    return conv2d_tap_rows(attrs, x, w, b)


def depthwise_conv2d(attrs: dict, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    multiplier = attrs.get("depth_multiplier", 1)
    xp = padded(x, attrs["pads"])
    if multiplier > 1:
        xp = np.repeat(xp, multiplier, axis=3)  # output channel c*m + j reads input channel c
    out = None
    for kh, kw, view in kernel_slices(xp, w.shape[1:3], attrs["strides"], attrs["dilations"]):
        term = view * w[0, kh, kw, :]
        out = term if out is None else out + term
    return clamped(attrs, out + b)


def fully_connected(attrs: dict, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return clamped(attrs, x @ w.T + b)


def add(attrs: dict, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return clamped(attrs, a + b)


def mul(attrs: dict, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return clamped(attrs, a * b)


def sub(attrs: dict, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return clamped(attrs, a - b)


def max_pool(attrs: dict, x: np.ndarray) -> np.ndarray:
    xp = padded(x, attrs["pads"], -np.inf)
    out = None
    for _, _, view in kernel_slices(xp, attrs["kernel"], attrs["strides"], (1, 1)):
        out = view.copy() if out is None else np.maximum(out, view)
    return clamped(attrs, out)


def window_sums(x: np.ndarray, attrs: dict) -> np.ndarray:
    total = None
    for _, _, view in kernel_slices(padded(x, attrs["pads"]), attrs["kernel"], attrs["strides"], (1, 1)):
        total = view.astype(np.float32) if total is None else total + view
    return total


def avg_pool(attrs: dict, x: np.ndarray) -> np.ndarray:
    """count_include_pad=1 divides by the kernel area; 0 by the number of real input elements."""
    sums = window_sums(x, attrs)
    if attrs.get("count_include_pad", 0):
        counts = np.float32(attrs["kernel"][0] * attrs["kernel"][1])
    else:
        counts = window_sums(np.ones((1,) + x.shape[1:3] + (1,), np.float32), attrs)
    return clamped(attrs, sums / counts)


def clip(attrs: dict, x: np.ndarray) -> np.ndarray:
    return np.clip(x, attrs["act_min"], attrs["act_max"])


def leaky_relu(attrs: dict, x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, x, x * np.float32(attrs["alpha"]))


def sigmoid(attrs: dict, x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


def tanh(attrs: dict, x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def softmax(attrs: dict, x: np.ndarray) -> np.ndarray:
    axis = attrs.get("axis", x.ndim - 1)
    exp = np.exp(x - x.max(axis=axis, keepdims=True))
    return exp / exp.sum(axis=axis, keepdims=True)


def concat(attrs: dict, *xs: np.ndarray) -> np.ndarray:
    batch = max(x.shape[0] for x in xs)
    return np.concatenate([np.broadcast_to(x, (batch,) + x.shape[1:]) for x in xs], axis=attrs["axis"])


def reshape(attrs: dict, x: np.ndarray) -> np.ndarray:
    """The IR shape has batch 1; the batch N of the feeds stays folded into the first axis."""
    shape = tuple(attrs["shape"])
    batch = x.size // max(1, math.prod(shape))
    return x.reshape((shape[0] * batch,) + shape[1:])


def transpose(attrs: dict, x: np.ndarray) -> np.ndarray:
    return x.transpose(attrs["perm"])


def transpose_per_sample(attrs: dict, samples: int, x: np.ndarray) -> np.ndarray:
    """A transpose that may move axis 0 (attention's [T, N, D] -> [N, T, D]): each sample's block of the
    folded first axis permuted on its own, the samples kept in order."""
    unfolded = x.reshape((samples, x.shape[0] // samples) + x.shape[1:])
    moved = unfolded.transpose((0,) + tuple(p + 1 for p in attrs["perm"]))
    return moved.reshape((samples * moved.shape[1],) + moved.shape[2:])


def pad(attrs: dict, x: np.ndarray) -> np.ndarray:
    pads = attrs["pads"]
    rank = x.ndim
    widths = [(pads[axis], pads[rank + axis]) for axis in range(rank)]
    return np.pad(x, widths, constant_values=attrs["value"])


def fake_quant(attrs: dict, x: np.ndarray) -> np.ndarray:
    """QuantizeLinear then DequantizeLinear (int8, round half to even), as ONNX Runtime runs the pair."""
    scale, zero_point = np.float32(attrs["scale"]), attrs["zero_point"]
    q = np.clip(np.round(x / scale) + zero_point, -128, 127)
    return ((q - zero_point) * scale).astype(np.float32)


# Functions of one value, for calibration and for the lowering's tables (which call them in float64,
# so none of them rounds to float32 on the way).

_erf = np.vectorize(math.erf, otypes=[np.float64])  # numpy has no erf; onnx.reference computes it so too


def hard_sigmoid(attrs: dict, x: np.ndarray) -> np.ndarray:
    return np.clip(attrs.get("alpha", 0.2) * x + attrs.get("beta", 0.5), 0.0, 1.0)


def hard_swish(attrs: dict, x: np.ndarray) -> np.ndarray:
    return x * np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def elu(attrs: dict, x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, x, attrs.get("alpha", 1.0) * np.expm1(np.minimum(x, 0.0)))


def selu(attrs: dict, x: np.ndarray) -> np.ndarray:
    return attrs["gamma"] * np.where(x > 0, x, attrs["alpha"] * np.expm1(np.minimum(x, 0.0)))


def gelu(attrs: dict, x: np.ndarray) -> np.ndarray:
    if attrs.get("approximate", "none") == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(x.dtype))


def swish(attrs: dict, x: np.ndarray) -> np.ndarray:
    """x * sigmoid(alpha x): SiLU for alpha 1."""
    return x * sigmoid(attrs, attrs.get("alpha", 1.0) * x)


def exp(attrs: dict, x: np.ndarray) -> np.ndarray:
    return np.exp(x)


def softplus(attrs: dict, x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)  # log(1 + e^x) without overflow


def prelu(attrs: dict, x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Channels on the last axis (NHWC, or [N, C]); ``slope`` has one value per channel."""
    return np.where(x >= 0, x, x * slope)


def resize_nearest(attrs: dict, x: np.ndarray) -> np.ndarray:
    """Output pixel (i, j) copies input pixel (rows[i], cols[j]) (tables from `frontend.resample`)."""
    return x[:, list(attrs["rows"])][:, :, list(attrs["cols"])]


def resize_bilinear(attrs: dict, x: np.ndarray) -> np.ndarray:
    """Each output row (column) blends input rows lo and hi: (1 - f) * x[lo] + f * x[hi]."""
    for axis, key in ((1, "rows"), (2, "cols")):
        lo, hi, frac = (np.array(t) for t in zip(*attrs[key]))
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        f = frac.astype(np.float32).reshape(shape)
        x = np.take(x, lo, axis=axis) * (np.float32(1) - f) + np.take(x, hi, axis=axis) * f
    return x


def conv_transpose2d(attrs: dict, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Input pixel (i, j) adds x[i, j] @ w[:, kh, kw, :].T to output (i*sh + kh - top, j*sw + kw - left)."""
    (sh, sw), (top, left) = attrs["strides"], attrs["pads"]
    n, h, wd, _ = x.shape
    out_channels, kh_size, kw_size, _ = w.shape
    out_h, out_w = attrs["output_hw"]
    full = np.zeros((n, max(out_h + top, (h - 1) * sh + kh_size), max(out_w + left, (wd - 1) * sw + kw_size),
                     out_channels), np.float32)
    for kh in range(kh_size):
        for kw in range(kw_size):
            full[:, kh : kh + (h - 1) * sh + 1 : sh, kw : kw + (wd - 1) * sw + 1 : sw, :] += x @ w[:, kh, kw, :].T
    return clamped(attrs, full[:, top : top + out_h, left : left + out_w, :] + b)


def slice_(attrs: dict, x: np.ndarray) -> np.ndarray:
    """The box from ``starts`` with ``steps`` and the IR output's extent ``sizes``; the batch axis whole."""
    boxes = zip(attrs["starts"][1:], attrs["steps"][1:], attrs["sizes"][1:])
    return x[(slice(None),) + tuple(slice(start, start + step * (size - 1) + 1, step) for start, step, size in boxes)]


def gather_channels(attrs: dict, x: np.ndarray) -> np.ndarray:
    return x[..., list(attrs["indices"])]


def batch_matmul(attrs: dict, lhs: np.ndarray, rhs_transposed: np.ndarray) -> np.ndarray:
    return np.matmul(lhs, np.swapaxes(rhs_transposed, -1, -2)) * np.float32(attrs.get("alpha", 1.0))


def layer_norm(attrs: dict, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    centered = x64 - x64.mean(axis=-1, keepdims=True)
    variance = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / np.sqrt(variance + attrs["epsilon"]) * gamma + beta


def _sigmoid64(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _time_steps(attrs: dict, steps: int) -> range:
    return range(steps - 1, -1, -1) if attrs["reverse"] else range(steps)


def lstm(attrs: dict, x: np.ndarray, w: np.ndarray, r: np.ndarray, b: np.ndarray, h0: np.ndarray,
         c0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ONNX LSTM, one direction, over x [N, T, F] (gates i, o, f, c): (hidden state, cell state) of each
    step, [N, T, H] each. Float64 inside."""
    hidden = r.shape[1]
    x_part = x.astype(np.float64) @ w.T.astype(np.float64) + (b[: 4 * hidden] + b[4 * hidden:])  # [N, T, 4H]
    h = np.broadcast_to(h0.astype(np.float64), (len(x), hidden))
    c = np.broadcast_to(c0.astype(np.float64), (len(x), hidden))
    hs, cs = np.zeros(x.shape[:2] + (hidden,)), np.zeros(x.shape[:2] + (hidden,))
    for t in _time_steps(attrs, x.shape[1]):
        i, o, f, g = np.split(x_part[:, t] + h @ r.T.astype(np.float64), 4, axis=1)
        c = _sigmoid64(f) * c + _sigmoid64(i) * np.tanh(g)
        h = _sigmoid64(o) * np.tanh(c)
        hs[:, t], cs[:, t] = h, c
    return hs, cs


def gru(attrs: dict, x: np.ndarray, w: np.ndarray, r: np.ndarray, b: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """ONNX GRU, one direction, linear_before_reset=1, over x [N, T, F] (gates z, r, h): the hidden state
    of each step [N, T, H]. Float64 inside."""
    hidden = r.shape[1]
    x_part = x.astype(np.float64) @ w.T.astype(np.float64) + b[: 3 * hidden]
    h = np.broadcast_to(h0.astype(np.float64), (len(x), hidden))
    hs = np.zeros(x.shape[:2] + (hidden,))
    for t in _time_steps(attrs, x.shape[1]):
        xz, xr, xn = np.split(x_part[:, t], 3, axis=1)
        hz, hr, hn = np.split(h @ r.T.astype(np.float64) + b[3 * hidden:], 3, axis=1)
        z, reset = _sigmoid64(xz + hz), _sigmoid64(xr + hr)
        n = np.tanh(xn + reset * hn)
        h = (1.0 - z) * n + z * h
        hs[:, t] = h
    return hs


OPS: dict[str, OpFunction] = {
    "conv2d": conv2d,
    "depthwise_conv2d": depthwise_conv2d,
    "fully_connected": fully_connected,
    "add": add,
    "mul": mul,
    "max_pool": max_pool,
    "avg_pool": avg_pool,
    "clip": clip,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "concat": concat,
    "reshape": reshape,
    "transpose": transpose,
    "pad": pad,
    "fake_quant": fake_quant,
    "hard_swish": hard_swish,
    "hard_sigmoid": hard_sigmoid,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "swish": swish,
    "exp": exp,
    "softplus": softplus,
    "prelu": prelu,
    "sub": sub,
    "resize_nearest": resize_nearest,
    "resize_bilinear": resize_bilinear,
    "conv_transpose2d": conv_transpose2d,
    "slice": slice_,
    "gather_channels": gather_channels,
    "batch_matmul": batch_matmul,
    "layer_norm": layer_norm,
    "lstm": lstm,
    "gru": gru,
}

# Where float32 rounding may differ from the reference pass (auto calibration's probes, which compare
# candidate ranges whose noise is orders of magnitude above it; bias correction): the faster conv.
FAST_OPS: dict[str, OpFunction] = OPS | {"conv2d": conv2d_fast}

# Ops whose float function must know how many samples the first axis folds (called with attrs, samples,
# inputs); `run_nodes` calls these instead of the `OPS` form, which assumes one sample.
PER_SAMPLE_OPS: dict[str, Callable[..., np.ndarray]] = {
    "transpose": transpose_per_sample,
}
