"""Rank-3 [N, C, W] models (torch's Conv1d, MaxPool1d, AvgPool1d, BatchNorm1d, AdaptiveAvgPool1d and a mean
over W) through the whole pipeline, in the forms both torch exporters write: the TorchScript exporter's
opset 13 (ReduceMean axes as an attribute, GlobalAveragePool, Flatten) and the dynamo exporter's opset 18
(axes as inputs; AdaptiveAvgPool1d as Unsqueeze → ReduceMean over the last two axes → Squeeze; view as
Reshape). `check` compares with ONNX Runtime on the float model; `mcuq.compile` itself fails when the C
differs from the golden model. The Conv1d keyword-spotting net also runs under QEMU equal to the host build."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from onnx import helper

import mcuq
from mcuq import firmware
from mcuq.firmware.boards import get_board
from tests.end_to_end.test_ops_end_to_end import check
from tests.helpers import small_models
from tests.helpers.small_models import make_model, w


def conv1d(name, x, out, c_in, c_out, k=3, **attrs):
    inits = {f"{name}_w": w(c_out, c_in // attrs.get("group", 1), k), f"{name}_b": w(c_out, scale=0.1)}
    return helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [out], name=name, kernel_shape=[k], **attrs), inits


def batch_norm1d(name, x, out, channels):
    inits = {f"{name}_g": w(channels) + 1, f"{name}_b": w(channels), f"{name}_m": w(channels),
             f"{name}_v": np.abs(w(channels)) + 0.5}
    return helper.make_node("BatchNormalization", [x, *inits], [out], name=name), inits


@pytest.mark.parametrize("attrs", [
    dict(pads=[1, 1]),
    dict(pads=[2, 0], strides=[2]),
    dict(pads=[2, 2], dilations=[2]),
    dict(pads=[0, 3], strides=[3], dilations=[2]),
    dict(auto_pad="SAME_UPPER", strides=[2]),
    dict(group=4, pads=[1, 1]),  # depthwise
])
def test_conv1d(attrs, tmp_path):
    c, ic = conv1d("c", "x", "h", 4, 4 if attrs.get("group") else 6, **attrs)
    expected = {"depthwise_conv"} if attrs.get("group") else {"conv"}
    check([c, helper.make_node("Relu", ["h"], ["y"])], [1, 4, 23], ic, expected, tmp_path)


@pytest.mark.parametrize("attrs", [dict(kernel_shape=[2], strides=[2]),
                                   dict(kernel_shape=[3], strides=[2], pads=[1, 1]),
                                   dict(kernel_shape=[3], strides=[2], ceil_mode=1)])
def test_max_pool1d(attrs, tmp_path):
    c, ic = conv1d("c", "x", "h", 3, 5)
    check([c, helper.make_node("MaxPool", ["h"], ["y"], **attrs)], [1, 3, 20], ic, {"max_pool"}, tmp_path)


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_avg_pool1d_with_padding(count_include_pad, tmp_path):
    """On the graph input, before a Conv1d: windows at the edges average 2 values (count_include_pad=0) or
    3 with a zero (1). (After a conv, the first window of the first verification sample is an outlier that
    calibration clips beyond `check`'s tolerance; the 2-D model does the same, so it is not a rank-3 matter.)"""
    pool = helper.make_node("AveragePool", ["x"], ["p"], kernel_shape=[3], strides=[2], pads=[1, 1],
                            count_include_pad=count_include_pad)
    c, ic = conv1d("c", "p", "y", 3, 5)
    check([pool, c], [1, 3, 17], ic, {"avg_pool"}, tmp_path)


def test_batch_norm1d_on_the_input_and_after_a_conv(tmp_path):
    bn, ib = batch_norm1d("bn", "x", "n", 3)
    c, ic = conv1d("c", "n", "h", 3, 5)
    bn2, ib2 = batch_norm1d("bn2", "h", "y", 5)
    check([bn, c, bn2], [1, 3, 12], {**ib, **ic, **ib2}, {"conv"}, tmp_path)


def torchscript_head(source):
    """AdaptiveAvgPool1d(1) → flatten → Linear as torch.onnx.export(dynamo=False, opset_version=13) writes it."""
    return [helper.make_node("GlobalAveragePool", [source], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
            helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)], {}


def dynamo_head(source):
    """The same as the dynamo exporter writes it (opset 18): Unsqueeze, ReduceMean over the last two axes,
    Squeeze, view as Reshape."""
    nodes = [helper.make_node("Unsqueeze", [source, "axis_h"], ["u"], name="node_unsqueeze"),
             helper.make_node("ReduceMean", ["u", "axes_hw"], ["m"], keepdims=1, name="node_mean"),
             helper.make_node("Squeeze", ["m", "axis_h"], ["s"], name="node_squeeze"),
             helper.make_node("Reshape", ["s", "flat"], ["f"], allowzero=1, name="node_view"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1, name="node_linear")]
    inits = {"axis_h": np.array([-2], np.int64), "axes_hw": np.array([-1, -2], np.int64),
             "flat": np.array([1, 16], np.int64)}
    return nodes, inits


def keyword_spotting_net(head):
    """A Conv1d keyword-spotting net on [1, 10, 49] MFCC: 4 × (Conv1d + BatchNorm1d + ReLU), stride 2 in
    two of them, global average pooling, a linear layer to 12 classes."""
    nodes, inits, source = [], {}, "x"
    for i, (c_in, c_out, stride) in enumerate([(10, 16, 1), (16, 16, 2), (16, 16, 1), (16, 16, 2)]):
        c, ic = conv1d(f"conv{i}", source, f"c{i}", c_in, c_out, pads=[1, 1], strides=[stride])
        bn, ib = batch_norm1d(f"bn{i}", f"c{i}", f"b{i}", c_out)
        nodes += [c, bn, helper.make_node("Relu", [f"b{i}"], [f"r{i}"])]
        inits.update(ic | ib)
        source = f"r{i}"
    head_nodes, head_inits = head(source)
    return nodes + head_nodes, {**inits, **head_inits, "fw": w(12, 16), "fb": w(12, scale=0.1)}


@pytest.mark.parametrize("head, opset", [(torchscript_head, 13), (dynamo_head, 18)])
def test_keyword_spotting_conv1d_net(head, opset, tmp_path):
    nodes, inits = keyword_spotting_net(head)
    check(nodes, [1, 10, 49], inits, {"conv", "avg_pool", "fully_connected"}, tmp_path, opset=opset)


@pytest.mark.parametrize("keepdims, opset", [(0, 13), (1, 13), (0, 18), (1, 18)])
def test_reduce_mean_over_the_last_axis(keepdims, opset, tmp_path):
    """x.mean(-1) on [N, C, W]: global average pooling over W."""
    c, ic = conv1d("c", "x", "h", 3, 8)
    if opset == 13:
        mean = helper.make_node("ReduceMean", ["h"], ["m"], axes=[-1], keepdims=keepdims)
        axes = {}
    else:
        mean = helper.make_node("ReduceMean", ["h", "axes"], ["m"], keepdims=keepdims)
        axes = {"axes": np.array([2], np.int64)}
    flat = helper.make_node("Flatten", ["m"], ["f"])
    gemm = helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)
    check([c, mean, flat, gemm], [1, 3, 11], {**ic, **axes, "fw": w(4, 8), "fb": w(4)}, {"avg_pool"}, tmp_path,
          opset=opset)


