"""ONNX frontend: load_onnx → optimize → float_exec.run must compute what ONNX Runtime computes.

(a) the shared third-party models on real data, plus their structure after optimize;
(b) small models built with onnx.helper, one per op and attribute variant, at opset 9 and at the
    newest opset ONNX Runtime runs;
(c) the errors a user can get.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.capi.onnxruntime_pybind11_state import Fail as OrtFail

from mcuq import ir
from mcuq.errors import ModelError, ShapeError, UnsupportedOpError
from mcuq.frontend.onnx_loader import HANDLERS, load_onnx
from mcuq.ir import float_exec
from mcuq.passes import optimize
from tests.helpers.paths import model_zoo

ZOO = model_zoo()
NEWEST_ONNX_OPSET = onnx.defs.onnx_opset_version()


# --------------------------------------------------------------------------------------------
# Helpers


def reference_session(model) -> ort.InferenceSession:
    """ONNX Runtime running the model as written: its graph rewrites are not always faithful
    (1.31 fuses a zero Pad into a following MaxPool, whose padding is -inf)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def ort_accepts(model: onnx.ModelProto) -> bool:
    try:
        reference_session(model.SerializeToString())
    except OrtFail:  # an opset newer than this ONNX Runtime knows
        return False
    return True


@functools.cache
def newest_ort_opset() -> int:
    """The newest default-domain opset this ONNX Runtime accepts (it may lag behind onnx)."""
    relu = [helper.make_node("Relu", ["x"], ["y"])]
    for opset in range(NEWEST_ONNX_OPSET, 12, -1):
        if ort_accepts(build_model(relu, {"x": [1, 2]}, opset=opset)):
            return opset
    raise AssertionError("ONNX Runtime runs no opset >= 13")


def build_model(
    nodes: list[onnx.NodeProto],
    inputs: dict[str, list],
    initializers: dict[str, np.ndarray] | None = None,
    opset: int = 13,
    outputs: tuple[str, ...] = ("y",),
) -> onnx.ModelProto:
    opsets = [helper.make_opsetid("", opset)]
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs.items()],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()],
    )
    return helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))


def random(*shape: int, seed: int = 0, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(np.float32)


def run_ir(graph: ir.Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run the IR on ONNX-layout feeds; return the outputs in ONNX layout."""
    ir_feeds = {name: feeds[name].transpose(graph.input_perms[name]) for name in graph.inputs}
    values = float_exec.run(graph, ir_feeds)
    return [values[name].transpose(graph.output_perms[name]) for name in graph.outputs]


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal within 1e-4 relative to the output's magnitude."""
    assert actual.shape == expected.shape
    np.testing.assert_allclose(
        actual, expected, rtol=1e-4, atol=1e-4 * max(1e-6, float(np.abs(expected).max()))
    )


def assert_matches_ort(
    model: onnx.ModelProto,
    tmp_path: Path,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    feeds: dict[str, np.ndarray] | None = None,
) -> ir.Graph:
    """Loaded and optimized graphs both compute what ORT computes; return the optimized graph."""
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    session = reference_session(str(path))
    if feeds is None:
        feeds = {}
        for index, value in enumerate(session.get_inputs()):
            shape = (input_shapes or {}).get(value.name) or value.shape
            feeds[value.name] = random(*shape, seed=index)
    expected = session.run(None, feeds)
    loaded = load_onnx(path, input_shapes)
    optimized = optimize(loaded)
    for graph in (loaded, optimized):
        for actual, reference in zip(run_ir(graph, feeds), expected):
            assert_close(actual, reference)
    return optimized


def op_counts(graph: ir.Graph) -> Counter:
    return Counter(node.op for node in graph.nodes)


def only_node(graph: ir.Graph) -> ir.Node:
    assert len(graph.nodes) == 1, op_counts(graph)
    return graph.nodes[0]


OPSETS = [9, "newest"]


def opset_value(opset: int | str) -> int:
    return newest_ort_opset() if opset == "newest" else opset


# --------------------------------------------------------------------------------------------
# (a) Shared third-party models on real data


def zoo_file(relative: str) -> Path:
    path = ZOO / relative
    if not path.is_file():
        pytest.skip(f"model zoo not found at {ZOO} (set MCUQ_MODEL_ZOO)")
    return path


def mnist_images(count: int) -> np.ndarray:
    return np.load(zoo_file("mnist/data.npz"))["images"][200 : 200 + count].astype(np.float32) / 255.0


def kws_features(count: int) -> np.ndarray:
    return np.load(zoo_file("kws_dscnn/data.npz"))["x_test"][:count].astype(np.float32)


def cifar_like_pixels(count: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(count, 3, 32, 32)).astype(np.float32)


ZOO_MODELS = {
    "kws_dscnn/model.onnx": (
        lambda: kws_features(64),
        {"conv2d": 5, "depthwise_conv2d": 4, "avg_pool": 1, "reshape": 1, "fully_connected": 1, "softmax": 1},
    ),
    "resnet8_cifar10/model.onnx": (
        lambda: cifar_like_pixels(16),
        {"conv2d": 9, "add": 3, "avg_pool": 1, "reshape": 1, "fully_connected": 1, "softmax": 1},
    ),
    "mnist/pytorch_opset9.onnx": (
        lambda: mnist_images(64)[:, None] * 2 - 1,
        {"conv2d": 4, "max_pool": 3, "avg_pool": 1, "reshape": 1},
    ),
    "mnist/pytorch_opset20_external.onnx": (
        lambda: mnist_images(64)[:, None] * 2 - 1,
        {"conv2d": 1, "reshape": 1, "fully_connected": 1},
    ),
    "mnist/keras2onnx_opset10.onnx": (
        lambda: mnist_images(64)[..., None],
        {"conv2d": 2, "max_pool": 2, "reshape": 1, "fully_connected": 2, "softmax": 1},
    ),
}


def ort_outputs_per_sample(path: Path, batch: np.ndarray) -> np.ndarray:
    session = reference_session(str(path))
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: sample[None]})[0] for sample in batch])


