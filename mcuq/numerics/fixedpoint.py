"""Fixed-point "Prepare" math (TFLite) and the integer primitives of CMSIS-NN's default path.

Two halves:

* Prepare: real scales -> (multiplier, shift) exactly as TFLite's ``QuantizeMultiplier`` and the
  Prepare functions of TFLite Micro's Add, Mul and Softmax kernels. TFLite keeps tensor scales as
  float32 and widens them to double before any arithmetic; the ``prepare_*`` functions do the same
  so that a model quantized elsewhere gets the very same integers.
* Eval primitives: vectorized numpy versions of CMSIS-NN's ``arm_nn_requantize`` (default double
  rounding, not ``CMSIS_NN_USE_SINGLE_ROUNDING``) and of the gemmlowp fixed-point helpers used by
  ``arm_softmax_s8``. They work on int64 arrays holding int32 values and reproduce the C results
  bit for bit, including int32 wrap-around where the C code wraps (see ``_wrap32``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mcuq import qir

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

#: TFLite's left shift for int8 Add (``data->left_shift = 20``): inputs are scaled up by 2^20 so
#: that rescaling both to the larger input scale loses no precision.
ADD_LEFT_SHIFT = 20

#: TFLite's left shift for int16 Add (``left_shift = 15`` when the output is int16).
ADD_LEFT_SHIFT_S16 = 15

#: The 16x8 requantization (``arm_nn_requantize_s64``) takes shifts in [-31, 7] and accumulators
#: (with bias) below 2^47 in magnitude.
S16_SHIFT_RANGE = (-31, 7)
S16_ACC_LIMIT = 1 << 47

#: Integer bits of the scaled input difference in int8 softmax (TFLM's ``kScaledDiffIntegerBits``).
SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5

#: Fractional bits of the exp accumulator in ``arm_softmax_s8`` (``ACCUM_BITS``).
SOFTMAX_ACCUM_BITS = 12

#: Entries of the int8 softmax exp table: one per difference to the row maximum, 0..255.
SOFTMAX_TABLE_SIZE = 256


# --------------------------------------------------------------------------------------------------
# Prepare
# --------------------------------------------------------------------------------------------------


def tflite_round(x: float) -> int:
    """``TfLiteRound`` (std::round): half away from zero, on the exact double value."""
    a = abs(x)
    r = math.floor(a)
    if a - r >= 0.5:  # a - r is exact for doubles
        r += 1
    return int(r) if x >= 0 else -int(r)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: real ~= multiplier * 2^(shift - 31), multiplier in Q31.

    ``frexp`` gives real = q * 2^shift with q in [0.5, 1); q is rounded (half away from zero) to
    Q31; a q that rounds up to 2^31 is halved and the shift incremented. Shifts below -31 flush
    to (0, 0) as TFLite does. Shifts above 30 saturate to (2^31 - 1, 30): TFLite does that only
    in its single-rounding build, but in the double-rounding path such a shift would left-shift an
    int32 by 31 or more, which is never meaningful, so mcuq saturates on both paths.
    """
    real = float(real)
    if not math.isfinite(real):
        raise ValueError(f"cannot quantize a non-finite multiplier {real!r}")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    if abs(q_fixed) == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return INT32_MAX, 30
    return int(q_fixed), int(shift)


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``quantize_multiplier`` over an array: (multiplier int32 array, shift int32 array)."""
    flat = np.asarray(reals, dtype=np.float64).reshape(-1)
    pairs = [quantize_multiplier(float(r)) for r in flat]
    mult = np.array([p[0] for p in pairs], dtype=np.int32).reshape(np.shape(reals))
    shift = np.array([p[1] for p in pairs], dtype=np.int32).reshape(np.shape(reals))
    return mult, shift


def _f32(x: float) -> float:
    """A tensor scale as TFLite stores it (float32), widened back to double."""
    return float(np.float32(x))


def conv_multipliers(
    input_scale: float, weight_scales: np.ndarray, output_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel requantization of Conv/DepthwiseConv/FullyConnected as TFLite's
    ``PopulateConvolutionQuantizationParams``: M[c] = double(s_in) * double(s_w[c]) / double(s_out)
    with every scale a float32."""
    w = np.asarray(weight_scales, dtype=np.float32).astype(np.float64).reshape(-1)
    reals = _f32(input_scale) * w / _f32(output_scale)
    return quantize_multipliers(reals)


