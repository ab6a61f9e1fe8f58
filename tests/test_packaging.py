"""The wheel carries templates/, runtime_c/ and boards/: build it, install it into a fresh virtual
environment, and compile the bundled example (and build its firmware) from there."""

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.helpers.paths import REPO

pytestmark = pytest.mark.slow


def run(*cmd, cwd=None):
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


def test_wheel_installs_and_compiles(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "dist", REPO)
    (wheel,) = (tmp_path / "dist").glob("mcuq-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for required in ("mcuq/templates/model.c.j2", "mcuq/runtime_c/include/mcuq_nn_types.h",
                     "mcuq/runtime_c/src/convolution/mcuq_convolve_s8.c", "mcuq/boards/mps2-an386.toml",
                     "mcuq/templates/firmware/main.c.j2", "mcuq/templates/firmware/Makefile.j2"):
        assert required in names, required

    # A fresh environment that sees the run-time dependencies already installed here but not the
    # source tree: the package must come from the wheel.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", wheel)
    where = run(python, "-c", "import mcuq; print(mcuq.__file__)", cwd=tmp_path).stdout
    assert str(venv) in where, where

    example = REPO / "examples" / "digits"
    result = run(python, "-m", "mcuq", "compile", example / "digits_cnn.onnx", "--calib", example / "calib.npy",
                 "-o", tmp_path / "out", "-q", cwd=tmp_path)
    assert "bit-exact" in result.stdout
    assert (tmp_path / "out" / "digits_cnn.c").is_file()
    assert "mps3-an547" in run(python, "-m", "mcuq", "boards", cwd=tmp_path).stdout
    if shutil.which("arm-none-eabi-gcc") and shutil.which("make"):  # the firmware templates come from the wheel
        run(python, "-m", "mcuq", "build", example / "digits_cnn.onnx", "--calib", example / "calib.npy",
            "-o", tmp_path / "fw", "--board", "nucleo-l4r5zi", "-q", cwd=tmp_path)
        assert (tmp_path / "fw" / "build" / "digits_cnn.elf").is_file()
