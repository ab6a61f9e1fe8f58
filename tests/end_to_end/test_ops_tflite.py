"""A small int8 .tflite (float input through QUANTIZE, float output through DEQUANTIZE, as the TFLite
converter writes a full-integer model with float IO) compiles to C that gives TensorFlow Lite Micro's int8
values exactly: per-axis conv weights with a fused RELU, SAME and VALID pooling (TFLite averages over the
valid pixels), ADD requantizing both inputs, CONCATENATION, FULLY_CONNECTED with per-tensor weights on
every pixel (keep_num_dims), RESHAPE, SOFTMAX."""

import numpy as np

import mcuq
from tests.helpers.tflite_build import Op, T, tflm_outputs, write

SAME, VALID, RELU = 0, 1, 1


def symmetric_int8(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights, scales) as the TFLite converter quantizes them: per ``axis`` or per tensor."""
    reduce = tuple(a for a in range(w.ndim) if a != axis) if axis is not None else None
    scales = (np.abs(w).max(axis=reduce) / 127).astype(np.float32).reshape(-1)
    shape = [1] * w.ndim
    if axis is not None:
        shape[axis] = -1
    return np.clip(np.round(w / scales.reshape(shape)), -127, 127).astype(np.int8), scales


def int8_model(path):
    rng = np.random.default_rng(7)
    s_in, z_in = 0.02, -3
    conv_w, conv_s = symmetric_int8(rng.uniform(-1, 1, (4, 3, 3, 3)).astype(np.float32), axis=0)
    conv_b = np.round(rng.uniform(-0.2, 0.2, 4) / (s_in * conv_s)).astype(np.int32)
    s_conv, z_conv = 0.05, -128
    fc_w, fc_s = symmetric_int8(rng.uniform(-0.6, 0.6, (5, 8)).astype(np.float32), axis=None)
    s_sum, z_sum = s_conv, z_conv  # TFLM's int8 CONCATENATION needs its inputs on the output's grid
    fc_b = np.round(rng.uniform(-0.5, 0.5, 5) / (s_sum * fc_s[0])).astype(np.int32)
    pooled_q = ([s_conv], [z_conv], 0)
    tensors = [
        T("x", (1, 6, 6, 3)),
        T("q", (1, 6, 6, 3), dtype="int8", quant=([s_in], [z_in], 0)),
        T("w", conv_w.shape, conv_w, quant=(conv_s, np.zeros(4), 0)),
        T("b", (4,), conv_b, quant=(s_in * conv_s, np.zeros(4), 0)),
        T("conv", (1, 6, 6, 4), dtype="int8", quant=pooled_q),
        T("maxp", (1, 3, 3, 4), dtype="int8", quant=pooled_q),
        T("avgp", (1, 3, 3, 4), dtype="int8", quant=pooled_q),
        T("sum", (1, 3, 3, 4), dtype="int8", quant=pooled_q),
        T("joined", (1, 3, 3, 8), dtype="int8", quant=([s_sum], [z_sum], 0)),
        T("fc_w", fc_w.shape, fc_w, quant=(fc_s, [0], 0)),
        T("fc_b", (5,), fc_b, quant=([s_sum * fc_s[0]], [0], 0)),
        T("pixels", (1, 3, 3, 5), dtype="int8", quant=([0.1], [3], 0)),
        T("shape", (2,), np.array([1, 45], np.int32)),
        T("logits", (1, 45), dtype="int8", quant=([0.1], [3], 0)),
        T("probs", (1, 45), dtype="int8", quant=([1 / 256], [-128], 0)),
        T("y", (1, 45)),
    ]
    pool = {"StrideW": 2, "StrideH": 2, "FilterWidth": 2, "FilterHeight": 2}
    ops = [
        Op("QUANTIZE", (0,), (1,)),
        Op("CONV_2D", (1, 2, 3), (4,), "Conv2DOptions",
           {"Padding": SAME, "StrideW": 1, "StrideH": 1, "DilationWFactor": 1, "DilationHFactor": 1,
            "FusedActivationFunction": RELU}),
        Op("MAX_POOL_2D", (4,), (5,), "Pool2DOptions", {"Padding": VALID, **pool}),
        Op("AVERAGE_POOL_2D", (4,), (6,), "Pool2DOptions", {"Padding": SAME, **pool, "FilterWidth": 3,
                                                             "FilterHeight": 3}),
        Op("ADD", (5, 6), (7,), "AddOptions", {}),
        Op("CONCATENATION", (7, 5), (8,), "ConcatenationOptions", {"Axis": -1}),
        Op("FULLY_CONNECTED", (8, 9, 10), (11,), "FullyConnectedOptions", {"KeepNumDims": True}),
        Op("RESHAPE", (11, 12), (13,)),
        Op("SOFTMAX", (13,), (14,), "SoftmaxOptions", {"Beta": 1.0}),
        Op("DEQUANTIZE", (14,), (15,)),
    ]
    return write(path / "int8.tflite", tensors, ops, [0], [15])


def test_int8_tflite_with_float_io_equals_tflite_micro(tmp_path):
    path = int8_model(tmp_path)
    x = np.random.default_rng(0).uniform(-2, 2, size=(50, 6, 6, 3)).astype(np.float32)
    compiled = mcuq.compile(path, None, tmp_path / "out", verify_data=x)
    assert compiled.report["verification"]["c_vs_golden"]["mismatches"] == 0
    steps = 256 * (compiled.run(x) - np.concatenate(tflm_outputs(path, x)))  # outputs are multiples of 1/256
    assert np.array_equal(np.round(steps), np.zeros_like(steps))  # 0 LSB
    assert [layer.op.value for layer in compiled.qmodel.layers].count("concat") == 1
