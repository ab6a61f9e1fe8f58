"""Render the firmware project for one model and one board into the output folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcuq.codegen import cmake
from mcuq.codegen.templating import template_environment
from mcuq.errors import McuqError
from mcuq.firmware.boards import Board
from mcuq.version import __version__

# Template (under templates/firmware/) -> file name in the project; {board} is the board's name.
PROJECT_FILES = {
    "main.c.j2": "main.c",
    "startup.c.j2": "startup.c",
    "fw_support.h.j2": "fw_support.h",
    "fw_support.c.j2": "fw_support.c",
    "fw_profile.h.j2": "fw_profile.h",
    "test_data.h.j2": "test_data.h",
    "test_data.c.j2": "test_data.c",
    "linker.ld.j2": "{board}.ld",
    "Makefile.j2": "Makefile",
}
C_TYPES = {"int8": "int8_t", "int16": "int16_t"}
OPT_LEVELS = ("-O2", "-Os", "-O3", "-O1", "-O0")
DEFAULT_STACK_SIZE = 4096


@dataclass(frozen=True)
class FirmwareOptions:
    """What `compile(..., firmware=...)` builds and whether it runs it (emulated boards only)."""

    board: Board
    run: bool = True
    samples: int = 8  # test inputs embedded in the firmware (from the verification data)
    opt: str = "-O2"
    stack_size: int = DEFAULT_STACK_SIZE
    timeout_s: float = 120.0
    extra_cflags: str = ""  # e.g. "-Werror" (the tests use it)

    def __post_init__(self):
        if self.opt not in OPT_LEVELS:
            raise McuqError(f"optimization level {self.opt!r}: choose one of {', '.join(OPT_LEVELS)}")
        if self.samples < 1:
            raise McuqError(f"{self.samples} test samples: the firmware needs at least 1")
        if self.stack_size < 256 or self.stack_size % 8:
            raise McuqError(f"stack size {self.stack_size}: give a multiple of 8 bytes, at least 256")
        if self.timeout_s <= 0:
            raise McuqError(f"timeout {self.timeout_s:g} s: give a positive number of seconds")


@dataclass(frozen=True)
class TestSample:
    """One int8 input and the outputs the host build gave for it (int8, or int16 where an int16 layer
    writes a model output; flattened, C order)."""

    input: np.ndarray
    expected: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class FirmwareProject:
    folder: Path
    prefix: str
    board: Board
    opt: str
    stack_size: int
    samples: tuple[TestSample, ...]
    files: tuple[Path, ...]

    @property
    def elf(self) -> Path:
        return self.folder / "build" / f"{self.prefix}.elf"

    @property
    def test_data_bytes(self) -> int:
        return sum(s.input.size + sum(e.size for e in s.expected) for s in self.samples)


def project_file_names(board_name: str) -> list[str]:
    """The files `write_project` adds to the model's (its CMakeLists.txt it rewrites, with the firmware)."""
    return [name.format(board=board_name) for name in PROJECT_FILES.values()] + [cmake.TOOLCHAIN_FILE]


def write_project(folder: Path, prefix: str, board: Board, samples: list[TestSample], *, opt: str = "-O2",
                  stack_size: int = DEFAULT_STACK_SIZE) -> FirmwareProject:
    """Write the firmware sources beside the model's `prefix.c`/`prefix.h` (which must be there)."""
    if opt not in OPT_LEVELS:
        raise ValueError(f"opt must be one of {OPT_LEVELS}, not {opt!r}")
    if not samples:
        raise ValueError("the firmware needs at least one test sample")
    context = dict(
        prefix=prefix, PREFIX=prefix.upper(), board=board, version=__version__, opt=opt,
        stack_size=stack_size, cpu_flags=board.cpu_flags(), samples=samples,
        outputs=[dict(ctype=C_TYPES[np.dtype(e.dtype).name]) for e in samples[0].expected],
    )
    env = template_environment()
    written = []
    for template, name in PROJECT_FILES.items():
        path = folder / name.format(board=board.name)
        path.write_text(env.get_template(f"firmware/{template}").render(context))
        written.append(path)
    # The same firmware for CMake: the model's library target plus the ELF, and the board's toolchain file.
    cmake_files = {cmake.CMAKE_LISTS: cmake.cmake_lists(prefix, dict(board=board, opt=opt)),
                   cmake.TOOLCHAIN_FILE: cmake.toolchain_file(board)}
    for name, text in cmake_files.items():
        (folder / name).write_text(text)
        written.append(folder / name)
    return FirmwareProject(folder, prefix, board, opt, stack_size, tuple(samples), tuple(written))
