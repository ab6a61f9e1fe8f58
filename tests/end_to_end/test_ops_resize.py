"""Resize (nearest and bilinear) and ConvTranspose through the whole pipeline: a small U-Net with both
upsamplings and Concat skips, and a conv autoencoder whose decoder is ConvTranspose, compiled to C,
built on the host, C = golden on every sample (`mcuq.compile` checks it) and close to ONNX Runtime's
float result (`check`: SQNR > 20 dB and the Python API within int8 precision)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from tests.end_to_end.test_ops_end_to_end import check
from tests.helpers.small_models import conv, make_model, w


def resize(name, x, out, scales, **attrs):
    node = helper.make_node("Resize", [x, "", f"{name}_scales"], [out], name=name, **attrs)
    return node, {f"{name}_scales": np.asarray(scales, np.float32)}


def conv_transpose(name, x, out, c_in, c_out, k, s, pads, output_padding=(0, 0)):
    node = helper.make_node("ConvTranspose", [x, f"{name}_w", f"{name}_b"], [out], name=name, kernel_shape=[k, k],
                            strides=[s, s], pads=list(pads), output_padding=list(output_padding))
    return node, {f"{name}_w": w(c_in, c_out, k, k), f"{name}_b": w(c_out, scale=0.1)}


def unet():
    """Encoder 8x8 -> 4x4 -> 2x2, decoder back up with nearest (torch's Upsample default, asymmetric) and
    bilinear (align_corners=False: half_pixel) resizes, each concatenated with its skip."""
    nodes, inits = [], {}
    for layer in (conv("e1", "x", "e1o", 3, 4), conv("e2", "p1", "e2o", 4, 6), conv("mid", "p2", "m", 6, 6)):
        nodes.append(layer[0])
        inits.update(layer[1])
    nodes.insert(1, helper.make_node("MaxPool", ["e1o"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]))
    nodes.insert(3, helper.make_node("MaxPool", ["e2o"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]))
    for node, more in (
        resize("up1", "m", "u1", [1, 1, 2, 2], mode="nearest", coordinate_transformation_mode="asymmetric",
               nearest_mode="floor"),
        (helper.make_node("Concat", ["u1", "e2o"], ["c1"], axis=1), {}),
        conv("d1", "c1", "d1o", 12, 4),
        (helper.make_node("Relu", ["d1o"], ["d1r"]), {}),
        resize("up2", "d1r", "u2", [1, 1, 2, 2], mode="linear", coordinate_transformation_mode="half_pixel"),
        (helper.make_node("Concat", ["u2", "e1o"], ["c2"], axis=1), {}),
        conv("d2", "c2", "y", 8, 2),
    ):
        nodes.append(node)
        inits.update(more)
    return nodes, inits


def test_unet_with_nearest_and_bilinear_upsampling(tmp_path):
    nodes, inits = unet()
    check(nodes, [1, 3, 8, 8], inits, {"resize_nearest", "resize_bilinear", "concat"}, tmp_path)


@pytest.mark.parametrize("transform", ["align_corners", "pytorch_half_pixel", "asymmetric"])
def test_bilinear_upsampling_by_other_transforms_and_scales(transform, tmp_path):
    c1, i1 = conv("a", "x", "h", 2, 3)
    up, iu = resize("up", "h", "u", [1, 1, 1.5, 2.5], mode="linear", coordinate_transformation_mode=transform)
    c2, i2 = conv("b", "u", "y", 3, 2)
    check([c1, up, c2], [1, 2, 6, 5], {**i1, **iu, **i2}, {"resize_bilinear"}, tmp_path)


def test_conv_autoencoder_with_conv_transpose(tmp_path):
    """Encoder: two stride-2 convs (12x12 -> 3x3); decoder: ConvTranspose(k3, s2, p1, output_padding 1)
    and ConvTranspose(k2, s2), each followed by ReLU (fused), back to 12x12."""
    e1, i1 = conv("e1", "x", "e1o", 1, 4, strides=[2, 2])
    e2, i2 = conv("e2", "e1r", "e2o", 4, 8, strides=[2, 2])
    d1, i3 = conv_transpose("d1", "e2r", "d1o", 8, 4, 3, 2, (1, 1, 1, 1), (1, 1))
    d2, i4 = conv_transpose("d2", "d1r", "y", 4, 1, 2, 2, (0, 0, 0, 0))
    relu = [helper.make_node("Relu", [a], [b]) for a, b in (("e1o", "e1r"), ("e2o", "e2r"), ("d1o", "d1r"))]
    nodes = [e1, relu[0], e2, relu[1], d1, relu[2], d2]
    check(nodes, [1, 1, 12, 12], {**i1, **i2, **i3, **i4}, {"transpose_conv", "conv"}, tmp_path)


def test_dcgan_style_conv_transpose(tmp_path):
    """k4 s2 p1 (the DCGAN generator block) with more channels, so the DSP path's K % 4 == 0 holds."""
    d1, i1 = conv_transpose("g1", "x", "g1o", 8, 8, 4, 2, (1, 1, 1, 1))
    c, i2 = conv("c", "g1o", "y", 8, 3)
    check([d1, c], [1, 8, 4, 4], {**i1, **i2}, {"transpose_conv"}, tmp_path)


def test_ort_quantized_decoder_keeps_the_files_quantization(tmp_path):
    """ConvTranspose -> Relu -> bilinear Resize, quantized by ONNX Runtime's quantize_static (QDQ,
    per-channel weights: axis 1 of the ConvTranspose weight), compiled without calibration data: within
    1 LSB of ONNX Runtime running that QDQ file (float between the Q/DQ pairs, where mcuq blends with
    TFLite's 10-bit weights). Measured: 1 LSB on 4.7 % of the outputs (0.9 % without the Resize)."""
    ort = pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from tests.end_to_end.test_qdq_ort import _ort_outputs, _Reader
    d1, i1 = conv_transpose("d1", "x", "d1o", 6, 4, 3, 2, (1, 1, 1, 1), (1, 1))
    up, iu = resize("up", "d1r", "y", [1, 1, 2, 2], mode="linear", coordinate_transformation_mode="half_pixel")
    nodes = [d1, helper.make_node("Relu", ["d1o"], ["d1r"]), up]
    onnx.save(make_model(nodes, [1, 6, 4, 4], {**i1, **iu}), tmp_path / "float.onnx")
    x = np.random.default_rng(2).uniform(-1, 1, (60, 6, 4, 4)).astype(np.float32)
    quantize_static(str(tmp_path / "float.onnx"), str(tmp_path / "qdq.onnx"), _Reader(x[:30]),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    compiled = mcuq.compile(tmp_path / "qdq.onnx", None, tmp_path / "out", verify_data=x[30:])
    ops = [layer.op.value for layer in compiled.qmodel.layers]
    assert "transpose_conv" in ops and "resize_bilinear" in ops
    out = compiled.qmodel.tensors[compiled.qmodel.outputs[0]]
    c_int8 = np.round(compiled.run(x[30:]) / out.scale) + out.zero_point
    ort_int8 = np.round(_ort_outputs(tmp_path / "qdq.onnx", x[30:], ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
                        / out.scale) + out.zero_point
    diff = np.abs(ort_int8 - c_int8)
    assert diff.max() <= 1 and np.mean(diff > 0) <= 0.1, (diff.max(), np.mean(diff > 0))
