"""Compile-time speed (issue 15): one float pass shared by the stages that read the float activations,
a BLAS convolution that matches ONNX Runtime, the golden model's exact float64 products, fast C rows."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from mcuq.calib import calibrate, float_runs
from mcuq.calib.bias_correction import correct_biases
from mcuq.codegen.templating import c_rows
from mcuq.golden.s8 import FLOAT64_EXACT, exact_matmul
from mcuq.ir import float_exec
from tests.calib.test_bias_correction import _conv_fc_graph, _inputs


@pytest.fixture
def graph_runs(monkeypatch):
    """Counts the float graph's executions."""
    calls = []
    real_run = float_exec.run

    def counting_run(graph, feeds):
        calls.append(len(next(iter(feeds.values()))))
        return real_run(graph, feeds)

    monkeypatch.setattr(float_exec, "run", counting_run)
    return calls


def test_calibration_and_bias_correction_share_one_float_pass(graph_runs):
    graph, samples = _conv_fc_graph(), _inputs(150, 1)  # three batches of at most 64
    separate_ranges = calibrate(graph, samples, "auto")
    separate_graph = correct_biases(graph, samples)
    separate_calls = len(graph_runs)
    graph_runs.clear()
    runs = float_runs(graph, samples)
    shared_ranges = calibrate(graph, samples, "auto", runs=runs)
    shared_graph = correct_biases(graph, samples, runs)
    assert graph_runs == [64, 64, 22]  # once over the samples, for both auto passes and the correction
    assert separate_calls == 2 * len(graph_runs)  # auto shares its own two passes; the correction runs again
    assert shared_ranges == separate_ranges  # the same float values, bit for bit
    for name, tensor in separate_graph.tensors.items():
        if tensor.data is not None:
            np.testing.assert_array_equal(shared_graph.tensors[name].data, tensor.data)


def test_float_runs_run_again_when_the_activations_exceed_the_budget(graph_runs):
    graph, samples = _conv_fc_graph(), _inputs(100, 2)
    runs = float_exec.FloatRuns(graph, samples, keep_bytes=1000)
    first = [values["y"].copy() for values in runs.batches()]
    second = [values["y"] for values in runs.batches()]
    assert graph_runs == [64, 36, 64, 36]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def _onnx_conv(x_shape, w, b, strides, pads, groups, dilations) -> onnx.ModelProto:
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=strides, pads=pads, group=groups,
                            dilations=dilations)
    graph = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@settings(max_examples=25, deadline=None)
@given(groups=st.sampled_from([1, 2, 4]), per_group_in=st.integers(1, 10), per_group_out=st.integers(1, 4),
       kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)), stride=st.integers(1, 2), dilation=st.integers(1, 2),
       pad=st.integers(0, 2), size=st.integers(5, 9), n=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_conv2d_matches_onnx_runtime(groups, per_group_in, per_group_out, kernel, stride, dilation, pad, size, n,
                                     seed):
    rng = np.random.default_rng(seed)
    c_in, c_out = groups * per_group_in, groups * per_group_out
    x = rng.normal(size=(n, c_in, size, size)).astype(np.float32)
    w = rng.normal(size=(c_out, per_group_in, *kernel)).astype(np.float32)
    b = rng.normal(size=c_out).astype(np.float32)
    model = _onnx_conv(x.shape, w, b, [stride] * 2, [pad] * 4, groups, [dilation] * 2)
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    attrs = dict(pads=(pad,) * 4, strides=(stride,) * 2, dilations=(dilation,) * 2, groups=groups)
    # Per tap (the reference), one product per tap (grouped reference, probes), im2col (probes), and the probes'
    # choice between those two (`TAP_ROWS_MIN_CHANNELS`: per_group_in reaches both sides of it).
    for conv in (float_exec.conv2d, float_exec.conv2d_tap_rows, float_exec.conv2d_one_product, float_exec.conv2d_fast):
        got = conv(attrs, x.transpose(0, 2, 3, 1), w.transpose(0, 2, 3, 1), b)
        np.testing.assert_allclose(got.transpose(0, 3, 1, 2), expected, rtol=1e-5, atol=1e-5)


@settings(max_examples=50, deadline=None)
@given(rows=st.integers(1, 20), inner=st.integers(1, 40), cols=st.integers(1, 10),
       magnitude=st.sampled_from([255, 32768, 2**31 - 1]), seed=st.integers(0, 2**16))
def test_exact_matmul_equals_the_int64_product(rows, inner, cols, magnitude, seed):
    """int8 and int16 activations take the float64 path, values near int32's limit the int64 one; both exact."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-magnitude, magnitude + 1, size=(rows, inner), dtype=np.int64)
    b = rng.integers(-127, 128, size=(inner, cols), dtype=np.int64)
    got = exact_matmul(a, b)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, a @ b)


def test_exact_matmul_keeps_int64_beyond_float64_precision():
    a = np.array([[2**52 + 1, 1]], dtype=np.int64)  # float64 would round 2**52 + 1 + ... by an odd unit
    b = np.array([[3], [1]], dtype=np.int64)
    assert float(np.abs(a).max()) * 3 * 2 >= FLOAT64_EXACT
    np.testing.assert_array_equal(exact_matmul(a, b), [[3 * (2**52 + 1) + 1]])


@pytest.mark.parametrize("values, suffix", [
    (np.random.default_rng(0).integers(-128, 128, size=1000).astype(np.int8), ""),
    (np.random.default_rng(1).integers(-(2**31), 2**31, size=300).astype(np.int32), ""),
    (np.array([2**40, -(2**40), 0], dtype=np.int64), "LL"),
    (np.array([True, False]), ""),
    (np.array([1.7, -2.5, 3.0]), ""),
    (np.array([], dtype=np.int8), ""),
])
def test_c_rows_write_each_value_as_its_integer(values, suffix):
    rows = c_rows(values, per_line=7, suffix=suffix)
    texts = [t for row in rows for t in row.split(", ")] if rows else []
    assert texts == [f"{int(v)}{suffix}" for v in values]
    assert all(len(row.split(", ")) <= 7 for row in rows)