@pytest.mark.parametrize("relative", list(ZOO_MODELS))
def test_zoo_model_matches_onnx_runtime(relative: str) -> None:
    path = zoo_file(relative)
    make_data, _ = ZOO_MODELS[relative]
    batch = make_data()
    expected = ort_outputs_per_sample(path, batch)
    graph = optimize(load_onnx(path))
    (actual,) = run_ir(graph, {graph.inputs[0]: batch})  # one batched run of the executor
    assert_close(actual, expected)
    assert (actual.argmax(axis=1) == expected.argmax(axis=1)).all()


@pytest.mark.parametrize("relative", list(ZOO_MODELS))
def test_zoo_model_structure_after_optimize(relative: str) -> None:
    graph = optimize(load_onnx(zoo_file(relative)))
    assert dict(op_counts(graph)) == ZOO_MODELS[relative][1]
    assert "transpose" not in op_counts(graph), "every layout transpose cancelled"
    assert "clip" not in op_counts(graph), "every ReLU fused into its producer"
    for node in graph.nodes:
        if node.op == "softmax":
            assert node.attrs["axis"] == len(graph.tensors[node.inputs[0]].shape) - 1
    (input_name,) = graph.inputs
    assert graph.tensors[input_name].shape[-1] in (1, 3), "the input is channels-last"


def test_kws_structure_details() -> None:
    graph = optimize(load_onnx(zoo_file("kws_dscnn/model.onnx")))
    first = graph.nodes[0]
    assert first.op == "conv2d" and first.inputs[0] == "input_1:0"
    assert first.attrs["pads"] == (4, 1, 5, 1) and first.attrs["strides"] == (2, 2)
    assert graph.tensors["input_1:0"].shape == (1, 49, 10, 1)
    assert graph.input_perms == {"input_1:0": (0, 1, 2, 3)}
    convs = [n for n in graph.nodes if n.op in ("conv2d", "depthwise_conv2d")]
    assert all((n.attrs["act_min"], n.attrs["act_max"]) == (0.0, np.inf) for n in convs)
    assert all(n.attrs["depth_multiplier"] == 1 for n in convs if n.op == "depthwise_conv2d")


def test_resnet8_structure_details() -> None:
    graph = optimize(load_onnx(zoo_file("resnet8_cifar10/model.onnx")))
    assert graph.input_perms == {"input_1": (0, 2, 3, 1)}
    assert graph.tensors["input_1"].shape == (1, 32, 32, 3)
    adds = [n for n in graph.nodes if n.op == "add"]
    assert all((n.attrs["act_min"], n.attrs["act_max"]) == (0.0, np.inf) for n in adds), "Relu fused into Add"
    strided = [n for n in graph.nodes if n.op == "conv2d" and n.attrs["strides"] == (2, 2)]
    assert {n.attrs["pads"] for n in strided} == {(0, 0, 1, 1), (0, 0, 0, 0)}


def test_mnist_pytorch_flatten_after_conv_keeps_nhwc() -> None:
    graph = optimize(load_onnx(zoo_file("mnist/pytorch_opset20_external.onnx")))
    assert [n.op for n in graph.nodes] == ["conv2d", "reshape", "fully_connected"]
    assert graph.tensors["input"].shape == (1, 28, 28, 1)
    assert graph.nodes[1].attrs["shape"] == (1, 26 * 26 * 32)


@pytest.mark.parametrize(
    ("relative", "images_to_input", "top1"),
    [
        ("mnist/pytorch_opset9.onnx", lambda x: x[:, None] * 2 - 1, 0.9535),
        ("mnist/pytorch_opset20_external.onnx", lambda x: x[:, None] * 2 - 1, 0.9650),
        ("mnist/keras2onnx_opset10.onnx", lambda x: x[..., None], 0.8845),
    ],
)
def test_mnist_float_accuracy_as_published(relative: str, images_to_input, top1: float) -> None:
    data = np.load(zoo_file("mnist/data.npz"))
    graph = optimize(load_onnx(zoo_file(relative)))
    (scores,) = run_ir(graph, {graph.inputs[0]: images_to_input(data["images"].astype(np.float32) / 255.0)})
    assert np.mean(scores.argmax(axis=1) == data["labels"]) == pytest.approx(top1, abs=1e-9)


