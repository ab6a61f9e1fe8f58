"""Issue 13's real exports: torchvision classifiers at microcontroller sizes and small hand-written nets,
exported by torch.onnx.export the three ways users do (dynamo, TorchScript at opsets 13 and 17), and
Keras-style NHWC graphs. Each must compile with mcuq's public API, its C must equal the golden model on
every verification sample, and its output SQNR against ONNX Runtime on the float model must be at least
ONNX Runtime `quantize_static`'s best (per channel, MinMax or Percentile, same calibration data) minus 1 dB.

Every export meets that bar; none is expected to fail. The same measurements, as a table:
benchmarks/real_models.py."""

from __future__ import annotations

import importlib.util
import os
import shutil

import numpy as np
import pytest

import mcuq
from mcuq import firmware
from mcuq.firmware.boards import get_board
from tests.helpers import real_exports, torch_export
from tests.helpers.real_exports import N_VERIFY, Export

# ORT's quantizer is the bar; allowed to be this much better than mcuq on a model's output SQNR.
SQNR_MARGIN_DB = 1.0

# Over ~20 s each (export, compile, two ORT quantizations) on this machine: the torchvision classifiers.
SLOW_MODELS = frozenset(n for n, m in torch_export.MODELS.items() if m.from_torchvision)


def marks(export: Export) -> list:
    return [pytest.mark.slow] if export.model in SLOW_MODELS else []


EXPORTS = [pytest.param(e, id=e.label, marks=marks(e)) for e in real_exports.all_exports()]


def require_torch(torchvision: bool):
    """Skip without torch (a test extra; CI installs it), onnxscript (the dynamo exporter writes through
    it) or, for its models, torchvision (whose import fails, not skips, without `import_torchvision_models`)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    if torchvision and importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed")


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """export -> its ONNX file, written once per session."""
    folder = tmp_path_factory.mktemp("real_exports")
    files: dict[Export, object] = {}

    def get(export: Export):
        if export.needs_torch:
            require_torch(torchvision=torch_export.MODELS[export.model].from_torchvision)
        if export not in files:
            files[export] = export.write(folder / f"{export.label}.onnx")
        return files[export]

    return get


@pytest.mark.parametrize("export", EXPORTS)
def test_compiles_bit_exact_and_as_good_as_ort(export, exported, tmp_path):
    pytest.importorskip("onnxruntime")
    m = real_exports.measure(export, exported(export), tmp_path / "out")
    assert m.error is None, f"{m.error} (op types without a handler: {m.unhandled})"
    assert (m.c_mismatches, m.verified_samples) == (0, N_VERIFY)
    assert m.mcuq.sqnr_db >= m.best_ort_sqnr - SQNR_MARGIN_DB, (m.mcuq, m.ort)


SEQUENCE_MODELS = ("gru_kws", "lstm_kws", "keyword_transformer", "tiny_vit")


@pytest.mark.parametrize("export", [e for e in real_exports.all_exports() if e.model in SEQUENCE_MODELS],
                         ids=lambda e: e.label)
def test_sequence_model_arena_within_two_largest_tensors_plus_scratch(export, exported, tmp_path):
    """Issue 14's memory bound: a recurrent or transformer model's arena is at most its two largest
    tensors plus its largest kernel scratch (no attention score or gate buffer left alive for nothing)."""
    m = real_exports.measure(export, exported(export), tmp_path / "out", with_ort=False)
    assert m.error is None, m.error
    assert 0 < m.arena_bytes <= m.arena_bound, (m.arena_bytes, m.arena_bound)


@pytest.mark.parametrize("export", [e for e in real_exports.all_exports() if e.needs_torch][::3],
                         ids=lambda e: e.model)
def test_onnx_file_computes_what_the_torch_module_computes(export, exported):
    """The harness itself: the exported file (run by ONNX Runtime) equals the seeded torch module on the
    test inputs, so the weights are seeded and the export is faithful (one export form per model)."""
    ort = real_exports.other_quantizers()
    path = exported(export)
    import torch

    _, verify = real_exports.calibration_and_verification(export)
    module = torch_export.seeded_module(torch_export.MODELS[export.model])
    with torch.no_grad():
        expected = module(torch.from_numpy(verify)).numpy()
    np.testing.assert_allclose(ort.run_onnx(path, verify), expected, rtol=1e-3, atol=1e-4)


def test_torchvision_models_import_with_cpu_torch():
    """The schemas defined before the import let torchvision's model definitions load although its
    `_C` extension, built for another torch, does not."""
    require_torch(torchvision=True)
    models = torch_export.import_torchvision_models()
    assert callable(models.mobilenet_v2)


# The hand-written nets on both boards; two torchvision classifiers on the board with room for their
# 1-1.4 MB of weights (mps3-an547's ITCM holds 512 KiB).
FIRMWARE_CASES = [(model, board) for model in ("unet", "conv_autoencoder", "kws_conv1d", "activations",
                                               "input_normalization") for board in ("mps2-an386", "mps3-an547")]
FIRMWARE_CASES += [(model, board) for model in SEQUENCE_MODELS for board in ("mps2-an386", "mps3-an547")]
FIRMWARE_CASES += [pytest.param(model, "mps2-an386", marks=pytest.mark.slow)
                   for model in ("mobilenet_v3_small_0.5", "shufflenet_v2_x0_5")]


@pytest.mark.parametrize("model, board", FIRMWARE_CASES)
def test_firmware_under_qemu_equals_the_host_build(model, board, exported, tmp_path):
    """The dynamo export (torch's default) built for the board and run under QEMU: compile() raises
    VerificationError when the firmware's outputs differ from the host build's by one byte."""
    missing = [tool for tool in ("arm-none-eabi-gcc", "make", "qemu-system-arm") if shutil.which(tool) is None]
    if missing and os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS") != "1":
        pytest.skip(f"firmware tools not installed: {missing}")
    export = Export(model, "dynamo")
    calib, verify = real_exports.calibration_and_verification(export)
    options = firmware.FirmwareOptions(get_board(board), run=True, samples=2)
    compiled = mcuq.compile(exported(export), calib, tmp_path / "out", verify_data=verify,
                            firmware_options=options)
    run = compiled.report["firmware"]["run"]
    assert run["samples"] == 2 and not run.get("mismatches"), run
