"""The int8 half of the golden model: one numpy function per op, bit-exact with ``runtime_c``.

Every op follows CMSIS-NN's default (double rounding) path as TFLite Micro calls it; the C kernels
in ``runtime_c/src`` must produce the same bytes for every input. Intermediates are int64 and the
int32 arithmetic of the C code is reproduced explicitly where it matters (wrap-around of the
requantize left shift, truncating division). Inputs the C kernels reject (inconsistent shapes,
an accumulator that would overflow int32, an empty pooling window) raise ``ValueError`` here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from mcuq import qir
from mcuq.numerics import fixedpoint as fp

#: Longest softmax row: with more elements the int32 sum of exp values (each up to 2^19 in
#: Q12.19) could overflow in ``arm_softmax_s8``; the C kernel rejects such rows too.
SOFTMAX_MAX_ROW = 4095


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def as_shape(x: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.size != int(np.prod(shape, dtype=np.int64)):
        raise ValueError(f"{what}: {x.size} elements do not fit shape {tuple(shape)}")
    return x.reshape(shape)


def _to_int8(x: np.ndarray) -> np.ndarray:
    return x.astype(np.int8)


def _trunc_div(a: np.ndarray, b) -> np.ndarray:
    """C integer division (truncation toward zero) for a positive divisor."""
    return np.where(a >= 0, a // b, -((-a) // b))


def _out_size(in_size: int, pad_before: int, pad_after: int, kernel: int, stride: int, dilation: int) -> int:
    room = in_size + pad_before + pad_after - dilation * (kernel - 1) - 1
    return 0 if room < 0 else room // stride + 1


def _check_window(
    what: str,
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int, int, int],
) -> None:
    top, left, bottom, right = padding
    if min(stride) < 1 or min(dilation) < 1 or min(kernel) < 1 or min(padding) < 0:
        raise ValueError(f"{what}: stride, dilation and kernel must be >= 1 and padding >= 0")
    expected = (
        _out_size(in_hw[0], top, bottom, kernel[0], stride[0], dilation[0]),
        _out_size(in_hw[1], left, right, kernel[1], stride[1], dilation[1]),
    )
    if tuple(out_hw) != expected:
        raise ValueError(f"{what}: output H,W {tuple(out_hw)} but the window gives {expected}")


def _window_view(
    xp: np.ndarray,
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """Padded [N,Hp,Wp,C] -> read-only view [N,OH,OW,KH,KW,C] of each output pixel's receptive field: strides
    step by ``stride`` between output pixels and by ``dilation`` between taps, so nothing is copied."""
    (oh, ow), (kh, kw) = out_hw, kernel
    last_row = (oh - 1) * stride[0] + (kh - 1) * dilation[0]
    last_col = (ow - 1) * stride[1] + (kw - 1) * dilation[1]
    if oh and ow and (last_row >= xp.shape[1] or last_col >= xp.shape[2]):  # as_strided does not check
        raise ValueError(f"windows reach row {last_row}, column {last_col} of a {xp.shape[1:3]} input")
    sn, sh, sw, sc = xp.strides
    shape = (xp.shape[0], oh, ow, kh, kw, xp.shape[3])
    strides = (sn, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1], sc)
    return np.lib.stride_tricks.as_strided(xp, shape, strides, writeable=False)


def _windows(
    x: np.ndarray,
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int, int, int],
    fill: int,
) -> np.ndarray:
    """[N,H,W,C] -> [N,OH,OW,KH,KW,C] (a read-only view): each output pixel's receptive field,
    out-of-bounds = fill."""
    top, left, bottom, right = padding
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    return _window_view(xp, out_hw, kernel, stride, dilation)


def _padded_with_offset(x: np.ndarray, offset: int, padding: tuple[int, int, int, int], dtype) -> np.ndarray:
    """x + offset in ``dtype``, zero-padded: padding contributes (zero_point + input_offset) = 0 to a
    convolution, as CMSIS-NN's zero-filled im2col."""
    top, left, bottom, right = padding
    n, h, w, c = x.shape
    xp = np.zeros((n, h + top + bottom, w + left + right, c), dtype)
    inner = xp[:, top : top + h, left : left + w]
    inner[...] = x
    inner += offset
    return xp


def _offset_absmax(x: np.ndarray, offset: int = 0) -> int:
    """The largest of |x| and |x + offset| (both pass through the product's type, see
    `_padded_with_offset`), without building x + offset (nor |x|, which wraps for an int8 -128)."""
    if not x.size:
        return 0
    lo, hi = int(x.min()), int(x.max())
    return max(abs(lo), abs(hi), abs(lo + offset), abs(hi + offset))