def _smaller_than_one_exp(real: float, what: str) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplierSmallerThanOneExp``: requires 0 < real < 1, returns shift <= 0."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"{what}: real multiplier {real!r} must lie in (0, 1)")
    mult, shift = quantize_multiplier(real)
    if shift > 0:  # only reachable when real rounds up to 1.0
        raise ValueError(f"{what}: real multiplier {real!r} rounds to 1.0 or more")
    return mult, shift


def _check_act(act_min: int, act_max: int) -> None:
    if not -128 <= act_min <= act_max <= 127:
        raise ValueError(f"activation range [{act_min}, {act_max}] is not an int8 range")


def prepare_add(
    s1: float, zp1: int, s2: float, zp2: int, s_out: float, zp_out: int, act_min: int, act_max: int,
    left_shift: int = ADD_LEFT_SHIFT,
) -> qir.AddParams:
    """TFLite Micro Add Prepare (``CalculateOpDataAdd``): int8 with ``left_shift`` 20; the int16
    (16x8) form passes `ADD_LEFT_SHIFT_S16` and checks its clamp itself."""
    if left_shift == ADD_LEFT_SHIFT:
        _check_act(act_min, act_max)
    s1, s2, s_out = _f32(s1), _f32(s2), _f32(s_out)
    twice_max_input_scale = 2.0 * max(s1, s2)
    m1, sh1 = _smaller_than_one_exp(s1 / twice_max_input_scale, "add input 1")
    m2, sh2 = _smaller_than_one_exp(s2 / twice_max_input_scale, "add input 2")
    mo, sho = _smaller_than_one_exp(
        twice_max_input_scale / ((1 << left_shift) * s_out),
        "add output (output scale too small next to the input scales)",
    )
    return qir.AddParams(
        input1_offset=-int(zp1),
        input1_multiplier=m1,
        input1_shift=sh1,
        input2_offset=-int(zp2),
        input2_multiplier=m2,
        input2_shift=sh2,
        left_shift=left_shift,
        output_offset=int(zp_out),
        output_multiplier=mo,
        output_shift=sho,
        act_min=int(act_min),
        act_max=int(act_max),
    )


def _input_exact(multiplier: int, shift: int, left_shift: int) -> bool:
    """Whether an Add input's rescale is exactly (x + offset) * 2^(left_shift - 1): Prepare's multiplier
    2^30 and shift 0 for the input with the larger scale."""
    return multiplier == 1 << 30 and shift == 0 and left_shift >= 1


def add_rescale_table(p: qir.AddParams) -> np.ndarray | None:
    """The int8 Add kernel's table (``mcuq_add_params.rescale_table``), or None where its table path does
    not apply (neither input exact, or a left shift outside [1, 20]). Entry k, for the other input's
    byte x = (int8)k: twice the rescaled sum's part that does not depend on the exact input,
    2 * (requantize((x + offset) << left_shift) + exact input's offset * 2^(left_shift - 1)), so that the
    kernel gets 2 * (a + b) as exact input * 2^left_shift + table[(uint8)other input]."""
    ls = p.left_shift
    if not 1 <= ls <= 20:
        return None
    if _input_exact(p.input1_multiplier, p.input1_shift, ls):
        exact_offset, offset, mult, shift = p.input1_offset, p.input2_offset, p.input2_multiplier, p.input2_shift
    elif _input_exact(p.input2_multiplier, p.input2_shift, ls):
        exact_offset, offset, mult, shift = p.input2_offset, p.input1_offset, p.input1_multiplier, p.input1_shift
    else:
        return None
    x = np.arange(256, dtype=np.int64).astype(np.uint8).view(np.int8).astype(np.int64)
    rescaled = requantize((x + offset) << ls, mult, shift)
    return (2 * (rescaled + (exact_offset << (ls - 1)))).astype(np.int32)


