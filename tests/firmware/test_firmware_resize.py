"""The U-Net (nearest and bilinear upsampling, Concat skips) and the conv autoencoder (ConvTranspose) as
firmware under QEMU on a Cortex-M4 (DSP) and a Cortex-M55 (MVE): outputs equal the host build's, and the
transposed convolutions cost about what convolutions of as many multiply-adds cost (stride phases, no
inserted zeros)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from tests.end_to_end.test_ops_resize import conv_transpose, unet
from tests.firmware.test_firmware import _assert_equal_to_host, _build_and_run, _samples, pytestmark  # noqa: F401
from tests.helpers import small_models
from tests.helpers.small_models import conv, make_model

BOARDS = ["mps2-an386", "mps3-an547"]


def autoencoder():
    """16x16x1 -> two stride-2 convs (8 and 16 channels) -> 4x4x16 -> ConvTranspose k3 s2 p1 op1 (16 -> 8)
    -> ConvTranspose k2 s2 (8 -> 8) -> 1x1 conv to one channel."""
    e1, i1 = conv("e1", "x", "e1o", 1, 8, strides=[2, 2])
    e2, i2 = conv("e2", "e1r", "e2o", 8, 16, strides=[2, 2])
    d1, i3 = conv_transpose("d1", "e2r", "d1o", 16, 8, 3, 2, (1, 1, 1, 1), (1, 1))
    d2, i4 = conv_transpose("d2", "d1r", "d2o", 8, 8, 2, 2, (0, 0, 0, 0))
    out, i5 = conv("out", "d2r", "y", 8, 1, k=1, pads=[0, 0, 0, 0])
    relu = [helper.make_node("Relu", [a], [b]) for a, b in
            (("e1o", "e1r"), ("e2o", "e2r"), ("d1o", "d1r"), ("d2o", "d2r"))]
    nodes = [e1, relu[0], e2, relu[1], d1, relu[2], d2, relu[3], out]
    return nodes, [1, 1, 16, 16], {**i1, **i2, **i3, **i4, **i5}


def compiled_model(nodes, input_shape, inits, folder):
    model = make_model(nodes, input_shape, inits)
    path = folder / "m.onnx"
    onnx.save(model, path)
    samples = small_models.RNG.normal(0, 1, size=(40, *input_shape[1:])).astype(np.float32)
    return mcuq.compile(path, samples[:32], folder / "out", verify_data=samples[32:]), samples[32:35]


@pytest.mark.parametrize("board", BOARDS)
def test_unet_runs_bit_exact(board, tmp_path):
    nodes, inits = unet()
    compiled, samples = compiled_model(nodes, [1, 3, 8, 8], inits, tmp_path)
    data = _samples(compiled, samples)
    _, run = _build_and_run(compiled, board, tmp_path / "fw", data)
    _assert_equal_to_host(run, data)


@pytest.mark.parametrize("board", BOARDS)
def test_autoencoder_runs_bit_exact(board, tmp_path):
    compiled, samples = compiled_model(*autoencoder(), tmp_path)
    data = _samples(compiled, samples)
    _, run = _build_and_run(compiled, board, tmp_path / "fw", data)
    _assert_equal_to_host(run, data)


def layer_instructions(nodes, input_shape, inits, board, folder) -> tuple[str, int]:
    """(op, instructions) of the model's first layer, run as firmware on ``board``."""
    folder.mkdir()
    compiled, samples = compiled_model(nodes, input_shape, inits, folder)
    data = _samples(compiled, samples[:1])
    _, run = _build_and_run(compiled, board, folder / "fw", data)
    _assert_equal_to_host(run, data)
    return compiled.qmodel.layers[0].op.value, run.layer_instructions(0)[0]


# (C_in, C_out, H, k, stride, pad, output_padding): the autoencoder's two decoder layers, and DCGAN's.
DECODERS = [(16, 8, 4, 3, 2, 1, 1), (8, 8, 8, 2, 2, 0, 0), (16, 16, 4, 4, 2, 1, 0)]


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: f"k{d[3]}s{d[4]}p{d[5]}")
def test_transpose_conv_beats_the_zero_insertion_conv(board, decoder, tmp_path):
    """The same ConvTranspose as mcuq runs it (stride phases) and as the convolution over the input with
    zeros inserted (a model whose input is that tensor): the phases take fewer instructions."""
    c_in, c_out, h, k, s, p, extra = decoder
    node, inits = conv_transpose("t", "x", "y", c_in, c_out, k, s, (p,) * 4, (extra, extra))
    op, phased = layer_instructions([node], [1, c_in, h, h], inits, board, tmp_path / "phases")
    assert op == "transpose_conv"
    flipped = inits["t_w"][:, :, ::-1, ::-1].transpose(1, 0, 2, 3).copy()  # ConvTranspose = Conv of the flip
    begin, end = k - 1 - p, k - 1 - p + extra
    zero_conv, zero_inits = conv("z", "x", "y", c_in, c_out, k=k, pads=[begin, begin, end, end])
    zero_inits.update({"z_w": flipped, "z_b": inits["t_b"]})
    size = (h - 1) * s + 1
    op, inserted = layer_instructions([zero_conv], [1, c_in, size, size], zero_inits, board, tmp_path / "zeros")
    assert op == "conv"
    print(f"\n{board} {decoder}: phases {phased:,} instructions, zero insertion {inserted:,}")
    assert phased < inserted
