"""Attention ops of issue 14 through the whole pipeline, against ONNX Runtime on the float model:
MatMul of two activations (batch_matmul: Q K^T with the K^T Transpose folded into the kernel, and A V),
Softmax over the last axis of rank-3 and rank-4 tensors, LayerNormalization (opset 17, and the
ReduceMean/Sub/Pow/Sqrt/Div chain the TorchScript exporter writes at opset 13) and Gelu (opset 20 and the
Erf form) on rank 3, in the forms torch's exporters write (dynamo; TorchScript at opsets 13 and 17).
`mcuq.compile` itself fails when the C differs from the golden model."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from mcuq import McuqError
from tests.end_to_end.test_ops_end_to_end import check
from tests.helpers.small_models import w
from tests.helpers.torch_export import EXPORTERS

torch = pytest.importorskip("torch")


class AttentionCore(torch.nn.Module):
    """softmax(x x^T / sqrt(d)) x over the last two axes: the two MatMuls of attention, no weights."""

    def forward(self, x):
        scores = torch.matmul(x, x.transpose(-2, -1)) * x.shape[-1] ** -0.5
        return torch.matmul(scores.softmax(-1), x)


class NormGelu(torch.nn.Module):
    """nn.LayerNorm (seeded gamma, beta) then GELU, the MLP half of a transformer block without Linear."""

    def __init__(self, features):
        super().__init__()
        self.norm = torch.nn.LayerNorm(features)
        with torch.no_grad():
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.3, 0.3)

    def forward(self, x):
        return torch.nn.functional.gelu(self.norm(x))


def exported(module, shape, exporter, path):
    torch.manual_seed(5)
    log = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.zeros(shape),), str(path), input_names=["x"], output_names=["y"],
                          external_data=False, **EXPORTERS[exporter])
    return path


def compiled_against_ort(path, shape, tmp_path, sqnr_db=25.0):
    """Compile the file with calibration samples, then check the C output (through the Python API, ONNX
    layout) against ONNX Runtime on samples it did not calibrate on."""
    import onnxruntime as ort

    rng = np.random.default_rng(3)
    samples = rng.normal(0, 1, size=(96, *shape[1:])).astype(np.float32)
    compiled = mcuq.compile(path, samples[:64], tmp_path / "out", verify_data=samples[64:])
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ref = np.concatenate([session.run(None, {"x": s[None]})[0] for s in samples[64:]])
    got = np.concatenate([compiled.run(s[None]) for s in samples[64:]])
    assert ref.shape == got.shape
    sqnr = 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref.astype(np.float64) - got) ** 2))
    assert sqnr > sqnr_db, sqnr
    return compiled, sqnr


def ops_of(compiled) -> list[str]:
    return [layer.op.value for layer in compiled.qmodel.layers]


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
@pytest.mark.parametrize("shape", [(1, 2, 9, 8), (1, 9, 8)], ids=["rank4", "rank3"])
def test_attention_matmuls(exporter, shape, tmp_path):
    path = exported(AttentionCore(), shape, exporter, tmp_path / "attention.onnx")
    compiled, _ = compiled_against_ort(path, shape, tmp_path)
    ops = ops_of(compiled)
    # x x^T reads x as both operands (the Transpose folded away); A x needs x transposed once; the scale
    # 1/sqrt(d) is in the first batch matmul's multiplier (no Mul layer).
    assert ops == ["batch_matmul", "softmax", "transpose", "batch_matmul"], ops


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_layer_norm_and_gelu_on_rank3(exporter, tmp_path):
    path = exported(NormGelu(16), (1, 7, 16), exporter, tmp_path / "norm.onnx")
    names = [n.op_type for n in onnx.load(path).graph.node]
    if exporter == "torchscript-13":
        assert "LayerNormalization" not in names and "Sqrt" in names  # the chain, recognized as one op
    compiled, _ = compiled_against_ort(path, (1, 7, 16), tmp_path)
    assert ops_of(compiled) == ["layer_norm", "lut"]


@pytest.mark.parametrize("shape", [[1, 5, 11], [1, 3, 4, 9]])
def test_softmax_over_the_last_axis_of_rank3_and_rank4(shape, tmp_path):
    compiled = check([helper.make_node("Softmax", ["x"], ["y"], axis=-1)], shape, {}, {"softmax"}, tmp_path)
    assert compiled.qmodel.tensors["y"].shape == tuple(shape)


def test_gelu_opset20_on_rank3(tmp_path):
    check([helper.make_node("Gelu", ["x"], ["y"])], [1, 6, 10], {}, {"lut"}, tmp_path, opset=20)


def test_layer_norm_without_bias(tmp_path):
    node = helper.make_node("LayerNormalization", ["x", "g"], ["y"], axis=-1, epsilon=1e-3)
    check([node], [1, 4, 12], {"g": w(12) + 1}, {"layer_norm"}, tmp_path, opset=17)


def test_layer_norm_over_two_axes_is_refused_naming_the_node(tmp_path):
    node = helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], name="ln2", axis=-2)
    with pytest.raises(McuqError, match="ln2.*axis=-2"):
        check([node], [1, 4, 6], {"g": w(4, 6), "b": w(4, 6)}, {"layer_norm"}, tmp_path, opset=17)


def test_matmul_of_activations_with_broadcast_batch_is_refused_naming_the_node(tmp_path):
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
             helper.make_node("Transpose", ["m"], ["mt"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["x", "mt"], ["y"], name="mm")]
    with pytest.raises(McuqError, match="mm.*batch dims"):
        check(nodes, [1, 3, 5, 4], {}, {"batch_matmul"}, tmp_path)
