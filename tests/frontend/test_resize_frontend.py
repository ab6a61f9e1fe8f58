"""Resize, Upsample and ConvTranspose in the frontend: the float IR computes what ONNX Runtime computes
for every supported mode, coordinate transformation and geometry, and unsupported ones are refused
with the node named and the fix."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from mcuq.errors import UnsupportedOpError
from mcuq.frontend.onnx_loader import load_onnx
from tests.frontend.test_frontend import assert_matches_ort, build_model, op_counts, random

NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
TRANSFORMS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"]


def resize_model(in_shape, *, scales=None, sizes=None, opset=19, **attrs):
    inputs = ["x", "roi" if opset < 13 else "", "scales" if scales is not None else "",
              "sizes" if sizes is not None else ""]
    while inputs[-1] == "":
        inputs.pop()
    inits = {"roi": np.zeros(0, np.float32)} if opset < 13 else {}
    if opset < 13 and scales is None:
        inputs[2], inits["scales"] = "scales", np.zeros(0, np.float32)
    if scales is not None:
        inits["scales"] = np.asarray(scales, np.float32)
    if sizes is not None:
        inits["sizes"] = np.asarray(sizes, np.int64)
    node = helper.make_node("Resize", inputs, ["y"], name="up", **attrs)
    return build_model([node], {"x": list(in_shape)}, inits, opset=opset)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("nearest_mode", NEAREST_MODES)
@pytest.mark.parametrize("scales, sizes", [([1, 1, 2, 2], None), (None, [1, 3, 7, 5]), ([1, 1, 1.5, 0.6], None)])
def test_resize_nearest_matches_ort(transform, nearest_mode, scales, sizes, tmp_path):
    model = resize_model((1, 3, 5, 6), scales=scales, sizes=sizes, mode="nearest",
                         coordinate_transformation_mode=transform, nearest_mode=nearest_mode)
    graph = assert_matches_ort(model, tmp_path)
    assert op_counts(graph)["resize_nearest"] == 1


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("scales, sizes", [([1, 1, 2, 2], None), (None, [1, 3, 9, 4]), ([1, 1, 3, 1.5], None)])
def test_resize_bilinear_matches_ort(transform, scales, sizes, tmp_path):
    model = resize_model((1, 3, 5, 6), scales=scales, sizes=sizes, mode="linear",
                         coordinate_transformation_mode=transform)
    graph = assert_matches_ort(model, tmp_path)
    assert op_counts(graph)["resize_bilinear"] == 1


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("op, opset, scales", [("Upsample", 9, [1, 1, 2, 2]), ("Upsample", 9, [1, 1, 2.5, 1.5]),
                                               ("Resize", 10, [1, 1, 2.5, 1.5]), ("Resize", 10, [1, 1, 0.6, 0.5])])
def test_upsample_and_resize10_keep_their_asymmetric_sampling(mode, op, opset, scales, tmp_path):
    """The version converter makes them Resize-21 with half_pixel; mcuq pins what ONNX Runtime runs."""
    node = helper.make_node(op, ["x", "scales"], ["y"], mode=mode)
    model = build_model([node], {"x": [1, 2, 5, 4]}, {"scales": np.asarray(scales, np.float32)}, opset=opset)
    graph = assert_matches_ort(model, tmp_path)
    assert op_counts(graph)["resize_nearest" if mode == "nearest" else "resize_bilinear"] == 1


@pytest.mark.parametrize("attrs, scales, needle", [
    ({"mode": "cubic"}, [1, 1, 2, 2], "mode='cubic'"),
    ({"mode": "linear", "antialias": 1}, [1, 1, 0.5, 0.5], "antialias"),
    ({"mode": "linear", "exclude_outside": 1}, [1, 1, 2, 2], "exclude_outside"),
    ({"mode": "nearest", "coordinate_transformation_mode": "half_pixel_symmetric"}, [1, 1, 2, 2],
     "half_pixel_symmetric"),
    ({"mode": "nearest", "coordinate_transformation_mode": "tf_crop_and_resize"}, [1, 1, 2, 2], "tf_crop_and_resize"),
    ({"mode": "nearest"}, [1, 2, 2, 2], "resizes N or C"),
])
def test_resize_refusals_name_node_and_fix(attrs, scales, needle, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(resize_model((1, 3, 4, 4), scales=scales, **attrs), path)
    with pytest.raises(UnsupportedOpError) as info:
        load_onnx(path)
    message = str(info.value)
    assert "up" in message and needle in message


def conv_transpose_model(c_in, c_out, size, k, s, pads, output_padding=(0, 0), bias=True, opset=17):
    rng = np.random.default_rng(3)
    inits = {"w": rng.normal(0, 0.3, (c_in, c_out, k, k)).astype(np.float32)}
    inputs = ["x", "w"]
    if bias:
        inits["b"] = rng.normal(0, 0.1, c_out).astype(np.float32)
        inputs.append("b")
    node = helper.make_node("ConvTranspose", inputs, ["y"], name="deconv", kernel_shape=[k, k], strides=[s, s],
                            pads=list(pads), output_padding=list(output_padding))
    return build_model([node], {"x": [1, c_in, *size]}, inits, opset=opset)


@pytest.mark.parametrize("k, s, pads, output_padding", [
    (3, 2, (1, 1, 1, 1), (1, 1)),  # the autoencoder decoder
    (2, 2, (0, 0, 0, 0), (0, 0)),
    (4, 2, (1, 1, 1, 1), (0, 0)),  # DCGAN
    (3, 1, (1, 1, 1, 1), (0, 0)),
    (3, 3, (2, 0, 0, 1), (1, 2)),  # rows cropped at the top: clipped row by row
    (5, 2, (2, 1, 1, 2), (1, 0)),
])
def test_conv_transpose_matches_ort(k, s, pads, output_padding, tmp_path):
    model = conv_transpose_model(3, 4, (5, 4), k, s, pads, output_padding)
    graph = assert_matches_ort(model, tmp_path)
    assert op_counts(graph)["conv_transpose2d"] == 1


def test_conv_transpose_without_bias_opset11(tmp_path):
    assert_matches_ort(conv_transpose_model(2, 3, (4, 4), 3, 2, (1, 1, 1, 1), (1, 1), bias=False, opset=11), tmp_path)


@pytest.mark.parametrize("change, needle", [
    ({"group": 2}, "group=2"),
    ({"dilations": [2, 2]}, "dilations"),
    ({"auto_pad": "SAME_UPPER"}, "auto_pad"),
])
def test_conv_transpose_refusals(change, needle, tmp_path):
    model = conv_transpose_model(4, 4, (4, 4), 3, 2, (1, 1, 1, 1), (1, 1))
    node = model.graph.node[0]
    if "auto_pad" in change:
        del node.attribute[:]
        node.attribute.extend([helper.make_attribute("kernel_shape", [3, 3]), helper.make_attribute("strides", [2, 2])])
    for key, value in change.items():
        node.attribute.append(helper.make_attribute(key, value))
    if "group" in change:
        model.graph.initializer[0].CopyFrom(onnx.numpy_helper.from_array(random(4, 2, 3, 3), "w"))
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(UnsupportedOpError) as info:
        load_onnx(path)
    assert "deconv" in str(info.value) and needle in str(info.value)


@pytest.mark.parametrize("k, s, pads, needle", [(1, 2, (0, 0, 0, 0), "smaller than the stride"),
                                               (3, 3, (0, 1, 0, 0), "crop input columns")])
def test_conv_transpose_geometry_refusals(k, s, pads, needle, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(conv_transpose_model(2, 2, (3, 3), k, s, pads), path)
    with pytest.raises(UnsupportedOpError, match=needle):
        load_onnx(path)
