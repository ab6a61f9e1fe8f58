"""The no-DSP kernels' requantization (Cortex-M3, M0): mcuq_requantize_rshift2, whose 64-bit product the
M0 builds from 16-bit halves (mcuq_mla_s64_hi; the host's "nodsp" variant takes the same halves), must
equal the TFLite requantization of mcuq.numerics.fixedpoint on every value, extremes included. The kernels
that use it are checked against the golden model in the family tests (variant "nodsp") and under QEMU on
the Cortex-M3 (test_kernels_qemu.py)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcuq.firmware.boards import get_board
from mcuq.numerics import fixedpoint as fp
from tests.helpers.c_kernels import support
from tests.helpers.kernel_qemu import run_cases, tools_missing
from tests.runtime_c.test_kernels_qemu import GENERATORS, _model_layers, cases_for

missing = tools_missing()

pytestmark = pytest.mark.usefixtures("kernel_variant")

# Values whose 16-bit halves carry into each other in every way: the int32 extremes, 0, +-1 and the
# half boundaries, next to random ones.
EDGES = np.array([fp.INT32_MIN, fp.INT32_MIN + 1, -(2**16) - 1, -(2**16), -(2**15) - 1, -(2**15), -65535, -1,
                  0, 1, 32767, 32768, 65535, 65536, 2**16 + 1, 2**30, fp.INT32_MAX - 1, fp.INT32_MAX])


def test_requantize_rshift2_on_every_edge_pair_and_shift():
    vals, mults, shifts = (m.ravel() for m in np.meshgrid(EDGES, EDGES[EDGES >= 0], np.arange(-31, -1),
                                                          indexing="ij"))
    got = support("requantize_rshift2", vals, mults, shifts)
    assert np.array_equal(got, fp.requantize(vals, mults, shifts))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_requantize_rshift2_equals_fixedpoint(seed):
    rng = np.random.default_rng(seed)
    n = 20000
    vals = rng.integers(fp.INT32_MIN, fp.INT32_MAX, size=n, endpoint=True)
    # Q31 multipliers as QuantizeMultiplier makes them, and any non-negative ones.
    mults = np.where(rng.random(n) < 0.5, rng.integers(1 << 30, 1 << 31, size=n), rng.integers(0, 1 << 31, size=n))
    shifts = rng.integers(-31, -1, size=n)  # -31 .. -2
    got = support("requantize_rshift2", vals, mults, shifts)
    assert np.array_equal(got, fp.requantize(vals, mults, shifts))


# The Cortex-M0's code (Armv6-M: the C loops, the 16-bit-halves multiply) on QEMU's Cortex-M3 machine:
# Armv6-M is a subset of Armv7-M, and the micro:bit, QEMU's only Cortex-M0, has 16 KiB of RAM, too
# little for the model-shaped layers.
M0_ON_M3 = dataclasses.replace(get_board("mps2-an385"), name="mps2-an385 running cortex-m0 code", cpu="cortex-m0")


@pytest.mark.slow  # about 20 s: a firmware image with 40-odd layers under QEMU
@pytest.mark.skipif(missing is not None and not os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS"), reason=str(missing))
@pytest.mark.parametrize("kernel_variant", ["portable"], indirect=True)  # the host variant plays no part
def test_armv6m_kernels_equal_golden_under_qemu(kernel_variant, tmp_path):
    cases = _model_layers()
    seeds = np.random.default_rng(15).integers(0, 2**32, size=2 * len(GENERATORS))
    cases += [c for i, seed in enumerate(seeds) for c in cases_for(list(GENERATORS)[i % len(GENERATORS)], int(seed))]
    result = run_cases(cases, M0_ON_M3, tmp_path)
    assert not result.failed, "; ".join(cases[i].label for i in result.failed) + "\n" + result.log[-3000:]
