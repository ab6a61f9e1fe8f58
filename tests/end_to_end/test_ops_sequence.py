"""Rank-3 [N, T, F] and rank-4 [N, H, T, d] sequence tensors end to end, in the forms both torch exporters
write (dynamo, and TorchScript at opset 17 with its Shape/Gather/Concat/Expand arithmetic that the loader
folds): MatMul with constant weights as one fully connected over the rows, heads reshaped and transposed,
K^T, Split of a fused QKV projection, a class token (Concat of a constant) and a positional embedding,
Gather of one position and along axis 0 of nn.MultiheadAttention's packed [3, T, N, E], a ViT patch
embedding read as a sequence without a copy, and Conv1d next to Linear (rank 3 meaning [N, C, W] for the
conv, [N, T, F] for the Linear). The float reference is ONNX Runtime on the exported file; `mcuq.compile`
itself fails when the C differs from the golden model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from tests.helpers import torch_export
from tests.helpers.torch_export import TorchModel

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

EXPORTERS = ("dynamo", "torchscript-17")


def normal(rng, n, shape):
    return rng.normal(0, 1, size=(n, *shape)).astype(np.float32)


def net(name: str):
    def build():
        from tests.helpers import seq_torch_nets

        return getattr(seq_torch_nets, name)()

    return build


# name -> (input shape, layer ops that must appear, layer ops that must not)
CASES = {
    "SequenceMlp": ((1, 12, 10), {"fully_connected"}, {"broadcast_add", "transpose"}),
    "ClassToken": ((1, 12, 10), {"pad", "slice"}, {"concat", "transpose"}),
    "Heads": ((1, 12, 10), {"slice", "add"}, {"transpose"}),
    "KeysTransposed": ((1, 12, 10), {"transpose"}, {"broadcast_add"}),
    "PackedProjection": ((1, 12, 10), {"slice", "transpose"}, set()),
    "PatchEmbedding": ((1, 3, 16, 16), {"conv", "fully_connected"}, {"transpose"}),
    "Conv1dThenLinear": ((1, 10, 20), {"conv", "fully_connected"}, {"transpose"}),
    "LinearThenConv1d": ((1, 12, 10), {"conv", "fully_connected"}, {"transpose"}),
}


def ort_outputs(path, samples):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"x": s[None]})[0] for s in samples])


def sqnr_db(reference, got):
    return 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum((reference - got) ** 2.0))


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_sequence_plumbing_against_onnx_runtime(name, exporter, tmp_path):
    shape, present, absent = CASES[name]
    model = TorchModel(name, net(name), shape, normal)
    path = torch_export.export(model, exporter, tmp_path / f"{name}.onnx")
    samples = torch_export.samples(model, 96)
    compiled = mcuq.compile(path, samples[:64], tmp_path / "out", verify_data=samples[64:])
    ops = {layer.op.value for layer in compiled.qmodel.layers}
    assert present <= ops and not absent & ops, ops
    # The Python API takes and returns the ONNX layout.
    reference = ort_outputs(path, samples[64:])
    got = compiled.run(samples[64:])
    assert got.shape == reference.shape
    assert sqnr_db(reference, got) > 25, sqnr_db(reference, got)


def test_patch_embedding_is_read_in_place(tmp_path):
    """Conv -> flatten(2) -> transpose(1, 2): the conv's NHWC output already is [N, H*W, C]; the planner
    gives the reshape the conv output's bytes (no copy), and the header states each buffer's layout."""
    model = TorchModel("PatchEmbedding", net("PatchEmbedding"), (1, 3, 16, 16), normal)
    path = torch_export.export(model, "dynamo", tmp_path / "patch.onnx")
    samples = torch_export.samples(model, 40)
    compiled = mcuq.compile(path, samples[:32], tmp_path / "out", verify_data=samples[32:])
    layers = compiled.qmodel.layers
    conv, reshape = layers[0], layers[1]
    assert (conv.op.value, reshape.op.value) == ("conv", "copy") and reshape.inputs == (conv.output,)
    assert compiled.plan.offsets[reshape.output] == compiled.plan.offsets[conv.output]
    header = next((tmp_path / "out").glob("*.h")).read_text()
    assert "[1, 16, 16, 3] int8 in channels-last: the ONNX tensor's axes in the order (0, 2, 3, 1)" in header
    assert "[1, 16, 8] int8 in the ONNX layout" in header


def test_sequence_input_keeps_the_onnx_layout(tmp_path):
    """A graph of Linear layers only: no channels to move, input and output buffers as ONNX lays them out."""
    model = TorchModel("SequenceMlp", net("SequenceMlp"), (1, 12, 10), normal)
    path = torch_export.export(model, "dynamo", tmp_path / "mlp.onnx")
    samples = torch_export.samples(model, 40)
    compiled = mcuq.compile(path, samples[:32], tmp_path / "out", verify_data=samples[32:])
    assert [layer.op.value for layer in compiled.qmodel.layers] == ["fully_connected", "fully_connected"]
    assert compiled.graph.input_perms[compiled.graph.inputs[0]] == (0, 1, 2)
    assert compiled.qmodel.tensors[compiled.qmodel.inputs[0]].shape == (1, 12, 10)


# Hand-written graphs for what the exporters write in other shapes: `check` compares with ONNX Runtime.


def ints(*values):
    return np.array(values, dtype=np.int64)


def test_gather_along_axis_0_that_holds_data(tmp_path):
    """LSTM's ``h[-1]`` on Y_h [directions, N, H]: axis 0 of a [2, 3, 8] tensor is data (the graph input's
    batch is 1), so index -1 is a slice, then a MatMul reads the [3, 8] rows."""
    from tests.end_to_end.test_ops_end_to_end import check
    from tests.helpers.small_models import w

    nodes = [helper.make_node("Reshape", ["x", "rows"], ["r"]),
             helper.make_node("Gather", ["r", "last"], ["g"], axis=0),
             helper.make_node("MatMul", ["g", "wt"], ["y"])]
    inits = {"rows": ints(2, 3, 8), "last": np.array(-1, np.int64), "wt": w(8, 5)}
    check(nodes, [1, 6, 8], inits, {"slice", "fully_connected"}, tmp_path)


def test_positional_embedding_and_split_on_the_last_axis(tmp_path):
    """Add of a constant [T, F] (rank 2 against rank 3), then Split of a fused projection on axis -1."""
    from tests.end_to_end.test_ops_end_to_end import check
    from tests.helpers.small_models import w

    nodes = [helper.make_node("MatMul", ["x", "wqkv"], ["qkv"]),
             helper.make_node("Add", ["qkv", "pos"], ["p"]),
             helper.make_node("Split", ["p", "sizes"], ["q", "k", "v"], axis=-1),
             helper.make_node("Mul", ["q", "v"], ["y"])]
    inits = {"wqkv": w(6, 12), "pos": w(5, 12), "sizes": ints(4, 4, 4)}
    check(nodes, [1, 5, 6], inits, {"slice", "fully_connected", "mul"}, tmp_path)


@pytest.mark.parametrize("make, message", [
    (lambda: (helper.make_node("Concat", ["x", "x", "token"], ["y"], axis=1), {"token": np.ones((1, 1, 6), np.float32)}),
     "several activations"),
    (lambda: (helper.make_node("Gather", ["x", "which"], ["y"], axis=0), {"which": ints(0, 0)}), "not evenly spaced"),
])
def test_refusals_name_the_node_and_the_fix(make, message, tmp_path):
    from mcuq.errors import McuqError
    from tests.helpers.small_models import make_model

    node, inits = make()
    path = tmp_path / "m.onnx"
    onnx.save(make_model([node], [1, 5, 6], inits), path)
    samples = np.random.default_rng(0).normal(size=(8, 5, 6)).astype(np.float32)
    with pytest.raises(McuqError, match=message):
        mcuq.compile(path, samples, tmp_path / "out")
