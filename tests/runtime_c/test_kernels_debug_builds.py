"""The convolution kernels in debug builds (-O0, -Og): equal to the golden model under QEMU on the M55 (MVE
path, its C fallbacks, since the assembly runs only when optimizing) and the M4 (DSP path); and every runtime
kernel with stack frames that fit the firmware's stack.

At -O0 gcc gives every force-inlined copy of a function its own stack slots: the MVE convolution once took a
20,416-byte frame and the MVE depthwise one 9,928 bytes (the MVE Add's table loop 2,120), past the firmware's 4 KiB stack, which overwrote
the data below it (a wrong byte) or left the RAM (a fault).
"""

from __future__ import annotations

import os
import re
import subprocess

import numpy as np
import pytest

from mcuq import qir
from mcuq.firmware.boards import get_board
from mcuq.firmware.project import DEFAULT_STACK_SIZE
from mcuq.qir.model import QOp
from tests.helpers.kernel_qemu import INCLUDE, SRC, KernelCase, run_cases, tools_missing
from tests.runtime_c.test_kernels_qemu import CORES, _i8, _layer, _out, _requant, cases_for, layer_variants

missing = tools_missing()
pytestmark = pytest.mark.skipif(
    missing is not None and not os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS"), reason=str(missing)
)

# A convolution function's own frame may take at most half the firmware's default stack at -O0 (the
# kernel's other frames, the model's call chain and main sit above it). Today's largest: 1,408 bytes
# (the DSP depthwise channel loops on the M4), 864 on the M55.
FRAME_LIMIT = DEFAULT_STACK_SIZE // 2


def conv_layer(seed: int, h: int, w: int, c_in: int, c_out: int, k: int, depthwise: bool) -> list[KernelCase]:
    """A k x k stride-1 layer padded by 1 on every side, with separate buffers and in place."""
    rng = np.random.default_rng(seed)
    pad = (1, 1, 1, 1)
    oh, ow = _out(h, 1, 1, k, 1), _out(w, 1, 1, k, 1)
    mult, shift = _requant(rng, c_out, k * k * (1 if depthwise else c_in))
    common = dict(bias=rng.integers(-(2**14), 2**14, size=c_out).astype(np.int32), multiplier=mult, shift=shift,
                  input_offset=11, output_offset=-5, stride=(1, 1), dilation=(1, 1), padding=pad,
                  act_min=-128, act_max=127)
    if depthwise:
        params = qir.DepthwiseConvParams(weights=rng.integers(-127, 128, size=(1, k, k, c_out)).astype(np.int8),
                                         ch_mult=1, **common)
    else:
        params = qir.ConvParams(weights=rng.integers(-127, 128, size=(c_out, k, k, c_in)).astype(np.int8), **common)
    op = QOp.DEPTHWISE_CONV if depthwise else QOp.CONV
    layer, tensors = _layer(op, params, [(1, h, w, c_in)], (1, oh, ow, c_out))
    label = f"{op.value} {k}x{k} {c_in}->{c_out} {h}x{w}"
    return layer_variants(label, layer, [_i8(rng, (1, h, w, c_in))], tensors)


def debug_cases() -> list[KernelCase]:
    """The two layers first reported (a 3x3 conv 7->9 on a 3x3 input, K = 63: one pixel at a time with its
    column in vector registers; a 3x3 depthwise over 9x9x16), a K > 64 conv (pixel pairs), and random
    convolutions and depthwise layers of fixed seeds."""
    cases = conv_layer(1, 3, 3, 7, 9, 3, False) + conv_layer(2, 9, 9, 16, 16, 3, True)
    cases += conv_layer(3, 4, 5, 12, 6, 3, False)
    for seed in range(4):
        cases += cases_for("conv", 100 + seed) + cases_for("depthwise", 200 + seed)
    return cases


@pytest.mark.parametrize("core", ["M55", "M4"])
@pytest.mark.parametrize("opt", ["-O0", "-Og"])
def test_convolutions_equal_golden_in_debug_builds(core, opt, tmp_path):
    cases = debug_cases()
    result = run_cases(cases, CORES[core], tmp_path, opt=opt)
    assert not result.failed, "on {} at {}: {}\n{}".format(
        core, opt, "; ".join(cases[i].label for i in result.failed), result.log[-3000:])


def _frames(core: str, source, folder) -> dict[str, int]:
    """Each function's stack frame in bytes, as gcc reports it (-fstack-usage) for `source` at -O0."""
    obj = folder / (source.stem + ".o")
    subprocess.run(["arm-none-eabi-gcc", *get_board(CORES[core]).cpu_flags(), "-O0", "-std=c99",
                    f"-I{INCLUDE}", "-include", "mcuq_nn.h", "-fstack-usage", "-c", str(source), "-o", str(obj)],
                   check=True, capture_output=True, text=True)
    usage = obj.with_suffix(".su").read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r":(\w+)\t(\d+)\t", usage)}


@pytest.mark.parametrize("core", ["M55", "M4", "M3"])
def test_kernel_frames_fit_the_stack_at_O0(core, tmp_path):
    sources = sorted(SRC.rglob("*.c"))
    big = {f"{s.name}:{name}": size for s in sources for name, size in _frames(core, s, tmp_path).items()
           if size > FRAME_LIMIT}
    assert not big, f"frames over {FRAME_LIMIT} bytes at -O0 on {core}: {big}"
