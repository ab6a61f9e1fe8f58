"""Fully connected over many rows (a transformer's Linear layers, x[..., K] with rows = the product of the
leading axes) runs as mcuq_convolve_s8 with a 1x1 filter, the rows as pixels (kernels.fc_runs_as_conv):
it equals the golden model's fully connected bit for bit on random layers, on the portable and the
emulated DSP path, and its scratch is what the convolution's buffer-size functions ask for."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.codegen import views
from mcuq.qir import kernels
from mcuq.qir.model import QOp
from tests.helpers.c_kernels import load
from tests.helpers.kernel_harness import c_dims, check, layout
from tests.helpers.kernel_layers import act_ranges, cfg, channel_requant, make_layer, random_i8, seeds, zero_points

pytestmark = pytest.mark.usefixtures("kernel_variant")


def fc_layer(rng, lead: tuple[int, ...], k: int, o: int, zp_in: int, zp_out: int, act: tuple[int, int]):
    mult, shift = channel_requant(rng, o, k)
    params = qir.FullyConnectedParams(
        weights=rng.integers(-127, 128, size=(o, k)).astype(np.int8),
        bias=rng.integers(-(2**14), 2**14, size=o).astype(np.int32),
        multiplier=mult, shift=shift, input_offset=-zp_in, output_offset=zp_out, act_min=act[0], act_max=act[1])
    return make_layer(QOp.FULLY_CONNECTED, params, [(*lead, k)], (*lead, o))


def called(layer, tensors) -> str:
    return views.fully_connected_view(views.LayerData(layer, tensors, layout(layer, tensors).placement)).calls[0].function


# Leading axes as the frontends give them: [rows, K] and [1, rows, K] (rank 3, a sequence).
leads = st.one_of(st.tuples(st.integers(2, 64)), st.tuples(st.just(1), st.integers(2, 64)))


@cfg(60)
@given(leads, st.integers(1, 80), st.integers(1, 24), zero_points, zero_points, act_ranges(), seeds)
def test_many_rows_equal_golden(lead, k, o, zp_in, zp_out, act, seed):
    rng = np.random.default_rng(seed)
    layer, tensors = fc_layer(rng, lead, k, o, zp_in, zp_out, act)
    assert called(layer, tensors) == "mcuq_convolve_s8"
    check(layer, [random_i8(rng, (*lead, k))], tensors)


def test_one_row_keeps_the_fully_connected_kernel():
    """A classifier's final FC (one row, as in KWS and ResNet-8) needs no scratch and keeps its own kernel."""
    layer, tensors = fc_layer(np.random.default_rng(1), (1,), 64, 12, 3, -5, (-128, 127))
    assert called(layer, tensors) == "mcuq_fully_connected_s8"
    assert kernels.scratch_bytes(layer, tensors) == kernels.roomy_scratch_bytes(layer, tensors) == 0


@pytest.mark.parametrize("k", [1, 3, 4, 32, 33, 64])
def test_scratch_equals_the_convolution_buffer_sizes(k):
    layer, tensors = fc_layer(np.random.default_rng(k), (1, 50), k, 8, 0, 0, (-128, 127))
    ffi, lib = load()
    input_dims, filter_dims = c_dims(ffi, (1, 1, 50, k)), c_dims(ffi, (8, 1, 1, k))
    least, roomy = kernels.scratch_bytes(layer, tensors), kernels.roomy_scratch_bytes(layer, tensors)
    assert lib.mcuq_convolve_s8_get_buffer_size(input_dims, filter_dims) == least == 2 * k
    assert lib.mcuq_convolve_s8_get_roomy_buffer_size(input_dims, filter_dims) == max(least, roomy)
