"""The C-calling harness of the kernel tests: run one qir layer through its runtime_c kernel, built for
the host and loaded with cffi (tests/helpers/c_kernels.py), and check it against the golden model.

All the per-op C calling code is here, in `run_c` (int8) and `run_c16` (int16 and the requantize
kernels), so that it can be replaced in one place. `check` / `check16` compare a layer's C output with
``golden.run_layer``; `check` also runs the layer in place at the largest shift the planner allows,
with the roomy scratch, and writing a Concat channel slice."""

from __future__ import annotations

import math

import numpy as np

from mcuq import golden, qir
from mcuq.codegen.emit import folded_bias
from mcuq.plan import inplace
from mcuq.plan.concat import CHANNEL_SLICE_OPS
from mcuq.qir.model import QOp
from tests.helpers.c_kernels import load
from tests.helpers.kernel_layers import random_i8

# --------------------------------------------------------------------------------------------------
# calling the C kernels: int8 (run_c), int16 and the int8 <-> int16 requantize kernels (run_c16)
# --------------------------------------------------------------------------------------------------


def i8_ptr(ffi, a: np.ndarray):
    return ffi.from_buffer("int8_t[]", a)


def i32_ptr(ffi, a: np.ndarray):
    return ffi.from_buffer("int32_t[]", a)


def c_dims(ffi, shape):
    n, h, w, c = shape
    return ffi.new("mcuq_dims *", {"n": n, "h": h, "w": w, "c": c})


def _ptr(ffi, ctype, a):
    return ffi.cast(ctype + " *", ffi.from_buffer(a))


def _pad4(values, fill):
    return [fill] * (4 - len(values)) + list(values)


def _io_buffers(inputs, out_shape, inplace):
    """The input arrays and the output array a kernel gets. With ``inplace = (k, shift)`` input k and
    the output are views of one buffer of random bytes, the output starting ``shift`` bytes after the
    input's start, as the arena planner lays out a layer that runs in place."""
    ins = [np.ascontiguousarray(x, dtype=np.int8) for x in inputs]
    if inplace is None:
        return ins, np.zeros(out_shape, dtype=np.int8)
    k, shift = inplace
    out_size = math.prod(out_shape)
    start = -min(0, shift)
    buf = random_i8(np.random.default_rng(out_size), max(ins[k].size, shift + out_size) + start)
    view = buf[start : start + ins[k].size].reshape(ins[k].shape)
    view[...] = ins[k]
    ins[k] = view
    return ins, buf[start + shift : start + shift + out_size].reshape(out_shape)


def _slice_buffer(out_shape, first: int, stride: int):
    """A buffer of random bytes laid out as pixels of ``stride`` channels, as a Concat's output, and
    the flat view that starts at channel ``first`` of its first pixel: where a producer writing its
    channel slice gets its output pointer."""
    pixels = math.prod(out_shape[:-1])
    buf = random_i8(np.random.default_rng(stride * pixels + first), (pixels, stride))
    return buf, buf.reshape(-1)[first:]


def _window_params(p) -> dict:
    """The fields of mcuq_conv_params / mcuq_dw_conv_params that a conv or depthwise layer's params give."""
    return {
        "input_offset": p.input_offset,
        "output_offset": p.output_offset,
        "stride": {"h": p.stride[0], "w": p.stride[1]},
        "dilation": {"h": p.dilation[0], "w": p.dilation[1]},
        "padding": dict(zip(("top", "left", "bottom", "right"), p.padding)),
        "activation": {"min": p.act_min, "max": p.act_max},
    }


def _add_params(p: qir.AddParams) -> dict:
    return {
        "input1_offset": p.input1_offset,
        "input1_quant": {"multiplier": p.input1_multiplier, "shift": p.input1_shift},
        "input2_offset": p.input2_offset,
        "input2_quant": {"multiplier": p.input2_multiplier, "shift": p.input2_shift},
        "left_shift": p.left_shift,
        "output_offset": p.output_offset,
        "output_quant": {"multiplier": p.output_multiplier, "shift": p.output_shift},
        "activation": {"min": p.act_min, "max": p.act_max},
    }


