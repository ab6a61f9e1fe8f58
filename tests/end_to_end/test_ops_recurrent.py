"""GRU and LSTM through the whole pipeline: the C equals the golden model (`mcuq.compile` fails otherwise),
the output is close to ONNX Runtime's on the float model, and the keyword-spotting nets exported with both
PyTorch exporters reach ONNX Runtime `quantize_static`'s best SQNR minus 1 dB on the same data. Both run
under QEMU on a Cortex-M4 (DSP path) and a Cortex-M55 (MVE path) equal to the host build."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from mcuq import firmware
from mcuq.firmware.boards import get_board
from tests.end_to_end.test_ops_end_to_end import check
from tests.helpers import recurrent_nets
from tests.helpers.small_models import make_model

T, F, H = 12, 6, 16


def recurrent_head(op: str, direction: str, initial: bool, read: str):
    """x [1, T, F] -> Transpose -> GRU/LSTM -> Y (its last step, y[:, -1] as PyTorch's TorchScript exporter
    writes it: Squeeze, Transpose to batch first, Gather along the time axis) or Y_h -> Gemm."""
    rng = np.random.default_rng(3)
    gates = 3 if op == "GRU" else 4
    inits = {"W": rng.normal(0, 0.4, (1, gates * H, F)).astype(np.float32),
             "R": rng.normal(0, 0.25, (1, gates * H, H)).astype(np.float32),
             "B": rng.normal(0, 0.2, (1, 2 * gates * H)).astype(np.float32),
             "fw": rng.normal(0, 0.3, (5, H)).astype(np.float32), "fb": rng.normal(0, 0.1, 5).astype(np.float32),
             "shape": np.array([1, H], np.int64), "axis": np.array([1], np.int64),
             "last": np.array(T - 1 if direction == "forward" else 0, np.int64)}
    inputs = ["xt", "W", "R", "B"]
    if initial:
        inits["h0"] = rng.uniform(-0.5, 0.5, (1, 1, H)).astype(np.float32)
        inputs += ["", "h0"]
        if op == "LSTM":
            inits["c0"] = rng.uniform(-1, 1, (1, 1, H)).astype(np.float32)
            inputs.append("c0")
    attrs = {"linear_before_reset": 1} if op == "GRU" else {}
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node(op, inputs, ["seq", "y_h"], hidden_size=H, direction=direction, **attrs)]
    if read == "Y":
        nodes += [helper.make_node("Squeeze", ["seq", "axis"], ["squeezed"]),
                  helper.make_node("Transpose", ["squeezed"], ["batch_first"], perm=[1, 0, 2]),
                  helper.make_node("Gather", ["batch_first", "last"], ["flat"], axis=1)]
    else:
        nodes += [helper.make_node("Reshape", ["y_h", "shape"], ["flat"])]
    nodes.append(helper.make_node("Gemm", ["flat", "fw", "fb"], ["y"], transB=1))
    return nodes, inits


@pytest.mark.parametrize("op", ["GRU", "LSTM"])
@pytest.mark.parametrize("direction, initial, read", [("forward", False, "Y"), ("reverse", True, "Y_h"),
                                                      ("forward", True, "Y_h")])
def test_recurrent_layer_end_to_end(op, direction, initial, read, tmp_path):
    nodes, inits = recurrent_head(op, direction, initial, read)
    compiled = check(nodes, [1, T, F], inits, {op.lower()}, tmp_path, opset=14)
    assert "transpose" not in {layer.op.value for layer in compiled.qmodel.layers}
    if initial:  # the output grid holds the initial state (its first hidden input), however small the outputs
        layer = next(layer for layer in compiled.qmodel.layers if layer.op.value == op.lower())
        out = compiled.qmodel.tensors[layer.output]
        h0 = (layer.params.hidden_init.astype(np.float64) - out.zero_point) * out.scale
        assert np.abs(h0 - inits["h0"].reshape(-1)).max() <= out.scale / 2 + 1e-7


def test_initial_state_beyond_the_outputs_range_is_held(tmp_path):
    """An initial state of +-0.9 before a layer whose outputs stay within +-0.1 (small weights): the output
    grid widens to hold it rather than clamping the first step's hidden input."""
    nodes, inits = recurrent_head("GRU", "forward", True, "Y_h")
    inits = {**inits, "h0": np.full((1, 1, H), 0.9, np.float32) * np.sign(np.arange(H) % 2 - 0.5).astype(np.float32),
             "W": inits["W"] * 0.1, "R": inits["R"] * 0.1, "B": inits["B"] * 0.1}
    compiled = check(nodes, [1, T, F], inits, {"gru"}, tmp_path, opset=14)
    layer = next(layer for layer in compiled.qmodel.layers if layer.op.value == "gru")
    lo, hi = compiled.qmodel.tensors[layer.output].real_range()
    assert lo <= -0.9 and hi >= 0.9 - compiled.qmodel.tensors[layer.output].scale


def test_lstm_cell_state_output_is_refused_by_name(tmp_path):
    rng = np.random.default_rng(0)
    inits = {"W": rng.normal(0, 0.4, (1, 4 * H, F)).astype(np.float32),
             "R": rng.normal(0, 0.2, (1, 4 * H, H)).astype(np.float32), "shape": np.array([1, H], np.int64)}
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["xt", "W", "R"], ["", "", "y_c"], hidden_size=H),
             helper.make_node("Reshape", ["y_c", "shape"], ["y"])]
    path = tmp_path / "m.onnx"
    onnx.save(make_model(nodes, [1, T, F], inits, opset=14), path)
    with pytest.raises(mcuq.McuqError, match="Y_c"):
        mcuq.compile(path, rng.normal(0, 1, (8, T, F)).astype(np.float32), tmp_path / "out")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("form", recurrent_nets.FORMS)
def test_keyword_nets_meet_onnx_runtimes_best(kind, form, tmp_path):
    """GRU / LSTM (hidden 32) keyword nets on 49 x 10 MFCC-like input: C = golden on every verification sample
    and SQNR against the float model at least ORT quantize_static's best (MinMax, Percentile) minus 1 dB."""
    path = recurrent_nets.export(kind, form, tmp_path / f"{kind}.onnx")
    measured = recurrent_nets.measure(path, tmp_path / "out")
    report = measured.compiled.report
    assert report["verification"]["c_vs_golden"]["mismatches"] == 0
    assert kind in {layer.op.value for layer in measured.compiled.qmodel.layers}
    assert measured.mcuq.sqnr_db >= measured.best_ort_sqnr - 1.0, (measured.mcuq, measured.ort)
    assert measured.mcuq.top1_agreement >= 0.9


QEMU_TOOLS = ("arm-none-eabi-gcc", "make", "qemu-system-arm")


@pytest.mark.slow
@pytest.mark.skipif(any(shutil.which(t) is None for t in QEMU_TOOLS), reason="firmware tools not installed")
@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_keyword_nets_run_under_qemu_equal_to_host(kind, board, tmp_path):
    path = recurrent_nets.export(kind, "torchscript-17", tmp_path / f"{kind}.onnx")
    options = firmware.FirmwareOptions(get_board(board), run=True, samples=3)
    # compile raises VerificationError when the firmware's outputs differ from the host build's.
    compiled = mcuq.compile(path, recurrent_nets.mfcc_like(32, seed=1), tmp_path / "out", firmware_options=options)
    run = compiled.report["firmware"]["run"]
    assert run["samples"] == 3 and not run.get("mismatches")
