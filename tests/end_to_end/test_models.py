"""Whole models from the shared zoo: the C equals the golden model bit for bit on every test input
(compile raises VerificationError otherwise), and int8 accuracy is close to the float model's as
measured by ONNX Runtime."""

import json

import numpy as np
import pytest

import mcuq
from tests.helpers.arena_checks import assert_arena_least_then_grown, check_poisoned_arena

pytestmark = pytest.mark.slow


def _check_c_apis(compiled, sample_onnx):
    """invoke_f32 agrees with invoke; a caller arena of exactly ARENA_SIZE random bytes gives the
    golden model's output, one byte less is refused (see arena_checks)."""
    from mcuq.quant.lower import quantize_input

    graph = compiled.graph
    t_in = compiled.qmodel.tensors[graph.inputs[0]]
    x_ir = sample_onnx[None].astype(np.float32)
    perm = graph.input_perms.get(graph.inputs[0])
    if perm is not None:
        x_ir = x_ir.transpose(perm)
    x_ir = np.ascontiguousarray(x_ir.reshape(t_in.shape))
    q = quantize_input(x_ir, t_in.scale, t_in.zero_point)
    (y_int8,) = compiled.host.invoke(q)
    check_poisoned_arena(compiled, q)
    (y_f32,) = compiled.host.invoke_f32(x_ir)
    t_out = compiled.qmodel.tensors[compiled.qmodel.outputs[0]]
    np.testing.assert_array_equal(y_f32, (y_int8.astype(np.float32) - t_out.zero_point) * np.float32(t_out.scale))


def _accuracy(compiled):
    return compiled.report["verification"]["accuracy"]


# The TFLite converter's int8 KWS model reaches 89.88 % on x_test; min-max calibration 91.00 %; the
# default (auto calibration) must lose at most a quarter point against the float model's 91.25 %.
@pytest.mark.parametrize("method, least", [("minmax", 0.90), ("auto", 0.91)])
def test_kws_dscnn(zoo, kws_data, tmp_path, method, least):
    compiled = mcuq.compile(zoo / "kws_dscnn" / "model.onnx", kws_data["x_calib"], tmp_path / "kws",
                            verify_data=kws_data["x_test"], verify_labels=kws_data["y_test"],
                            calib_method=method)
    acc = _accuracy(compiled)
    assert abs(acc["float"] - 0.9125) < 1e-9  # ONNX Runtime on the float model, as the zoo states
    assert acc["int8"] >= least, acc
    assert compiled.report["verification"]["c_vs_golden"]["mismatches"] == 0
    # TFLite Micro needs 24,272 B; depthwise and pointwise convs in place keep about one tensor alive.
    assert compiled.arena_size <= 14_563 and compiled.plan.lower_bound <= compiled.arena_size
    _check_c_apis(compiled, kws_data["x_test"][0])


MNIST = {
    "pytorch_opset9.onnx": lambda img: (img / 255.0 * 2 - 1)[:, None],
    "pytorch_opset20_external.onnx": lambda img: (img / 255.0 * 2 - 1)[:, None],
    "keras2onnx_opset10.onnx": lambda img: (img / 255.0)[..., None],
}


@pytest.mark.parametrize("model_file", sorted(MNIST))
def test_mnist(zoo, mnist_data, model_file, tmp_path):
    images, labels = mnist_data
    x = MNIST[model_file](images.astype(np.float32)).astype(np.float32)
    compiled = mcuq.compile(zoo / "mnist" / model_file, x[:200], tmp_path / "mnist",
                            verify_data=x[200:2000], verify_labels=labels[200:2000])
    acc = _accuracy(compiled)
    assert acc["int8"] >= acc["float"] - 0.003, acc  # the defaults lose at most 0.3 points
    _check_c_apis(compiled, x[300])


def test_resnet8(zoo, tmp_path):
    rng = np.random.default_rng(0)
    # No CIFAR-10 images ship with the zoo: smooth random images in the model's 0..255 range.
    coarse = rng.uniform(0, 255, size=(60, 3, 8, 8)).astype(np.float32)
    x = np.repeat(np.repeat(coarse, 4, axis=2), 4, axis=3)
    compiled = mcuq.compile(zoo / "resnet8_cifar10" / "model.onnx", x[:40], tmp_path / "rn8",
                            verify_data=x[40:])
    ops = [layer.op.value for layer in compiled.qmodel.layers]
    assert ops.count("add") == 3 and ops.count("conv") == 9
    assert "transpose" not in ops
    (metrics,) = compiled.report["verification"]["float_metrics"]
    assert metrics["sqnr_db"] > 15, metrics
    # TFLite Micro needs 55,984 B: 3x3 convs and the residual adds in place make the least arena two 16 KiB
    # tensors, the conv's one-row-and-a-pixel lead (528 B) and its im2col scratch (288 B); the default scratch
    # growth (1/32) then buys the 16->16 convs their widened columns (576 B).
    assert_arena_least_then_grown(compiled, 33_590)
    _check_c_apis(compiled, x[50])
    report = json.loads((tmp_path / "rn8" / "report.json").read_text())
    assert report["totals"]["macs"] == 12_501_632
    growth, least = report["memory"]["scratch_growth_bytes"], report["memory"]["least_arena_bytes"]
    assert growth > 0 and f"Of it, {growth:,} B\nare larger scratch" in (tmp_path / "rn8" / "report.md").read_text()
    assert f"the arena is\n{least:,} B (`--scratch-growth 0`)" in (tmp_path / "rn8" / "report.md").read_text()


def test_bundled_example(tmp_path):
    from tests.helpers.paths import REPO

    example = REPO / "examples" / "digits"
    with np.load(example / "test.npz") as d:
        x, y = d["x"], d["y"]
    compiled = mcuq.compile(example / "digits_cnn.onnx", example / "calib.npy", tmp_path / "digits",
                            verify_data=x, verify_labels=y)
    acc = _accuracy(compiled)
    assert acc["int8"] >= acc["float"] - 0.01, acc
    # The Python API runs the C on float input in the ONNX layout.
    probs = compiled.run(x[:5])
    assert probs.shape == (5, 10)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=0.05)