def _pool_params(p: qir.PoolParams, output_pixel_stride: int) -> dict:
    return {
        "kernel": {"h": p.kernel[0], "w": p.kernel[1]},
        "stride": {"h": p.stride[0], "w": p.stride[1]},
        "padding": dict(zip(("top", "left", "bottom", "right"), p.padding)),
        "activation": {"min": p.act_min, "max": p.act_max},
        "count_include_pad": int(p.count_include_pad),
        "pad_value": p.pad_value,
        "output_pixel_stride": output_pixel_stride,
    }


def run_c(
    layer: qir.Layer,
    inputs: list[np.ndarray],
    tensors: dict[str, qir.QTensor],
    inplace: tuple[int, int] | None = None,
    channel_slice: tuple[int, int] | None = None,
    roomy: bool = False,
) -> np.ndarray:
    """Run one layer through its C kernel; asserts MCUQ_OK and returns the int8 output. ``roomy``: give
    the kernel the scratch of its faster path (golden.roomy_scratch_bytes) instead of the least. ``inplace``:
    (input index, shift) to make the output overlap that input (see ``_io_buffers``).
    ``channel_slice``: (first channel, pixel stride) to write the output as channels [first, first + C)
    of pixels ``stride`` channels wide (see ``_slice_buffer``); the bytes outside that slice must stay
    untouched."""
    ffi, lib = load()
    out_shape = tensors[layer.output].shape
    ins, out = _io_buffers(inputs, out_shape, inplace)
    channels = out_shape[-1] if out_shape else 1
    first, stride = channel_slice or (0, channels)
    if channel_slice is not None:
        buf, out = _slice_buffer(out_shape, first, stride)
        before = buf.copy()
    size = math.prod(out_shape)
    # Elementwise kernels: one dense row, or one row per pixel when writing a channel slice.
    rows = {"rows": 1, "row_size": size, "output_row_stride": size} if channel_slice is None else \
        {"rows": size // channels, "row_size": channels, "output_row_stride": stride}
    keep = []  # cffi objects that must outlive the call
    p = layer.params

    def quant_pc():
        mult = np.ascontiguousarray(p.multiplier, dtype=np.int32)
        shift = np.ascontiguousarray(p.shift, dtype=np.int32)
        keep.extend([mult, shift])
        return ffi.new("mcuq_per_channel_quant *", {"multiplier": i32_ptr(ffi, mult), "shift": i32_ptr(ffi, shift)})

    if layer.op in (QOp.CONV, QOp.DEPTHWISE_CONV):
        in_shape = tensors[layer.inputs[0]].shape
        w = np.ascontiguousarray(p.weights, dtype=np.int8)
        bias = np.ascontiguousarray(folded_bias(layer.op, p))
        conv = dict(_window_params(p), output_pixel_stride=stride)
        if layer.op is QOp.CONV:
            conv["groups"] = p.groups
            params = ffi.new("mcuq_conv_params *", conv)
            fdims = c_dims(ffi, w.shape)
            size = lib.mcuq_convolve_s8_get_buffer_size(c_dims(ffi, in_shape), fdims)
            if roomy:
                size = max(size, golden.roomy_scratch_bytes(layer, tensors))
            kernel = lib.mcuq_convolve_s8
        else:
            conv["ch_mult"] = p.ch_mult
            params = ffi.new("mcuq_dw_conv_params *", conv)
            fdims = c_dims(ffi, w.shape)
            size = lib.mcuq_depthwise_conv_s8_get_buffer_size(c_dims(ffi, in_shape), fdims)
            if roomy:
                size = max(size, golden.roomy_scratch_bytes(layer, tensors))
            kernel = lib.mcuq_depthwise_conv_s8
        scratch = ffi.new("int16_t[]", max(size // 2, 1))
        ctx = ffi.new("mcuq_context *", {"buf": scratch, "size": size})
        status = kernel(
            ctx,
            params,
            quant_pc(),
            c_dims(ffi, in_shape),
            i8_ptr(ffi, ins[0]),
            fdims,
            i8_ptr(ffi, w),
            i32_ptr(ffi, bias),
            c_dims(ffi, out_shape),
            i8_ptr(ffi, out),
        )
    elif layer.op is QOp.FULLY_CONNECTED:
        w = np.ascontiguousarray(p.weights, dtype=np.int8)
        bias = np.ascontiguousarray(folded_bias(layer.op, p))
        o, k = w.shape
        batch = ins[0].size // k
        params = ffi.new(
            "mcuq_fc_params *",
            {
                "input_offset": p.input_offset,
                "output_offset": p.output_offset,
                "activation": {"min": p.act_min, "max": p.act_max},
            },
        )
        dims = ffi.new("mcuq_fc_dims *", {"batches": batch, "input_depth": k, "output_depth": o})
        status = lib.mcuq_fully_connected_s8(
            params, quant_pc(), dims, i8_ptr(ffi, ins[0]), i8_ptr(ffi, w), i32_ptr(ffi, bias), i8_ptr(ffi, out)
        )
    elif layer.op is QOp.ADD:
        params = ffi.new("mcuq_add_params *", _add_params(p))
        status = lib.mcuq_elementwise_add_s8(
            params, ffi.new("mcuq_elementwise_dims *", rows), i8_ptr(ffi, ins[0]), i8_ptr(ffi, ins[1]), i8_ptr(ffi, out)
        )
    elif layer.op is QOp.MUL:
        params = ffi.new(
            "mcuq_mul_params *",
            {
                "input1_offset": p.input1_offset,
                "input2_offset": p.input2_offset,
                "output_offset": p.output_offset,
                "output_quant": {"multiplier": p.output_multiplier, "shift": p.output_shift},
                "activation": {"min": p.act_min, "max": p.act_max},
            },
        )
        status = lib.mcuq_elementwise_mul_s8(
            params, ffi.new("mcuq_elementwise_dims *", rows), i8_ptr(ffi, ins[0]), i8_ptr(ffi, ins[1]), i8_ptr(ffi, out)
        )
    elif layer.op in (QOp.MAX_POOL, QOp.AVG_POOL):
        params = ffi.new("mcuq_pool_params *", _pool_params(p, stride))
        kernel = lib.mcuq_max_pool_s8 if layer.op is QOp.MAX_POOL else lib.mcuq_avg_pool_s8
        in_shape = tensors[layer.inputs[0]].shape
        status = kernel(params, c_dims(ffi, in_shape), i8_ptr(ffi, ins[0]), c_dims(ffi, out_shape), i8_ptr(ffi, out))
    elif layer.op is QOp.SOFTMAX:
        params = ffi.new(
            "mcuq_softmax_params *",
            {
                "input_multiplier": p.input_multiplier,
                "input_left_shift": p.input_left_shift,
                "diff_min": p.diff_min,
            },
        )
        row = out_shape[-1]
        status = lib.mcuq_softmax_s8(params, i8_ptr(ffi, ins[0]), out.size // row, row, i8_ptr(ffi, out))
    elif layer.op is QOp.LUT:
        table = np.ascontiguousarray(p.table, dtype=np.int8)
        dims = ffi.new("mcuq_elementwise_dims *", rows)
        status = lib.mcuq_lut_s8(i8_ptr(ffi, table), dims, i8_ptr(ffi, ins[0]), i8_ptr(ffi, out))
    elif layer.op is QOp.CONCAT:
        axis = p.axis % len(out_shape)
        outer = math.prod(out_shape[:axis])
        inner = math.prod(out_shape[axis + 1 :])
        start = 0
        status = lib.MCUQ_OK
        for i, x in enumerate(ins):
            extent = tensors[layer.inputs[i]].shape[axis]
            params = ffi.new(
                "mcuq_concat_params *",
                {
                    "outer": outer,
                    "inner": inner,
                    "axis_offset": start,
                    "axis_size": extent,
                    "out_axis_size": out_shape[axis],
                    "input_offset": p.input_offsets[i],
                    "quant": {"multiplier": p.multipliers[i], "shift": p.shifts[i]},
                    "output_offset": p.output_offset,
                },
            )
            status = lib.mcuq_concat_s8(params, i8_ptr(ffi, x), i8_ptr(ffi, out))
            assert status == lib.MCUQ_OK
            start += extent
    elif layer.op is QOp.TRANSPOSE:
        in_shape = tensors[layer.inputs[0]].shape
        lead = 4 - len(in_shape)
        perm = list(range(lead)) + [lead + a for a in p.perm]
        params = ffi.new("mcuq_transpose_params *", {"dims": _pad4(in_shape, 1), "perm": perm})
        status = lib.mcuq_transpose_s8(params, i8_ptr(ffi, ins[0]), i8_ptr(ffi, out))
    elif layer.op is QOp.PAD:
        in_shape = tensors[layer.inputs[0]].shape
        r = len(in_shape)
        params = ffi.new(
            "mcuq_pad_params *",
            {
                "dims": _pad4(in_shape, 1),
                "before": _pad4(p.pads[:r], 0),
                "after": _pad4(p.pads[r:], 0),
                "pad_value": p.pad_value,
            },
        )
        status = lib.mcuq_pad_s8(params, i8_ptr(ffi, ins[0]), i8_ptr(ffi, out))
    else:
        raise AssertionError(f"no C kernel for {layer.op}")
    assert status == lib.MCUQ_OK
    if channel_slice is None:
        return out.copy()
    outside = np.ones(buf.shape, dtype=bool)
    outside[:, first : first + channels] = False
    np.testing.assert_array_equal(buf[outside], before[outside], err_msg="wrote outside its channel slice")
    return buf[:, first : first + channels].reshape(out_shape).copy()


def run_c16(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """One layer through its int16 (or requantize) C kernel; asserts MCUQ_OK."""
    ffi, lib = load()
    out_t = tensors[layer.output]
    out = np.zeros(out_t.shape, dtype=qir.DTYPE_NUMPY[out_t.dtype])
    ins = [np.ascontiguousarray(x) for x in inputs]
    p = layer.params
    keep = []

    def per_channel():
        mult = np.ascontiguousarray(p.multiplier, dtype=np.int32)
        shift = np.ascontiguousarray(p.shift, dtype=np.int32)
        keep.extend([mult, shift])
        return ffi.new("mcuq_per_channel_quant *", {"multiplier": _ptr(ffi, "int32_t", mult),
                                                    "shift": _ptr(ffi, "int32_t", shift)})

    def weighted_args():
        w = np.ascontiguousarray(p.weights, dtype=np.int8)
        bias = np.ascontiguousarray(p.bias, dtype=np.int64)
        keep.extend([w, bias])
        return _ptr(ffi, "int8_t", w), _ptr(ffi, "int64_t", bias), w.shape

    x = _ptr(ffi, "int16_t", ins[0]) if ins[0].dtype == np.int16 else _ptr(ffi, "int8_t", ins[0])
    y = _ptr(ffi, "int16_t", out) if out.dtype == np.int16 else _ptr(ffi, "int8_t", out)
    in_shape = tensors[layer.inputs[0]].shape
    if layer.op is QOp.CONV:
        w, bias, w_shape = weighted_args()
        params = ffi.new("mcuq_conv_params *", dict(_window_params(p), groups=p.groups))
        status = lib.mcuq_convolve_s16(params, per_channel(), c_dims(ffi, in_shape), x, c_dims(ffi, w_shape), w, bias,
                                       c_dims(ffi, out_t.shape), y)
    elif layer.op is QOp.DEPTHWISE_CONV:
        w, bias, w_shape = weighted_args()
        params = ffi.new("mcuq_dw_conv_params *", dict(_window_params(p), ch_mult=p.ch_mult))
        status = lib.mcuq_depthwise_conv_s16(params, per_channel(), c_dims(ffi, in_shape), x, c_dims(ffi, w_shape), w,
                                             bias, c_dims(ffi, out_t.shape), y)
    elif layer.op is QOp.FULLY_CONNECTED:
        w, bias, (o, k) = weighted_args()
        batch = ins[0].size // k
        params = ffi.new("mcuq_fc_params *", {"input_offset": 0, "output_offset": 0,
                                              "activation": {"min": p.act_min, "max": p.act_max}})
        dims = ffi.new("mcuq_fc_dims *", {"batches": batch, "input_depth": k, "output_depth": o})
        status = lib.mcuq_fully_connected_s16(params, per_channel(), dims, x, w, bias, y)
    elif layer.op is QOp.ADD:
        params = ffi.new("mcuq_add_params *", _add_params(p))
        status = lib.mcuq_elementwise_add_s16(params, x, _ptr(ffi, "int16_t", ins[1]), y, out.size)
    elif layer.op in (QOp.MAX_POOL, QOp.AVG_POOL):
        params = ffi.new("mcuq_pool_params *", _pool_params(p, out_t.shape[-1]))
        kernel = lib.mcuq_max_pool_s16 if layer.op is QOp.MAX_POOL else lib.mcuq_avg_pool_s16
        status = kernel(params, c_dims(ffi, in_shape), x, c_dims(ffi, out_t.shape), y)
    elif layer.op is QOp.REQUANTIZE:
        params = ffi.new("mcuq_requantize_params *", {
            "input_offset": p.input_offset, "output_offset": p.output_offset,
            "quant": {"multiplier": p.multiplier, "shift": p.shift}})
        kernel = lib.mcuq_requantize_s8_s16 if out_t.dtype == "int16" else lib.mcuq_requantize_s16_s8
        status = kernel(params, x, y, out.size)
    else:
        raise AssertionError(f"no int16 C kernel for {layer.op}")
    assert status == lib.MCUQ_OK
    return out


# --------------------------------------------------------------------------------------------------
# checking a layer's C output against the golden model
# --------------------------------------------------------------------------------------------------


def assert_same(want: np.ndarray, got: np.ndarray, what: str) -> None:
    assert want.dtype == got.dtype and want.shape == got.shape
    bad = np.flatnonzero(want != got)
    assert bad.size == 0, (
        f"{what}: {bad.size} of {want.size} differ, first at {bad[0]}: golden {want.flat[bad[0]]} "
        f"C {got.flat[bad[0]]}"
    )


def check(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """The C kernel equals the golden model, with separate buffers and, where the planner may run the
    layer in place, with the output written over its input at the largest shift it allows."""
    want = golden.run_layer(layer, inputs, tensors)
    assert_same(want, run_c(layer, inputs, tensors), "separate buffers")
    roomy = golden.roomy_scratch_bytes(layer, tensors) > golden.scratch_bytes(layer, tensors)
    if roomy:
        assert_same(want, run_c(layer, inputs, tensors, roomy=True), "roomy scratch")
    shift = inplace.max_shift(layer, tensors)
    if shift is not None:
        for k in range(len(inputs) if layer.op in (QOp.ADD, QOp.MUL) else 1):
            assert_same(want, run_c(layer, inputs, tensors, (k, shift)), f"in place over input {k}, shift {shift}")
            if roomy:
                assert_same(want, run_c(layer, inputs, tensors, (k, shift), roomy=True),
                             f"in place over input {k}, shift {shift}, roomy scratch")
    if layer.op in CHANNEL_SLICE_OPS:
        for first, stride in _channel_slices(want.shape[-1], want.size):
            got = run_c(layer, inputs, tensors, channel_slice=(first, stride))
            assert_same(want, got, f"as channels {first}.. of pixels {stride} wide")
    return want


def _channel_slices(channels: int, size: int) -> list[tuple[int, int]]:
    """(first channel, pixel stride) of the Concat slices a producer is tested writing: stride ==
    channels (a dense output, today's behaviour) and a wider pixel with the slice at some offset."""
    extra = 1 + size % 5
    return [(0, channels), (size % (extra + 1), channels + extra)]


def check16(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """The int16 (or requantize) C kernel equals the golden model, with separate buffers."""
    want = golden.run_layer(layer, inputs, tensors)
    assert_same(want, run_c16(layer, inputs, tensors), "int16 kernel")
    return want