def test_kws_float_accuracy_as_published() -> None:
    data = np.load(zoo_file("kws_dscnn/data.npz"))
    graph = optimize(load_onnx(zoo_file("kws_dscnn/model.onnx")))
    (scores,) = run_ir(graph, {graph.inputs[0]: data["x_test"].astype(np.float32)})
    assert np.mean(scores.argmax(axis=1) == data["y_test"]) == pytest.approx(0.9125, abs=1e-9)


# --------------------------------------------------------------------------------------------
# (b) Synthetic models, one per op and attribute variant


def conv_model(opset: int, channels: int = 4, out_channels: int = 6, kernel=(3, 3), size=(9, 8), **attrs):
    group = attrs.get("group", 1)
    weights = random(out_channels, channels // group, *kernel, seed=1)
    inits = {"w": weights, "b": random(out_channels, seed=2)}
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", **attrs)
    return build_model([node], {"x": [1, channels, *size]}, inits, opset)


CONV_VARIANTS = {
    "plain_3x3_pad1": {"pads": [1, 1, 1, 1]},
    "asymmetric_pads": {"pads": [0, 1, 2, 0]},
    "stride2_dilation2": {"strides": [2, 2], "dilations": [2, 2], "pads": [2, 1, 1, 2]},
    "groups2": {"group": 2},
    "auto_pad_same_upper": {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    "auto_pad_same_lower": {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
    "auto_pad_valid": {"auto_pad": "VALID"},
}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("variant", list(CONV_VARIANTS))
def test_conv_variants(variant: str, opset, tmp_path: Path) -> None:
    attrs = CONV_VARIANTS[variant]
    kernel = (2, 4) if variant.startswith("auto_pad_same") else (3, 3)  # even size: upper ≠ lower
    graph = assert_matches_ort(conv_model(opset_value(opset), kernel=kernel, **attrs), tmp_path)
    node = only_node(graph)
    assert node.op == "conv2d" and node.attrs["groups"] == attrs.get("group", 1)
    assert graph.input_perms == {"x": (0, 2, 3, 1)} and graph.output_perms == {"y": (0, 3, 1, 2)}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_conv_with_multiplier(multiplier: int, opset, tmp_path: Path) -> None:
    model = conv_model(
        opset_value(opset), channels=4, out_channels=4 * multiplier, group=4, pads=[1, 0, 1, 2]
    )
    node = only_node(assert_matches_ort(model, tmp_path))
    assert node.op == "depthwise_conv2d" and node.attrs["depth_multiplier"] == multiplier


def test_conv_without_bias(tmp_path: Path) -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])
    model = build_model([node], {"x": [1, 3, 6, 6]}, {"w": random(5, 3, 3, 3)})
    assert only_node(assert_matches_ort(model, tmp_path)).op == "conv2d"


@settings(max_examples=25, deadline=None)
@given(
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    strides=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    dilations=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    pads=st.tuples(*[st.integers(0, 2)] * 4),
    group=st.sampled_from([1, 2, 4]),
)
def test_conv_geometry_property(kernel, strides, dilations, pads, group, tmp_path_factory) -> None:
    model = conv_model(
        13, channels=4, out_channels=4, kernel=kernel, size=(7, 6),
        strides=list(strides), dilations=list(dilations), pads=list(pads), group=group,
    )  # fmt: skip
    assert_matches_ort(model, tmp_path_factory.mktemp("conv"))


POOL_VARIANTS = {
    "max_pads_strides": ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 1, 1]}),
    "max_ceil_mode": ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    "max_same_upper": ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    "avg_exclude_pad": (
        "AveragePool",
        {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 0},
    ),
    "avg_include_pad": (
        "AveragePool",
        {"kernel_shape": [3, 3], "pads": [1, 2, 0, 1], "count_include_pad": 1},
    ),
    "avg_ceil_exclude_pad": ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    "avg_ceil_include_pad": (
        "AveragePool",
        {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1, "count_include_pad": 1},
    ),
    "avg_same_lower": ("AveragePool", {"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": "SAME_LOWER"}),
}


POOL_CASES = [
    (variant, opset)
    for variant, (_, attrs) in POOL_VARIANTS.items()
    for opset in OPSETS
    if not (opset == 9 and "ceil_mode" in attrs)  # ceil_mode exists from opset 10
]


@pytest.mark.parametrize(("variant", "opset"), POOL_CASES)
def test_pool_variants(variant: str, opset, tmp_path: Path) -> None:
    op_type, attrs = POOL_VARIANTS[variant]
    model = build_model(
        [helper.make_node(op_type, ["x"], ["y"], **attrs)], {"x": [1, 3, 9, 8]}, opset=opset_value(opset)
    )
    node = only_node(assert_matches_ort(model, tmp_path))
    assert node.op == {"MaxPool": "max_pool", "AveragePool": "avg_pool"}[op_type]