FLOAT64_EXACT = 2**53  # integers up to this magnitude, and every sum of them below it, are exact in float64
FLOAT32_EXACT = 2**24  # the same for float32
#: Fewest products per exact float32 chunk worth splitting a dot product for (int16 activations allow
#: only a few): below it float64 in one go is faster.
MIN_FLOAT32_CHUNK = 64


def exact_plan(a_absmax: int, b_absmax: int, inner: int) -> tuple[type, int]:
    """(dtype, chunk) for an exact integer product of matrices with entries up to ``a_absmax`` and
    ``b_absmax`` in magnitude over an ``inner`` axis, summed ``chunk`` products at a time (`chunked_matmul`).

    A BLAS product in a float type is exact when the sum of |products| stays below the type's exact
    range: then every partial sum, in any order and with or without fused multiply-adds, is an integer
    the type holds. float32 (twice BLAS's float64 speed, half the memory) where chunks of at least
    `MIN_FLOAT32_CHUNK` products stay below 2**24 (the chunk results are then added in float64, exact
    below 2**53); else float64 in one go below 2**53; else int64. Decided on the operands' bounds before
    they are expanded (im2col), so the expanded copy is made once, in the type the product takes."""
    product = a_absmax * b_absmax
    if product * inner >= FLOAT64_EXACT:
        return np.int64, max(inner, 1)
    per_chunk = (FLOAT32_EXACT - 1) // product if product else inner
    if per_chunk >= min(inner, MIN_FLOAT32_CHUNK):
        return np.float32, max(min(per_chunk, inner), 1)
    return np.float64, max(inner, 1)


