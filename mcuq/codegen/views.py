"""One view function per int8 IR op: the typed data of one layer's C, written once.

A view is what the kernel call of a layer needs, as data: the const arrays (weights, bias,
multipliers, tables), the parameter and dims structs with their field values (a ``dict`` is a struct
with named fields, a ``tuple`` one with positional ones or a C array), and the calls with their
arguments. `templates/ops/<op>.c.j2` renders a view as C for the generated model; the kernel tests
hand the same structs to cffi (which takes the same dicts and tuples) and call the same functions
with the same arguments; the QEMU kernel harness renders the same templates. So a kernel's call is
written here and nowhere else.

Where the layer's tensors live comes in as a `Placement` (byte offsets into one buffer, the arena),
so a view does not depend on the planner: the code generator places layers as `plan` did, a test
wherever it wants to (over an input, into a channel slice, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mcuq.ir import phases
from mcuq.numerics import fixedpoint as fp
from mcuq.qir import kernels
from mcuq.qir.model import Layer, QOp, QTensor, contiguous_block_offset

# --------------------------------------------------------------------------------------------------
# the vocabulary of a view
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Symbol:
    """Another declaration of the same layer, by its short name (``weights``, ``multiplier``, ...)."""

    name: str


@dataclass(frozen=True)
class CArray:
    """A const array of the layer (flash)."""

    name: str
    ctype: str  # int8_t, int32_t or int64_t
    values: np.ndarray = field(compare=False)
    comment: str = ""


@dataclass(frozen=True)
class CStruct:
    """A const struct (or array of structs) of the layer, with its field values."""

    name: str
    ctype: str
    value: dict | tuple | list  # a list: an array of structs

    @property
    def count(self) -> int | None:
        """Elements of an array of structs; None for one struct."""
        return len(self.value) if isinstance(self.value, list) else None


@dataclass(frozen=True)
class Arena:
    """A pointer into the arena (the layer's input or output)."""

    offset: int
    ctype: str  # int8_t or int16_t
    const: bool


@dataclass(frozen=True)
class Ref:
    """The address of one of the layer's structs (``&name``), or of element ``index`` of an array of them."""

    name: str
    index: int | None = None


@dataclass(frozen=True)
class Context:
    """The kernel's scratch: ``size`` bytes at ``offset`` in the arena (None: no scratch)."""

    offset: int | None
    size: int


Argument = Arena | Ref | Symbol | Context | int


@dataclass(frozen=True)
class KernelCall:
    function: str
    args: tuple[Argument, ...]


@dataclass(frozen=True)
class OpView:
    arrays: tuple[CArray, ...] = ()
    structs: tuple[CStruct, ...] = ()
    calls: tuple[KernelCall, ...] = ()


@dataclass(frozen=True)
class Placement:
    """Where a layer's tensors are: byte offsets into the arena, the scratch, and how the output is
    written (``pixel_stride``: elements between output pixels, more than the output's channels when it
    is written as a channel slice of a Concat's output). ``in_place_inputs``: inputs of a Concat that
    their producers already wrote into its output (nothing to copy)."""

    inputs: tuple[int, ...]
    output: int
    scratch: tuple[int, int] | None = None
    pixel_stride: int | None = None
    in_place_inputs: frozenset[int] = frozenset()


@dataclass(frozen=True)
class LayerData:
    """What a view function reads: the layer, its tensors and its placement."""

    layer: Layer
    tensors: dict[str, QTensor]
    at: Placement

    @property
    def params(self):
        return self.layer.params

    @property
    def out(self) -> QTensor:
        return self.tensors[self.layer.output]

    def input(self, k: int = 0) -> QTensor:
        return self.tensors[self.layer.inputs[k]]

    @property
    def function(self) -> str:
        return kernels.c_kernel(self.layer, self.tensors).function

    @property
    def int8(self) -> bool:
        return self.out.dtype == "int8"

    def arena_in(self, k: int = 0) -> Arena:
        return Arena(self.at.inputs[k], _ctype(self.input(k)), const=True)

    def arena_out(self) -> Arena:
        return Arena(self.at.output, _ctype(self.out), const=False)

    @property
    def pixel_stride(self) -> int:
        return self.at.pixel_stride or dims4(self.out.shape)[3]

    def elementwise_dims(self) -> dict:
        """rows x row_size elements: one dense row, or one row per pixel when writing a channel slice."""
        size, channels = self.out.size, dims4(self.out.shape)[3]
        if self.pixel_stride == channels:
            return dict(rows=1, row_size=size, output_row_stride=size)
        return dict(rows=size // channels, row_size=channels, output_row_stride=self.pixel_stride)


def _ctype(t: QTensor) -> str:
    return "int16_t" if t.dtype == "int16" else "int8_t"


def dims4(shape: tuple[int, ...]) -> tuple[int, ...]:
    """NHWC dims of a tensor of rank <= 4, leading dims 1."""
    return (1,) * (4 - len(shape)) + tuple(shape)


def _perm4(perm: tuple[int, ...]) -> tuple[int, ...]:
    lead = 4 - len(perm)
    return tuple(range(lead)) + tuple(p + lead for p in perm)


def _tile(pair) -> dict:
    return dict(h=int(pair[0]), w=int(pair[1]))


def _padding(pads) -> dict:
    return dict(zip(("top", "left", "bottom", "right"), map(int, pads)))


def _activation(p) -> dict:
    return dict(min=int(p.act_min), max=int(p.act_max))


def _quant(multiplier, shift) -> dict:
    return dict(multiplier=int(multiplier), shift=int(shift))


# --------------------------------------------------------------------------------------------------
# weighted layers: conv, depthwise, fully connected
# --------------------------------------------------------------------------------------------------


def folded_bias(op: QOp, params) -> np.ndarray:
    """The bias the int8 conv, depthwise and FC kernels take: the input offset folded in,
    bias[c] + input_offset * sum(weights of c), so that their inner loops multiply raw int8 inputs.
    Padded positions then hold the input zero point (-input_offset) and contribute
    -input_offset * w, which the folded term cancels: the same sum as the golden model's. The
    addition wraps to int32 like the kernels' accumulators (only the final sum matters, mod 2^32)."""
    w = np.asarray(params.weights, dtype=np.int64)
    return with_offset_folded(params.bias, params.input_offset, w, kernels.kernel_spec(op).weights.reduced(w.ndim))


def with_offset_folded(bias, input_offset: int, w: np.ndarray, reduced: tuple[int, ...]) -> np.ndarray:
    """bias + input_offset * (sum of w over ``reduced``), wrapped to int32 (see `folded_bias`)."""
    total = np.asarray(bias, dtype=np.int64) + input_offset * np.asarray(w, dtype=np.int64).sum(axis=reduced)
    return total.astype(np.uint64).astype(np.uint32).view(np.int32)  # two's-complement wrap


def _weight_arrays(d: LayerData) -> tuple[CArray, ...]:
    p = d.params
    if d.int8:
        bias = CArray("bias", "int32_t", folded_bias(d.layer.op, p),
                      "The bias with the input offset folded in: bias + input_offset * sum of the channel's weights.")
    else:
        bias = CArray("bias", "int64_t", np.asarray(p.bias, dtype=np.int64))
    return (CArray("weights", "int8_t", np.asarray(p.weights, dtype=np.int8)), bias,
            CArray("multiplier", "int32_t", np.asarray(p.multiplier, dtype=np.int32)),
            CArray("shift", "int32_t", np.asarray(p.shift, dtype=np.int32)))


QUANT = CStruct("quant", "mcuq_per_channel_quant", (Symbol("multiplier"), Symbol("shift")))


def _conv_like(d: LayerData, params_type: str, params: dict) -> OpView:
    return _conv_call(d, d.function, (dims4(d.input().shape), tuple(int(n) for n in np.shape(d.params.weights)),
                                      dims4(d.out.shape)), params_type, params)


def _conv_call(d: LayerData, function: str, dims: tuple[tuple[int, ...], ...], params_type: str,
               params: dict) -> OpView:
    """A convolution kernel's call on the layer's weights: ``dims`` = (input, filter, output) dims."""
    structs = (*(CStruct(name, "mcuq_dims", shape) for name, shape in zip(("input_dims", "filter_dims", "output_dims"),
                                                                         dims)),
               CStruct("params", params_type, params), QUANT)
    context = (Context(*d.at.scratch) if d.at.scratch else Context(None, 0),) if d.int8 else ()  # s16: none
    args = (*context, Ref("params"), Ref("quant"), Ref("input_dims"), d.arena_in(), Ref("filter_dims"),
            Symbol("weights"), Symbol("bias"), Ref("output_dims"), d.arena_out())
    return OpView(_weight_arrays(d), structs, (KernelCall(function, args),))


def _window(p) -> dict:
    return dict(stride=_tile(p.stride), dilation=_tile(p.dilation), padding=_padding(p.padding),
                activation=_activation(p))


def conv_view(d: LayerData) -> OpView:
    p = d.params
    return _conv_like(d, "mcuq_conv_params", dict(
        input_offset=int(p.input_offset), output_offset=int(p.output_offset), **_window(p), groups=int(p.groups),
        output_pixel_stride=d.pixel_stride))


def depthwise_conv_view(d: LayerData) -> OpView:
    p = d.params
    return _conv_like(d, "mcuq_dw_conv_params", dict(
        input_offset=int(p.input_offset), output_offset=int(p.output_offset), ch_mult=int(p.ch_mult), **_window(p),
        output_pixel_stride=d.pixel_stride))


def fully_connected_view(d: LayerData) -> OpView:
    p = d.params
    out_depth, in_depth = np.shape(p.weights)
    if d.int8 and kernels.fc_runs_as_conv(d.layer, d.tensors):
        return _fc_as_conv_view(d)
    structs = (CStruct("dims", "mcuq_fc_dims", dict(batches=d.out.size // out_depth, input_depth=int(in_depth),
                                                     output_depth=int(out_depth))),
               CStruct("params", "mcuq_fc_params", dict(input_offset=int(p.input_offset),
                                                         output_offset=int(p.output_offset),
                                                         activation=_activation(p))), QUANT)
    args = (Ref("params"), Ref("quant"), Ref("dims"), d.arena_in(), Symbol("weights"), Symbol("bias"), d.arena_out())
    return OpView(_weight_arrays(d), structs, (KernelCall(d.function, args),))


def _fc_as_conv_view(d: LayerData) -> OpView:
    """An int8 fully connected layer over several rows as mcuq_convolve_s8 with a 1x1 filter, the rows as
    the pixels of one image row (kernels.fc_runs_as_conv): the same weights, folded bias and per-channel
    requantization, run by the convolution's fast paths, which share weight loads between two rows."""
    p = d.params
    out_depth, in_depth = (int(n) for n in np.shape(p.weights))
    rows = kernels.fc_rows(d.layer, d.tensors)
    one = _tile((1, 1))
    params = dict(input_offset=int(p.input_offset), output_offset=int(p.output_offset), stride=one, dilation=one,
                  padding=_padding((0, 0, 0, 0)), activation=_activation(p), groups=1, output_pixel_stride=out_depth)
    conv = kernels.kernel_spec(QOp.CONV).kernels["int8"].function
    dims = ((1, 1, rows, in_depth), (out_depth, 1, 1, in_depth), (1, 1, rows, out_depth))
    return _conv_call(d, conv, dims, "mcuq_conv_params", params)


# --------------------------------------------------------------------------------------------------
# elementwise: add, mul, table lookup, softmax, requantize
# --------------------------------------------------------------------------------------------------


def _binary(d: LayerData, params_type: str, params: dict) -> OpView:
    """An elementwise op of two inputs: int8 takes rows (it may write a channel slice), int16 a size."""
    structs = [CStruct("params", params_type, params)]
    if d.int8:
        structs.insert(0, CStruct("dims", "mcuq_elementwise_dims", d.elementwise_dims()))
        args = (Ref("params"), Ref("dims"), d.arena_in(0), d.arena_in(1), d.arena_out())
    else:
        args = (Ref("params"), d.arena_in(0), d.arena_in(1), d.arena_out(), d.out.size)
    return OpView((), tuple(structs), (KernelCall(d.function, args),))


def _add_params(p) -> dict:
    return dict(
        input1_offset=int(p.input1_offset), input1_quant=_quant(p.input1_multiplier, p.input1_shift),
        input2_offset=int(p.input2_offset), input2_quant=_quant(p.input2_multiplier, p.input2_shift),
        left_shift=int(p.left_shift), output_offset=int(p.output_offset),
        output_quant=_quant(p.output_multiplier, p.output_shift), activation=_activation(p))


def _mul_params(p) -> dict:
    return dict(
        input1_offset=int(p.input1_offset), input2_offset=int(p.input2_offset), output_offset=int(p.output_offset),
        output_quant=_quant(p.output_multiplier, p.output_shift), activation=_activation(p))


def generated_tables(layer: Layer, tensors: dict[str, QTensor]) -> list[np.ndarray]:
    """Constant arrays the generated C stores for ``layer`` beyond its params' own (flash the report counts):
    an int8 Add's rescale table where the kernel's table path applies."""
    if layer.op is QOp.ADD and tensors[layer.output].dtype == "int8":
        table = fp.add_rescale_table(layer.params)
        return [] if table is None else [table]
    return []


def add_view(d: LayerData) -> OpView:
    """int8: with the rescale table of the non-exact input where the kernel's table path applies (1 KB
    of flash for about half the kernel's instructions on Cortex-M4 and M55)."""
    view = _binary(d, "mcuq_add_params", _add_params(d.params))
    table = next(iter(generated_tables(d.layer, d.tensors)), None)
    if table is None:
        return view
    comment = "Twice the sum's rescaled part but the exact input's, by the other input's byte (uint8)."
    params = dict(view.structs[-1].value, rescale_table=Symbol("rescale_table"))
    structs = (*view.structs[:-1], CStruct("params", "mcuq_add_params", params))
    return OpView((CArray("rescale_table", "int32_t", table, comment),), structs, view.calls)


def mul_view(d: LayerData) -> OpView:
    return _binary(d, "mcuq_mul_params", _mul_params(d.params))


def _broadcast(d: LayerData, params_type: str, params: dict) -> OpView:
    """Add/Mul of operands that broadcast: the output's and each operand's [N,H,W,C]; a constant
    operand is an int8 array of the layer, passed where its operand goes."""
    p = d.params
    operands: list[Argument] = [d.arena_in(k) for k in range(len(d.layer.inputs))]
    arrays: tuple[CArray, ...] = ()
    if p.constant is not None:
        values = np.asarray(p.constant, dtype=np.int8).reshape(-1)
        arrays = (CArray("constant", "int8_t", values, f"constant operand {p.constant_index + 1}"),)
        operands.insert(p.constant_index, Symbol("constant"))
    input1, input2 = p.operand_dims([d.input(k).shape for k in range(len(d.layer.inputs))])
    dims = dict(output=dims4(d.out.shape), input1=input1, input2=input2)
    structs = (CStruct("params", params_type, params), CStruct("dims", "mcuq_broadcast_dims", dims))
    return OpView(arrays, structs, (KernelCall(d.function, (Ref("params"), Ref("dims"), *operands, d.arena_out())),))


def broadcast_add_view(d: LayerData) -> OpView:
    return _broadcast(d, "mcuq_add_params", _add_params(d.params.arith))


def broadcast_mul_view(d: LayerData) -> OpView:
    return _broadcast(d, "mcuq_mul_params", _mul_params(d.params.arith))


def lut_view(d: LayerData) -> OpView:
    table = CArray("table", "int8_t", np.asarray(d.params.table, dtype=np.int8))
    structs = (CStruct("dims", "mcuq_elementwise_dims", d.elementwise_dims()),)
    call = KernelCall(d.function, (Symbol("table"), Ref("dims"), d.arena_in(), d.arena_out()))
    return OpView((table,), structs, (call,))


def prelu_view(d: LayerData) -> OpView:
    """Rows are pixels (row_size: channels) whatever the output's stride: the kernel picks each element's
    negative-side multiplier by its channel."""
    p = d.params
    channels = dims4(d.out.shape)[3]
    arrays = (CArray("multiplier", "int32_t", np.asarray(p.negative_multiplier, dtype=np.int32),
                     "x < 0: s_in * slope[c] / s_out, per channel."),
              CArray("shift", "int32_t", np.asarray(p.negative_shift, dtype=np.int32)))
    params = dict(input_offset=int(p.input_offset), output_offset=int(p.output_offset),
                  positive_quant=_quant(p.positive_multiplier, p.positive_shift))
    dims = dict(rows=d.out.size // channels, row_size=channels, output_row_stride=d.pixel_stride)
    structs = (CStruct("params", "mcuq_prelu_params", params), QUANT,
               CStruct("dims", "mcuq_elementwise_dims", dims))
    call = KernelCall(d.function, (Ref("params"), Ref("quant"), Ref("dims"), d.arena_in(), d.arena_out()))
    return OpView(arrays, structs, (call,))


def softmax_view(d: LayerData) -> OpView:
    p = d.params
    row = d.out.shape[-1]
    table = CArray("exp_table", "int32_t", np.asarray(p.exp_table, dtype=np.int32),
                   f"exp(-k * {p.input_multiplier} * 2^{p.input_left_shift}) in Q0.31, k = max - x; "
                   f"0 for -k < {p.diff_min}.")
    params = dict(exp_table=Symbol("exp_table"))
    call = KernelCall(d.function, (Ref("params"), d.arena_in(), d.out.size // row, row, d.arena_out()))
    return OpView((table,), (CStruct("params", "mcuq_softmax_params", params),), (call,))


def requantize_view(d: LayerData) -> OpView:
    p = d.params
    params = dict(input_offset=int(p.input_offset), output_offset=int(p.output_offset),
                  quant=_quant(p.multiplier, p.shift))
    call = KernelCall(d.function, (Ref("params"), d.arena_in(), d.arena_out(), d.out.size))
    return OpView((), (CStruct("params", "mcuq_requantize_params", params),), (call,))


# --------------------------------------------------------------------------------------------------
# windows and data movement: pooling, concat, transpose, pad, copy
# --------------------------------------------------------------------------------------------------


def pool_view(d: LayerData) -> OpView:
    p = d.params
    params = dict(kernel=_tile(p.kernel), stride=_tile(p.stride), padding=_padding(p.padding),
                  activation=_activation(p), count_include_pad=int(bool(p.count_include_pad)),
                  pad_value=int(p.pad_value), output_pixel_stride=d.pixel_stride)
    structs = (CStruct("input_dims", "mcuq_dims", dims4(d.input().shape)),
               CStruct("output_dims", "mcuq_dims", dims4(d.out.shape)),
               CStruct("params", "mcuq_pool_params", params))
    args = (Ref("params"), Ref("input_dims"), d.arena_in(), Ref("output_dims"), d.arena_out())
    return OpView((), structs, (KernelCall(d.function, args),))


def concat_view(d: LayerData) -> OpView:
    """One call per input, except the inputs their producers already wrote into the output."""
    p, shape = d.params, d.out.shape
    axis = p.axis % len(shape)
    outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
    parts, calls, start = [], [], 0
    for i in range(len(d.layer.inputs)):
        extent = d.input(i).shape[axis]
        if i not in d.at.in_place_inputs:
            calls.append(KernelCall(d.function, (Ref("params", len(parts)), d.arena_in(i), d.arena_out())))
            parts.append(dict(outer=outer, inner=inner, axis_offset=start, axis_size=extent, out_axis_size=shape[axis],
                              input_offset=int(p.input_offsets[i]), quant=_quant(p.multipliers[i], p.shifts[i]),
                              output_offset=int(p.output_offset)))
        start += extent
    structs = (CStruct("params", "mcuq_concat_params", parts),) if parts else ()
    return OpView((), structs, tuple(calls))


def transpose_view(d: LayerData) -> OpView:
    params = dict(dims=dims4(d.input().shape), perm=_perm4(d.params.perm))
    call = KernelCall(d.function, (Ref("params"), d.arena_in(), d.arena_out()))
    return OpView((), (CStruct("params", "mcuq_transpose_params", params),), (call,))


def pad_view(d: LayerData) -> OpView:
    rank = len(d.out.shape)
    lead = (0,) * (4 - rank)
    pads = tuple(int(v) for v in d.params.pads)
    params = dict(dims=dims4(d.input().shape), before=lead + pads[:rank], after=lead + pads[rank:],
                  pad_value=int(d.params.pad_value))
    call = KernelCall(d.function, (Ref("params"), d.arena_in(), d.arena_out()))
    return OpView((), (CStruct("params", "mcuq_pad_params", params),), (call,))


def copy_view(d: LayerData) -> OpView:
    """No kernel: the template moves the bytes (memmove), or nothing for a reshape in place."""
    return OpView()


def resize_view(d: LayerData) -> OpView:
    """Nearest and bilinear: the source tables as arrays, pointed to by the params."""
    p = d.params
    arrays = (CArray("rows", "int32_t", np.asarray(p.rows, dtype=np.int32), "Source of each output row."),
              CArray("cols", "int32_t", np.asarray(p.cols, dtype=np.int32), "Source of each output column."))
    structs = (CStruct("input_dims", "mcuq_dims", dims4(d.input().shape)),
               CStruct("output_dims", "mcuq_dims", dims4(d.out.shape)),
               CStruct("params", "mcuq_resize_params", dict(rows=Symbol("rows"), cols=Symbol("cols"))))
    args = (Ref("params"), Ref("input_dims"), d.arena_in(), Ref("output_dims"), d.arena_out())
    return OpView(arrays, structs, (KernelCall(d.function, args),))


def transpose_conv_view(d: LayerData) -> OpView:
    """The stride phases (`mcuq.ir.phases`): each phase's sub-kernel [C_out, taps_h, taps_w, C_in] one
    after the other (rows of phases outer), each with its own folded bias, and the phase tables
    (first output, count, first input, taps) per axis that mcuq_transpose_conv_s8 walks. Column phases
    with one window (`stacked_columns`) become one phase of stride_w * C_out output channels."""
    p = d.params
    w = np.asarray(p.weights, dtype=np.int8)
    c_out, kh, kw, c_in = w.shape
    (_, h, wd, _), (_, oh, ow, _) = d.input().shape, d.out.shape
    rows = phases.axis_phases(h, oh, kh, p.stride[0], p.padding[0])
    cols = phases.axis_phases(wd, ow, kw, p.stride[1], p.padding[1])
    group = stacked_columns(cols)
    if group > 1:
        cols = tuple(sorted(cols, key=lambda c: c.first_out))  # channel blocks in output pixel order
    subs = [w[:, list(r.tap_indices(p.stride[0]))][:, :, list(c.tap_indices(p.stride[1]))] for r in rows for c in cols]
    biases = [with_offset_folded(p.bias, p.input_offset, sub, (1, 2, 3)) for sub in subs]
    if group > 1:
        subs = [np.concatenate(subs[i : i + group]) for i in range(0, len(subs), group)]
        cols = cols[:1]
    arrays = (CArray("weights", "int8_t", np.concatenate([sub.reshape(-1) for sub in subs]),
                     "The weights of each stride phase, phase after phase: OHWI, taps reversed."),
              CArray("bias", "int32_t", np.concatenate(biases), "Each phase's bias with the input offset folded "
                     "in over its own taps."),
              CArray("multiplier", "int32_t", np.tile(np.asarray(p.multiplier, dtype=np.int32), group)),
              CArray("shift", "int32_t", np.tile(np.asarray(p.shift, dtype=np.int32), group)),
              CArray("row_phases", "int32_t", _phase_table(rows), "Per phase along H: first output, count, "
                     "first input, taps."),
              CArray("col_phases", "int32_t", _phase_table(cols), "The same along W."))
    params = dict(input_offset=int(p.input_offset), output_offset=int(p.output_offset), stride=_tile(p.stride),
                  activation=_activation(p), row_phases=Symbol("row_phases"), col_phases=Symbol("col_phases"),
                  col_group=group)
    structs = (CStruct("input_dims", "mcuq_dims", dims4(d.input().shape)),
               # the largest phase's sub-kernel (phase 0, 0): its scratch serves every phase
               CStruct("filter_dims", "mcuq_dims", (group * c_out, rows[0].taps, cols[0].taps, c_in)),
               CStruct("output_dims", "mcuq_dims", dims4(d.out.shape)),
               CStruct("params", "mcuq_transpose_conv_params", params), QUANT)
    context = Context(*d.at.scratch) if d.at.scratch else Context(None, 0)
    args = (context, Ref("params"), Ref("quant"), Ref("input_dims"), d.arena_in(), Ref("filter_dims"),
            Symbol("weights"), Symbol("bias"), Ref("output_dims"), d.arena_out())
    return OpView(arrays, structs, (KernelCall(d.function, args),))


def stacked_columns(cols: tuple[phases.AxisPhase, ...]) -> int:
    """How many column phases run as one (their outputs side by side as more output channels): all of
    them where they read the same windows (same taps, first input, count; a kernel a multiple of the
    stride) and start at the first stride_w output columns, so each step fills stride_w adjacent pixels;
    else 1. Fewer, wider convolution calls: the 2x2 stride-2 decoder makes one call per output row."""
    first = cols[0]
    same = all((c.taps, c.first_in, c.count) == (first.taps, first.first_in, first.count) for c in cols)
    return len(cols) if same and sorted(c.first_out for c in cols) == list(range(len(cols))) else 1


def _phase_table(axis: tuple[phases.AxisPhase, ...]) -> np.ndarray:
    return np.asarray([(a.first_out, a.count, a.first_in, a.taps) for a in axis], dtype=np.int32).reshape(-1)


def slice_view(d: LayerData) -> OpView:
    """No code where the planner placed the output as a view of the input's bytes (`plan.views`)."""
    p, in_shape = d.params, d.input().shape
    block = contiguous_block_offset(in_shape, p, d.out.shape)
    if block is not None and d.at.output == d.at.inputs[0] + block * d.input().nbytes // d.input().size:
        return OpView()
    lead = 4 - len(in_shape)
    params = dict(input_dims=dims4(in_shape), output_dims=dims4(d.out.shape),
                  begin=(0,) * lead + tuple(int(v) for v in p.begin), step=(1,) * lead + tuple(int(v) for v in p.step),
                  output_pixel_stride=d.pixel_stride)
    call = KernelCall(d.function, (Ref("params"), d.arena_in(), d.arena_out()))
    return OpView((), (CStruct("params", "mcuq_slice_params", params),), (call,))


def gather_channels_view(d: LayerData) -> OpView:
    indices = CArray("indices", "int32_t", np.asarray(d.params.indices, dtype=np.int32),
                     "Output channel c of each pixel is input channel indices[c].")
    channels = d.input().shape[-1]
    params = dict(pixels=d.input().size // channels, input_channels=channels, output_channels=len(d.params.indices),
                  output_pixel_stride=d.pixel_stride)
    call = KernelCall(d.function, (Ref("params"), Symbol("indices"), d.arena_in(), d.arena_out()))
    return OpView((indices,), (CStruct("params", "mcuq_gather_channels_params", params),), (call,))


def batch_matmul_view(d: LayerData) -> OpView:
    p = d.params
    lhs, rhs = d.input(0).shape, d.input(1).shape
    dims = dict(batches=d.out.size // (lhs[-2] * rhs[-2]), lhs_rows=int(lhs[-2]), rhs_rows=int(rhs[-2]),
                depth=int(lhs[-1]))
    params = dict(lhs_offset=int(p.lhs_offset), rhs_offset=int(p.rhs_offset), output_offset=int(p.output_offset),
                  quant=_quant(p.multiplier, p.shift), activation=_activation(p))
    structs = (CStruct("params", "mcuq_batch_matmul_params", params),
               CStruct("dims", "mcuq_batch_matmul_dims", dims))
    call = KernelCall(d.function, (Ref("params"), Ref("dims"), d.arena_in(0), d.arena_in(1), d.arena_out()))
    return OpView((), structs, (call,))


def layer_norm_view(d: LayerData) -> OpView:
    p = d.params
    features = d.out.shape[-1]
    arrays = (CArray("multiplier", "int32_t", np.asarray(p.multiplier, dtype=np.int32),
                     "gamma[c] / s_out / 2^8 per feature (the normalized value is Q16)."),
              CArray("shift", "int32_t", np.asarray(p.shift, dtype=np.int32)),
              CArray("bias", "int32_t", np.asarray(p.bias, dtype=np.int32), "beta[c] / s_out * 2^8."))
    params = dict(input_offset=int(p.input_offset), output_offset=int(p.output_offset), epsilon=int(p.epsilon),
                  rows=d.out.size // features, row_size=int(features))
    structs = (CStruct("params", "mcuq_layer_norm_params", params), QUANT)
    call = KernelCall(d.function, (Ref("params"), Ref("quant"), Symbol("bias"), d.arena_in(), d.arena_out()))
    return OpView(arrays, structs, (call,))

# --------------------------------------------------------------------------------------------------
# recurrent: LSTM, GRU
# --------------------------------------------------------------------------------------------------


def _rnn_common(d: LayerData) -> tuple[tuple[CArray, ...], tuple[CStruct, ...]]:
    """The stacked gates (biases with the input's and hidden state's offsets folded in, as the FC kernels
    take them) and the dims, output requantization and initial hidden state of an LSTM or GRU layer."""
    p, g = d.params, d.params.gates
    _, steps, features = d.input().shape
    hidden = d.out.shape[-1]
    arrays = (CArray("input_weights", "int8_t", np.asarray(g.input_weights, dtype=np.int8)),
              CArray("input_bias", "int32_t", with_offset_folded(g.input_bias, g.input_offset, g.input_weights, (1,)),
                     "Gate biases with the input offset folded in."),
              CArray("hidden_weights", "int8_t", np.asarray(g.hidden_weights, dtype=np.int8)),
              CArray("hidden_bias", "int32_t", with_offset_folded(g.hidden_bias, g.hidden_offset, g.hidden_weights,
                                                                  (1,)),
                     "Gate biases of the hidden products with the hidden state's offset folded in."),
              *(CArray(name, "int32_t", np.asarray(getattr(g, name), dtype=np.int32))
                for name in ("input_multiplier", "input_shift", "hidden_multiplier", "hidden_shift")),
              CArray("hidden_init", "int8_t", np.asarray(p.hidden_init, dtype=np.int8), "Initial hidden state."))
    gates = {name: Symbol(name) for name in ("input_weights", "input_bias", "hidden_weights", "hidden_bias",
                                             "input_multiplier", "input_shift", "hidden_multiplier", "hidden_shift")}
    params = dict(time_steps=int(steps), input_size=int(features), hidden_size=int(hidden), reverse=int(p.reverse),
                  output_offset=int(p.output_offset), output_quant=_quant(p.output_multiplier, p.output_shift))
    return arrays, (CStruct("gates", "mcuq_rnn_gates", gates), CStruct("params", "mcuq_rnn_params", params))


def lstm_view(d: LayerData) -> OpView:
    p = d.params
    arrays, structs = _rnn_common(d)
    cell = dict(forget_to_cell=_quant(p.forget_to_cell_multiplier, p.forget_to_cell_shift),
                input_to_cell=_quant(p.input_to_cell_multiplier, p.input_to_cell_shift),
                cell_scale_power=int(p.cell_scale_power))
    args = (Context(*d.at.scratch), Ref("params"), Ref("cell"), Ref("gates"), Symbol("hidden_init"),
            Symbol("cell_init"), d.arena_in(), d.arena_out())
    return OpView((*arrays, CArray("cell_init", "int16_t", np.asarray(p.cell_init, dtype=np.int16),
                                   "Initial cell state.")),
                  (*structs, CStruct("cell", "mcuq_lstm_cell_params", cell)), (KernelCall(d.function, args),))


def gru_view(d: LayerData) -> OpView:
    p = d.params
    arrays, structs = _rnn_common(d)
    args = (Context(*d.at.scratch), Ref("params"), Ref("gates"), Symbol("hidden_init"), Symbol("state_init"),
            d.arena_in(), d.arena_out())
    return OpView((*arrays, CArray("state_init", "int16_t", np.asarray(p.state_init, dtype=np.int16),
                                   "Initial state, Q0.15.")), structs, (KernelCall(d.function, args),))


VIEWS: dict[QOp, Callable[[LayerData], OpView]] = {
    QOp.CONV: conv_view,
    QOp.DEPTHWISE_CONV: depthwise_conv_view,
    QOp.FULLY_CONNECTED: fully_connected_view,
    QOp.ADD: add_view,
    QOp.MUL: mul_view,
    QOp.MAX_POOL: pool_view,
    QOp.AVG_POOL: pool_view,
    QOp.LUT: lut_view,
    QOp.SOFTMAX: softmax_view,
    QOp.CONCAT: concat_view,
    QOp.TRANSPOSE: transpose_view,
    QOp.PAD: pad_view,
    QOp.COPY: copy_view,
    QOp.REQUANTIZE: requantize_view,
    QOp.PRELU: prelu_view,
    QOp.BROADCAST_ADD: broadcast_add_view,
    QOp.BROADCAST_MUL: broadcast_mul_view,
    QOp.RESIZE_NEAREST: resize_view,
    QOp.RESIZE_BILINEAR: resize_view,
    QOp.TRANSPOSE_CONV: transpose_conv_view,
    QOp.SLICE: slice_view,
    QOp.GATHER_CHANNELS: gather_channels_view,
    QOp.BATCH_MATMUL: batch_matmul_view,
    QOp.LAYER_NORM: layer_norm_view,
    QOp.LSTM: lstm_view,
    QOp.GRU: gru_view,
}
assert set(VIEWS) == set(QOp), "every QOp has a view"


def op_view(layer: Layer, tensors: dict[str, QTensor], at: Placement) -> OpView:
    return VIEWS[layer.op](LayerData(layer, tensors, at))


def template_name(op: QOp) -> str:
    """The template that renders an op's view: ``templates/ops/<view function without _view>.c.j2``."""
    return "ops/" + VIEWS[op].__name__.removesuffix("_view") + ".c.j2"


def context_of(view: OpView) -> Context | None:
    """The scratch a view's calls take, if any (the template declares it once, as ``ctx``)."""
    return next((a for call in view.calls for a in call.args if isinstance(a, Context)), None)