def prepare_sub(*args, **kwargs) -> qir.AddParams:
    """Sub as an Add whose second input is rescaled by the negated multiplier: x1 - x2 with the
    Add's rounding (its requantizations round each input on its own, so the C and golden Add
    kernels compute it unchanged)."""
    params = prepare_add(*args, **kwargs)
    return dataclasses.replace(params, input2_multiplier=-params.input2_multiplier)


def prepare_mul(
    s1: float, zp1: int, s2: float, zp2: int, s_out: float, zp_out: int, act_min: int, act_max: int
) -> qir.MulParams:
    """TFLite Micro int8 Mul Prepare (``CalculateOpDataMul``): M = s1 * s2 / s_out."""
    _check_act(act_min, act_max)
    mult, shift = quantize_multiplier(_f32(s1) * _f32(s2) / _f32(s_out))
    return qir.MulParams(
        input1_offset=-int(zp1),
        input2_offset=-int(zp2),
        output_offset=int(zp_out),
        output_multiplier=mult,
        output_shift=shift,
        act_min=int(act_min),
        act_max=int(act_max),
    )


def prepare_softmax(input_scale: float, beta: float = 1.0) -> qir.SoftmaxParams:
    """TFLite Micro int8 Softmax Prepare (``CalculateSoftmaxParams``) as used with CMSIS-NN:
    ``PreprocessSoftmaxScaling`` with 5 integer bits, then diff_min = -``CalculateInputRadius``."""
    bits = SOFTMAX_SCALED_DIFF_INTEGER_BITS
    real = min(_f32(beta) * _f32(input_scale) * (1 << (31 - bits)), float((1 << 31) - 1))
    if not real > 1.0:  # QuantizeMultiplierGreaterThanOne's check
        raise ValueError(f"softmax: beta * input_scale = {beta * input_scale!r} is too small")
    mult, left_shift = quantize_multiplier(real)
    if left_shift < 0:
        raise ValueError("softmax: negative input left shift")
    radius = math.floor(((1 << bits) - 1) * (1 << (31 - bits)) / (1 << left_shift))
    return softmax_params(mult, left_shift, -int(radius))


def softmax_params(input_multiplier: int, input_left_shift: int, diff_min: int) -> qir.SoftmaxParams:
    """Softmax params with their exp table (see ``softmax_exp_table``)."""
    table = softmax_exp_table(input_multiplier, input_left_shift, diff_min)
    return qir.SoftmaxParams(input_multiplier, input_left_shift, diff_min, exp_table=table)


def softmax_exp_table(input_multiplier: int, input_left_shift: int, diff_min: int) -> np.ndarray:
    """``arm_softmax_s8``'s exp of each int8 difference to the row maximum, as a 256-entry table.

    For int8 input, diff = x - max(row) takes only the values -255..0, so the kernel's
    exp_on_negative_values(diff * 2^input_left_shift * input_multiplier) in Q0.31 is a function of
    one byte: entry k is that value for diff = -k, and 0 where diff < diff_min (such elements give
    nothing to the sum and -128 out, which a 0 gives too). The kernels index it by max - x."""
    if not 0 <= input_left_shift <= 30 or not -(INT32_MAX >> input_left_shift) <= diff_min <= 0:
        raise ValueError(f"softmax: input_left_shift {input_left_shift} / diff_min {diff_min} out of range")
    diff = -np.arange(SOFTMAX_TABLE_SIZE, dtype=np.int64)
    valid = diff >= diff_min
    # diff * 2^shift only fits int32 for valid diffs (that is what diff_min guarantees).
    scaled = saturating_rounding_doubling_high_mul(np.where(valid, diff, 0) << input_left_shift, input_multiplier)
    return np.where(valid, exp_on_negative_values(scaled), 0).astype(np.int32)