def test_global_average_pool_then_gemm(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w", "b"], ["y"], transB=1),
    ]
    model = build_model(nodes, {"x": [1, 5, 6, 7]}, {"w": random(3, 5, seed=1), "b": random(3, seed=2)})
    graph = assert_matches_ort(model, tmp_path)
    assert [n.op for n in graph.nodes] == ["avg_pool", "reshape", "fully_connected"]


@pytest.mark.parametrize(
    ("attrs", "c_shape"),
    [
        ({"transB": 1}, (4,)),
        ({"alpha": 0.5, "beta": 2.0}, (1, 4)),
        ({"transB": 1, "alpha": -1.5, "beta": 0.25}, ()),
        ({}, None),
    ],
)
def test_gemm_attributes(attrs: dict, c_shape, tmp_path: Path) -> None:
    weights = random(4, 6, seed=1) if attrs.get("transB") else random(6, 4, seed=1)
    inits = {"w": weights}
    inputs = ["a", "w"]
    if c_shape is not None:
        inits["c"] = random(*c_shape, seed=2)
        inputs.append("c")
    model = build_model([helper.make_node("Gemm", inputs, ["y"], **attrs)], {"a": [1, 6]}, inits)
    assert only_node(assert_matches_ort(model, tmp_path)).op == "fully_connected"


def test_gemm_with_activation_c_becomes_fc_plus_add(tmp_path: Path) -> None:
    nodes = [helper.make_node("Gemm", ["a", "w", "c"], ["y"], transB=1)]
    model = build_model(nodes, {"a": [1, 6], "c": [1, 4]}, {"w": random(4, 6, seed=1)})
    assert op_counts(assert_matches_ort(model, tmp_path)) == Counter({"fully_connected": 1, "add": 1})


def test_gemm_trans_a(tmp_path: Path) -> None:
    nodes = [helper.make_node("Gemm", ["a", "w"], ["y"], transA=1)]
    assert_matches_ort(build_model(nodes, {"a": [6, 1]}, {"w": random(6, 4, seed=1)}), tmp_path)


@pytest.mark.parametrize("opset", OPSETS)
def test_matmul_add_becomes_one_fully_connected_with_relu(opset, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("MatMul", ["a", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["biased"]),
        helper.make_node("Relu", ["biased"], ["y"]),
    ]
    model = build_model(
        nodes, {"a": [1, 8]}, {"w": random(8, 5, seed=1), "b": random(5, seed=2)}, opset_value(opset)
    )
    node = only_node(assert_matches_ort(model, tmp_path))
    assert node.op == "fully_connected" and node.attrs["act_min"] == 0.0


@pytest.mark.parametrize("opset", OPSETS)
def test_flatten_after_conv_permutes_fc_weights(opset, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = {
        "w": random(4, 3, 3, 3, seed=1),
        "b": random(4, seed=2),
        "fw": random(7, 4 * 5 * 6, seed=3),
        "fb": random(7),
    }
    graph = assert_matches_ort(build_model(nodes, {"x": [1, 3, 5, 6]}, inits, opset_value(opset)), tmp_path)
    assert [n.op for n in graph.nodes] == ["conv2d", "reshape", "fully_connected"]
    assert graph.nodes[0].attrs["act_min"] == 0.0


@pytest.mark.parametrize("opset", OPSETS)
def test_concat_of_nchw_tensors_along_channels(opset, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["x", "w2", "b2"], ["c2"]),
        helper.make_node("Concat", ["c1", "c2"], ["cat"], axis=1),
        helper.make_node("Relu", ["cat"], ["y"]),
    ]
    inits = {
        "w1": random(4, 3, 3, 3, seed=1),
        "b1": random(4, seed=2),
        "w2": random(2, 3, 1, 1, seed=3),
        "b2": random(2),
    }
    graph = assert_matches_ort(build_model(nodes, {"x": [1, 3, 6, 5]}, inits, opset_value(opset)), tmp_path)
    assert op_counts(graph) == Counter({"conv2d": 2, "concat": 1, "clip": 1})
    assert next(n for n in graph.nodes if n.op == "concat").attrs["axis"] == 3


def axes_node(op_type: str, inputs: list[str], output: str, axes: list[int], opset: int, inits: dict):
    """Squeeze/Unsqueeze with axes as an attribute (opset < 13) or an input (13 and later)."""
    if opset < 13:
        return helper.make_node(op_type, inputs, [output], axes=axes)
    inits[f"{output}_axes"] = np.array(axes, np.int64)
    return helper.make_node(op_type, [*inputs, f"{output}_axes"], [output])


@pytest.mark.parametrize("opset", OPSETS)
def test_squeeze_and_unsqueeze(opset, tmp_path: Path) -> None:
    opset = opset_value(opset)
    inits = {"w": random(6, 4, seed=1)}
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
        axes_node("Squeeze", ["pooled"], "squeezed", [2, 3], opset, inits),
        helper.make_node("MatMul", ["squeezed", "w"], ["mm"]),
        axes_node("Unsqueeze", ["mm"], "y", [1], opset, inits),
    ]
    graph = assert_matches_ort(build_model(nodes, {"x": [1, 6, 4, 3]}, inits, opset), tmp_path)
    assert "transpose" not in op_counts(graph)


