"""KWS DS-CNN built as Zephyr and NXP's SDK build applications (-O2 -ffreestanding -fno-builtin) gives the
host build's outputs on the emulated Cortex-M4 and M55, in at most 3 % more instructions than at plain -O2
(issue 15): the fast paths do not rely on the compiler inlining memcpy / memset."""

import pytest

from mcuq import firmware
from tests.firmware.test_firmware import (  # kws_compiled: that module's fixture, shared
    MISSING,
    _assert_equal_to_host,
    _project,
    _samples,
    kws_compiled,  # noqa: F401
)

pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {MISSING} (.ci/run installs them)")

FREESTANDING = "-ffreestanding -fno-builtin"


def _instructions(compiled, board, folder, samples, cflags: str) -> int:
    project = _project(compiled, board, folder, samples)
    firmware.build_firmware(project, extra_cflags=f"-Werror {cflags}".strip())
    run = firmware.run_firmware(project, timeout_s=300)
    _assert_equal_to_host(run, samples)
    return run.total_instructions(0)


@pytest.mark.slow
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_freestanding_build_is_bit_exact_and_within_3_percent(kws_compiled, kws_data, board, tmp_path):  # noqa: F811
    samples = _samples(kws_compiled, kws_data["x_test"][:1])
    plain = _instructions(kws_compiled, board, tmp_path / "plain", samples, "")
    freestanding = _instructions(kws_compiled, board, tmp_path / "freestanding", samples, FREESTANDING)
    assert freestanding <= 1.03 * plain, (freestanding, plain)
