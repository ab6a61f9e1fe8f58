"""Build the firmware project with `make` and arm-none-eabi-gcc; measure it with arm-none-eabi-size.

The Makefile in the project is the one source of the compiler flags: mcuq runs exactly what a user
runs. A model too big for the board is reported from the linker's own overflow figures.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from mcuq.errors import McuqError, ToolchainError
from mcuq.firmware.project import FirmwareProject

CROSS_COMPILE = "arm-none-eabi-"
QEMU = "qemu-system-arm"
INSTALL_HINT = "apt-get install --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi make"
FLASH_SECTIONS = (".text", ".ARM.exidx", ".data")
RAM_SECTIONS = (".data", ".bss", ".stack")


class DoesNotFitError(McuqError):
    """The model and the test firmware need more flash or RAM than the board has."""

    keeps_output = True  # the C and the report are complete and say what the model needs


@dataclass(frozen=True)
class FirmwareBuild:
    project: FirmwareProject
    sections: dict[str, int]  # section name -> bytes (arm-none-eabi-size -A)

    @property
    def flash_bytes(self) -> int:
        return sum(self.sections.get(s, 0) for s in FLASH_SECTIONS)

    @property
    def ram_bytes(self) -> int:
        return sum(self.sections.get(s, 0) for s in RAM_SECTIONS)


def require_tool(name: str, install_hint: str = INSTALL_HINT) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(f"{name!r} is not on PATH; install it: {install_hint}")
    return path


def require_tools(run_under_qemu: bool) -> None:
    """Fail before any work when a tool the firmware stage needs is missing."""
    require_tool("make")
    require_tool(CROSS_COMPILE + "gcc")
    if run_under_qemu:
        require_tool(QEMU, "apt-get install --no-install-recommends qemu-system-arm")


def build_firmware(project: FirmwareProject, *, extra_cflags: str = "", arena_bytes: int | None = None,
                   weight_bytes: int | None = None) -> FirmwareBuild:
    """`make` in the project folder; raises DoesNotFitError naming both sizes when the link overflows.

    ``arena_bytes``/``weight_bytes`` only make that error more helpful."""
    require_tools(run_under_qemu=False)
    command = ["make", "-C", str(project.folder), "--no-print-directory", f"CROSS_COMPILE={CROSS_COMPILE}"]
    if extra_cflags:
        command.append(f"EXTRA_CFLAGS={extra_cflags}")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        output = done.stdout + done.stderr
        overflows = {region: int(n) for region, n in re.findall(r"region `(\w+)' overflowed by (\d+) bytes", output)}
        if overflows:
            raise DoesNotFitError(_overflow_message(project, overflows, arena_bytes, weight_bytes))
        raise ToolchainError(f"building the firmware in {project.folder} failed:\n{output.strip()}")
    return FirmwareBuild(project, elf_sections(project))


def elf_sections(project: FirmwareProject) -> dict[str, int]:
    done = subprocess.run([require_tool(CROSS_COMPILE + "size"), "-A", str(project.elf)], capture_output=True,
                          text=True, check=True)
    sections = {}
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0].startswith(".") and fields[1].isdigit():
            sections[fields[0]] = int(fields[1])
    return sections


def _overflow_message(project: FirmwareProject, overflows: dict[str, int], arena_bytes: int | None,
                      weight_bytes: int | None) -> str:
    board = project.board
    parts = []
    for region, over in overflows.items():
        have = (board.ram if region == "RAM" else board.flash).length
        what = f"{region}: needs {have + over:,} B, the board has {have:,} B ({over:,} B too much"
        if region == "RAM" and arena_bytes is not None:
            what += f"; the model's arena alone is {arena_bytes:,} B, the stack {project.stack_size:,} B"
        if region == "FLASH" and weight_bytes is not None:
            what += f"; the weights alone are {weight_bytes:,} B, the test data {project.test_data_bytes:,} B"
        parts.append(what + ")")
    return (f"model {project.prefix!r} does not fit {board.name} ({board.description}): " + "; ".join(parts)
            + ". Choose a board with more memory or a smaller model (fewer test samples with --samples, a smaller "
            "stack with --stack-size or -Os shrink only the test firmware)")