def pad_node(opset: int, pads: list[int], value: float, inits: dict) -> onnx.NodeProto:
    if opset < 11:
        return helper.make_node("Pad", ["x"], ["p"], pads=pads, value=value)
    inits["pads"] = np.array(pads, np.int64)
    inits["value"] = np.array(value, np.float32)
    return helper.make_node("Pad", ["x", "pads", "value"], ["p"])


@pytest.mark.parametrize("opset", OPSETS)
def test_zero_pad_folds_into_conv(opset, tmp_path: Path) -> None:
    opset = opset_value(opset)
    inits = {"w": random(4, 3, 3, 3, seed=1), "b": random(4, seed=2)}
    nodes = [
        pad_node(opset, [0, 0, 1, 2, 0, 0, 3, 0], 0.0, inits),
        helper.make_node("Conv", ["p", "w", "b"], ["y"], pads=[1, 1, 1, 1]),
    ]
    node = only_node(assert_matches_ort(build_model(nodes, {"x": [1, 3, 5, 5]}, inits, opset), tmp_path))
    assert node.op == "conv2d" and node.attrs["pads"] == (2, 3, 4, 1)


@pytest.mark.parametrize("opset", OPSETS)
def test_nonzero_pad_stays_a_pad(opset, tmp_path: Path) -> None:
    opset = opset_value(opset)
    inits: dict = {}
    nodes = [pad_node(opset, [0, 1, 1, 0, 0, 0, 2, 1], 1.5, inits), helper.make_node("Sigmoid", ["p"], ["y"])]
    graph = assert_matches_ort(build_model(nodes, {"x": [1, 3, 4, 5]}, inits, opset), tmp_path)
    assert op_counts(graph) == Counter({"pad": 1, "sigmoid": 1})


@pytest.mark.parametrize(
    ("value", "expected_ops"), [(0.0, ["conv2d", "conv2d"]), (0.5, ["conv2d", "pad", "conv2d"])]
)
def test_pad_between_convs_moves_to_nhwc(value: float, expected_ops: list[str], tmp_path: Path) -> None:
    inits = {
        "w1": random(4, 3, 1, 1, seed=1),
        "b1": random(4, seed=2),
        "w2": random(2, 4, 3, 3, seed=3),
        "b2": random(2, seed=4),
        "pads": np.array([0, 0, 2, 0, 0, 0, 1, 3], np.int64),  # H: 2 before, 1 after; W: 3 after
        "value": np.array(value, np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c"]),
        helper.make_node("Pad", ["c", "pads", "value"], ["p"]),
        helper.make_node("Conv", ["p", "w2", "b2"], ["y"], pads=[1, 1, 1, 1]),
    ]
    graph = assert_matches_ort(build_model(nodes, {"x": [1, 3, 4, 5]}, inits), tmp_path)
    assert [n.op for n in graph.nodes] == expected_ops
    if value == 0.0:
        assert graph.nodes[1].attrs["pads"] == (3, 1, 2, 4)


def test_pad_with_axes_input(tmp_path: Path) -> None:
    inits = {"pads": np.array([1, 2, 0, 3], np.int64), "axes": np.array([-1, 2], np.int64)}
    nodes = [helper.make_node("Pad", ["x", "pads", "", "axes"], ["y"])]
    assert_matches_ort(build_model(nodes, {"x": [1, 2, 3, 4]}, inits, opset=newest_ort_opset()), tmp_path)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(
    ("op_type", "attrs", "ir_op"),
    [("LeakyRelu", {"alpha": 0.2}, "leaky_relu"), ("Sigmoid", {}, "sigmoid"), ("Tanh", {}, "tanh")],
)
def test_unary_activation_after_conv_stays_nhwc(op_type, attrs, ir_op, opset, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node(op_type, ["c"], ["a"], **attrs),
        helper.make_node("Conv", ["a", "w2", "b"], ["y"]),
    ]
    inits = {
        "w": random(4, 3, 3, 3, seed=1),
        "b": random(4, seed=2, low=-3, high=3),
        "w2": random(4, 4, 1, 1),
    }
    graph = assert_matches_ort(build_model(nodes, {"x": [1, 3, 5, 5]}, inits, opset_value(opset)), tmp_path)
    assert [n.op for n in graph.nodes] == ["conv2d", ir_op, "conv2d"]


@pytest.mark.parametrize("opset", [9, 11, "newest"])
@pytest.mark.parametrize("axis", [1, 2, -1])
def test_softmax_axes(axis: int, opset, tmp_path: Path) -> None:
    """Opset < 13 coerces to 2-D at ``axis``; 13 and later normalizes along ``axis`` only."""
    nodes = [helper.make_node("Softmax", ["x"], ["y"], axis=axis)]
    model = build_model(nodes, {"x": [1, 3, 4, 5]}, opset=opset_value(opset))
    graph = assert_matches_ort(model, tmp_path, feeds={"x": random(1, 3, 4, 5, low=-4, high=4)})
    for node in graph.nodes:
        if node.op == "softmax":
            assert node.attrs["axis"] == len(graph.tensors[node.inputs[0]].shape) - 1


@pytest.mark.parametrize("opset", OPSETS)
def test_batch_normalization_folds_into_conv_and_relu_fuses(opset, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["bn"], epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["y"]),
    ]
    inits = {
        "w": random(4, 3, 3, 3, seed=1),
        "b": random(4, seed=2),
        "scale": random(4, seed=3),
        "shift": random(4, seed=4),
        "mean": random(4, seed=5),
        "var": random(4, seed=6, low=0.1, high=2),
    }
    node = only_node(
        assert_matches_ort(build_model(nodes, {"x": [1, 3, 5, 5]}, inits, opset_value(opset)), tmp_path)
    )
    assert node.op == "conv2d" and (node.attrs["act_min"], node.attrs["act_max"]) == (0.0, np.inf)


