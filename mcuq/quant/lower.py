"""Lowering: float IR + activation quantization -> int8 IR, following the numerics contract.

Activations: int8, asymmetric per tensor, real 0.0 exactly representable. Weights: int8 symmetric
per output channel in [-127, 127]. Bias: int32 at scale s_in * s_w[c]. Requantization multipliers
and the op-specific "Prepare" maths come from `fixedpoint`, which mirrors TFLite.

An activation's (scale, zero point) is the one the model file fixes (``fixed``, from a pre-quantized
QDQ model, see `mcuq.quant.fixed`), else the one a Concat shares with it (TFLite's rule, see
`shared_concat_quantization`), else the one its calibrated range gives. Layers whose weights the file
stores as integers keep those integers and the file's int32 bias.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from mcuq import qir
from mcuq.errors import CalibrationError, McuqError, UnsupportedOpError
from mcuq.ir import float_exec
from mcuq.ir.graph import Graph, Node
from mcuq.ir.ops import OutputGrid, op_info, ops_where
from mcuq.numerics import fixedpoint
from mcuq.qir.model import DTYPE_RANGE, Layer, QOp, QTensor
from mcuq.quant import precision

INT8_MIN, INT8_MAX = -128, 127

# Softmax's fixed output quantization (TFLite, CMSIS-NN arm_softmax_s8): [0, 1) in steps of 1/256.
SOFTMAX_QUANT = (1.0 / 256.0, -128)


def activation_qparams(lo: float, hi: float, dtype: str = "int8") -> tuple[float, int]:
    """Scale and zero point for a real range, widened to contain 0.0, as TFLite's ChooseQuantizationParams;
    int16 is symmetric (zero point 0, scale max|x| / 32767) as in TFLite's 16x8 scheme."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if dtype == "int16":
        absmax = max(-lo, hi)
        return (absmax / DTYPE_RANGE["int16"][1], 0) if absmax > 1e-12 else (1.0, 0)
    if hi - lo < 1e-12:
        return 1.0, 0  # an all-zero tensor: any scale represents it exactly
    scale = (hi - lo) / (INT8_MAX - INT8_MIN)
    zero_point_from_min = INT8_MIN - lo / scale
    # min/max rather than np.clip: the same int, and auto calibration calls this ~1e5 times on deep models
    zero_point = min(max(round(zero_point_from_min), INT8_MIN), INT8_MAX)
    return float(scale), zero_point


# Ops whose kernels requantize (or look up) into any output quantization they are given.
FREE_OUTPUT_OPS = ops_where(lambda op: op.output_grid is OutputGrid.CALIBRATED)
# Ops whose output keeps their input's quantization.
SAME_AS_INPUT_OPS = ops_where(lambda op: op.output_grid is OutputGrid.INPUT)


def _free_source(graph: Graph, name: str, fixed: dict) -> str | None:
    """The tensor whose quantization decides ``name``'s and that may take any: ``name`` itself when a
    free op produces it, else the free source of a pooling/reshape/transpose/pad chain leading to it.
    None when some tensor on the way is a model input or output, fixed by the file, or read by
    another layer too (its quantization is not this Concat's alone to choose)."""
    while True:
        node = graph.producer(name)
        if (node is None or name in graph.outputs or name in fixed or len(graph.consumers(name)) != 1
                or list(graph.consumers(name)[0].inputs).count(name) != 1):
            return None
        if node.op in FREE_OUTPUT_OPS:
            return name
        if node.op not in SAME_AS_INPUT_OPS:
            return None
        name = node.inputs[0]


def shared_concat_quantization(graph: Graph, ranges: dict[str, tuple[float, float]],
                               fixed: dict[str, tuple[float, int]]) -> dict[str, tuple[float, int]]:
    """TFLite's int8 spec requires a Concatenation's inputs and output to share one scale and zero
    point; then the Concat is a plain copy, and mcuq's planner can drop even that by letting each
    input's producer write into its slice of the output. Here, for each Concat whose output the file
    does not fix: the inputs whose quantization is free to choose (`_free_source`) take the output's,
    and the output's range is widened to cover their sources' ranges (a pooling chain's source may
    reach further than the pooled tensor). Other inputs keep their own quantization and the Concat
    requantizes them. The price is resolution: a narrow input gets the scale of the widest."""
    shared: dict[str, tuple[float, int]] = {}
    for node in graph.nodes:
        out = node.outputs[0]
        if node.op != "concat" or out in fixed or out not in ranges:
            continue
        sources = [src for name in dict.fromkeys(node.inputs)
                   if (src := _free_source(graph, name, fixed)) is not None and src in ranges]
        if not sources:
            continue
        lo = min([ranges[out][0]] + [ranges[src][0] for src in sources])
        hi = max([ranges[out][1]] + [ranges[src][1] for src in sources])
        q = activation_qparams(lo, hi)
        shared.update({name: q for name in (out, *sources)})
    return shared


def _shared_source(graph: Graph, name: str) -> str:
    """The tensor whose quantization ``name`` shares: up through pooling/reshape/transpose/pad, which
    keep their input's quantization, to the first tensor some other op (or the model input) makes."""
    node = graph.producer(name)
    while node is not None and node.op in SAME_AS_INPUT_OPS:
        name = node.inputs[0]
        node = graph.producer(name)
    return name


def pads_anything(node: Node) -> bool:
    return node.op == "pad" and any(node.attrs["pads"])


def ranges_holding_constants(graph: Graph, ranges: dict[str, tuple[float, float]],
                             fixed: dict[str, tuple[float, int]]) -> dict[str, tuple[float, float]]:
    """``ranges`` widened so that each Pad's constant lies in the range that must hold it: the Pad's
    output, and the tensor whose quantization the Pad shares (its input, or further up a pooling,
    reshape or transpose chain). Otherwise the constant would be clamped to the input's grid: a pad
    value of -0.62 on an input in [-0.38, 0.36] became -0.38 (SQNR 9 dB). A tensor the model file
    fixes keeps its quantization; `lower_pad` then requantizes the Pad's input into one that holds
    the constant. Likewise the output of an op whose row names a constant input the output grid holds
    (`OpInfo.output_holds_input`: a recurrent layer's initial hidden state, its first hidden input)."""
    held = dict(ranges)

    def include(name: str, value: float) -> None:
        if name in held and name not in fixed:
            lo, hi = held[name]
            held[name] = (min(lo, value), max(hi, value))

    for node in graph.nodes:
        if pads_anything(node):
            value = float(node.attrs.get("value", 0.0))
            include(node.outputs[0], value)
            include(_shared_source(graph, node.inputs[0]), value)
        held_input = op_info(node.op).output_holds_input
        if held_input is not None:
            values = graph.const(node.inputs[held_input])
            include(node.outputs[0], float(values.min()))
            include(node.outputs[0], float(values.max()))
    return held


