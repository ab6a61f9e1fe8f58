"""The generated C and every runtime kernel compile warning-free (-Wall -Wextra -Werror) with
arm-none-eabi-gcc for Cortex-M cores and with clang, with the static arena and without it, and two
models link into one program."""

import shutil
import subprocess

import numpy as np
import pytest

import mcuq
from tests.helpers.paths import REPO

ARM_GCC = shutil.which("arm-none-eabi-gcc")
CLANG = shutil.which("clang")
KERNEL_SOURCES = sorted((REPO / "runtime_c" / "src").rglob("*.c"))
STRICT = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
CORES = {
    "cortex-m0": ["-mcpu=cortex-m0", "-mfloat-abi=soft"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
    "cortex-m55": ["-mcpu=cortex-m55", "-mfloat-abi=hard"],
}
needs_arm_gcc = pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed (.ci/run installs it)")
needs_clang = pytest.mark.skipif(CLANG is None, reason="clang not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    out = tmp_path_factory.mktemp("cross")
    example = REPO / "examples" / "digits"
    calib = np.load(example / "calib.npy")
    mcuq.compile(example / "digits_cnn.onnx", calib, out, name="digits_a", force=True)
    # The second model runs every layer that has an int16 form with int16 activations (16x8 kernels).
    mcuq.compile(example / "digits_cnn.onnx", calib[:50], out, name="digits_b", force=True,
                 int16_layers="conv1,pool1,conv2,pool2,fc")
    return out


def _gcc(core, *args):
    cmd = [ARM_GCC, *CORES[core], "-mthumb", *STRICT, *map(str, args)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@needs_arm_gcc
@pytest.mark.parametrize("core", sorted(CORES))
def test_compiles_for_core(two_models, core, tmp_path):
    _gcc(core, "-c", two_models / "digits_a.c", "-o", tmp_path / "a.o")
    _gcc(core, "-DDIGITS_A_NO_STATIC_ARENA", "-c", two_models / "digits_a.c", "-o", tmp_path / "a_ext.o")
    _gcc(core, "-c", two_models / "digits_b.c", "-o", tmp_path / "b.o")


@needs_arm_gcc
def test_two_models_link_into_one_program(two_models, tmp_path):
    main = tmp_path / "main.c"
    main.write_text(
        '#include "digits_a.h"\n#include "digits_b.h"\n'
        "static int8_t in[DIGITS_A_INPUT_SIZE], out_a[DIGITS_A_OUTPUT_SIZE], out_b[DIGITS_B_OUTPUT_SIZE];\n"
        "int main(void) { return digits_a_invoke(in, out_a) | digits_b_invoke(in, out_b); }\n"
    )
    _gcc("cortex-m4", "-I", two_models, main, two_models / "digits_a.c", two_models / "digits_b.c",
         "--specs=nosys.specs", "-o", tmp_path / "both.elf")


@needs_arm_gcc
@pytest.mark.parametrize("core", sorted(CORES))
@pytest.mark.parametrize("opt", ["-O2", "-O0", "-Os", "-O3"])
def test_every_kernel_compiles_for_core(core, opt, tmp_path):
    """At every optimization level: the assembly inner loops need registers -O0 does not leave free."""
    for source in KERNEL_SOURCES:
        _gcc(core, "-I", REPO / "runtime_c" / "include", "-include", "mcuq_nn.h", opt, "-c", source,
             "-o", tmp_path / "k.o")


@needs_clang
def test_clang_compiles_generated_code_and_kernels(two_models, tmp_path):
    for source in [two_models / "digits_a.c", two_models / "digits_b.c", *KERNEL_SOURCES]:
        cmd = [CLANG, *STRICT, "-I", two_models, "-I", REPO / "runtime_c" / "include", "-c", source, "-o", tmp_path / "o.o"]
        result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
        assert result.returncode == 0, (source, result.stderr)


@needs_arm_gcc
def test_pre_quantized_model_compiles_for_cortex_m0(tmp_path):
    """A QDQ model's C (stored weights, requantizing tables, int8 IO) passes the same strict build."""
    import onnx

    from tests.helpers.qdq_models import QdqBuilder, int8_io_dense_model

    model, _ = int8_io_dense_model()
    onnx.save(model, tmp_path / "dense.onnx")
    mcuq.compile(tmp_path / "dense.onnx", None, tmp_path / "out", name="dense")
    b = QdqBuilder()  # a softmax whose output quantization is not TFLite's: softmax, then a table
    b.node("Softmax", [b.fake_quant("x", 0.1, 0, "x_dq")], "p")
    b.fake_quant("p", 1 / 255, -128, "y")
    onnx.save(b.model_xy([1, 10], [1, 10]), tmp_path / "soft.onnx")
    compiled = mcuq.compile(tmp_path / "soft.onnx", None, tmp_path / "out", name="soft", force=True)
    assert [layer.op.value for layer in compiled.qmodel.layers] == ["softmax", "lut"]
    for name in ("dense", "soft"):
        _gcc("cortex-m0", "-c", tmp_path / "out" / f"{name}.c", "-o", tmp_path / f"{name}.o")


@pytest.fixture(scope="module")
def concat_models(tmp_path_factory):
    """Models whose producers write Concat slices with pixel strides; without softmax (and "partial"
    without pooling), so clang sees the support helpers they leave unused."""
    from tests.plan.test_concat import compile_model

    return [compile_model(name, tmp_path_factory.mktemp(name))[0].c_path for name in ("inception", "partial")]


@needs_clang
def test_clang_compiles_concat_slices(concat_models, tmp_path):
    for source in concat_models:
        cmd = [CLANG, *STRICT, "-I", source.parent, "-c", source, "-o", tmp_path / "o.o"]
        result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
        assert result.returncode == 0, (source, result.stderr)


@needs_arm_gcc
def test_concat_slices_compile_for_cortex_m0(concat_models, tmp_path):
    for source in concat_models:
        _gcc("cortex-m0", "-c", source, "-o", tmp_path / "o.o")


@pytest.fixture(scope="module")
def mobile_block(tmp_path_factory):
    """A first conv, a 3x3 depthwise conv, a pointwise conv and a residual Add (the fast paths' kernels:
    small-K conv, depthwise planes, the Add's table), compiled."""
    import onnx
    from onnx import helper

    from tests.helpers import small_models

    small_models.reset_weights()
    first, w1 = small_models.conv("first", "x", "a", 3, 16)
    depthwise, w2 = small_models.conv("dw", "r", "d", 16, 16, group=16)
    pointwise, w3 = small_models.conv("pw", "d", "p", 16, 16, k=1)
    nodes = [first, helper.make_node("Relu", ["a"], ["r"]), depthwise, pointwise,
             helper.make_node("Add", ["r", "p"], ["y"])]
    out = tmp_path_factory.mktemp("mobile")
    onnx.save(small_models.make_model(nodes, (1, 3, 12, 12), {**w1, **w2, **w3}), out / "block.onnx")
    calib = np.random.default_rng(0).normal(size=(16, 3, 12, 12)).astype(np.float32)
    mcuq.compile(out / "block.onnx", calib, out, name="block", force=True)
    return out / "block.c"


@needs_arm_gcc
@pytest.mark.parametrize("portable", [False, True], ids=["fast paths", "MCUQ_PORTABLE_KERNELS"])
@pytest.mark.parametrize("core", sorted(CORES))
def test_fast_path_kernels_compile_for_core_and_with_portable_kernels_forced(mobile_block, core, portable, tmp_path):
    """-DMCUQ_PORTABLE_KERNELS (README: forces the portable path on any core) must build on every core: the
    M4's depthwise assembly header once checked __ARM_FEATURE_DSP alone and broke that build."""
    flags = ["-DMCUQ_PORTABLE_KERNELS"] if portable else []
    for level in ("-O2", "-Os", "-O0"):
        _gcc(core, *flags, level, "-c", mobile_block, "-o", tmp_path / "block.o")