def test_batch_normalization_folds_into_depthwise_with_multiplier(tmp_path: Path) -> None:
    bn_inputs = ["scale", "shift", "mean", "var"]
    inits = {name: random(8, seed=i, low=0.5, high=1.5) for i, name in enumerate(bn_inputs)}
    inits.update(w=random(8, 1, 3, 3, seed=5), b=random(8, seed=6))
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], group=4, pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", *bn_inputs], ["y"]),
    ]
    node = only_node(assert_matches_ort(build_model(nodes, {"x": [1, 4, 5, 5]}, inits), tmp_path))
    assert node.op == "depthwise_conv2d" and node.attrs["depth_multiplier"] == 2


def test_batch_normalization_on_input_is_a_depthwise(tmp_path: Path) -> None:
    inits = {n: random(3, seed=i, low=0.5, high=1.5) for i, n in enumerate(["scale", "shift", "mean", "var"])}
    nodes = [helper.make_node("BatchNormalization", ["x", "scale", "shift", "mean", "var"], ["y"])]
    node = only_node(assert_matches_ort(build_model(nodes, {"x": [1, 3, 4, 4]}, inits), tmp_path))
    assert node.op == "depthwise_conv2d" and node.attrs["depth_multiplier"] == 1


@pytest.mark.parametrize("op_type", ["Add", "Mul"])
@pytest.mark.parametrize("constant_shape", [(4, 1, 1), (1, 4, 1, 1), (), (1,)])
def test_add_mul_by_constant_folds_into_conv(op_type: str, constant_shape, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"]),
        helper.make_node(op_type, ["k", "c"], ["y"]),  # constant first: commutative
    ]
    inits = {"w": random(4, 3, 1, 1, seed=1), "b": random(4, seed=2), "k": random(*constant_shape, seed=3)}
    assert (
        only_node(assert_matches_ort(build_model(nodes, {"x": [1, 3, 4, 4]}, inits), tmp_path)).op == "conv2d"
    )


@pytest.mark.parametrize("op_type", ["Add", "Mul"])
def test_add_mul_of_two_activations(op_type: str, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["x", "w2", "b"], ["c2"]),
        helper.make_node(op_type, ["c1", "c2"], ["s"]),
        helper.make_node("Relu", ["s"], ["y"]),
    ]
    inits = {"w1": random(4, 3, 3, 3, seed=1), "w2": random(4, 3, 1, 1, seed=2), "b": random(4, seed=3)}
    graph = assert_matches_ort(build_model(nodes, {"x": [1, 3, 5, 4]}, inits), tmp_path)
    binary = next(n for n in graph.nodes if n.op == op_type.lower())
    assert op_counts(graph) == Counter({"conv2d": 2, op_type.lower(): 1}) and binary.attrs["act_min"] == 0.0


def test_add_of_constant_on_graph_input_stays_depthwise(tmp_path: Path) -> None:
    nodes = [helper.make_node("Add", ["x", "k"], ["y"])]
    model = build_model(nodes, {"x": [1, 3, 4, 4]}, {"k": random(1, 3, 1, 1, seed=3)})
    assert only_node(assert_matches_ort(model, tmp_path)).op == "depthwise_conv2d"


@pytest.mark.parametrize("opset", OPSETS)
def test_clip_as_relu6_fuses_into_conv(opset, tmp_path: Path) -> None:
    opset = opset_value(opset)
    inits = {"w": random(4, 3, 3, 3, seed=1), "b": random(4, seed=2)}
    if opset < 11:
        clip = helper.make_node("Clip", ["c"], ["y"], min=0.0, max=0.5)
    else:
        inits.update(low=np.array(0.0, np.float32), high=np.array(0.5, np.float32))
        clip = helper.make_node("Clip", ["c", "low", "high"], ["y"])
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), clip]
    node = only_node(assert_matches_ort(build_model(nodes, {"x": [1, 3, 5, 5]}, inits, opset), tmp_path))
    assert (node.attrs["act_min"], node.attrs["act_max"]) == (0.0, 0.5)


