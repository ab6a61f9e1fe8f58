"""The kernels' speed does not hang on the compiler inlining C library calls: built with
`-O2 -ffreestanding -fno-builtin` (as Zephyr and NXP's MCUXpresso SDK build applications), no kernel calls
memcpy, memset or memmove more often than it does at plain -O2. Small copies and word loads go through
the runtime's own inline helpers (mcuq_read_s8x4 / mcuq_write_s8x4 in mcuq_nn_simd.h); what is left
are the copies of runtime-sized blocks in the data movement kernels, calls at any flags."""

import re
import shutil
import subprocess

import pytest

from tests.codegen.test_cross_compile import CORES, KERNEL_SOURCES
from tests.helpers.paths import REPO

ARM_GCC = shutil.which("arm-none-eabi-gcc")
LIBRARY_CALL = re.compile(r"\bbl?\s+[0-9a-f]+\s+<(memcpy|memset|memmove)>")
FREESTANDING = ["-ffreestanding", "-fno-builtin"]
# The kernels with DSP or MVE paths (the portable C of the others is the same at any flags).
FAST_PATH_SOURCES = [s for s in KERNEL_SOURCES if re.search(r"MCUQ_HAVE_DSP|MCUQ_PATH_MVE", s.read_text())]


def library_calls(core: str, source, flags: list[str], tmp_path) -> int:
    """Calls to memcpy / memset / memmove in the object code of one kernel source."""
    obj = tmp_path / "k.o"
    subprocess.run([ARM_GCC, *CORES[core], "-mthumb", "-std=c99", "-O2", *flags,
                    "-I", str(REPO / "runtime_c" / "include"), "-include", "mcuq_nn.h", "-c", str(source),
                    "-o", str(obj)], check=True, capture_output=True)
    disassembly = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], check=True, capture_output=True,
                                 text=True).stdout
    return len(LIBRARY_CALL.findall(disassembly))


@pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed (.ci/run installs it)")
@pytest.mark.slow
@pytest.mark.parametrize("core", ["cortex-m4", "cortex-m55"])
def test_freestanding_builds_call_the_library_no_more_than_plain_ones(core, tmp_path):
    more = {}
    assert len(FAST_PATH_SOURCES) >= 8
    for source in FAST_PATH_SOURCES:
        plain = library_calls(core, source, [], tmp_path)
        freestanding = library_calls(core, source, FREESTANDING, tmp_path)
        if freestanding > plain:
            more[source.name] = (plain, freestanding)
    assert not more, f"calls at -O2 and with {' '.join(FREESTANDING)} added: {more}"


@pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed (.ci/run installs it)")
def test_the_fast_paths_word_loads_are_single_instructions(tmp_path):
    """mcuq_read_s8x4 from any address is one LDR on the M4 under any flags: no call, no byte loads."""
    source = tmp_path / "read.c"
    source.write_text('#include "mcuq_nn_simd.h"\nint32_t read4(const int8_t *p) { return mcuq_read_s8x4(p + 1); }\n')
    obj = tmp_path / "read.o"
    subprocess.run([ARM_GCC, *CORES["cortex-m4"], "-mthumb", "-std=c99", "-O2", "-Werror", *FREESTANDING,
                    "-I", str(REPO / "runtime_c" / "include"), "-c", str(source), "-o", str(obj)],
                   check=True, capture_output=True)
    body = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], check=True, capture_output=True,
                          text=True).stdout.split("<read4>:")[1]
    instructions = [line.split("\t")[2].split()[0] for line in body.splitlines() if line.count("\t") >= 2]
    assert [i for i in instructions if i != "nop"] in (["ldr.w", "bx"], ["ldr", "bx"]), instructions
