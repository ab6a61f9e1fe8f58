"""The recurrent kernels on the real instructions: random LSTM and GRU layers under QEMU on a Cortex-M4
(the SMLAD gate products) and a Cortex-M55 (the Helium ones), each equal to the golden model byte for byte.
Shapes put the hidden size and the input size on and off the vector widths (4 and 16) and their tails."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.kernel_layers import random_i8
from tests.helpers.kernel_qemu import layer_case, run_cases
from tests.runtime_c.test_kernels_qemu import CORES, pytestmark  # noqa: F401 (pytestmark: skip without tools)
from tests.runtime_c.test_recurrent import gru_layer, lstm_layer

# (T, F, H)
SHAPES = [(1, 1, 1), (3, 10, 32), (5, 16, 17), (4, 7, 3), (2, 33, 16), (6, 4, 64)]


@pytest.mark.parametrize("core", list(CORES))
def test_random_recurrent_layers_equal_golden(core, tmp_path):
    rng = np.random.default_rng(14)
    cases = []
    for i, (steps, features, hidden) in enumerate(SHAPES):
        reverse = bool(i % 2)
        zp_in, zp_out = (int(v) for v in rng.integers(-128, 128, size=2))
        for name, (layer, tensors) in (
                ("lstm", lstm_layer(rng, steps, features, hidden, reverse, zp_in, zp_out, int(rng.integers(-15, -8)))),
                ("gru", gru_layer(rng, steps, features, hidden, reverse, zp_in, zp_out))):
            x = random_i8(rng, (1, steps, features))
            cases.append(layer_case(f"{name} T{steps} F{features} H{hidden} reverse={reverse}", layer, [x], tensors))
    result = run_cases(cases, CORES[core], tmp_path)
    assert not result.failed, "on {}: {}\n{}".format(
        core, "; ".join(cases[i].label for i in result.failed), result.log[-3000:])