def test_consecutive_clips_fuse_to_the_intersection(tmp_path: Path) -> None:
    inits = {"w": random(4, 3, 3, 3, seed=1), "b": random(4, seed=2), "low": np.array(-1.0, np.float32)}
    inits["high"] = np.array(0.5, np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Clip", ["r", "low", "high"], ["y"]),
    ]
    node = only_node(assert_matches_ort(build_model(nodes, {"x": [1, 3, 5, 5]}, inits), tmp_path))
    assert (node.attrs["act_min"], node.attrs["act_max"]) == (0.0, 0.5)


def test_clip_on_a_graph_output_producer_is_not_fused(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"]),
        helper.make_node("Relu", ["c"], ["y"]),
    ]
    model = build_model(
        nodes, {"x": [1, 3, 4, 4]}, {"w": random(2, 3, 1, 1), "b": random(2)}, outputs=("c", "y")
    )
    graph = assert_matches_ort(model, tmp_path)
    assert [n.op for n in graph.nodes] == ["conv2d", "clip"]
    assert graph.nodes[0].attrs["act_min"] == -np.inf
    assert graph.output_perms == {"c": (0, 3, 1, 2), "y": (0, 3, 1, 2)}


@pytest.mark.parametrize("opset", OPSETS)
def test_identity_dropout_transpose_reshape(opset, tmp_path: Path) -> None:
    opset = opset_value(opset)
    inits = {"shape": np.array([1, 4, -1], np.int64)}
    nodes = [
        helper.make_node("Identity", ["x"], ["i"]),
        helper.make_node("Dropout", ["i"], ["d"]),
        helper.make_node("Transpose", ["d"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["t", "shape"], ["y"]),
    ]
    graph = assert_matches_ort(build_model(nodes, {"x": [1, 3, 2, 2]}, inits, opset), tmp_path)
    assert [n.op for n in graph.nodes] == ["reshape"] and graph.input_perms == {"x": (0, 2, 3, 1)}


def test_constant_subgraph_is_folded(tmp_path: Path) -> None:
    """Shape → Gather → Unsqueeze → Concat → Reshape on a known shape folds to one reshape."""
    inits = {
        "index": np.array(0, np.int64),
        "rest": np.array([-1], np.int64),
        "axes": np.array([0], np.int64),
    }
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "index"], ["batch"]),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "rest"], ["target"], axis=0),
        helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.array(2.0, np.float32))),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Mul", ["flat", "two"], ["y"]),
    ]
    model = build_model(nodes, {"x": ["N", 2, 3, 4]}, inits)
    graph = assert_matches_ort(model, tmp_path, feeds={"x": random(1, 2, 3, 4)})
    assert op_counts(graph) == Counter({"reshape": 2, "depthwise_conv2d": 1})


def test_initializers_listed_as_inputs_are_constants(tmp_path: Path) -> None:
    model = conv_model(9, pads=[1, 1, 1, 1])
    model.graph.input.extend(
        helper.make_tensor_value_info(init.name, TensorProto.FLOAT, list(init.dims))
        for init in model.graph.initializer
    )
    graph = assert_matches_ort(model, tmp_path)
    assert graph.inputs == ["x"]


def test_unsorted_nodes_are_sorted(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Relu", ["c"], ["y"]),
        helper.make_node("Conv", ["x", "w", "b"], ["c"]),
    ]
    model = build_model(nodes, {"x": [1, 3, 4, 4]}, {"w": random(2, 3, 1, 1), "b": random(2)})
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(model)
    assert only_node(assert_matches_ort(model, tmp_path)).op == "conv2d"


def test_external_data_is_read_relative_to_the_model(tmp_path: Path, monkeypatch) -> None:
    model = conv_model(13, channels=8, out_channels=32, pads=[1, 1, 1, 1])
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    path = folder / "model.onnx"
    onnx.save(model, path, save_as_external_data=True, location="weights.bin", size_threshold=0)
    monkeypatch.chdir(tmp_path)
    feeds = {"x": random(1, 8, 9, 8)}
    expected = reference_session(str(path)).run(None, feeds)[0]
    assert_close(run_ir(optimize(load_onnx(path)), feeds)[0], expected)


def test_dynamic_batch_defaults_to_one_and_executor_runs_any_batch(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = {
        "w": random(4, 3, 3, 3, seed=1),
        "b": random(4, seed=2),
        "fw": random(5, 64, seed=3),
        "fb": random(5),
    }
    model = build_model(nodes, {"x": ["batch", 3, 4, 4]}, inits)
    feeds = {"x": random(7, 3, 4, 4)}
    graph = assert_matches_ort(model, tmp_path, feeds=feeds)
    assert graph.tensors["x"].shape == (1, 4, 4, 3)


def test_dynamic_dims_with_input_shapes(tmp_path: Path) -> None:
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])
    model = build_model([node], {"x": ["N", 3, "H", "W"]}, {"w": random(2, 3, 3, 3), "b": random(2)})
    graph = assert_matches_ort(model, tmp_path, input_shapes={"x": (1, 3, 6, 5)})
    assert graph.tensors["x"].shape == (1, 6, 5, 3)


