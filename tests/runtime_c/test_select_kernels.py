"""The byte-selecting kernels (runtime_c/src/data_movement: mcuq_slice_s8, a box with steps, and
mcuq_gather_channels_s8, a per-pixel channel gather) equal the golden model bit for bit on random shapes,
boxes and index lists, on the host (portable C and the emulated DSP build) and on Cortex-M4 and M55
under QEMU, also writing a channel slice of a Concat's output (a wider output pixel); and a slice placed
as a view of its input calls no kernel at all."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.codegen import views
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check
from tests.helpers.kernel_layers import cfg, make_layer, random_i8, seeds
from tests.helpers.kernel_qemu import layer_case, run_cases, tools_missing

CORES = {"M4": "mps2-an386", "M55": "mps3-an547"}


@st.composite
def slice_layers(draw):
    """A random box with steps of a random tensor of rank 1 to 4."""
    shape = draw(st.lists(st.integers(1, 7), min_size=1, max_size=4))
    begin, step, size = [], [], []
    for dim in shape:
        start = draw(st.integers(0, dim - 1))
        stride = draw(st.integers(1, 3))
        begin.append(start)
        step.append(stride)
        size.append(draw(st.integers(1, len(range(start, dim, stride)))))
    return make_layer(QOp.SLICE, qir.SliceParams(tuple(begin), tuple(step)), [tuple(shape)], tuple(size))


@st.composite
def gather_layers(draw):
    pixels = draw(st.lists(st.integers(1, 5), min_size=0, max_size=3))
    channels = draw(st.integers(1, 40))
    indices = tuple(draw(st.lists(st.integers(0, channels - 1), min_size=1, max_size=48)))
    params = qir.GatherChannelsParams(indices)
    return make_layer(QOp.GATHER_CHANNELS, params, [(*pixels, channels)], (*pixels, len(indices)))


def numpy_selection(layer, x: np.ndarray, out_shape) -> np.ndarray:
    """What numpy's indexing selects for a slice (a box with steps) or a gather of channels."""
    p = layer.params
    if layer.op is QOp.GATHER_CHANNELS:
        return x[..., list(p.indices)]
    return x[tuple(slice(b, b + s * (n - 1) + 1, s) for b, s, n in zip(p.begin, p.step, out_shape))]


@pytest.mark.usefixtures("kernel_variant")
@cfg(200)
@given(st.one_of(slice_layers(), gather_layers()), seeds)
def test_selection_equals_golden_and_numpy(layer_and_tensors, seed):
    layer, tensors = layer_and_tensors
    x = random_i8(np.random.default_rng(seed), tensors["in0"].shape)
    got = check(layer, [x], tensors)
    assert np.array_equal(got, numpy_selection(layer, x, tensors["out"].shape))


def test_a_slice_placed_inside_its_input_calls_nothing():
    """Rows 2..4 of a [1, 6, 5, 3] tensor are one block at element 2*5*3 = 30: placed there, the layer
    is a view (no call); placed anywhere else, or a channel range of many pixels, it copies."""
    layer, tensors = make_layer(QOp.SLICE, qir.SliceParams((0, 2, 0, 0), (1,) * 4), [(1, 6, 5, 3)], (1, 3, 5, 3))
    assert views.op_view(layer, tensors, views.Placement(inputs=(100,), output=130)).calls == ()
    assert len(views.op_view(layer, tensors, views.Placement(inputs=(100,), output=200)).calls) == 1
    channels, t2 = make_layer(QOp.SLICE, qir.SliceParams((0, 0, 0, 1), (1,) * 4), [(1, 6, 5, 3)], (1, 6, 5, 1))
    assert qir.contiguous_block_offset((1, 6, 5, 3), channels.params, (1, 6, 5, 1)) is None
    assert len(views.op_view(channels, t2, views.Placement(inputs=(100,), output=101)).calls) == 1


@pytest.mark.parametrize("args, want", [
    (((1, 6, 5, 3), (0, 2, 0, 0), (1, 1, 1, 1), (1, 3, 5, 3)), 30),  # rows
    (((1, 1, 1, 8), (0, 0, 0, 4), (1, 1, 1, 1), (1, 1, 1, 4)), 4),  # channels of one pixel
    (((2, 8), (1, 0), (1, 1), (1, 8)), 8),  # a whole row of [N, C]
    (((1, 6, 5, 3), (0, 0, 0, 0), (1, 1, 1, 1), (1, 6, 5, 3)), 0),  # everything
    (((1, 6, 5, 3), (0, 2, 1, 0), (1, 1, 1, 1), (1, 1, 3, 3)), 33),  # pixels of one row
    (((1, 6, 5, 3), (0, 2, 1, 0), (1, 1, 1, 1), (1, 2, 3, 3)), None),  # pixels of two rows
    (((1, 6, 5, 3), (0, 0, 0, 0), (1, 2, 1, 1), (1, 3, 5, 3)), None),  # every other row
])
def test_contiguous_block_offset(args, want):
    in_shape, begin, step, out_shape = args
    assert qir.contiguous_block_offset(in_shape, qir.SliceParams(begin, step), out_shape) == want


def _qemu_cases(seed: int) -> list:
    rng = np.random.default_rng(seed)
    cases = []
    for i, (in_shape, begin, step, out_shape) in enumerate([
        ((1, 9, 11, 24), (0, 1, 2, 5), (1, 2, 3, 1), (1, 4, 3, 17)),
        ((1, 8, 8, 16), (0, 0, 0, 8), (1, 1, 1, 1), (1, 8, 8, 8)),  # ShuffleNetV2's channel split
        ((1, 5, 7, 3), (0, 0, 1, 0), (1, 1, 1, 2), (1, 5, 6, 2)),
    ]):
        layer, tensors = make_layer(QOp.SLICE, qir.SliceParams(begin, step), [in_shape], out_shape)
        x = random_i8(rng, in_shape)
        cases.append(layer_case(f"slice {i}", layer, [x], tensors))
        cases.append(layer_case(f"slice {i}, pixel stride", layer, [x], tensors, pixel_stride=out_shape[-1] + 3))
    for pixels, channels in ((64, 16), (9, 3), (25, 33)):
        indices = tuple(int(v) for v in rng.permutation(channels))
        layer, tensors = make_layer(QOp.GATHER_CHANNELS, qir.GatherChannelsParams(indices),
                                    [(1, pixels, channels)], (1, pixels, channels))
        x = random_i8(rng, (1, pixels, channels))
        cases.append(layer_case(f"gather {pixels}x{channels}", layer, [x], tensors))
        cases.append(layer_case(f"gather {pixels}x{channels}, pixel stride", layer, [x], tensors,
                                pixel_stride=2 * channels))
    return cases


@pytest.mark.skipif(tools_missing() is not None and not os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS"),
                    reason=str(tools_missing()))
@pytest.mark.parametrize("core", list(CORES))
def test_select_kernels_on_qemu_equal_golden(core, tmp_path):
    cases = _qemu_cases(13)
    result = run_cases(cases, CORES[core], tmp_path)
    assert not result.failed, "; ".join(cases[i].label for i in result.failed) + "\n" + result.log[-3000:]