def quantize_value(real: float, scale: float, zero_point: int, dtype: str = "int8") -> int:
    """A real constant (clamp bound, pad value) on the integer grid as TFLite quantizes one
    (``CalculateActivationRangeQuantized``): float32 division, then round half away from zero."""
    q_min, q_max = DTYPE_RANGE[dtype]
    if math.isinf(real):
        return q_max if real > 0 else q_min
    scaled = float(np.float32(real) / np.float32(scale))
    return int(np.clip(fixedpoint.tflite_round(scaled) + zero_point, q_min, q_max))


def activation_clamp(node: Node, out: QTensor) -> tuple[int, int]:
    """The fused activation's range in the output's integer domain."""
    lo = node.attrs.get("act_min", -math.inf)
    hi = node.attrs.get("act_max", math.inf)
    return (quantize_value(lo, out.scale, out.zero_point, out.dtype),
            quantize_value(hi, out.scale, out.zero_point, out.dtype))


def weight_scales_per_channel(w: np.ndarray, channel_axis: int) -> np.ndarray:
    """Symmetric int8 per channel: scale_c = max|w_c| / 127 as a float32, or 1.0 for a channel with no
    nonzero weight or whose scale underflows float32 (its weights all quantize to 0 either way)."""
    moved = np.moveaxis(w.astype(np.float64), channel_axis, 0)
    absmax = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
    scales = (absmax / 127.0).astype(np.float32).astype(np.float64)
    return np.where(scales > 0, scales, 1.0)


def quantize_weights(w: np.ndarray, scales: np.ndarray, channel_axis: int) -> np.ndarray:
    shape = [1] * w.ndim
    shape[channel_axis] = -1
    return np.clip(np.round(w / scales.reshape(shape)), -127, 127).astype(np.int8)


def quantize_weights_per_channel(w: np.ndarray, channel_axis: int) -> tuple[np.ndarray, np.ndarray]:
    scales = weight_scales_per_channel(w, channel_axis)
    return quantize_weights(w, scales, channel_axis), scales