def test_newest_onnx_opset_loads_like_the_newest_ort_opset(tmp_path: Path) -> None:
    """Models newer than ONNX Runtime supports are converted by onnx; results match ORT's run
    of the same graph at the newest opset it does support."""

    def model_at(opset: int) -> onnx.ModelProto:
        inits = {"w": random(4, 3, 3, 3, seed=1), "b": random(4, seed=2), "axes": np.array([2, 3], np.int64)}
        nodes = [
            helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("AveragePool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
            helper.make_node("GlobalAveragePool", ["p"], ["g"]),
            helper.make_node("Squeeze", ["g", "axes"], ["s"]),
            helper.make_node("Softmax", ["s"], ["y"]),
        ]
        return build_model(nodes, {"x": [1, 3, 5, 5]}, inits, opset)

    feeds = {"x": random(1, 3, 5, 5)}
    newest_path = tmp_path / "newest.onnx"
    onnx.save(model_at(NEWEST_ONNX_OPSET), newest_path)
    expected = assert_matches_ort(model_at(newest_ort_opset()), tmp_path, feeds=feeds)
    actual = optimize(load_onnx(newest_path))
    assert op_counts(actual) == op_counts(expected)
    assert_close(run_ir(actual, feeds)[0], run_ir(expected, feeds)[0])


# --------------------------------------------------------------------------------------------
# (c) Errors


def test_a_file_that_is_not_onnx_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("these are not the weights you are looking for\n" * 20)
    with pytest.raises(ModelError, match="not an ONNX model"):
        load_onnx(path)


def test_a_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file"):
        load_onnx(tmp_path / "missing.onnx")


def test_unsupported_op_names_node_op_and_supported_ops(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sin", ["r"], ["y"], name="my_sine")]
    path = tmp_path / "sin.onnx"
    onnx.save(build_model(nodes, {"x": [1, 4]}), path)
    with pytest.raises(UnsupportedOpError) as raised:
        load_onnx(path)
    message = str(raised.value)
    assert "'my_sine'" in message and "'Sin'" in message
    assert "supported ops: " + ", ".join(sorted(HANDLERS)) in message


def test_unsupported_attribute_value_is_explained(tmp_path: Path) -> None:
    nodes = [helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect", name="mirror")]
    path = tmp_path / "reflect.onnx"
    onnx.save(
        build_model(nodes, {"x": [1, 2, 3, 3]}, {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)}), path
    )
    with pytest.raises(UnsupportedOpError, match="'mirror'.*'Pad'.*reflect"):
        load_onnx(path)


@pytest.mark.parametrize("axes", [[1], [1, 2, 3], [3]])
def test_reduce_mean_other_than_over_h_and_w_is_refused(axes, tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("ReduceMean", ["r"], ["y"], axes=axes, keepdims=1, name="avg")]
    path = tmp_path / "mean.onnx"
    onnx.save(build_model(nodes, {"x": [1, 3, 4, 4]}), path)
    with pytest.raises(UnsupportedOpError, match=r"'avg'.*'ReduceMean'.*axes=.*over H and W"):
        load_onnx(path)


@pytest.mark.parametrize("shape, axis", [([1, 6], 0), ([1, 3, 4, 4], -4)])
def test_softmax_over_the_batch_axis_is_refused(shape, axis, tmp_path: Path) -> None:
    """Found by tests/helpers/graph_fuzz.py: it crashed in verification with a traceback (the float reference
    runs the samples as one batch)."""
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Softmax", ["r"], ["y"], axis=axis, name="sm")]
    path = tmp_path / "softmax_batch.onnx"
    onnx.save(build_model(nodes, {"x": shape}), path)
    with pytest.raises(UnsupportedOpError, match=f"'sm'.*'Softmax'.*axis={axis} is the batch axis"):
        load_onnx(path)


def test_dynamic_non_batch_dim_needs_input_shape(tmp_path: Path) -> None:
    node = helper.make_node("Relu", ["x"], ["y"])
    path = tmp_path / "dynamic.onnx"
    onnx.save(build_model([node], {"x": ["N", 3, "height", 8]}), path)
    with pytest.raises(ShapeError, match=r"'x'.*dimension 2 \(height\).*--input-shape x:"):
        load_onnx(path)
    assert load_onnx(path, {"x": (1, 3, 5, 8)}).tensors["x"].shape == (1, 3, 5, 8)


def test_input_shape_for_an_unknown_input_is_a_shape_error(tmp_path: Path) -> None:
    path = tmp_path / "relu.onnx"
    onnx.save(build_model([helper.make_node("Relu", ["x"], ["y"])], {"x": [1, 3]}), path)
    with pytest.raises(ShapeError, match="'image'.*not a model input"):
        load_onnx(path, {"image": (1, 3)})