def chunked_matmul(a: np.ndarray, b: np.ndarray, chunk: int) -> np.ndarray:
    """``a @ b`` (a [..., M, K], b [..., K, N], of `exact_plan`'s dtype) summed over K ``chunk`` at a
    time: each chunk's product in the operands' type, the chunks added in float64 (exact, see
    `exact_plan`); one product where a single chunk covers K."""
    k = a.shape[-1]
    if chunk >= k:
        return a @ b
    total = None
    for start in range(0, k, chunk):
        part = a[..., start : start + chunk] @ b[..., start : start + chunk, :]
        total = part.astype(np.float64) if total is None else np.add(total, part, out=total)
    return total


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of integer matrices as int64, through float BLAS where that is exact (`exact_plan`):
    numpy has no BLAS for integers, and its int64 product is many times slower."""
    dtype, chunk = exact_plan(_offset_absmax(a), _offset_absmax(b), a.shape[-1])
    product = chunked_matmul(a.astype(dtype, copy=False), b.astype(dtype, copy=False), chunk)
    return product.astype(np.int64, copy=False)


def _check_acc(acc: np.ndarray, what: str) -> None:
    if acc.size and (acc.min() < fp.INT32_MIN or acc.max() > fp.INT32_MAX):
        raise ValueError(f"{what}: the int32 accumulator overflows")


def _requant_out(acc: np.ndarray, mult, shift, out_offset: int, act_min: int, act_max: int) -> np.ndarray:
    out = fp.requantize(acc, mult, shift)  # a new array: changed in place below
    out += out_offset
    return _to_int8(np.clip(out, act_min, act_max, out=out))


# --------------------------------------------------------------------------------------------------
# ops
# --------------------------------------------------------------------------------------------------


def conv_accumulator(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """Conv2D up to requantization: bias + sum of (input + input_offset) * weight, int64 [N,OH,OW,C_out].
    Shared by the int8 kernel and the int16 one (input offset 0, int64 bias)."""
    p: qir.ConvParams = layer.params
    in_shape = tensors[layer.inputs[0]].shape
    out_shape = tensors[layer.output].shape
    x = as_shape(inputs[0], in_shape, layer.name)
    w = np.asarray(p.weights)
    n, _, _, c_in = in_shape
    on, oh, ow, c_out = out_shape
    c_out_w, kh, kw, cg = w.shape
    g = p.groups
    if g < 1 or c_in != cg * g or c_out != c_out_w or c_out % g or on != n:
        raise ValueError(f"{layer.name}: conv shapes {in_shape} * {w.shape} (groups {g}) -> {out_shape}")
    _check_window(layer.name, in_shape[1:3], (oh, ow), (kh, kw), p.stride, p.dilation, p.padding)
    og, k = c_out // g, kh * kw * cg
    dtype, chunk = exact_plan(_offset_absmax(x, p.input_offset), _offset_absmax(w), k)
    win = _window_view(_padded_with_offset(x, p.input_offset, p.padding, dtype), (oh, ow), (kh, kw), p.stride,
                       p.dilation)
    # im2col of every group at once, [G, N*OH*OW, KH*KW*Cg] (one copy), against weights [G, KH*KW*Cg, Og].
    cols = np.ascontiguousarray(win.reshape(n, oh, ow, kh, kw, g, cg).transpose(5, 0, 1, 2, 3, 4, 6))
    wg = w.reshape(g, og, k).transpose(0, 2, 1).astype(dtype)
    acc = chunked_matmul(cols.reshape(g, n * oh * ow, k), wg, chunk)  # exact: see exact_plan
    acc = acc.transpose(1, 0, 2).reshape(n, oh, ow, c_out).astype(np.int64)
    acc += np.asarray(p.bias, dtype=np.int64)
    return acc


def depthwise_accumulator(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """Depthwise conv up to requantization (int64 [N,OH,OW,C_out]); shared by the int8 and int16 kernels.
    Summed tap by tap over strided views of the padded input, in int32 where no partial sum can leave it."""
    p: qir.DepthwiseConvParams = layer.params
    in_shape = tensors[layer.inputs[0]].shape
    out_shape = tensors[layer.output].shape
    x = as_shape(inputs[0], in_shape, layer.name)
    w = np.asarray(p.weights)
    n, _, _, c_in = in_shape
    on, oh, ow, c_out = out_shape
    _, kh, kw, c_out_w = w.shape
    if p.ch_mult < 1 or c_out != c_in * p.ch_mult or c_out_w != c_out or on != n:
        raise ValueError(f"{layer.name}: depthwise shapes {in_shape} * {w.shape} -> {out_shape}")
    _check_window(layer.name, in_shape[1:3], (oh, ow), (kh, kw), p.stride, p.dilation, p.padding)
    x = np.repeat(x, p.ch_mult, axis=-1)  # output channel c*ch_mult + m reads input channel c
    bound = _offset_absmax(x, p.input_offset) * _offset_absmax(w) * kh * kw
    dtype = np.int32 if bound <= fp.INT32_MAX else np.int64
    win = _window_view(_padded_with_offset(x, p.input_offset, p.padding, dtype), (oh, ow), (kh, kw), p.stride,
                       p.dilation)
    taps = w[0].astype(dtype)
    acc = np.zeros((n, oh, ow, c_out), dtype)
    for i in range(kh):
        for j in range(kw):
            acc += win[:, :, :, i, j, :] * taps[i, j]
    return acc.astype(np.int64) + np.asarray(p.bias, dtype=np.int64)


def fc_accumulator(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """Fully connected up to requantization (int64 [rows, O]); shared by the int8 and int16 kernels."""
    p: qir.FullyConnectedParams = layer.params
    w = np.asarray(p.weights, dtype=np.int64)
    o, k = w.shape
    x = np.asarray(inputs[0]).astype(np.int64)
    if x.size % k:
        raise ValueError(f"{layer.name}: {x.size} input elements are not a multiple of K={k}")
    x = x.reshape(-1, k)
    out_shape = tensors[layer.output].shape
    if int(np.prod(out_shape)) != x.shape[0] * o:
        raise ValueError(f"{layer.name}: output shape {out_shape} is not [{x.shape[0]}, {o}]")
    return exact_matmul(x + p.input_offset, w.T) + np.asarray(p.bias, dtype=np.int64)


def _fully_connected(
    layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]
) -> np.ndarray:
    p: qir.FullyConnectedParams = layer.params
    acc = fc_accumulator(layer, inputs, tensors)
    _check_acc(acc, layer.name)
    out = _requant_out(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)
    return out.reshape(tensors[layer.output].shape)


def binary_inputs(layer: qir.Layer, inputs: list[np.ndarray], tensors) -> tuple[np.ndarray, np.ndarray]:
    out_shape = tensors[layer.output].shape
    a = as_shape(inputs[0], out_shape, layer.name).astype(np.int64)
    b = as_shape(inputs[1], out_shape, layer.name).astype(np.int64)
    return a, b


def add_values(a: np.ndarray, b: np.ndarray, p: qir.AddParams, what: str) -> np.ndarray:
    """TFLite's int8 Add of two int64 arrays of one shape (a Sub has a negated input 2 multiplier)."""
    if not 0 <= p.left_shift <= 22 or max(abs(p.input1_offset), abs(p.input2_offset)) > 255:
        raise ValueError(f"{what}: add left shift {p.left_shift} or input offsets out of range")
    a = fp.requantize((a + p.input1_offset) << p.left_shift, p.input1_multiplier, p.input1_shift)
    b = fp.requantize((b + p.input2_offset) << p.left_shift, p.input2_multiplier, p.input2_shift)
    # a + b cannot overflow int32: each is at most 255 * 2^20 scaled by a multiplier below 1.
    return _requant_out(a + b, p.output_multiplier, p.output_shift, p.output_offset, p.act_min, p.act_max)


