"""Firmware for a board: write a project (model + main + startup + linker script + Makefile), build it
with arm-none-eabi-gcc, check it fits, and run it under QEMU where the board is emulated.

    project.write_project -> toolchain.build (ELF, sizes) -> qemu.run (outputs, ticks per layer)
"""

from mcuq.firmware.project import FirmwareOptions, FirmwareProject, TestSample, project_file_names, write_project
from mcuq.firmware.qemu import FirmwareRun, run_firmware
from mcuq.firmware.toolchain import DoesNotFitError, FirmwareBuild, build_firmware, require_tools

__all__ = [
    "DoesNotFitError", "FirmwareBuild", "FirmwareOptions", "FirmwareProject", "FirmwareRun", "TestSample",
    "build_firmware", "project_file_names", "require_tools", "run_firmware", "write_project",
]
