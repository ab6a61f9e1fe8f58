"""Firmware under QEMU: the bundled example and KWS DS-CNN on every emulated core (M0/M3/M4/M7/M33/M55) give
exactly the host build's outputs, with instruction counts identical across runs; every real board builds
KWS; a model too big for the board, a hung firmware and a faulting one are clear errors.

Needs arm-none-eabi-gcc, newlib, make and qemu-system-arm (.ci/run installs them). Without them the tests
skip, unless MCUQ_REQUIRE_FIRMWARE_TOOLS=1 (set in CI), where a missing tool is a failure."""

import os
import shutil
import subprocess

import numpy as np
import pytest

import mcuq
from mcuq import firmware
from mcuq.cli import main as cli_main
from mcuq.errors import McuqError
from mcuq.firmware.boards import all_boards, get_board
from mcuq.firmware.qemu import FirmwareRunError, parse_output
from tests.helpers.paths import REPO

TOOLS = ("arm-none-eabi-gcc", "make", "qemu-system-arm")
MISSING = [t for t in TOOLS if shutil.which(t) is None]
if MISSING and os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS") == "1":
    raise RuntimeError(f"firmware tools missing: {MISSING} (MCUQ_REQUIRE_FIRMWARE_TOOLS=1)")
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {MISSING} (.ci/run installs them)")