def test_rank3_output_and_header_keep_the_users_shape(tmp_path):
    """A model whose output is a Conv1d's: the Python API takes and gives [N, C, W]; inside, the input and
    output are channels-last [N, W, C] (what a sensor delivers), and no transpose layer remains."""
    c, ic = conv1d("c", "x", "h", 3, 5, pads=[1, 1])
    d, idd = conv1d("d", "h", "y", 5, 4, pads=[1, 1], strides=[2])
    check([c, d], [1, 3, 14], {**ic, **idd}, {"conv"}, tmp_path)
    samples = small_models.RNG.normal(0, 1, size=(32, 3, 14)).astype(np.float32)
    compiled = mcuq.compile(tmp_path / "m.onnx", samples, tmp_path / "again")
    assert "transpose" not in {layer.op.value for layer in compiled.qmodel.layers}
    assert compiled.graph.input_perms["x"] == (0, 2, 1) and compiled.graph.output_perms["y"] == (0, 2, 1)
    assert compiled.run(samples[:2]).shape == (2, 4, 7)
    header = compiled.h_path.read_text()
    assert 'Input  0 "x": [1, 14, 3] int8' in header and 'Output 0 "y": [1, 7, 4] int8' in header
    assert "[N, C, W] one\n * that 1-D convolutions or pools read or write is [N, W, C]" in header


QEMU_TOOLS = ("arm-none-eabi-gcc", "make", "qemu-system-arm")


@pytest.mark.skipif(any(shutil.which(t) is None for t in QEMU_TOOLS), reason="firmware tools not installed")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_keyword_spotting_conv1d_net_runs_under_qemu_equal_to_host(board, tmp_path):
    nodes, inits = keyword_spotting_net(dynamo_head)
    path = tmp_path / "kws1d.onnx"
    import onnx

    onnx.save(make_model(nodes, [1, 10, 49], inits, opset=18), path)
    samples = small_models.RNG.normal(0, 1, size=(32, 10, 49)).astype(np.float32)
    options = firmware.FirmwareOptions(get_board(board), run=True, samples=3)
    # compile raises VerificationError when the firmware's outputs differ from the host build's.
    compiled = mcuq.compile(path, samples, tmp_path / "out", firmware_options=options)
    run = compiled.report["firmware"]["run"]
    assert run["samples"] == 3 and not run.get("mismatches")
    # BatchNorm and ReLU fold into the convolutions; the H = 1 reshapes and the transposes between layers cancel.
    ops = [layer.op.value for layer in compiled.qmodel.layers]
    assert ops.count("conv") == 4 and "transpose" not in ops and len(ops) <= 8, ops