# --------------------------------------------------------------------------------------------------
# Eval primitives (numpy, int64 arrays holding int32 values)
# --------------------------------------------------------------------------------------------------


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32, back as int64 (what the C code's int32
    arithmetic does where it can overflow, e.g. the requantize left shift)."""
    return x.astype(np.int32).astype(np.int64)


def doubling_high_mult_no_sat(a, b) -> np.ndarray:
    """``arm_nn_doubling_high_mult_no_sat``: (a*b + 2^30) >> 31 (round half up), no saturation."""
    return _wrap32((_i64(a) * _i64(b) + (1 << 30)) >> 31)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """``arm_nn_doubling_high_mult`` / gemmlowp ``SaturatingRoundingDoublingHighMul`` (VQRDMULH):
    sign-dependent nudge, division truncating toward zero, INT32_MIN*INT32_MIN saturates."""
    a, b = np.broadcast_arrays(_i64(a), _i64(b))
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    num = ab + nudge
    # C's int64 division truncates toward zero; numpy's // floors.
    q = np.where(num >= 0, num >> 31, -((-num) >> 31))
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q).astype(np.int64)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """``arm_nn_divide_by_power_of_two``: x / 2^exponent rounded half away from zero. Any
    exponent >= 0 (the C side takes [0, 31]; larger ones are computed exactly here)."""
    x, e = np.broadcast_arrays(_i64(x), _i64(exponent))
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    result = x >> e
    threshold = (mask >> 1) + (result < 0)
    return result + (remainder > threshold)


def requantize(val, multiplier, shift) -> np.ndarray:
    """``arm_nn_requantize`` (default double rounding): the left part of the shift is applied
    first (in int32, wrapping as the C does), then the rounding doubling high multiply, then the
    rounding right shift.

    The same values as ``rounding_divide_by_pot(doubling_high_mult_no_sat(_wrap32(val << left),
    multiplier), right)`` (the tests keep that form as the reference), computed for speed: per-channel
    multipliers and shifts stay small arrays that broadcast in each step (no full-size shift, mask and
    threshold arrays), the left shift is skipped where every shift is <= 0, and the steps work in
    place on one int64 array."""
    val, multiplier, shift = _i64(val), _i64(multiplier), _i64(shift)
    shape = np.broadcast_shapes(val.shape, multiplier.shape, shift.shape)
    left = np.maximum(shift, 0)
    shifted = val << left if left.any() else val
    high = _doubling_high_mult_in_place(np.broadcast_to(shifted, shape).astype(np.int32), multiplier)
    right = np.maximum(-shift, 0)
    if right.max(initial=0) > 31:  # beyond the C's range: the general form
        return rounding_divide_by_pot(high, right)
    return _rounding_shift_right_in_place(high, right)


def _doubling_high_mult_in_place(a32: np.ndarray, multiplier: np.ndarray) -> np.ndarray:
    """``doubling_high_mult_no_sat(a32, multiplier)`` for int32 ``a32``, as a new int64 array."""
    out = a32.astype(np.int64)
    out *= multiplier
    out += 1 << 30
    out >>= 31
    # With |multiplier| <= INT32_MAX, (a * b + 2^30) >> 31 lies in int32 and the wrap changes nothing.
    if multiplier.size and (multiplier.min() < -INT32_MAX or multiplier.max() > INT32_MAX):
        out = _wrap32(out)
    return out


def _rounding_shift_right_in_place(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """``rounding_divide_by_pot(x, exponent)`` for int32 values in the int64 array ``x`` (changed in place)
    and exponents in [0, 31]: floor((x + 2^(e-1) - [x < 0]) / 2^e) for e > 0, which rounds half away
    from zero (for x < 0 a remainder of exactly half then stays below the next multiple); x for e = 0."""
    if not exponent.any():
        return x
    positive = exponent > 0
    negative_one = x >> 63  # -1 where x < 0, else 0
    if not positive.all():
        negative_one &= np.where(positive, -1, 0)  # no correction where e = 0
    x += np.where(positive, np.int64(1) << np.maximum(exponent - 1, 0), 0)
    x += negative_one
    x >>= exponent
    return x


def reduce_multiplier(multiplier) -> np.ndarray:
    """CMSIS-NN's ``REDUCE_MULTIPLIER``: a Q31 multiplier rounded to Q15 (half up), saturating at
    0x7FFF, for the 64-bit requantization of the int16 kernels."""
    m = _i64(multiplier)
    return np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)


def requantize_s64(val, multiplier, shift) -> np.ndarray:
    """``arm_nn_requantize_s64`` with ``REDUCE_MULTIPLIER`` (the int16 conv, depthwise and fully
    connected kernels, as TFLite's 64-bit ``MultiplyByQuantizedMultiplier``): val * reduced
    multiplier, shifted right by (14 - shift) and truncated to int32 (wrapping as the C does), then a
    last right shift by one that rounds half up. ``val``: |val| < 2^47; ``shift`` in [-31, 7]."""
    val, multiplier, shift = np.broadcast_arrays(_i64(val), _i64(multiplier), _i64(shift))
    truncated = _wrap32((val * reduce_multiplier(multiplier)) >> (14 - shift))
    return (truncated + 1) >> 1


def mult_by_power_of_two(x, exponent: int) -> np.ndarray:
    """``arm_nn_mult_by_power_of_two`` / gemmlowp ``SaturatingRoundingMultiplyByPOT`` (exp > 0)."""
    x = _i64(x)
    threshold = (1 << (31 - exponent)) - 1
    out = _wrap32(x << exponent)
    out = np.where(x > threshold, INT32_MAX, out)
    return np.where(x < -threshold, INT32_MIN, out).astype(np.int64)


# gemmlowp constants, Q0.31: exp(-1/8), exp(-2^k/4) for k = 0..6, 1/3, 48/17, -32/17.
_EXP_MINUS_ONE_EIGHTH = 1895147668
_EXP_BARREL = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)
_ONE_THIRD = 715827883


def exp_on_negative_values(val) -> np.ndarray:
    """``arm_nn_exp_on_negative_values``: exp(x) for x <= 0 given in Q5.26, result in Q0.31
    (gemmlowp's exp_on_negative_values with 5 integer bits)."""
    a = _i64(val)
    smul = saturating_rounding_doubling_high_mul
    val_mod_minus_quarter = (a & ((1 << 24) - 1)) - (1 << 24)
    remainder = val_mod_minus_quarter - a
    x = val_mod_minus_quarter * 32 + (1 << 28)  # to Q0.31, then + 1/8
    x2 = smul(x, x)
    x3 = smul(x2, x)
    x4 = smul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(smul(x4_over_4 + x3, _ONE_THIRD) + x2, 1)
    result = _EXP_MINUS_ONE_EIGHTH + smul(_EXP_MINUS_ONE_EIGHTH, x + poly)
    for k, factor in enumerate(_EXP_BARREL):
        result = np.where((remainder & (1 << (24 + k))) != 0, smul(result, factor), result)
    return np.where(a == 0, INT32_MAX, result).astype(np.int64)


def one_over_one_plus_x_for_x_in_0_1(val) -> np.ndarray:
    """``arm_nn_one_over_one_plus_x_for_x_in_0_1``: 1/(1+x) for x in [0, 1) in Q0.31, result in
    Q0.31 (Newton-Raphson as gemmlowp, three iterations)."""
    smul = saturating_rounding_doubling_high_mul
    s = _i64(val) + INT32_MAX
    # (sum + (sum >= 0 ? 1 : -1)) / 2 with C's truncating division.
    num = s + np.where(s >= 0, 1, -1)
    half_denominator = np.where(num >= 0, num // 2, -((-num) // 2))
    x = 1515870810 + smul(half_denominator, -1010580540)  # 48/17 - 32/17 * d, in Q2.29
    one_q29 = 1 << 29
    for _ in range(3):
        x = x + mult_by_power_of_two(smul(x, one_q29 - smul(half_denominator, x)), 2)
    return mult_by_power_of_two(x, 1)


def count_leading_zeros32(x) -> np.ndarray:
    """CLZ of non-negative int32 values (32 for 0)."""
    # Integers below 2^31 are exact in a double, so frexp's exponent is their bit length.
    _, bit_length = np.frexp(_i64(x).astype(np.float64))
    return 32 - bit_length.astype(np.int64)
