"""Quantization parameters follow the numerics contract (ARCHITECTURE.md)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mcuq.quant.lower import activation_qparams, quantize_bias, quantize_weights_per_channel

finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(finite, finite)
def test_real_zero_is_exactly_representable(a, b):
    lo, hi = min(a, b), max(a, b)
    scale, zp = activation_qparams(lo, hi)
    assert -128 <= zp <= 127
    assert scale > 0
    # The zero point is an integer, so real 0.0 maps to it exactly; the range is (nearly) covered.
    covered_lo, covered_hi = (-128 - zp) * scale, (127 - zp) * scale
    assert covered_lo <= min(lo, 0.0) + scale and covered_hi >= max(hi, 0.0) - scale


def test_relu_range_uses_the_whole_int8_range():
    scale, zp = activation_qparams(0.0, 6.0)
    assert zp == -128
    assert np.isclose(scale, 6.0 / 255)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_weights_are_symmetric_per_channel(channels, per_channel, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(channels, per_channel)).astype(np.float32) * rng.uniform(0.01, 10, (channels, 1))
    q, scales = quantize_weights_per_channel(w, channel_axis=0)
    assert q.dtype == np.int8 and q.min() >= -127
    # Each channel's largest magnitude maps to +-127 and the error is at most half a step.
    assert np.all(np.abs(q).max(axis=1) == 127)
    assert np.all(np.abs(q * scales[:, None] - w) <= scales[:, None] / 2 + 1e-6)


def test_all_zero_channel_gets_a_valid_scale():
    w = np.zeros((2, 3), dtype=np.float32)
    w[1] = [1.0, -2.0, 0.5]
    q, scales = quantize_weights_per_channel(w, channel_axis=0)
    assert np.all(q[0] == 0) and scales[0] > 0


def test_bias_scale_is_input_scale_times_weight_scale():
    b = np.array([0.5, -1.25], dtype=np.float32)
    q = quantize_bias(b, 0.1, np.array([0.01, 0.02]))
    assert q.dtype == np.int32
    assert list(q) == [500, -625]


def test_clamp_bounds_round_as_tflite():
    """TFLite quantizes a fused activation's bounds with a float32 division and round half away
    from zero (``Quantize`` in ``CalculateActivationRangeQuantized``), not half to even."""
    from mcuq.quant.lower import quantize_value

    assert quantize_value(0.25, 0.5, 0) == 1  # 0.5 -> 1 (Python's round would give 0)
    assert quantize_value(-0.25, 0.5, 0) == -1
    assert quantize_value(6.0, 0.04, -128) == 22


def test_concat_inputs_take_the_output_quantization_where_free():
    """TFLite's rule: a Concat's inputs share its output's scale and zero point. Free producers (conv)
    take it, also through a pooling chain (whose source's range then widens the shared one); an
    input read by another layer too, or produced by an op with a fixed output (softmax), keeps its own."""
    from mcuq.ir.graph import Graph, Node, Tensor
    from mcuq.quant.lower import shared_concat_quantization

    names = ["x", "a", "p", "b", "u", "c", "cat"]
    nodes = [Node("conv2d", "A", ("x",), ("a",)), Node("max_pool", "P", ("a",), ("p",)),
             Node("conv2d", "B", ("x",), ("b",)), Node("add", "U", ("b", "x"), ("u",)),
             Node("softmax", "C", ("x",), ("c",)), Node("concat", "CAT", ("p", "b", "c"), ("cat",), {"axis": 3})]
    graph = Graph({n: Tensor(n, (1, 2, 2, 1)) for n in names}, nodes, ["x"], ["cat", "u"])
    ranges = {"x": (-1, 1), "a": (-3, 5), "p": (-1, 5), "b": (-2, 2), "u": (-3, 3), "c": (0, 1), "cat": (-2, 5)}
    shared = shared_concat_quantization(graph, ranges, {})
    assert shared == {"cat": activation_qparams(-3, 5), "a": activation_qparams(-3, 5)}
    # A file that fixes the Concat's output quantization keeps it; nothing is shared.
    assert shared_concat_quantization(graph, ranges, {"cat": (0.1, 0)}) == {}