EXAMPLE = REPO / "examples" / "digits"
EMULATED = [b.name for b in all_boards() if b.emulated]
REAL = [b.name for b in all_boards() if not b.emulated]
KWS_BOARDS = ["microbit", "mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]


def _samples(compiled, samples_onnx):
    """Quantized test inputs in the IR layout and the host build's outputs for them."""
    from mcuq import data

    graph = compiled.graph
    return compiled.firmware_samples(
        data.prepare_samples(samples_onnx, graph, data.onnx_input_shape(graph, graph.inputs[0])))


def _project(compiled, board_name, folder, samples, **options):
    """The compiled model's C in a folder of its own, with a firmware project for the board."""
    folder.mkdir()
    for path in (compiled.c_path, compiled.h_path):
        shutil.copy(path, folder / path.name)
    return firmware.write_project(folder, compiled.name, get_board(board_name), samples, **options)


def _build_and_run(compiled, board_name, folder, samples, **options):
    project = _project(compiled, board_name, folder, samples, **options)
    build = firmware.build_firmware(project, extra_cflags="-Werror")
    return build, firmware.run_firmware(project, timeout_s=300)


def _assert_equal_to_host(run, samples):
    assert run.exit_status == 0, run.log
    assert len(run.outputs) == len(samples)
    for s, sample in enumerate(samples):
        assert len(run.outputs[s]) == len(sample.expected)
        for o, expected in enumerate(sample.expected):
            np.testing.assert_array_equal(run.output(s, o, expected.dtype), expected)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return mcuq.compile(EXAMPLE / "digits_cnn.onnx", EXAMPLE / "calib.npy", tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="module")
def digits_samples(digits):
    with np.load(EXAMPLE / "test.npz") as d:
        return _samples(digits, d["x"][:6])


@pytest.mark.parametrize("board", EMULATED)
def test_example_runs_bit_exact_on_every_emulated_core(digits, digits_samples, board, tmp_path):
    build, run = _build_and_run(digits, board, tmp_path / "fw", digits_samples)
    _assert_equal_to_host(run, digits_samples)
    # Deterministic: a second run of the same ELF counts the same ticks in every layer of every sample.
    again = firmware.run_firmware(build.project)
    assert again.layer_ticks == run.layer_ticks
    layers = len(digits.qmodel.layers)
    assert all(len(t) == layers for t in run.layer_ticks)
    # The convolutions do real work: thousands of instructions; a reshape alias costs nothing.
    per_layer = run.layer_instructions(0)
    conv_layers = [i for i, layer in enumerate(digits.qmodel.layers) if layer.op.value == "conv"]
    assert all(per_layer[i] > 10_000 for i in conv_layers)
    assert run.total_instructions(0) == pytest.approx(sum(per_layer), abs=layers * run.ns_per_tick)
    assert 0 < run.stack_bytes < build.project.stack_size
    assert 0 < build.flash_bytes <= get_board(board).flash.length


@pytest.mark.parametrize("board", ["microbit", "mps3-an547"])
def test_int16_layers_run_bit_exact(digits_samples, board, tmp_path):
    """int16 activations (64-bit accumulators, requantize layers at the boundaries) on M0 and M55."""
    mixed = mcuq.compile(EXAMPLE / "digits_cnn.onnx", EXAMPLE / "calib.npy", tmp_path / "mixed",
                         int16_layers=("conv2", "pool2"))
    assert any(t.dtype == "int16" for t in mixed.qmodel.tensors.values())
    with np.load(EXAMPLE / "test.npz") as d:
        samples = _samples(mixed, d["x"][:3])
    _, run = _build_and_run(mixed, board, tmp_path / "fw", samples)
    _assert_equal_to_host(run, samples)


def test_int16_model_output_runs_bit_exact(tmp_path):
    """A model whose last layer is int16 has an int16 output: typed buffers, bytes printed little-endian."""
    from tests.quant.test_mixed_precision import _logits_model

    x = np.random.default_rng(0).normal(0, 1, (16, 2, 5, 5)).astype(np.float32)
    compiled = mcuq.compile(_logits_model(tmp_path / "logits.onnx"), x, tmp_path / "m", name="lg", int16_layers="fc")
    samples = _samples(compiled, x[:3])
    assert samples[0].expected[0].dtype == np.int16
    _, run = _build_and_run(compiled, "mps2-an386", tmp_path / "fw", samples)
    _assert_equal_to_host(run, samples)


def test_size_optimized_firmware_gives_the_same_outputs(digits, digits_samples, tmp_path):
    build_o2, run_o2 = _build_and_run(digits, "mps2-an386", tmp_path / "o2", digits_samples[:2])
    build_os, run_os = _build_and_run(digits, "mps2-an386", tmp_path / "os", digits_samples[:2], opt="-Os")
    _assert_equal_to_host(run_os, digits_samples[:2])
    assert build_os.sections[".text"] < build_o2.sections[".text"]
    assert run_o2.ns_per_tick == 40.0  # 25 MHz SysTick, 1 ns per instruction


def test_concat_without_copies_runs_bit_exact_on_m4(tmp_path):
    """Six producers writing their channel slices of a Concat (pixel strides) under QEMU on a Cortex-M4."""
    from tests.plan.test_concat import compile_model

    compiled, _, samples = compile_model("inception", tmp_path)
    assert "mcuq_concat_s8" not in compiled.c_path.read_text()
    data = _samples(compiled, samples[:3])
    _, run = _build_and_run(compiled, "mps2-an386", tmp_path / "fw", data)
    _assert_equal_to_host(run, data)
    # The concat layer does no work: a few hook instructions next to the convolutions' thousands.
    concat = next(i for i, layer in enumerate(compiled.qmodel.layers) if layer.op.value == "concat")
    per_layer = run.layer_instructions(0)
    assert per_layer[concat] < 100 < 10_000 < max(per_layer)


@pytest.mark.slow
@pytest.mark.parametrize("board", KWS_BOARDS)
def test_kws_runs_bit_exact(kws_compiled, kws_data, board, tmp_path):
    samples = _samples(kws_compiled, kws_data["x_test"][:3])
    build, run = _build_and_run(kws_compiled, board, tmp_path / "fw", samples)
    _assert_equal_to_host(run, samples)
    assert firmware.run_firmware(build.project).layer_ticks == run.layer_ticks
    # A floor that catches a broken count: SMLAD does 2 MACs per instruction, Helium's VMLADAVA more (its
    # conv layers run at up to 6 per instruction, whole models below 4, as the ResNet-8 test below allows).
    most_macs_per_insn = 4 if get_board(board).mve else 2
    assert run.total_instructions(0) > 2_656_768 / most_macs_per_insn


@pytest.mark.slow
def test_resnet8_runs_bit_exact_in_its_in_place_arena(zoo, tmp_path):
    """ResNet-8's arena overlaps inputs and outputs of most layers; on the M55 it must still give exactly
    the host build's outputs."""
    images = np.random.default_rng(1).uniform(0, 255, (8, 3, 32, 32)).astype(np.float32)
    compiled = mcuq.compile(zoo / "resnet8_cifar10" / "model.onnx", images, tmp_path / "r8", name="resnet8")
    samples = _samples(compiled, images[:2])
    _, run = _build_and_run(compiled, "mps3-an547", tmp_path / "fw", samples)
    _assert_equal_to_host(run, samples)
    assert run.total_instructions(0) > 12_501_632 / 16  # a whole run: one Helium VMLADAVA does at most 16 MACs


@pytest.fixture(scope="module")
def kws_compiled(zoo, kws_data, tmp_path_factory):
    return mcuq.compile(zoo / "kws_dscnn" / "model.onnx", kws_data["x_calib"][:50], tmp_path_factory.mktemp("kws"),
                        name="kws")


@pytest.mark.slow
@pytest.mark.parametrize("board", REAL)
def test_real_boards_build_kws_and_report_size(kws_compiled, kws_data, board, tmp_path):
    samples = _samples(kws_compiled, kws_data["x_test"][:2])
    project = _project(kws_compiled, board, tmp_path / "fw", samples)
    build = firmware.build_firmware(project, extra_cflags="-Werror")
    assert build.sections[".text"] > kws_compiled.report["totals"]["weight_bytes"]  # weights are const: flash
    assert build.sections[".bss"] >= kws_compiled.arena_size  # the arena is in RAM
    assert build.ram_bytes == build.sections.get(".data", 0) + build.sections[".bss"] + project.stack_size
    with pytest.raises(McuqError, match="not emulated"):
        firmware.run_firmware(project)


@pytest.mark.slow
def test_resnet8_does_not_fit_the_microbit(zoo, tmp_path):
    images = np.random.default_rng(0).uniform(0, 255, (4, 3, 32, 32)).astype(np.float32)
    options = firmware.FirmwareOptions(get_board("microbit"), samples=1)
    with pytest.raises(firmware.DoesNotFitError) as error:
        mcuq.compile(zoo / "resnet8_cifar10" / "model.onnx", images, tmp_path / "r8", firmware_options=options)
    message = str(error.value)
    assert "does not fit microbit" in message and "RAM" in message
    assert "the board has 16,384 B" in message  # the board's size ...
    arena = int(message.split("arena alone is ")[1].split(" B")[0].replace(",", ""))
    assert arena > 16_384  # ... and the model's, far above it
    needs = int(message.split("needs ")[1].split(" B")[0].replace(",", ""))
    assert needs >= arena + options.stack_size
    assert (tmp_path / "r8" / "model.c").exists() and (tmp_path / "r8" / "report.md").exists()


def test_compile_with_board_runs_under_qemu_and_reports(tmp_path, capsys):
    out = tmp_path / "out"
    status = cli_main(["compile", str(EXAMPLE / "digits_cnn.onnx"), "--calib", str(EXAMPLE / "calib.npy"),
                       "-o", str(out), "--board", "mps2-an386", "--samples", "3", "-q"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "outputs equal the host build's, bit for bit" in printed
    assert "total" in printed and "MACs/insn" in printed
    report = (out / "report.md").read_text()
    assert "## Firmware on mps2-an386" in report and "bit for bit" in report
    # The project rebuilds with make alone, and the rebuilt firmware passes on its own.
    subprocess.run(["make", "-C", str(out), "clean"], check=True, capture_output=True)
    subprocess.run(["make", "-C", str(out)], check=True, capture_output=True)
    done = subprocess.run(["make", "-s", "-C", str(out), "run"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "result pass mismatches=0" in done.stdout + done.stderr  # semihosting: stderr


def test_build_prints_sizes_and_run_refuses_a_real_board(tmp_path, capsys):
    args = [str(EXAMPLE / "digits_cnn.onnx"), "--calib", str(EXAMPLE / "calib.npy"), "--samples", "1", "-q"]
    assert cli_main(["build", *args, "-o", str(tmp_path / "b"), "--board", "rpi-pico", "--opt", "Os"]) == 0
    printed = capsys.readouterr().out
    assert "for rpi-pico (cortex-m0plus, -Os)" in printed and "of 270,336 B" in printed
    assert "-Os" in (tmp_path / "b" / "Makefile").read_text()
    assert cli_main(["run", *args, "-o", str(tmp_path / "r"), "--board", "nucleo-l4r5zi"]) == 2
    assert "not emulated by QEMU" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before any work


def test_boards_command_lists_every_board(capsys):
    assert cli_main(["boards"]) == 0
    printed = capsys.readouterr().out
    for board in all_boards():
        assert board.name in printed
    assert "build and size only" in printed


def _patched_main(project, before_first_sample: str) -> None:
    main_c = project.folder / "main.c"
    text = main_c.read_text()
    anchor = "    fw_stack_paint();\n"
    main_c.write_text(text.replace(anchor, anchor + before_first_sample + "\n", 1))


def test_a_hung_firmware_is_stopped_with_a_clear_error(digits, digits_samples, tmp_path):
    project = _project(digits, "mps2-an386", tmp_path / "fw", digits_samples[:1])
    _patched_main(project, "    for (volatile int spin = 1; spin;) { }")
    firmware.build_firmware(project)
    with pytest.raises(FirmwareRunError, match="did not finish within 3 s"):
        firmware.run_firmware(project, timeout_s=3)


def test_a_fault_is_reported_with_its_meaning(digits, digits_samples, tmp_path):
    project = _project(digits, "mps2-an386", tmp_path / "fw", digits_samples[:1])
    _patched_main(project, "    ((void (*)(void))0xFFFFFFF0u)();")  # branch to an unmapped address
    firmware.build_firmware(project)
    with pytest.raises(FirmwareRunError, match="HardFault"):
        firmware.run_firmware(project, timeout_s=30)


def test_incomplete_output_is_an_error():
    with pytest.raises(FirmwareRunError, match="printed nothing mcuq understands"):
        parse_output("garbage\n", 0, 25_000_000)
    log = "mcuq-fw m layers=2 samples=2 clock_hz=25000000\nout 0 0 7f80\nticks 0 10 20\n"
    with pytest.raises(FirmwareRunError, match="incomplete"):
        parse_output(log, 0, 25_000_000)
    run = parse_output(log + "out 1 0 0001\nticks 1 11 20\nstack 300\nresult pass mismatches=0\n", 0, 25_000_000)
    assert [o[0].tolist() for o in run.outputs] == [[127, -128], [0, 1]]
    assert run.layer_instructions(1) == [440, 800] and run.stack_bytes == 300


def test_a_stack_too_small_is_named_not_blamed_on_mcuq(tmp_path):
    """256 B of stack is less than the digits model's kernels take on the M4: the stack overflows into the
    arena and the outputs differ from the host build's. The error must name the stack and the fix, not
    call it a bug in mcuq (the outputs' mismatch, which it causes)."""
    calib = np.load(EXAMPLE / "calib.npy")[:20]
    options = firmware.FirmwareOptions(get_board("mps2-an386"), samples=2, stack_size=256)
    with pytest.raises(firmware.DoesNotFitError, match="used all of its 256 B stack") as error:
        mcuq.compile(EXAMPLE / "digits_cnn.onnx", calib, tmp_path / "d", firmware_options=options)
    assert "--stack-size 512" in str(error.value) and "bug in mcuq" not in str(error.value)
    # With the default stack the same build runs and leaves painted words (it did not reach the limit).
    compiled = mcuq.compile(EXAMPLE / "digits_cnn.onnx", calib, tmp_path / "ok",
                            firmware_options=firmware.FirmwareOptions(get_board("mps2-an386"), samples=2))
    used = compiled.report["firmware"]["run"]["stack_used_bytes"]
    assert 256 < used < firmware.FirmwareOptions(get_board("mps2-an386")).stack_size
