"""Every op through the whole pipeline: small ONNX models built here, compiled to C, built on the host.
`mcuq.compile` itself fails when the C differs from the golden model on any sample; these tests add
that the int8 result is close to ONNX Runtime's float result and that the intended int8 op was used."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from tests.helpers import small_models
from tests.helpers.small_models import conv, make_model, w


def case_grouped_dilated_strided_conv():
    n, i = conv("c", "x", "h", 4, 6, group=2, dilations=[2, 2], strides=[2, 2], pads=[1, 2, 2, 1])
    return [n, helper.make_node("Relu", ["h"], ["y"])], [1, 4, 11, 9], i, {"conv"}


def case_depthwise_multiplier():
    n, i = conv("c", "x", "y", 3, 6, group=3)
    return [n], [1, 3, 8, 8], i, {"depthwise_conv"}


@pytest.mark.parametrize("op, attrs", [("LeakyRelu", {"alpha": 0.1}), ("Sigmoid", {}), ("Tanh", {})])
def test_table_activations(op, attrs, tmp_path):
    n, i = conv("c", "x", "h", 2, 4)
    check([n, helper.make_node(op, ["h"], ["y"], **attrs)], [1, 2, 6, 6], i, {"lut"}, tmp_path)


def case_concat_channels():
    a, ia = conv("a", "x", "ha", 3, 4)
    b, ib = conv("b", "x", "hb", 3, 2, k=1, pads=[0, 0, 0, 0])
    cat = helper.make_node("Concat", ["ha", "hb"], ["cat"], axis=1)
    c, ic = conv("c", "cat", "y", 6, 5)
    return [a, b, cat, c], [1, 3, 7, 7], {**ia, **ib, **ic}, {"concat"}


def case_mul_and_add_of_activations():
    a, ia = conv("a", "x", "ha", 3, 4)
    b, ib = conv("b", "x", "hb", 3, 4)
    return ([a, b, helper.make_node("Mul", ["ha", "hb"], ["m"]), helper.make_node("Add", ["m", "ha"], ["y"])],
            [1, 3, 6, 6], {**ia, **ib}, {"mul", "add"})


def case_swish():
    a, ia = conv("a", "x", "h", 3, 4)
    return ([a, helper.make_node("Sigmoid", ["h"], ["s"]), helper.make_node("Mul", ["h", "s"], ["y"])],
            [1, 3, 6, 6], ia, {"lut", "mul"})


def case_batchnorm_on_the_input():
    c = 3
    inits = {"g": w(c) + 1, "beta": w(c), "mean": w(c), "var": np.abs(w(c)) + 0.5}
    bn = helper.make_node("BatchNormalization", ["x", "g", "beta", "mean", "var"], ["h"])
    n, i = conv("c", "h", "y", 3, 4)
    return [bn, n], [1, c, 6, 6], {**inits, **i}, {"depthwise_conv", "conv"}


def case_pools_with_padding():
    n, i = conv("c", "x", "h", 2, 4)
    mp = helper.make_node("MaxPool", ["h"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    ap = helper.make_node("AveragePool", ["p"], ["y"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 0, 1, 0],
                          count_include_pad=1)
    return [n, mp, ap], [1, 2, 9, 9], i, {"max_pool", "avg_pool"}


def case_explicit_pad_before_pool():
    n, i = conv("c", "x", "h", 2, 3)
    pads = np.array([0, 0, 1, 2, 0, 0, 2, 1], dtype=np.int64)
    pad = helper.make_node("Pad", ["h", "pads"], ["p"], mode="constant")
    mp = helper.make_node("MaxPool", ["p"], ["y"], kernel_shape=[3, 3], strides=[2, 2])
    return [n, pad, mp], [1, 2, 6, 6], {**i, "pads": pads}, {"pad", "max_pool"}


def case_transpose_that_stays():
    n, i = conv("c", "x", "h", 2, 3)
    t = helper.make_node("Transpose", ["h"], ["t"], perm=[0, 1, 3, 2])
    m, im = conv("d", "t", "y", 3, 4)
    return [n, t, m], [1, 2, 5, 7], {**i, **im}, {"transpose"}


def case_softmax_over_channels():
    n, i = conv("c", "x", "h", 2, 5)
    return [n, helper.make_node("Softmax", ["h"], ["y"], axis=1)], [1, 2, 4, 4], i, {"softmax"}


def case_gemm_relu6_and_global_pool():
    n, i = conv("c", "x", "h", 3, 8)
    gp = helper.make_node("GlobalAveragePool", ["h"], ["g"])
    fl = helper.make_node("Flatten", ["g"], ["f"])
    gemm = helper.make_node("Gemm", ["f", "fw", "fb"], ["z"], transB=1)
    clip = helper.make_node("Clip", ["z", "lo", "hi"], ["y"])
    inits = {**i, "fw": w(10, 8), "fb": w(10), "lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}
    return [n, gp, fl, gemm, clip], [1, 3, 6, 6], inits, {"avg_pool", "fully_connected"}


def case_reduce_mean_over_h_and_w_keepdims():
    """torch.onnx.export's dynamo exporter writes global average pooling as ReduceMean (keepdims 1 for
    adaptive_avg_pool2d(x, 1), 0 for x.mean((2, 3)))."""
    n, i = conv("c", "x", "h", 3, 8)
    mean = helper.make_node("ReduceMean", ["h"], ["g"], axes=[2, 3], keepdims=1)  # opset 13; the loader makes axes an input
    fl = helper.make_node("Flatten", ["g"], ["f"])
    gemm = helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)
    return [n, mean, fl, gemm], [1, 3, 6, 6], {**i, "fw": w(10, 8), "fb": w(10)}, {"avg_pool"}


def case_reduce_mean_over_h_and_w_dropping_them():
    n, i = conv("c", "x", "h", 3, 8)
    mean = helper.make_node("ReduceMean", ["h"], ["g"], axes=[-1, -2], keepdims=0)
    gemm = helper.make_node("Gemm", ["g", "fw", "fb"], ["y"], transB=1)
    inits = {**i, "fw": w(10, 8), "fb": w(10)}
    return [n, mean, gemm], [1, 3, 6, 6], inits, {"avg_pool", "fully_connected"}


def case_two_outputs():
    a, ia = conv("a", "x", "y", 3, 4)
    b, ib = conv("b", "y", "z", 4, 2)
    return [a, b], [1, 3, 6, 6], {**ia, **ib}, {"conv"}, ("y", "z")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def check(nodes, input_shape, inits, expected_ops, tmp_path, outputs=("y",), opset=13):
    model = make_model(nodes, input_shape, inits, outputs, opset)
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    samples = small_models.RNG.normal(0, 1, size=(96, *input_shape[1:])).astype(np.float32)
    compiled = mcuq.compile(path, samples[:64], tmp_path / "out", verify_data=samples[64:])
    ops = {layer.op.value for layer in compiled.qmodel.layers}
    assert expected_ops <= ops, ops
    for m in compiled.report["verification"]["float_metrics"]:
        assert m["sqnr_db"] > 20, m
    # The Python API returns the ONNX layout, and agrees with ONNX Runtime to within int8 precision.
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # see compiler._float_runner
    ref = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, {"x": samples[64:65]})
    got = compiled.run(samples[64:65])
    got = got if isinstance(got, list) else [got]
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        assert np.abs(r - g).max() <= 0.1 * np.abs(r).max() + 1e-3


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_end_to_end(case, tmp_path):
    nodes, input_shape, inits, expected_ops, *outputs = CASES[case]()
    check(nodes, input_shape, inits, expected_ops, tmp_path, *(outputs or [("y",)]))