def bias_safe_weight_scales(b: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> np.ndarray:
    """``weight_scales`` with a channel's scale raised where its float bias would take more than the
    middle half of int32 at scale s_in * s_w[c], as the TFLite converter does (``AdjustWeightsForBiasScale``,
    whose arithmetic this follows); ONNX Runtime's quantizer has the same rule with less headroom.

    Such a channel is "dead": its folded weights are ~0 (a BatchNorm gamma of ~1e-30) and its bias is
    not, so s_w[c] ~ 1e-32 would put the bias far beyond int32. Its scale becomes 2|b| / (INT32_MAX s_in):
    the bias is then INT32_MAX / 2, the other half of int32 is room for the sum of products, the weights
    quantize to ~0 and the channel outputs act(bias), as the float model does. The same bound serves
    int16 layers (int64 bias): it keeps the requantization multiplier s_in s_w / s_out large enough to
    carry the bias to the output (a multiplier below 2^-32 flushes to 0)."""
    s_in = np.float32(input_scale)
    abs_b = np.abs(np.asarray(b, dtype=np.float32)).astype(np.float64)
    scales = np.asarray(weight_scales, dtype=np.float64)
    too_small = abs_b >= 0.5 * float(s_in) * scales * fixedpoint.INT32_MAX
    weight_max = (2.0 * abs_b / fixedpoint.INT32_MAX * float(np.float32(127) / s_in)).astype(np.float32)
    raised = (weight_max / np.float32(127)).astype(np.float64)
    return np.where(too_small, raised, scales)


def accumulator_limit(input_dtype: str) -> int:
    """The largest accumulator magnitude the kernels hold: int32 for int8 activations, below 2^47 for
    int16 ones (int64 sums, 64-bit requantization, see `golden.s16`)."""
    return fixedpoint.INT32_MAX if input_dtype == "int8" else fixedpoint.S16_ACC_LIMIT - 1


def check_accumulator_reach(weights: np.ndarray, bias: np.ndarray, channel_axis: int, input_offset: int,
                            input_dtype: str, fix: str) -> None:
    """ValueError where some input could drive a channel's accumulator (bias plus sum of products) out of
    `accumulator_limit`: the C would wrap around where the golden model stops."""
    q_min, q_max = DTYPE_RANGE[input_dtype]
    largest_input = max(abs(q_min + input_offset), abs(q_max + input_offset))
    moved = np.moveaxis(np.asarray(weights, dtype=np.int64), channel_axis, 0)
    weight_sums = np.abs(moved.reshape(moved.shape[0], -1)).sum(axis=1)
    reach = np.abs(np.asarray(bias, dtype=np.int64)) + largest_input * weight_sums
    limit = accumulator_limit(input_dtype)
    over = np.flatnonzero(reach > limit)
    if over.size:
        c = int(over[0])
        raise ValueError(
            f"the accumulator of output channel {c} ({over.size} channel(s) in all) can reach {int(reach[c]):,} "
            f"(bias {int(bias[c]):,} plus {largest_input} x {int(weight_sums[c]):,} from its weights), beyond "
            f"{limit:,}; {fix}")


def quantize_bias(b: np.ndarray, input_scale: float, weight_scales: np.ndarray, dtype: str = "int8") -> np.ndarray:
    """int32 bias for int8 activations; int64 for int16 ones (16x8), below 2^47 in magnitude as the
    64-bit requantization requires. ValueError where a value does not fit: scales from
    `bias_safe_weight_scales` never let that happen; scales a model file fixes may."""
    q = np.round(b.astype(np.float64) / (input_scale * weight_scales))
    limit = accumulator_limit(dtype)
    over = np.flatnonzero(~(np.abs(q) <= limit))  # NaN counts as over
    if over.size:
        c = int(over[0])
        raise ValueError(
            f"the bias of output channel {c} ({over.size} channel(s) in all) is {float(b[c]):.6g}, or "
            f"{float(q[c]):.3g} at its scale s_in x s_w = {input_scale:.3g} x {float(weight_scales[c]):.3g}, "
            f"beyond the bias limit {limit:,}; the model file fixes these scales: quantize it again with "
            "a larger weight scale for those channels (as the TFLite converter does)")
    return q.astype(np.int64 if dtype == "int16" else np.int32)


def stored_weights(w: np.ndarray, scales: np.ndarray, channel_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The int8 weights a pre-quantized model stores, back from their dequantized float values: w is
    float32(q * s[c]) with |q| <= 128, so w / s[c] lies within 1e-4 of the integer q."""
    scales = np.asarray(scales, dtype=np.float32).astype(np.float64)
    shape = [1] * w.ndim
    shape[channel_axis] = -1
    exact = w.astype(np.float64) / scales.reshape(shape)
    q = np.round(exact)
    if np.max(np.abs(exact - q), initial=0.0) > 1e-3 or q.min(initial=0) < INT8_MIN or q.max(initial=0) > INT8_MAX:
        raise ValueError("its stored int8 weights were changed on the way (they are off their int8 grid)")
    return q.astype(np.int8), scales


def stored_bias(values: np.ndarray, scales: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> np.ndarray:
    """The int32 bias a pre-quantized model stores. TFLite's kernels take it as if its scale were
    s_in * s_w[c]; where the file says otherwise, it is requantized to that scale."""
    values = np.asarray(values, dtype=np.int64)
    scales = np.asarray(scales, dtype=np.float32).astype(np.float64)
    expected = float(np.float32(input_scale)) * weight_scales
    if np.allclose(scales, expected, rtol=1e-5, atol=0.0):
        return values.astype(np.int32)
    return quantize_bias(values * scales, float(np.float32(input_scale)), weight_scales)


class Lowering:
    """Walks the float graph once, assigning each activation its quantization and each node its layer."""

    def __init__(self, graph: Graph, ranges: dict[str, tuple[float, float]],
                 fixed: dict[str, tuple[float, int]] | None = None, int16_nodes: frozenset[str] = frozenset()):
        self.graph = graph
        self.fixed = {name: (float(np.float32(s)), int(zp)) for name, (s, zp) in (fixed or {}).items()}
        self.ranges = ranges_holding_constants(graph, ranges, self.fixed)
        self.int16_nodes = int16_nodes
        self.dtype = "int8"  # activation dtype of the node being lowered
        self.shared = shared_concat_quantization(graph, self.ranges, self.fixed)
        self.tensors: dict[str, QTensor] = {}
        self.layers: list[Layer] = []
        self.pending: list[Layer] = []  # requantizing tables that follow the next emitted layer
        self.float_names: dict[str, str] = {}  # precision-boundary tensor -> the float tensor it holds

    # -- tensors ------------------------------------------------------------------------------
    def activation(self, name: str, node: Node | None = None, dtype: str | None = None) -> QTensor:
        """The model file's quantization of ``name`` where it fixes one (int8), else the one a Concat shares
        with it (int8), else its calibrated range's in ``dtype`` (default: the dtype of the node being
        lowered)."""
        dtype = dtype or self.dtype
        if name in self.fixed and dtype == "int8":
            return self.define(name, *self.fixed[name])
        if name in self.shared and dtype == "int8":
            return self.define(name, *self.shared[name])
        float_name = self.float_names.get(name, name)
        if float_name not in self.ranges:
            where = f"the output of node {node.name!r} ({node.op})" if node else "the model input"
            raise CalibrationError(
                f"tensor {name!r} ({where}) has no quantization: the model fixes none (no QuantizeLinear) "
                "and no calibration data was given; pass calibration data (--calib) or quantize it in the model"
            )
        return self.define(name, *activation_qparams(*self.ranges[float_name], dtype), dtype)

    def define(self, name: str, scale: float, zero_point: int, dtype: str = "int8",
               shape: tuple[int, ...] | None = None) -> QTensor:
        # Scales are float32, as in TFLite and in the generated header.
        shape = tuple(self.graph.tensors[self.float_names.get(name, name)].shape) if shape is None else shape
        t = QTensor(name, shape, float(np.float32(scale)), int(zero_point), dtype)
        self.tensors[name] = t
        return t

    def kernel_output(self, node: Node, scale: float, zero_point: int, dtype: str = "int8") -> QTensor:
        """The output of a kernel that dictates its output quantization (pooling, reshape, transpose and
        pad keep the input's, softmax has 1/256). Where the model file fixes another one, the kernel
        writes a tensor of its own and a requantizing table into the file's quantization follows."""
        name = node.outputs[0]
        wanted = self.fixed.get(name)
        if wanted is None or dtype != "int8" or wanted == (float(np.float32(scale)), int(zero_point)):
            return self.define(name, scale, zero_point, dtype)
        shape = tuple(self.graph.tensors[name].shape)
        inner_name = f"{name}__{node.op}"
        while inner_name in self.tensors or inner_name in self.graph.tensors:  # the file may use that name
            inner_name += "_"
        inner = self.define(inner_name, scale, zero_point, shape=shape)
        out = self.define(name, *wanted)
        table = requantize_table(inner, out)
        self.pending.append(Layer(QOp.LUT, f"{node.name} (requantize)", (inner.name,), name, qir.LutParams(table)))
        return inner

    def requantized_into_output(self, node: Node) -> str:
        """A tensor holding ``node``'s input in the quantization of ``node``'s output (the file's, or
        its calibrated range's), written by a requantizing table; its name."""
        source = self.tensors[node.inputs[0]]
        out = self.activation(node.outputs[0], node)
        inner = self.define(f"{node.inputs[0]}__{node.op}", out.scale, out.zero_point, shape=source.shape)
        self.layers.append(Layer(QOp.LUT, f"{node.name} (requantize)", (source.name,), inner.name,
                                 qir.LutParams(requantize_table(source, inner))))
        return inner.name

    def same_as_input(self, node: Node) -> QTensor:
        src = self.tensors[node.inputs[0]]
        return self.kernel_output(node, src.scale, src.zero_point, src.dtype)

    def as_dtype(self, name: str, dtype: str) -> str:
        """``name`` in ``dtype``: itself, or its conversion at a precision boundary (made once, then reused)."""
        if self.tensors[name].dtype == dtype:
            return name
        float_name = self.float_names.get(name, name)
        converted = precision.boundary_name(float_name, dtype)
        if converted not in self.tensors:
            self.float_names[converted] = float_name
            self.requantize(name, converted, dtype)
        return converted

    def requantize(self, source: str, target: str, dtype: str) -> None:
        """Emit the requantize layer that writes ``source`` into the new tensor ``target`` of ``dtype``."""
        src = self.tensors[source]
        out = self.activation(target, dtype=dtype)
        mult, shift = fixedpoint.quantize_multiplier(src.scale / out.scale)
        params = qir.RequantizeParams(input_offset=-src.zero_point, output_offset=out.zero_point,
                                      multiplier=mult, shift=shift)
        name = precision.boundary_name(self.float_names.get(target, target), dtype)  # "y@int8", also for "y"
        self.layers.append(Layer(QOp.REQUANTIZE, name, (source,), target, params))

    def emit(self, node: Node, op: QOp, params, inputs: tuple[str, ...] | None = None,
             output: str | None = None) -> None:
        self.layers.append(Layer(op, node.name, tuple(inputs or node.inputs), output or node.outputs[0], params))
        self.layers.extend(self.pending)
        self.pending = []

    # -- the walk -----------------------------------------------------------------------------
    def run(self) -> qir.QModel:
        for name in self.graph.inputs:
            self.activation(name, dtype="int8")
        for node in self.graph.nodes:
            handler = HANDLERS.get(node.op)
            if handler is None:
                raise UnsupportedOpError(node.op, node.name, "no int8 lowering", sorted(HANDLERS))
            first = self.tensors[node.inputs[0]].dtype if node.inputs[0] in self.tensors else "int8"
            self.dtype = precision.node_dtype(node, self.int16_nodes, first)
            try:
                handler(self, self._boundaries(node))
            except ValueError as exc:  # a parameter out of the int8/int32 (int16/int64) scheme's reach
                raise McuqError(f"node {node.name!r} ({node.op}) cannot be quantized in {self.dtype}: {exc}") from None
        return qir.QModel(
            name=self.graph.name,
            tensors=self.tensors,
            layers=self.layers,
            inputs=list(self.graph.inputs),
            outputs=list(self.graph.outputs),
            input_perms=dict(self.graph.input_perms),
            output_perms=dict(self.graph.output_perms),
            float_names=dict(self.float_names),
        )

    def _boundaries(self, node: Node) -> Node:
        """``node`` reading its activation inputs in the current dtype (converted where they differ).
        A model output written by an int16 layer stays int16: the C API then gives int16 for it (finer
        logits, e.g.), with its own scale in the header."""
        inputs = tuple(self.as_dtype(n, self.dtype) if n in self.tensors else n for n in node.inputs)
        return node.replace(inputs=inputs)


def function_table(x: QTensor, out: QTensor, real_fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """int8 in x's quantization -> ``real_fn`` of its real value in out's, as a 256-entry table,
    computed in float64 from the exact quantizations: one rounding, and the C only indexes."""
    real = (np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.float64) - x.zero_point) * x.scale
    return np.clip(np.round(real_fn(real) / out.scale) + out.zero_point, INT8_MIN, INT8_MAX).astype(np.int8)


def requantize_table(x: QTensor, out: QTensor) -> np.ndarray:
    """int8 in x's quantization -> the same real value in out's, as a 256-entry table."""
    return function_table(x, out, lambda real: real)


def clamp_beyond_grid(node: Node, x: QTensor) -> bool:
    """Whether every result of ``node``'s fused clamp lies outside ``x``'s grid: a Clip(1.5, 6) after
    a MaxPool of values in [-0.38, 0.36] makes every output 1.5, which the pool's output, sharing x's
    quantization, cannot hold (the clamp would saturate at 0.36: SQNR 2.4 dB). A clamp that overlaps
    the grid gives results inside it, which the shared quantization holds."""
    low, high = node.attrs.get("act_min", -math.inf), node.attrs.get("act_max", math.inf)
    lo, hi = x.real_range()
    return (low > hi and not x.holds(low)) or (high < lo and not x.holds(high))


def _weighted(lower: Lowering, node: Node, channel_axis: int):
    """Shared part of conv, depthwise conv and fully connected: quantized weights, bias, multipliers."""
    x = lower.tensors[node.inputs[0]]
    out = lower.activation(node.outputs[0], node)
    w = lower.graph.const(node.inputs[1])
    b = lower.graph.const(node.inputs[2]) if len(node.inputs) > 2 else None
    if b is None:
        b = np.zeros(w.shape[channel_axis], dtype=np.float32)
    if "weight_scales" in node.attrs:  # the file's scales, taken as they are
        wq, w_scales = stored_weights(w, node.attrs["weight_scales"], channel_axis)
        fix = "the model file fixes these scales: quantize it again with a larger weight scale for that channel"
    else:
        w_scales = bias_safe_weight_scales(b, x.scale, weight_scales_per_channel(w, channel_axis))
        wq = quantize_weights(w, w_scales, channel_axis)
        fix = (f"the layer sums too many products for int32: run it in int16 (--int16 {node.name})"
               if op_info(node.op).int16 else "the layer sums too many products for int32 (it has no int16 "
               "form): split its input channels over two layers")
    if "bias_values" in node.attrs:
        bias = stored_bias(node.attrs["bias_values"], node.attrs["bias_scales"], x.scale, w_scales)
    else:
        bias = quantize_bias(b, x.scale, w_scales, out.dtype)
    check_accumulator_reach(wq, bias, channel_axis, -x.zero_point, x.dtype, fix)
    mult, shift = fixedpoint.conv_multipliers(x.scale, w_scales, out.scale)
    lo, hi = fixedpoint.S16_SHIFT_RANGE
    if out.dtype == "int16" and (shift.min() < lo or shift.max() > hi):
        raise ValueError(f"a requantization shift in [{shift.min()}, {shift.max()}] is outside the 16x8 "
                         f"kernels' [{lo}, {hi}] (weights and scales too far apart)")
    act_min, act_max = activation_clamp(node, out)
    common = dict(weights=wq, bias=bias, multiplier=mult, shift=shift, input_offset=-x.zero_point,
                  output_offset=out.zero_point, act_min=act_min, act_max=act_max)
    return common, (node.inputs[0],)


def lower_conv2d(lower: Lowering, node: Node) -> None:
    common, inputs = _weighted(lower, node, channel_axis=0)
    a = node.attrs
    params = qir.ConvParams(**common, stride=tuple(a["strides"]), dilation=tuple(a["dilations"]),
                            padding=tuple(a["pads"]), groups=int(a.get("groups", 1)))
    lower.emit(node, QOp.CONV, params, inputs)


def input_normalization(lower: Lowering, node: Node) -> tuple[float, np.ndarray] | None:
    """(s, b) where ``node`` (a 1x1 depthwise) is y = s * x + b[c] with one s > 0 for every channel,
    no clamp, reading an int8 model input that nothing else reads and the file does not quantize: a
    per-tensor input normalization `(x - mean) / std` when b is one value too (see
    `fold_input_normalization`). None otherwise."""
    x, y = node.inputs[0], node.outputs[0]
    if (x not in lower.graph.inputs or x in lower.graph.outputs or len(lower.graph.consumers(x)) != 1
            or lower.dtype != "int8" or x in lower.fixed or y in lower.fixed or len(node.inputs) < 3):
        return None
    w, b = lower.graph.const(node.inputs[1]), lower.graph.const(node.inputs[2])
    a = node.attrs
    if (w.shape[:3] != (1, 1, 1) or tuple(a["strides"]) != (1, 1) or any(a["pads"])
            or int(a.get("depth_multiplier", 1)) != 1 or "weight_scales" in a
            or a.get("act_min", -math.inf) != -math.inf or a.get("act_max", math.inf) != math.inf):
        return None
    s = float(w.flat[0])
    if not (np.all(w == w.flat[0]) and s > 0):
        return None
    return s, np.asarray(b, dtype=np.float64).reshape(-1)


def fold_input_normalization(lower: Lowering, node: Node, s: float, shifts: np.ndarray) -> bool:
    """y = s * x + b on the model input as a change of the input's quantization, no layer: y keeps a
    grid of its calibrated range whose step divides b (b = k * S_y, widened by at most 1/k), so that the
    input's int8 values are y's: x's grid is S_x = S_y / s, Z_x = Z_y + k. The C's input scale and
    zero point are x's: the caller quantizes its float x with them, as for any model. A byte copy (in
    place: nothing) takes x to y. False, and nothing done, where b differs between channels by more
    than a thousandth of a step (bias correction leaves ~1e-10 differences on a per-tensor shift), a
    zero point would leave int8, or x's step would be over 10 % coarser than its own grid's."""
    lo, hi = lower.ranges[lower.float_names.get(node.outputs[0], node.outputs[0])]
    scale, _ = activation_qparams(lo, hi)
    if np.ptp(shifts) > 1e-3 * scale:
        return False
    b = float(shifts.mean())
    b = 0.0 if abs(b) <= 1e-3 * scale else b  # what bias correction left of a shift of 0
    k = math.floor(abs(b) / scale)
    if b != 0 and k < 1:
        return False  # |b| is below one step: no grid of this range has a step that divides it
    scale = abs(b) / k if b != 0 else scale
    zero_y = int(round(INT8_MIN - min(lo, 0.0) / scale))
    zero_x = zero_y + int(math.copysign(k, b)) if b != 0 else zero_y
    if not (INT8_MIN <= zero_y <= INT8_MAX and INT8_MIN <= zero_x <= INT8_MAX):
        return False
    if scale / s > 1.1 * lower.tensors[node.inputs[0]].scale:
        # The grid must hold x = 0 and y = 0 (x = mean): with the mean outside the data, coarser than
        # x's own grid (a 1x1 depthwise layer then keeps the resolution).
        return False
    x = lower.define(node.inputs[0], scale / s, zero_x)
    out = lower.define(node.outputs[0], scale, zero_y)
    name = f"{node.name} (y = {s:.6g} x + {b:.6g}: folded into the input's quantization)"
    lower.layers.append(Layer(QOp.COPY, name, (x.name,), out.name, qir.CopyParams()))
    return True


def lower_depthwise_conv2d(lower: Lowering, node: Node) -> None:
    affine = input_normalization(lower, node)
    if affine is not None and fold_input_normalization(lower, node, *affine):
        return
    common, inputs = _weighted(lower, node, channel_axis=3)
    a = node.attrs
    params = qir.DepthwiseConvParams(**common, stride=tuple(a["strides"]), dilation=tuple(a["dilations"]),
                                     padding=tuple(a["pads"]),
                                     ch_mult=int(a.get("depth_multiplier", 1)))
    lower.emit(node, QOp.DEPTHWISE_CONV, params, inputs)


def lower_fully_connected(lower: Lowering, node: Node) -> None:
    common, inputs = _weighted(lower, node, channel_axis=0)
    lower.emit(node, QOp.FULLY_CONNECTED, qir.FullyConnectedParams(**common), inputs)


def _operand(lower: Lowering, name: str) -> tuple[QTensor, np.ndarray | None]:
    """An Add/Mul operand: an activation (no data), or a constant as int8 on a grid of its own, as
    the TFLite converter quantizes a constant operand (asymmetric, per tensor, over its min and max)."""
    if name in lower.tensors:
        return lower.tensors[name], None
    value = lower.graph.const(name)
    scale, zero_point = activation_qparams(float(value.min()), float(value.max()))
    tensor = QTensor(name, tuple(value.shape), float(np.float32(scale)), zero_point)
    return tensor, quantize_input(value, tensor.scale, zero_point)


def _arith(op: QOp, broadcast_op: QOp, prepare, prepare_s16=None) -> Callable[[Lowering, Node], None]:
    """Add, Sub and Mul: TFLite's Prepare maths turn the three scales into the params (``prepare_s16``
    for int16 activations). Two activations of the output's shape run the elementwise kernel
    (``op``); operands that broadcast, or a constant operand, run ``broadcast_op``."""

    def lower_arith(lower: Lowering, node: Node) -> None:
        (a, a_data), (b, b_data) = operands = [_operand(lower, name) for name in node.inputs]
        out = lower.activation(node.outputs[0], node)
        act_min, act_max = activation_clamp(node, out)
        fn = prepare_s16 if out.dtype == "int16" else prepare
        params = fn(a.scale, a.zero_point, b.scale, b.zero_point, out.scale, out.zero_point, act_min, act_max)
        if a_data is None and b_data is None and a.shape == b.shape == out.shape:
            lower.emit(node, op, params)
            return
        if out.dtype != "int8":
            raise ValueError("an operand broadcasts or is a constant: that kernel is int8 only; "
                             "leave the node out of --int16")
        constants = [k for k, (_, data) in enumerate(operands) if data is not None]
        if len(constants) > 1:
            raise ValueError("both operands are constants (fold them into one constant before compiling)")
        k = constants[0] if constants else 1
        constant = operands[k][1]
        if constant is not None:
            out_rank = len(out.shape)
            constant = constant.reshape((1,) * (out_rank - constant.ndim) + constant.shape)
            constant = constant.reshape(qir.model.nhwc4(constant.shape))
        broadcast = qir.BroadcastParams(params, constant, k)
        inputs = tuple(name for name, (_, data) in zip(node.inputs, operands) if data is None)
        lower.emit(node, broadcast_op, broadcast, inputs)

    return lower_arith


def pool_params(node: Node, out: QTensor) -> qir.PoolParams:
    act_min, act_max = activation_clamp(node, out)
    a = node.attrs
    return qir.PoolParams(kernel=tuple(a["kernel"]), stride=tuple(a["strides"]), padding=tuple(a["pads"]),
                          act_min=act_min, act_max=act_max, count_include_pad=bool(a.get("count_include_pad", False)),
                          pad_value=out.zero_point)


def _pool(op: QOp) -> Callable[[Lowering, Node], None]:
    def lower_pool(lower: Lowering, node: Node) -> None:
        x = lower.tensors[node.inputs[0]]
        if clamp_beyond_grid(node, x):
            lower_clamp_apart(lower, node, op, x)
            return
        out = lower.same_as_input(node)
        lower.emit(node, op, pool_params(node, out), output=out.name)

    return lower_pool


def _lut(real_fn: Callable[[np.ndarray], np.ndarray],
         fixed_quant: tuple[float, int] | None = None) -> Callable[[Lowering, Node], None]:
    """An elementwise function of one int8 value becomes a 256-entry table (`function_table`)."""

    def lower_lut(lower: Lowering, node: Node) -> None:
        x = lower.tensors[node.inputs[0]]
        if fixed_quant is None or node.outputs[0] in lower.fixed:  # a table serves any output quantization
            out = lower.activation(node.outputs[0], node)
        else:
            out = lower.define(node.outputs[0], *fixed_quant)
        lower.emit(node, QOp.LUT, qir.LutParams(function_table(x, out, lambda real: real_fn(real, node))))

    return lower_lut


def _clip_fn(v, node):
    return np.clip(v, node.attrs.get("act_min", -math.inf), node.attrs.get("act_max", math.inf))


def _leaky_relu_fn(v, node):
    return np.where(v >= 0, v, v * node.attrs.get("alpha", 0.01))


def _sigmoid_fn(v, node):
    return 1.0 / (1.0 + np.exp(-v))


def _tanh_fn(v, node):
    return np.tanh(v)


def _float_op_table(fixed_quant: tuple[float, int] | None = None) -> Callable[[Lowering, Node], None]:
    """A function of one value as a table of its float function (`float_exec`, run in float64)."""
    return _lut(lambda real, node: float_exec.OPS[node.op](node.attrs, real), fixed_quant)


def lower_prelu(lower: Lowering, node: Node) -> None:
    """x >= 0: x requantized by s_in / s_out; x < 0: by s_in * slope[c] / s_out, one multiplier per
    channel (the slope folded in, so no second rounding of a quantized slope as in TFLite's PRelu)."""
    x = lower.tensors[node.inputs[0]]
    out = lower.activation(node.outputs[0], node)
    slope = np.asarray(lower.graph.const(node.inputs[1]), dtype=np.float32).astype(np.float64)
    s_in, s_out = float(np.float32(x.scale)), float(np.float32(out.scale))
    positive = fixedpoint.quantize_multiplier(s_in / s_out)
    negative = fixedpoint.quantize_multipliers(s_in * slope / s_out)
    params = qir.PreluParams(input_offset=-x.zero_point, output_offset=out.zero_point,
                             positive_multiplier=positive[0], positive_shift=positive[1],
                             negative_multiplier=negative[0], negative_shift=negative[1])
    lower.emit(node, QOp.PRELU, params, inputs=(node.inputs[0],))


def lower_softmax(lower: Lowering, node: Node) -> None:
    x = lower.tensors[node.inputs[0]]
    out = lower.kernel_output(node, *SOFTMAX_QUANT)
    lower.emit(node, QOp.SOFTMAX, fixedpoint.prepare_softmax(x.scale), output=out.name)


def lower_concat(lower: Lowering, node: Node) -> None:
    out = lower.activation(node.outputs[0], node)
    offsets, mults, shifts = [], [], []
    for name in node.inputs:
        x = lower.tensors[name]
        if (x.scale, x.zero_point) == (out.scale, out.zero_point):
            mult, shift = 0, 0  # same quantization: a plain copy
        else:
            mult, shift = fixedpoint.quantize_multiplier(x.scale / out.scale)
        offsets.append(-x.zero_point)
        mults.append(int(mult))
        shifts.append(int(shift))
    params = qir.ConcatParams(axis=int(node.attrs["axis"]), input_offsets=tuple(offsets),
                              multipliers=tuple(mults), shifts=tuple(shifts), output_offset=out.zero_point)
    lower.emit(node, QOp.CONCAT, params)


def lower_transpose(lower: Lowering, node: Node) -> None:
    if len(node.attrs["perm"]) > 4:
        raise ValueError(f"a permutation of {len(node.attrs['perm'])} axes of size above 1; mcuq_transpose_s8 "
                         "permutes 4 at most: merge or drop axes before the Transpose")
    out = lower.same_as_input(node)
    lower.emit(node, QOp.TRANSPOSE, qir.TransposeParams(perm=tuple(node.attrs["perm"])), output=out.name)


def lower_pad(lower: Lowering, node: Node) -> None:
    """A pad keeps its input's quantization, whose range `ranges_holding_constants` widened to hold
    the pad value. Where the model file fixes that quantization and it cannot hold the value, a table
    first requantizes the input into the Pad output's quantization (which holds it)."""
    value = float(node.attrs.get("value", 0.0))
    if pads_anything(node) and not lower.tensors[node.inputs[0]].holds(value):
        node = node.replace(inputs=(lower.requantized_into_output(node),))
    out = lower.same_as_input(node)
    q_value = quantize_value(value, out.scale, out.zero_point, out.dtype)
    lower.emit(node, QOp.PAD, qir.PadParams(pads=tuple(node.attrs["pads"]), pad_value=q_value), output=out.name)


def lower_clamp_apart(lower: Lowering, node: Node, op: QOp, x: QTensor) -> None:
    """A pooling layer whose fused clamp lies beyond its input's grid (`clamp_beyond_grid`): the pool
    writes a tensor of its own in its input's quantization, then the clamp is a real op, a table into
    the output's own quantization (the calibrated range of the clamped values, or the file's)."""
    if x.dtype != "int8":
        raise ValueError(f"its fused clamp [{node.attrs.get('act_min')}, {node.attrs.get('act_max')}] lies "
                         "outside its int16 input's range; run it in int8 (leave it out of --int16)")
    name = node.outputs[0]
    pooled = lower.define(f"{name}__{node.op}", x.scale, x.zero_point, shape=tuple(lower.graph.tensors[name].shape))
    bare = node.replace(attrs={**node.attrs, "act_min": -math.inf, "act_max": math.inf})
    lower.emit(bare, op, pool_params(bare, pooled), output=pooled.name)
    out = lower.activation(name, node)
    table = function_table(pooled, out, lambda real: _clip_fn(real, node))
    lower.emit(node.replace(name=f"{node.name} (clamp)"), QOp.LUT, qir.LutParams(table), inputs=(pooled.name,))


def lower_reshape(lower: Lowering, node: Node) -> None:
    out = lower.same_as_input(node)
    lower.emit(node, QOp.COPY, qir.CopyParams(), output=out.name)


#: Bilinear weights in fixed point with this many fractional bits (TFLite's int8 ResizeBilinear).
RESIZE_WEIGHT_BITS = 10


def lower_resize_nearest(lower: Lowering, node: Node) -> None:
    out = lower.same_as_input(node)
    params = qir.ResizeParams(rows=tuple(node.attrs["rows"]), cols=tuple(node.attrs["cols"]))
    lower.emit(node, QOp.RESIZE_NEAREST, params, output=out.name)


def fixed_point_sources(sources) -> tuple[int, ...]:
    """(lower, upper, float weight of the upper) per output index -> flattened (lower, upper, weight in
    1/1024), the weight rounded to nearest."""
    one = 1 << RESIZE_WEIGHT_BITS
    return tuple(v for lo, hi, frac in sources for v in (int(lo), int(hi), int(round(float(frac) * one))))


def lower_resize_bilinear(lower: Lowering, node: Node) -> None:
    out = lower.same_as_input(node)
    rows, cols = (fixed_point_sources(node.attrs[key]) for key in ("rows", "cols"))
    params = qir.ResizeParams(rows=rows, cols=cols)
    lower.emit(node, QOp.RESIZE_BILINEAR, params, output=out.name)


def lower_conv_transpose2d(lower: Lowering, node: Node) -> None:
    common, inputs = _weighted(lower, node, channel_axis=0)
    params = qir.TransposeConvParams(**common, stride=tuple(node.attrs["strides"]), padding=tuple(node.attrs["pads"]))
    lower.emit(node, QOp.TRANSPOSE_CONV, params, inputs)


def lower_slice(lower: Lowering, node: Node) -> None:
    out = lower.same_as_input(node)
    params = qir.SliceParams(begin=tuple(int(v) for v in node.attrs["starts"]),
                             step=tuple(int(v) for v in node.attrs["steps"]))
    lower.emit(node, QOp.SLICE, params, output=out.name)


def lower_gather_channels(lower: Lowering, node: Node) -> None:
    """A permutation or selection of channels: the output keeps the input's grid, bit for bit."""
    out = lower.same_as_input(node)
    params = qir.GatherChannelsParams(indices=tuple(int(i) for i in node.attrs["indices"]))
    lower.emit(node, QOp.GATHER_CHANNELS, params, output=out.name)


def lower_batch_matmul(lower: Lowering, node: Node) -> None:
    """arm_batch_matmul_s8's Prepare: one multiplier s_lhs s_rhs alpha / s_out for the whole tensor (alpha:
    a positive factor folded in by `passes`, e.g. attention's 1/sqrt(d))."""
    lhs, rhs = (lower.tensors[name] for name in node.inputs)
    out = lower.activation(node.outputs[0], node)
    act_min, act_max = activation_clamp(node, out)
    alpha = float(node.attrs.get("alpha", 1.0))
    mult, shift = fixedpoint.quantize_multiplier(
        float(np.float32(lhs.scale)) * float(np.float32(rhs.scale)) * alpha / float(np.float32(out.scale)))
    params = qir.BatchMatmulParams(lhs_offset=-lhs.zero_point, rhs_offset=-rhs.zero_point,
                                   output_offset=out.zero_point, multiplier=mult, shift=shift,
                                   act_min=act_min, act_max=act_max)
    lower.emit(node, QOp.BATCH_MATMUL, params)


#: The extra fractional bits a layer norm's per-feature requantization keeps until its last rounding.
LAYER_NORM_EXTRA_BITS = 8
#: The fractional bits of a layer norm's normalized values, (x - mean) / std, before gamma and beta.
LAYER_NORM_FRACTION_BITS = 16


def lower_layer_norm(lower: Lowering, node: Node) -> None:
    """gamma and beta folded into a per-feature requantization of the normalized value (Q16) into the
    output grid, with 8 extra bits until the final rounding; epsilon in the units of the integer
    variance numerator (see `qir.LayerNormParams`)."""
    x = lower.tensors[node.inputs[0]]
    out = lower.activation(node.outputs[0], node)
    gamma = lower.graph.const(node.inputs[1]).astype(np.float64)
    beta = lower.graph.const(node.inputs[2]).astype(np.float64)
    features = x.shape[-1]
    out_scale = float(np.float32(out.scale))
    extra = 1 << LAYER_NORM_EXTRA_BITS
    mult, shift = fixedpoint.quantize_multipliers(gamma / out_scale * extra / (1 << LAYER_NORM_FRACTION_BITS))
    bias = np.round(beta / out_scale * extra)
    if np.abs(bias).max(initial=0) >= 2**31:
        raise ValueError("beta is beyond 2^23 output steps: the output range is far too narrow for it")
    epsilon = max(1, round(features * features * float(node.attrs["epsilon"]) / float(np.float32(x.scale)) ** 2))
    if epsilon >= 2**60:
        raise ValueError(f"epsilon {node.attrs['epsilon']} is beyond 2^60 squared input steps: the input range is "
                         "far too narrow for it")
    lower.emit(node, QOp.LAYER_NORM, qir.LayerNormParams(
        input_offset=-x.zero_point, output_offset=out.zero_point, epsilon=int(epsilon), multiplier=mult,
        shift=shift, bias=bias.astype(np.int32)), inputs=(node.inputs[0],))

# -- recurrent layers: CMSIS-NN's LSTM scheme (int16 gates in Q3.12 -> Q0.15, int8 hidden state) ---------

#: Gate pre-activations are int16 Q3.12: scale 2^-12, the range [-8, 8) where sigmoid and tanh saturate.
GATE_SCALE = 2.0 ** -12
Q15 = 2.0 ** -15  # gates after sigmoid / tanh, and the GRU's state


def _matrix_per_gate(w: np.ndarray, gates: int, real_scale: float, bias: np.ndarray, offset: int, what: str):
    """One gate matrix block per gate quantized per tensor (CMSIS-NN's LSTM takes one multiplier per gate and
    matrix): int8 weights, int32 bias at real_scale * s_w[g], and the multipliers into Q3.12."""
    hidden = w.shape[0] // gates
    scales = weight_scales_per_channel(w.reshape(gates, -1), 0)
    row_scales = np.repeat(scales, hidden)
    wq = quantize_weights(w, row_scales, 0)
    bias_q = quantize_bias(bias, real_scale, row_scales)
    check_accumulator_reach(wq, bias_q, 0, offset, "int8",
                            f"the {what} weights of a gate are too many or too large for int32")
    mult, shift = fixedpoint.quantize_multipliers(real_scale * scales / GATE_SCALE)
    return wq, bias_q, mult, shift


def recurrent_gates(lower: Lowering, node: Node, gates: int, hidden_bias_gates: tuple[int, ...]) -> qir.RnnGates:
    """The gates of an LSTM / GRU node: W and R per gate, the ONNX biases Wb + Rb into the input product's
    bias, except the gates in ``hidden_bias_gates`` (the GRU's candidate, whose Rb is multiplied by r)
    whose Rb stays with the hidden product."""
    x, out = lower.tensors[node.inputs[0]], lower.activation(node.outputs[0], node)
    w, r, b = (lower.graph.const(name).astype(np.float64) for name in node.inputs[1:4])
    hidden = r.shape[1]
    in_bias, h_bias = b[: gates * hidden].copy(), b[gates * hidden:].copy()
    keep = np.zeros(gates * hidden, dtype=bool)
    for g in hidden_bias_gates:
        keep[g * hidden:(g + 1) * hidden] = True
    in_bias[~keep] += h_bias[~keep]
    h_bias[~keep] = 0.0
    wq, wb, wm, ws = _matrix_per_gate(w, gates, x.scale, in_bias, -x.zero_point, "input")
    rq, rb, rm, rs = _matrix_per_gate(r, gates, out.scale, h_bias, -out.zero_point, "recurrent")
    return qir.RnnGates(input_weights=wq, input_bias=wb, hidden_weights=rq, hidden_bias=rb, input_multiplier=wm,
                        input_shift=ws, hidden_multiplier=rm, hidden_shift=rs, input_offset=-x.zero_point,
                        hidden_offset=-out.zero_point)


def _initial(lower: Lowering, node: Node, index: int, scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """A constant initial state on an integer grid."""
    lo, hi = DTYPE_RANGE[dtype]
    values = np.round(lower.graph.const(node.inputs[index]).astype(np.float64) / scale) + zero_point
    return np.clip(values, lo, hi).astype(qir.DTYPE_NUMPY[dtype])


def cell_scale_power(lower: Lowering, node: Node) -> int:
    """The cell state's power-of-two scale (TFLite's LSTM rule): the smallest 2^p with 32767 * 2^p covering the
    calibrated |c| (the cell sequence, the node's second output) and the initial cell state."""
    lo, hi = lower.ranges.get(node.outputs[1], (0.0, 0.0))
    largest = max(abs(lo), abs(hi), float(np.abs(lower.graph.const(node.inputs[5])).max()), 2.0 ** -20)
    return int(np.clip(math.ceil(math.log2(largest / 32767.0)), -20, 3))


def lower_lstm(lower: Lowering, node: Node) -> None:
    if lower.graph.consumers(node.outputs[1]) or node.outputs[1] in lower.graph.outputs:
        raise McuqError(f"node {node.name!r} (LSTM): its output Y_c (the last cell state) is used; the int8 LSTM "
                        "gives Y and Y_h: read the hidden state instead")
    gates = recurrent_gates(lower, node, 4, ())
    out = lower.tensors[node.outputs[0]]
    power = cell_scale_power(lower, node)
    output = fixedpoint.quantize_multiplier(Q15 * Q15 / out.scale)
    forget = fixedpoint.quantize_multiplier(Q15)
    update = fixedpoint.quantize_multiplier(Q15 * Q15 / 2.0 ** power)
    params = qir.LstmParams(
        gates=gates, reverse=bool(node.attrs["reverse"]), output_offset=out.zero_point, output_multiplier=output[0],
        output_shift=output[1], forget_to_cell_multiplier=forget[0], forget_to_cell_shift=forget[1],
        input_to_cell_multiplier=update[0], input_to_cell_shift=update[1], cell_scale_power=power,
        hidden_init=_initial(lower, node, 4, out.scale, out.zero_point, "int8"),
        cell_init=_initial(lower, node, 5, 2.0 ** power, 0, "int16"))
    lower.emit(node, QOp.LSTM, params, inputs=(node.inputs[0],), output=node.outputs[0])


def lower_gru(lower: Lowering, node: Node) -> None:
    h0 = lower.graph.const(node.inputs[4])
    if np.abs(h0).max(initial=0.0) > 1.0:
        raise McuqError(f"node {node.name!r} (GRU): an initial state beyond [-1, 1] ({np.abs(h0).max():.3g}); the "
                        "int8 GRU keeps its state in Q0.15 (a GRU's state stays within [-1, 1] from a state within it)")
    gates = recurrent_gates(lower, node, 3, (2,))
    out = lower.tensors[node.outputs[0]]
    output = fixedpoint.quantize_multiplier(Q15 / out.scale)
    params = qir.GruParams(
        gates=gates, reverse=bool(node.attrs["reverse"]), output_offset=out.zero_point, output_multiplier=output[0],
        output_shift=output[1], hidden_init=_initial(lower, node, 4, out.scale, out.zero_point, "int8"),
        state_init=_initial(lower, node, 4, Q15, 0, "int16"))
    lower.emit(node, QOp.GRU, params, inputs=(node.inputs[0],))


HANDLERS: dict[str, Callable[[Lowering, Node], None]] = {
    "conv2d": lower_conv2d,
    "depthwise_conv2d": lower_depthwise_conv2d,
    "fully_connected": lower_fully_connected,
    "add": _arith(QOp.ADD, QOp.BROADCAST_ADD, fixedpoint.prepare_add,
                  functools.partial(fixedpoint.prepare_add, left_shift=fixedpoint.ADD_LEFT_SHIFT_S16)),
    "mul": _arith(QOp.MUL, QOp.BROADCAST_MUL, fixedpoint.prepare_mul),
    "max_pool": _pool(QOp.MAX_POOL),
    "avg_pool": _pool(QOp.AVG_POOL),
    "clip": _lut(_clip_fn),
    "leaky_relu": _lut(_leaky_relu_fn),
    "sigmoid": _lut(_sigmoid_fn),
    "tanh": _lut(_tanh_fn),
    "softmax": lower_softmax,
    "concat": lower_concat,
    "transpose": lower_transpose,
    "pad": lower_pad,
    "reshape": lower_reshape,
    "hard_swish": _float_op_table(),
    "hard_sigmoid": _float_op_table(),
    "elu": _float_op_table(),
    "selu": _float_op_table(),
    "gelu": _float_op_table(),
    "swish": _float_op_table(),
    "exp": _float_op_table(),
    "softplus": _float_op_table(),
    "prelu": lower_prelu,
    "sub": _arith(QOp.ADD, QOp.BROADCAST_ADD, fixedpoint.prepare_sub),
    "resize_nearest": lower_resize_nearest,
    "resize_bilinear": lower_resize_bilinear,
    "conv_transpose2d": lower_conv_transpose2d,
    "slice": lower_slice,
    "gather_channels": lower_gather_channels,
    "batch_matmul": lower_batch_matmul,
    "layer_norm": lower_layer_norm,
    "lstm": lower_lstm,
    "gru": lower_gru,
}


def quantize(graph: Graph, ranges: dict[str, tuple[float, float]],
             fixed: dict[str, tuple[float, int]] | None = None, *, int16_nodes=()) -> qir.QModel:
    """The integer IR of ``graph``: activation quantization from ``fixed`` (the model file's) where
    given, else from the calibrated ``ranges``; the nodes named in ``int16_nodes`` run with int16
    activations (see `precision`)."""
    return Lowering(graph, ranges, fixed, precision.resolve(graph, int16_nodes)).run()


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float -> int8 exactly as the generated C does it: float32 division, round half away from zero."""
    scaled = np.clip(np.float32(x) / np.float32(scale), -1000.0, 1000.0).astype(np.float32)
    rounded = np.where(scaled >= 0, np.floor(scaled + np.float32(0.5)), np.ceil(scaled - np.float32(0.5)))
    return np.clip(rounded.astype(np.int32) + zero_point, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.int32) - zero_point) * np.float32(scale)).astype(np.float32)
