"""The CMake files of an output folder, from templates/cmake/.

Every output folder has a ``CMakeLists.txt`` whose library target (``mcuq_<prefix>``, alias
``mcuq::<prefix>``) is the model alone, for a user's project to take with one ``add_subdirectory``. A
firmware folder's ``CMakeLists.txt`` also builds the test firmware when it is the top-level project, with
the board's ``arm-none-eabi.cmake`` toolchain file: the same ELF as its Makefile. The only model-supplied
string in them is the prefix, already a C identifier (`names.c_identifier`), which CMake reads as a plain
word: no quote, space, ``$``, ``;``, ``#`` or line break can reach a CMake file.
"""

from __future__ import annotations

from mcuq.codegen.templating import template_environment
from mcuq.version import __version__

CMAKE_LISTS = "CMakeLists.txt"
TOOLCHAIN_FILE = "arm-none-eabi.cmake"


def cmake_lists(prefix: str, firmware: dict | None = None) -> str:
    """CMakeLists.txt for the model ``prefix``; ``firmware`` (``board``, ``opt``) adds the test firmware."""
    return template_environment().get_template(f"cmake/{CMAKE_LISTS}.j2").render(
        prefix=prefix, version=__version__, firmware=firmware)


def toolchain_file(board) -> str:
    """The arm-none-eabi-gcc toolchain file with the core flags of ``board`` (a `firmware.boards.Board`)."""
    return template_environment().get_template(f"cmake/{TOOLCHAIN_FILE}.j2").render(
        board=board, cpu_flags=board.cpu_flags(), version=__version__)