def mul_values(a: np.ndarray, b: np.ndarray, p: qir.MulParams, what: str) -> np.ndarray:
    """TFLite's int8 Mul of two int64 arrays of one shape."""
    prod = (a + p.input1_offset) * (b + p.input2_offset)
    return _requant_out(prod, p.output_multiplier, p.output_shift, p.output_offset, p.act_min, p.act_max)


def _add(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    return add_values(*binary_inputs(layer, inputs, tensors), layer.params, layer.name)


def _mul(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    return mul_values(*binary_inputs(layer, inputs, tensors), layer.params, layer.name)


def broadcast_operands(layer: qir.Layer, inputs: list[np.ndarray], tensors) -> tuple[np.ndarray, np.ndarray]:
    """The two operands of a broadcasting layer, each as its [N,H,W,C] and broadcast to the output's."""
    p: qir.BroadcastParams = layer.params
    out_dims = qir.model.nhwc4(tensors[layer.output].shape)
    all_dims = p.operand_dims([tensors[name].shape for name in layer.inputs])
    operands = []
    for x, dims in zip(p.operands(inputs), all_dims):
        if any(d not in (1, o) for d, o in zip(dims, out_dims)):
            raise ValueError(f"{layer.name}: operand dims {dims} do not broadcast to the output's {out_dims}")
        operands.append(np.broadcast_to(as_shape(x, dims, layer.name).astype(np.int64), out_dims))
    return operands[0], operands[1]


def _broadcast(values: Callable) -> Callable:
    def run(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
        a, b = broadcast_operands(layer, inputs, tensors)
        return values(a, b, layer.params.arith, layer.name).reshape(tensors[layer.output].shape)

    return run


def _pool_setup(layer: qir.Layer, inputs: list[np.ndarray], tensors):
    p: qir.PoolParams = layer.params
    in_shape = tensors[layer.inputs[0]].shape
    out_shape = tensors[layer.output].shape
    if out_shape[0] != in_shape[0] or out_shape[3] != in_shape[3]:
        raise ValueError(f"{layer.name}: pooling {in_shape} -> {out_shape} changes N or C")
    _check_window(layer.name, in_shape[1:3], out_shape[1:3], p.kernel, p.stride, (1, 1), p.padding)
    x = as_shape(inputs[0], in_shape, layer.name).astype(np.int64)
    ones = np.ones((1,) + tuple(in_shape[1:3]) + (1,), dtype=np.int64)
    inside = _windows(ones, out_shape[1:3], p.kernel, p.stride, (1, 1), p.padding, 0)
    count = inside.sum(axis=(3, 4))  # [1, OH, OW, 1]: in-bounds elements per window
    if count.size and count.min() == 0:
        raise ValueError(f"{layer.name}: a pooling window lies entirely in the padding")
    return p, x, out_shape, count


# Pooling and copies are the same for int8 and int16 tensors: they return values in the clamp's range,
# which run_layer casts to the output's dtype.


def max_pool(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p, x, out_shape, _ = _pool_setup(layer, inputs, tensors)
    lowest = qir.DTYPE_RANGE[tensors[layer.inputs[0]].dtype][0]  # padding never wins
    win = _windows(x, out_shape[1:3], p.kernel, p.stride, (1, 1), p.padding, lowest)
    return np.clip(win.max(axis=(3, 4)), p.act_min, p.act_max)


def avg_pool(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p, x, out_shape, count = _pool_setup(layer, inputs, tensors)
    win = _windows(x, out_shape[1:3], p.kernel, p.stride, (1, 1), p.padding, 0)
    total = win.sum(axis=(3, 4))
    if p.count_include_pad:
        full = p.kernel[0] * p.kernel[1]
        total = total + (full - count) * p.pad_value
        count = np.full_like(count, full)
    # arm_avgpool_s8: sum > 0 ? (sum + count/2) / count : (sum - count/2) / count (C division).
    half = count // 2
    avg = np.where(total > 0, _trunc_div(total + half, count), _trunc_div(total - half, count))
    return np.clip(avg, p.act_min, p.act_max)


def _softmax(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.SoftmaxParams = layer.params
    out_shape = tensors[layer.output].shape
    row = out_shape[-1]
    if row > SOFTMAX_MAX_ROW:
        raise ValueError(f"{layer.name}: softmax rows of {row} elements (at most {SOFTMAX_MAX_ROW})")
    x = as_shape(inputs[0], out_shape, layer.name).astype(np.int64).reshape(-1, row)
    return softmax_rows(x, p).reshape(out_shape)


def softmax_rows(x: np.ndarray, p: qir.SoftmaxParams) -> np.ndarray:
    """``arm_softmax_s8`` over the rows of a 2-D int array (int8 values), int8 result, with the exp of
    each element read from the params' table by its difference to the row maximum, as the C does."""
    table = np.asarray(p.exp_table, dtype=np.int64)
    if table.shape != (fp.SOFTMAX_TABLE_SIZE,):
        raise ValueError(f"softmax: exp table has shape {table.shape}, not ({fp.SOFTMAX_TABLE_SIZE},)")
    smul = fp.saturating_rounding_doubling_high_mul
    accum_bits = fp.SOFTMAX_ACCUM_BITS
    x = np.asarray(x, dtype=np.int64)
    # 0 for the elements below diff_min: they add nothing to the sum and give -128.
    exps = table[x.max(axis=1, keepdims=True) - x]
    total = fp.rounding_divide_by_pot(exps, accum_bits).sum(axis=1, keepdims=True)
    headroom = fp.count_leading_zeros32(total)
    # (sum << headroom) has its top bit set; minus 1.0 (2^31) it is x in [0, 1) for 1 / (1 + x).
    shifted_scale = fp.one_over_one_plus_x_for_x_in_0_1((total << headroom) - (1 << 31))
    bits_over_unit = accum_bits - headroom + 23
    res = fp.rounding_divide_by_pot(smul(shifted_scale, exps), bits_over_unit) - 128
    return _to_int8(np.clip(res, -128, 127))


def _lut(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.LutParams = layer.params
    table = np.asarray(p.table, dtype=np.int8)
    if table.shape != (256,):
        raise ValueError(f"{layer.name}: LUT has shape {table.shape}, not (256,)")
    x = as_shape(inputs[0], tensors[layer.output].shape, layer.name).astype(np.int64)
    return table[x + 128]


def _concat(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.ConcatParams = layer.params
    out_shape = tensors[layer.output].shape
    axis = p.axis % len(out_shape)
    n = len(layer.inputs)
    if not len(p.input_offsets) == len(p.multipliers) == len(p.shifts) == n == len(inputs):
        raise ValueError(f"{layer.name}: concat needs one offset, multiplier and shift per input")
    parts = []
    for i, name in enumerate(layer.inputs):
        x = as_shape(inputs[i], tensors[name].shape, layer.name).astype(np.int64)
        if p.multipliers[i] == 0:
            parts.append(x)
        else:
            y = fp.requantize(x + p.input_offsets[i], p.multipliers[i], p.shifts[i]) + p.output_offset
            parts.append(np.clip(y, -128, 127))
    out = np.concatenate(parts, axis=axis)
    if out.shape != tuple(out_shape):
        raise ValueError(f"{layer.name}: concat gives {out.shape}, output is {tuple(out_shape)}")
    return _to_int8(out)


def _transpose(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.TransposeParams = layer.params
    x = as_shape(inputs[0], tensors[layer.inputs[0]].shape, layer.name)
    out = np.transpose(x, p.perm)
    if out.shape != tuple(tensors[layer.output].shape):
        raise ValueError(f"{layer.name}: transpose gives {out.shape}")
    return _to_int8(out)


def _pad(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.PadParams = layer.params
    x = as_shape(inputs[0], tensors[layer.inputs[0]].shape, layer.name)
    r = x.ndim
    if len(p.pads) != 2 * r or min(p.pads) < 0:
        raise ValueError(f"{layer.name}: pads {p.pads} do not fit rank {r} (negative pads unsupported)")
    widths = [(p.pads[i], p.pads[r + i]) for i in range(r)]
    out = np.pad(x.astype(np.int8), widths, constant_values=np.int8(p.pad_value))
    if out.shape != tuple(tensors[layer.output].shape):
        raise ValueError(f"{layer.name}: pad gives {out.shape}")
    return out


def copy(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    if tensors[layer.inputs[0]].dtype != tensors[layer.output].dtype:
        raise ValueError(f"{layer.name}: a copy cannot change the dtype")
    return as_shape(inputs[0], tensors[layer.output].shape, layer.name)


def _prelu(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.PreluParams = layer.params
    out_shape = tensors[layer.output].shape
    channels = out_shape[-1]
    if np.shape(p.negative_multiplier) != (channels,) or np.shape(p.negative_shift) != (channels,):
        raise ValueError(f"{layer.name}: PReLU needs one negative multiplier and shift per channel ({channels})")
    shifts = np.append(np.asarray(p.negative_shift), p.positive_shift)
    multipliers = np.append(np.asarray(p.negative_multiplier, dtype=np.int64), p.positive_multiplier)
    if abs(p.input_offset) > 255 or shifts.min() < -31 or shifts.max() > 30 or multipliers.min() <= fp.INT32_MIN:
        raise ValueError(f"{layer.name}: PReLU input offset {p.input_offset}, a shift or an INT32_MIN multiplier "
                         "out of the kernel's range")
    v = as_shape(inputs[0], out_shape, layer.name).astype(np.int64) + p.input_offset
    positive = fp.requantize(v, p.positive_multiplier, p.positive_shift)
    negative = fp.requantize(v, np.asarray(p.negative_multiplier), np.asarray(p.negative_shift))
    return _to_int8(np.clip(np.where(v >= 0, positive, negative) + p.output_offset, -128, 127))


def _resize_io(layer: qir.Layer, inputs: list[np.ndarray], tensors, per_index: int):
    """Input [N,H,W,C] (int64), output shape, and the tables as [count, per_index] arrays, checked."""
    p: qir.ResizeParams = layer.params
    in_shape, out_shape = tensors[layer.inputs[0]].shape, tensors[layer.output].shape
    rows, cols = (np.asarray(t, dtype=np.int64).reshape(-1, per_index) for t in (p.rows, p.cols))
    if (len(in_shape) != 4 or tuple(out_shape) != (in_shape[0], len(rows), len(cols), in_shape[3])
            or len(p.rows) != per_index * len(rows) or len(p.cols) != per_index * len(cols)):
        raise ValueError(f"{layer.name}: resize {in_shape} -> {out_shape} with {len(rows)} rows, {len(cols)} columns")
    for table, size in ((rows, in_shape[1]), (cols, in_shape[2])):
        if table[:, :2].size and (table[:, :2].min() < 0 or table[:, :2].max() >= size):
            raise ValueError(f"{layer.name}: a resize source index lies outside the input")
    return as_shape(inputs[0], in_shape, layer.name).astype(np.int64), rows, cols


def _resize_nearest(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    x, rows, cols = _resize_io(layer, inputs, tensors, 1)
    return _to_int8(x[:, rows[:, 0]][:, :, cols[:, 0]])


def _resize_bilinear(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """TFLite's int8 ResizeBilinear arithmetic: the four products with 10-bit weights summed (20
    fractional bits), then divided by 2^20 rounding half away from zero (its default, double-rounding
    build)."""
    x, rows, cols = _resize_io(layer, inputs, tensors, 3)
    one = 1 << 10
    if min(rows[:, 2].min(initial=0), cols[:, 2].min(initial=0)) < 0 or max(
            rows[:, 2].max(initial=0), cols[:, 2].max(initial=0)) > one:
        raise ValueError(f"{layer.name}: bilinear weights must lie in [0, 1024]")
    fy = rows[:, 2][None, :, None, None]
    fx = cols[:, 2][None, None, :, None]
    top, bottom = x[:, rows[:, 0]], x[:, rows[:, 1]]
    acc = ((top[:, :, cols[:, 0]] * (one - fx) + top[:, :, cols[:, 1]] * fx) * (one - fy)
           + (bottom[:, :, cols[:, 0]] * (one - fx) + bottom[:, :, cols[:, 1]] * fx) * fy)
    half = 1 << 19
    return _to_int8(_trunc_div(np.where(acc > 0, acc + half, acc - half), 1 << 20))


def transpose_conv_accumulator(layer: qir.Layer, inputs: list[np.ndarray], tensors) -> np.ndarray:
    """ConvTranspose up to requantization, straight from its definition (every input pixel times every
    tap, added at i*stride + k - padding), int64 [N,OH,OW,C_out]."""
    p: qir.TransposeConvParams = layer.params
    in_shape, out_shape = tensors[layer.inputs[0]].shape, tensors[layer.output].shape
    w = np.asarray(p.weights, dtype=np.int64)
    c_out, kh, kw, c_in = w.shape
    n, h, wd, _ = in_shape
    (sh, sw), (top, left) = p.stride, p.padding
    if in_shape[3] != c_in or out_shape[3] != c_out or out_shape[0] != n or min(sh, sw) < 1 or min(top, left) < 0:
        raise ValueError(f"{layer.name}: transposed conv shapes {in_shape} * {w.shape} -> {out_shape}")
    x = as_shape(inputs[0], in_shape, layer.name).astype(np.int64) + p.input_offset
    oh, ow = out_shape[1:3]
    full = np.zeros((n, max(oh + top, (h - 1) * sh + kh), max(ow + left, (wd - 1) * sw + kw), c_out), np.int64)
    for i in range(kh):
        for j in range(kw):
            full[:, i : i + (h - 1) * sh + 1 : sh, j : j + (wd - 1) * sw + 1 : sw] += x @ w[:, i, j, :].T
    return full[:, top : top + oh, left : left + ow] + np.asarray(p.bias, dtype=np.int64)


def _slice(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.SliceParams = layer.params
    x = as_shape(inputs[0], tensors[layer.inputs[0]].shape, layer.name)
    out_shape = tensors[layer.output].shape
    if not len(p.begin) == len(p.step) == x.ndim == len(out_shape):
        raise ValueError(f"{layer.name}: slice begin {p.begin} and step {p.step} do not fit rank {x.ndim}")
    for start, step, size, dim in zip(p.begin, p.step, out_shape, x.shape):
        if start < 0 or step < 1 or (size > 0 and start + (size - 1) * step >= dim):
            raise ValueError(f"{layer.name}: slice box {p.begin} step {p.step} reaches outside {x.shape}")
    box = tuple(slice(start, start + (size - 1) * step + 1, step)
                for start, step, size in zip(p.begin, p.step, out_shape))
    return _to_int8(x[box])


def _gather_channels(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.GatherChannelsParams = layer.params
    x = as_shape(inputs[0], tensors[layer.inputs[0]].shape, layer.name)
    indices = np.asarray(p.indices, dtype=np.int64)
    if indices.size != tensors[layer.output].shape[-1] or np.any(indices < 0) or np.any(indices >= x.shape[-1]):
        raise ValueError(f"{layer.name}: channel indices {p.indices} do not fit {x.shape} -> "
                         f"{tensors[layer.output].shape}")
    return _to_int8(x[..., indices])


def _requantized(accumulator):
    """The int8 golden function of a conv-like op: its int64 accumulator (bias added), checked to fit
    int32 as the C accumulates it, then requantized per output channel with the fused clamp."""

    def run(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
        p = layer.params
        acc = accumulator(layer, inputs, tensors)
        _check_acc(acc, layer.name)
        return _requant_out(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)

    return run


def matmul_dims(layer: qir.Layer, tensors: dict[str, qir.QTensor]) -> tuple[int, int, int, int]:
    """(batches, M, N, K) of a batch matmul: lhs [..., M, K], rhs transposed [..., N, K], out [..., M, N]."""
    lhs, rhs, out = (tensors[name].shape for name in (*layer.inputs, layer.output))
    if not (len(lhs) == len(rhs) == len(out) and lhs[:-2] == rhs[:-2] == out[:-2] and lhs[-1] == rhs[-1]
            and out[-2:] == (lhs[-2], rhs[-2])):
        raise ValueError(f"{layer.name}: batch matmul of shapes {lhs} x {rhs}^T -> {out} is inconsistent")
    return int(np.prod(out[:-2], dtype=np.int64)), lhs[-2], rhs[-2], lhs[-1]


#: Longest batch matmul dot product: the MVE path's offset terms stay below 2^28 each (the C rejects more).
BATCH_MATMUL_MAX_DEPTH = 16384


def _batch_matmul(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.BatchMatmulParams = layer.params
    batches, m, n, k = matmul_dims(layer, tensors)
    if (max(abs(p.lhs_offset), abs(p.rhs_offset)) > 128 or not 1 <= k <= BATCH_MATMUL_MAX_DEPTH
            or p.multiplier < 0 or not -31 <= p.shift <= 30):
        raise ValueError(f"{layer.name}: input offsets {p.lhs_offset}, {p.rhs_offset} outside [-128, 128], depth {k} "
                         f"outside [1, {BATCH_MATMUL_MAX_DEPTH}] or multiplier {p.multiplier} (shift {p.shift}) "
                         "negative (a product of scales is not)")
    lhs = as_shape(inputs[0], (batches, m, k), layer.name).astype(np.int64) + p.lhs_offset
    rhs = as_shape(inputs[1], (batches, n, k), layer.name).astype(np.int64) + p.rhs_offset
    acc = np.einsum("bmk,bnk->bmn", lhs, rhs)
    _check_acc(acc, layer.name)
    return _requant_out(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)


#: Longest layer norm row: sum(v^2) (|v| <= 256) stays within int32 and C^2 2^16 + epsilon (< 2^60) within
#: int64; the C kernel rejects longer rows too.
LAYER_NORM_MAX_ROW = 32767


def normalized_variance(variance: int) -> tuple[int, int]:
    """(m, e): ``variance`` * 2^e (floored when e < 0) in [2^30, 2^32), e even, so that its integer square
    root has 16 significant bits whatever the variance (a root of 3 would be 30 % off)."""
    e = 0
    while variance < 1 << 30:
        variance <<= 2
        e += 2
    while variance >= 1 << 32:
        variance >>= 2
        e -= 2
    return variance, e


def layer_norm_rows(x: np.ndarray, p: qir.LayerNormParams) -> np.ndarray:
    """``mcuq_layer_norm_s8`` over the rows of a 2-D array of int8 values (see `qir.LayerNormParams`)."""
    features = x.shape[1]
    v = np.asarray(x, dtype=np.int64) + p.input_offset
    total = v.sum(axis=1, keepdims=True)
    centered = features * v - total  # C (v - mean), exact
    variance = features * (v * v).sum(axis=1, keepdims=True) - total * total + p.epsilon  # C^2 (var + eps)
    rows = [normalized_variance(int(value)) for value in variance.reshape(-1)]
    root = np.array([[math.isqrt(m)] for m, _ in rows], dtype=np.int64)  # in [2^15, 2^16)
    half_e = np.array([[e // 2] for _, e in rows], dtype=np.int64)
    reciprocal = ((1 << 31) + root // 2) // root  # round(2^31 / root), in 32 bits as the C computes it
    down = 15 - half_e  # in [0, 30]
    normalized = (centered * reciprocal + ((np.int64(1) << down) >> 1)) >> down  # Q16
    scaled = fp.requantize(normalized, p.multiplier, p.shift) + np.asarray(p.bias, dtype=np.int64)
    out = ((scaled + 128) >> 8) + p.output_offset
    return _to_int8(np.clip(out, -128, 127))


def _layer_norm(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.LayerNormParams = layer.params
    shape = tensors[layer.output].shape
    features = shape[-1]
    if features > LAYER_NORM_MAX_ROW or np.size(p.multiplier) != features or p.epsilon < 1:
        raise ValueError(f"{layer.name}: layer norm rows of {features} features (at most {LAYER_NORM_MAX_ROW}, "
                         f"{np.size(p.multiplier)} multipliers, epsilon {p.epsilon} >= 1)")
    if abs(p.input_offset) > 128:
        raise ValueError(f"{layer.name}: input offset {p.input_offset} outside [-128, 128]")
    x = as_shape(inputs[0], shape, layer.name).reshape(-1, features)
    return layer_norm_rows(x, p).reshape(shape)


OPS: dict[qir.QOp, Callable[[qir.Layer, list[np.ndarray], dict[str, qir.QTensor]], np.ndarray]] = {
    qir.QOp.CONV: _requantized(conv_accumulator),
    qir.QOp.DEPTHWISE_CONV: _requantized(depthwise_accumulator),
    qir.QOp.FULLY_CONNECTED: _fully_connected,
    qir.QOp.ADD: _add,
    qir.QOp.MUL: _mul,
    qir.QOp.MAX_POOL: max_pool,
    qir.QOp.AVG_POOL: avg_pool,
    qir.QOp.LUT: _lut,
    qir.QOp.SOFTMAX: _softmax,
    qir.QOp.CONCAT: _concat,
    qir.QOp.TRANSPOSE: _transpose,
    qir.QOp.PAD: _pad,
    qir.QOp.COPY: copy,
    qir.QOp.PRELU: _prelu,
    qir.QOp.BROADCAST_ADD: _broadcast(add_values),
    qir.QOp.BROADCAST_MUL: _broadcast(mul_values),
    qir.QOp.RESIZE_NEAREST: _resize_nearest,
    qir.QOp.RESIZE_BILINEAR: _resize_bilinear,
    qir.QOp.TRANSPOSE_CONV: _requantized(transpose_conv_accumulator),
    qir.QOp.SLICE: _slice,
    qir.QOp.GATHER_CHANNELS: _gather_channels,
    qir.QOp.BATCH_MATMUL: _batch_matmul,
    qir.QOp.LAYER_NORM: _layer_norm,
}
