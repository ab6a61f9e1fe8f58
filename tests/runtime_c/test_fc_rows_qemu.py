"""Fully connected over many rows, run as mcuq_convolve_s8 with a 1x1 filter (kernels.fc_runs_as_conv), on
the real instructions: the keyword transformer's Linear layers and random many-row layers under QEMU on
Cortex-M4 (DSP path), M55 (MVE path) and M3 (no DSP), each equal to the golden model byte for byte, with
the least and the roomy scratch."""

from __future__ import annotations

import numpy as np
import pytest

from tests.runtime_c.test_fc_rows import fc_layer
from tests.runtime_c.test_kernels_qemu import CORES, _act, _assert_all_pass, layer_variants, pytestmark  # noqa: F401

# The keyword transformer's Linear layers: [1, 50, K] x [K, O] (patch embedding, QKV, projection, MLP), and
# its classifier head (one row: the fully connected kernel).
KWT_SHAPES = [((1, 50), 10, 32), ((1, 50), 32, 96), ((1, 50), 32, 32), ((1, 50), 32, 64), ((1, 50), 64, 32),
              ((1,), 32, 12)]


def _cases(shapes, rng):
    cases = []
    for lead, k, o in shapes:
        zp_in, zp_out = (int(v) for v in rng.integers(-128, 128, size=2))
        layer, tensors = fc_layer(rng, lead, k, o, zp_in, zp_out, _act(rng))
        x = [rng.integers(-128, 128, size=(*lead, k)).astype(np.int8)]
        cases += layer_variants(f"fully_connected {lead} x {k}->{o}", layer, x, tensors)
    return cases


@pytest.mark.parametrize("core", list(CORES))
def test_transformer_linear_layers_equal_golden(core, tmp_path):
    _assert_all_pass(_cases(KWT_SHAPES, np.random.default_rng(14)), core, tmp_path)


@pytest.mark.parametrize("core", list(CORES))
def test_random_many_row_layers_equal_golden(core, tmp_path):
    """Rows odd and even (the DSP and no-DSP paths pair them), K and O around the vector widths and tails."""
    rng = np.random.default_rng(15)
    shapes = [((int(rng.integers(2, 40)),), int(rng.choice([1, 3, 4, 7, 15, 16, 17, 33, 64, 65, 80])),
               int(rng.choice([1, 2, 3, 5, 8, 13, 16, 24]))) for _ in range(12)]
    _assert_all_pass(_cases(shapes, rng), core, tmp_path)
