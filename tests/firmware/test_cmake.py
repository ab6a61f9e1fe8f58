"""CMake out: the model's library target taken by a user's project with one `add_subdirectory` (built for a
Cortex-M4 with arm-none-eabi-gcc, and on the host, where it runs and gives the host build's outputs), and
the firmware folder's own CMake build: the same loadable binary as its Makefile, the same outputs and
instruction counts under QEMU.

Needs cmake besides the firmware tools (.ci/run installs them); skips without them, unless
MCUQ_REQUIRE_FIRMWARE_TOOLS=1 (set in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import mcuq
from mcuq import firmware
from mcuq.firmware.boards import get_board
from tests.helpers.cmake_project import cmake_build, user_project
from tests.helpers.paths import REPO

TOOLS = ("cmake", "arm-none-eabi-gcc", "make", "qemu-system-arm", "cc")
MISSING = [t for t in TOOLS if shutil.which(t) is None]
if MISSING and os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS") == "1":
    raise RuntimeError(f"CMake test tools missing: {MISSING} (MCUQ_REQUIRE_FIRMWARE_TOOLS=1)")
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {MISSING} (.ci/run installs them)")

EXAMPLE = REPO / "examples" / "digits"
CROSS = "arm-none-eabi-"

# A user's Cortex-M4 toolchain file, as a CubeMX or MCUXpresso project has one: core flags, newlib's
# syscall stubs for printf (nosys), and no mcuq file involved.
USER_M4_TOOLCHAIN = """
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_C_FLAGS_INIT "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16")
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=nano.specs --specs=nosys.specs")
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
"""

def pattern_input(compiled) -> np.ndarray:
    """USER_MAIN's input, in the IR layout with the batch dimension (the C buffer's layout)."""
    shape = compiled.qmodel.tensors[compiled.qmodel.inputs[0]].shape
    values = (np.arange(int(np.prod(shape))) * 37) % 256 - 128
    return values.astype(np.int8).reshape(shape)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The example compiled without a board: its folder has the library's CMakeLists.txt only."""
    return mcuq.compile(EXAMPLE / "digits_cnn.onnx", EXAMPLE / "calib.npy", tmp_path_factory.mktemp("m") / "digits")


def test_every_output_folder_has_the_library_target(digits):
    lines = (digits.c_path.parent / "CMakeLists.txt").read_text().splitlines()
    code = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert "add_library(mcuq_digits_cnn STATIC digits_cnn.c)" in code
    assert "add_library(mcuq::digits_cnn ALIAS mcuq_digits_cnn)" in code
    assert "-mcpu" not in code and "add_executable" not in code  # the core flags are the user's project's


def test_a_user_project_builds_the_library_for_cortex_m4(digits, tmp_path):
    project = user_project(tmp_path / "user", digits.c_path.parent, digits.name)
    (tmp_path / "m4.cmake").write_text(USER_M4_TOOLCHAIN)
    build = tmp_path / "build"
    cmake_build(project, build, f"-DCMAKE_TOOLCHAIN_FILE={tmp_path / 'm4.cmake'}")
    elf = build / "app"
    assert subprocess.run([CROSS + "readelf", "-h", str(elf)], capture_output=True, text=True,
                          check=True).stdout.count("ARM") >= 1
    symbols = subprocess.run([CROSS + "nm", str(elf)], capture_output=True, text=True, check=True).stdout
    assert " T digits_cnn_invoke" in symbols
    # The library took the project's -mcpu=cortex-m4: the kernels' DSP path (SMLAD) is in the ELF.
    code = subprocess.run([CROSS + "objdump", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    assert "smlad" in code


def test_a_user_project_on_the_host_gives_the_host_builds_outputs(digits, tmp_path):
    project = user_project(tmp_path / "user", digits.c_path.parent, digits.name)
    build = tmp_path / "build"
    cmake_build(project, build)
    done = subprocess.run([str(build / "app")], capture_output=True, text=True, check=True)
    printed = np.array([int(v) for v in done.stdout.split()], dtype=np.int8)
    (expected,) = digits.run_int8(pattern_input(digits))
    np.testing.assert_array_equal(printed, expected.reshape(-1))


@pytest.fixture(scope="module")
def digits_firmware(tmp_path_factory):
    """The example with the firmware for the Cortex-M4 board, built with its Makefile and run by mcuq."""
    options = firmware.FirmwareOptions(get_board("mps2-an386"), samples=3, extra_cflags="-Werror")
    return mcuq.compile(EXAMPLE / "digits_cnn.onnx", EXAMPLE / "calib.npy",
                        tmp_path_factory.mktemp("fw") / "digits", firmware_options=options)


def loadable_bytes(elf: Path, into: Path) -> bytes:
    subprocess.run([CROSS + "objcopy", "-O", "binary", str(elf), str(into)], check=True)
    return into.read_bytes()


def test_the_firmwares_cmake_build_is_the_makefiles(digits_firmware, tmp_path):
    project = digits_firmware.firmware_build.project
    folder = project.folder
    assert {"CMakeLists.txt", "arm-none-eabi.cmake"} <= {p.name for p in project.files}
    build = tmp_path / "cmake-build"
    cmake_build(folder, build, "-DMCUQ_EXTRA_CFLAGS=-Werror")  # the toolchain file is the default
    elf = build / f"{project.prefix}.elf"
    assert loadable_bytes(elf, tmp_path / "cmake.bin") == loadable_bytes(project.elf, tmp_path / "make.bin")
    made = digits_firmware.firmware_run
    run = firmware.run_firmware(project, elf=elf)
    assert run.exit_status == 0, run.log
    assert run.layer_ticks == made.layer_ticks
    for ours, theirs in zip(run.outputs, made.outputs):
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)


def test_the_cmake_run_target_runs_the_firmware_under_qemu(digits_firmware, tmp_path):
    folder = digits_firmware.firmware_build.project.folder
    build = tmp_path / "cmake-build"
    cmake_build(folder, build)
    done = subprocess.run(["cmake", "--build", str(build), "--target", "run"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "result pass mismatches=0" in done.stdout + done.stderr


@pytest.mark.parametrize("board", ["microbit", "mps3-an547", "rpi-pico"])
def test_the_cmake_build_is_the_makefiles_on_other_cores(digits, board, tmp_path):
    """Cortex-M0 (soft float), M55 (Helium kernels) and a real board's M0+: each board's toolchain file
    gives the flags its Makefile uses."""
    folder = tmp_path / "fw"
    folder.mkdir()
    for path in (digits.c_path, digits.h_path):
        shutil.copy(path, folder / path.name)
    samples = digits.firmware_samples(np.zeros((1, *digits.graph.tensors[digits.graph.inputs[0]].shape[1:]),
                                               np.float32))
    project = firmware.write_project(folder, digits.name, get_board(board), samples)
    firmware.build_firmware(project)
    build = tmp_path / "cmake-build"
    cmake_build(folder, build)
    elf = build / f"{project.prefix}.elf"
    assert loadable_bytes(elf, tmp_path / "cmake.bin") == loadable_bytes(project.elf, tmp_path / "make.bin")
