"""Random valid ONNX graphs (tests/helpers/graph_fuzz.py) through the whole pipeline: a fixed set of
seeds compiles without a crash, the C equals the golden model, refusals are McuqErrors naming the
node, and a few graphs run under QEMU with exactly the host build's outputs. benchmarks/soak.py runs thousands.

The QEMU test needs arm-none-eabi-gcc, newlib, make and qemu-system-arm (.ci/run installs them); it
skips without them unless MCUQ_REQUIRE_FIRMWARE_TOOLS=1, where a missing tool is a failure."""

import os
import shutil
from collections import Counter

import pytest

from mcuq.frontend.onnx_ops import HANDLERS
from tests.helpers import graph_fuzz
from tests.helpers.paths import REPO

SEEDS = range(30)
# A Concat of two branches; a Pad, Transpose and grouped conv; Mul → Concat → strided grouped conv → residual;
# a ConvTranspose with a per-channel affine folded in; a bilinear Resize (pytorch_half_pixel) to 11x6.
QEMU_SEEDS = (0, 8, 26, 20, 21)
QEMU_BOARD = "mps2-an386"
TOOLS = ("arm-none-eabi-gcc", "make", "qemu-system-arm")
MISSING = [t for t in TOOLS if shutil.which(t) is None]
if MISSING and os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS") == "1":
    raise RuntimeError(f"firmware tools missing: {MISSING} (MCUQ_REQUIRE_FIRMWARE_TOOLS=1)")

#: Ops of a float model; QuantizeLinear/DequantizeLinear belong to pre-quantized models
#: (tests/frontend/test_qdq.py, tests/end_to_end/test_qdq_*.py).
FLOAT_OPS = set(HANDLERS) - {"QuantizeLinear", "DequantizeLinear"}


def test_same_seed_same_model():
    for seed in (1, 2, 3):
        assert graph_fuzz.generate(seed).model.SerializeToString() == graph_fuzz.generate(seed).model.SerializeToString()
    assert graph_fuzz.generate(1).model.SerializeToString() != graph_fuzz.generate(2).model.SerializeToString()


def attribute_features(case) -> set:
    """(op, attribute, value) of every node, and the opset: what the generator covered."""
    import onnx

    features = {("opset", case.model.opset_import[0].version)}
    weight_shapes = {t.name: tuple(t.dims) for t in case.model.graph.initializer}
    for node in case.model.graph.node:
        features.add((node.op_type,))
        for attribute in node.attribute:
            value = onnx.helper.get_attribute_value(attribute)
            if attribute.name == "group" and value > 1 and weight_shapes[node.input[1]][1] == 1:
                value = "depthwise"
            if isinstance(value, bytes):
                value = value.decode()
            if isinstance(value, list):
                value = tuple(value)
            if attribute.name != "value":
                features.add((node.op_type, attribute.name, value))
    return features


def test_generator_covers_every_op_and_attribute():
    """Over 300 seeds every float op mcuq supports appears, and so does each attribute value that
    changes what the compiler must do."""
    features = Counter()
    for seed in range(300):
        features.update(attribute_features(graph_fuzz.generate(seed)))
    ops = {f[0] for f in features if len(f) == 1}
    assert FLOAT_OPS <= ops, FLOAT_OPS - ops
    wanted = [("Conv", "auto_pad", "SAME_UPPER"), ("Conv", "auto_pad", "SAME_LOWER"), ("Conv", "auto_pad", "VALID"),
              ("Conv", "dilations", (2, 2)), ("Conv", "strides", (2, 1)), ("Conv", "kernel_shape", (5, 5)),
              ("MaxPool", "ceil_mode", 1), ("AveragePool", "ceil_mode", 1), ("AveragePool", "count_include_pad", 1),
              ("MaxPool", "auto_pad", "SAME_UPPER"), ("Gemm", "transB", 1), ("Gemm", "transB", 0),
              ("Pad", "mode", "constant"), ("Pad", "mode", "reflect"), ("Pad", "mode", "edge"),
              ("Softmax", "axis", 1), ("Softmax", "axis", -1), ("Softmax", "axis", 2), ("Concat", "axis", 1),
              ("Concat", "axis", -1), ("Flatten", "axis", 1)] + [("opset", v) for v in graph_fuzz.OPSETS]
    assert not [f for f in wanted if f not in features]
    groups = {f[2] for f in features if f[:2] == ("Conv", "group")}
    assert {1, "depthwise"} <= groups
    asymmetric = [f for f in features if f[:2] == ("Conv", "pads") and f[2][:2] != f[2][2:]]
    assert asymmetric


def check_outcome(outcome: graph_fuzz.Outcome) -> None:
    assert outcome.kind in ("ok", "refused"), f"seed {outcome.seed} ({outcome.chain}): {outcome.kind}\n{outcome.message}"
    if outcome.kind == "refused":  # a clear message that names the node, never a traceback
        assert outcome.message.startswith("node '"), outcome.message
    else:
        assert outcome.sqnr_db is not None


def test_fuzzed_graphs_compile_and_the_c_equals_the_golden_model(tmp_path):
    outcomes = [graph_fuzz.run_case(graph_fuzz.generate(seed), tmp_path / str(seed)) for seed in SEEDS]
    for outcome in outcomes:
        check_outcome(outcome)
    assert sum(o.kind == "ok" for o in outcomes) >= len(outcomes) * 3 // 4  # the generator mostly makes supported graphs


@pytest.mark.skipif(bool(MISSING), reason=f"not installed: {MISSING} (.ci/run installs them)")
@pytest.mark.parametrize("seed", QEMU_SEEDS)
def test_fuzzed_graphs_run_under_qemu_as_on_the_host(seed, tmp_path):
    from mcuq import firmware
    from mcuq.firmware.boards import get_board

    options = firmware.FirmwareOptions(get_board(QEMU_BOARD), samples=2, extra_cflags="-Werror")
    outcome = graph_fuzz.run_case(graph_fuzz.generate(seed), tmp_path, options)
    check_outcome(outcome)
    assert outcome.kind == "ok" and outcome.qemu  # the firmware ran, and `compile` checked it against the host


def test_soak_counts_outcomes_and_saves_the_listed_graphs(tmp_path, capsys):
    """The soak script on one supported graph and one that mcuq refuses (a Pad mode it does not do)."""
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import soak

    refused = next(s for s in range(100)  # one refused Pad: the summary quotes the first line of the refusal
                   if (c := graph_fuzz.generate(s)).chain.count("Pad(edge") + c.chain.count("Pad(reflect") == 1)
    supported = next(s for s in range(100) if "Pad(" not in graph_fuzz.generate(s).chain)
    assert soak.main(["--seeds", f"{supported},{refused}", "--out", str(tmp_path), "--worst", "1"]) == 0
    summary = (tmp_path / "summary.md").read_text()
    assert "outcomes: ok 1, refused 1, crash 0, c_mismatch 0" in summary
    assert "only constant padding is supported" in summary
    assert f"seed {supported:>5}" in summary and "blamed:" in summary
    for seed in (supported, refused):
        assert (tmp_path / "cases" / f"seed_{seed}" / "model.onnx").is_file()
    assert summary in capsys.readouterr().out
