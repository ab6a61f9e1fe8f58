"""PyTorch in: `mcuq.compile` takes a torch.nn.Module and an example input, exports it into the output
folder (the file is kept and named in the report) and compiles that file; a missing example input and an
export failure are clear errors that leave the output folder as it was."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import mcuq
from mcuq.errors import McuqError, ModelError
from tests.helpers.paths import REPO

torch = pytest.importorskip("torch")


class TinyNet(torch.nn.Module):
    """Conv + BatchNorm + ReLU, max pool, Linear: what a small image classifier is made of."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.fc(x.flatten(1))


class RefusesToTrace(torch.nn.Module):
    def forward(self, x):
        raise RuntimeError("this forward cannot be traced: unique-marker-41")


def tiny_net():
    torch.manual_seed(0)
    net = TinyNet()
    with torch.no_grad():  # batch-norm statistics that folding must honour
        net.bn.running_mean.uniform_(-0.2, 0.2)
        net.bn.running_var.uniform_(0.5, 1.5)
    return net


@pytest.fixture(scope="module")
def calib():
    return np.random.default_rng(0).normal(0, 1, (32, 3, 8, 8)).astype(np.float32)


def sqnr_db(reference: np.ndarray, value: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((reference - value) ** 2)))


def test_a_module_compiles_through_the_api_and_keeps_its_onnx_file(calib, tmp_path):
    net = tiny_net()  # in training mode, as a freshly built module is
    out = tmp_path / "out"
    compiled = mcuq.compile(net, calib, out, example_input=torch.zeros(1, 3, 8, 8))
    exported = out / "tinynet.onnx"
    onnx.checker.check_model(onnx.load(exported))
    assert compiled.name == "tinynet" and net.training  # the module's mode is given back
    report = json.loads((out / "report.json").read_text())
    assert report["source"] == "tinynet.onnx"
    assert report["exported"]["file"] == "tinynet.onnx" and report["exported"]["module"] == "TinyNet"
    assert report["exported"]["exporter"] == "dynamo"
    assert "`tinynet.onnx`" in (out / "report.md").read_text().split("\n|")[0]
    # The kept file is the module in eval mode (ONNX Runtime on it against torch) ...
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(calib[:8])).numpy()
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    ort_out = np.concatenate([session.run(None, {name: x[None]})[0] for x in calib[:8]])  # batch 1 in the file
    np.testing.assert_allclose(ort_out, expected, rtol=1e-4, atol=1e-5)
    # ... and the int8 C computes it closely.
    assert sqnr_db(expected, compiled.run(calib[:8])) > 30
    assert report["verification"]["c_vs_golden"]["mismatches"] == 0


def test_a_module_without_example_input_is_refused_before_any_work(calib, tmp_path):
    with pytest.raises(McuqError, match=r"needs example_input.*torch\.zeros\(1, 3, 32, 32\)"):
        mcuq.compile(tiny_net(), calib, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("example, message", [
    ((torch.zeros(1, 3, 8, 8),), "single-input models"),
    (torch.zeros(4, 3, 8, 8), r"shape \(4, 3, 8, 8\).*batch dimension of 1"),
])
def test_an_example_input_that_is_not_one_sample_is_refused(example, message, calib, tmp_path):
    with pytest.raises(McuqError, match=message):
        mcuq.compile(tiny_net(), calib, tmp_path / "out", example_input=example)


def test_an_example_input_for_an_onnx_file_is_refused(calib, tmp_path):
    with pytest.raises(McuqError, match="example_input is for a torch.nn.Module"):
        mcuq.compile(REPO / "examples" / "digits" / "digits_cnn.onnx", calib, tmp_path / "out",
                     example_input=torch.zeros(1, 1, 28, 28))


def test_an_export_failure_keeps_the_exporters_message_and_the_folder(calib, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("the user's")
    with pytest.raises(ModelError) as caught:
        mcuq.compile(RefusesToTrace(), calib, out, example_input=torch.zeros(1, 3, 8, 8), force=True)
    message = str(caught.value)
    assert "could not export RefusesToTrace" in message
    assert "dynamo exporter" in message and "torchscript exporter" in message
    assert message.count("unique-marker-41") == 2  # each exporter's own message
    assert "export it yourself and pass the .onnx file" in message
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


def test_an_example_input_of_the_wrong_shape_gets_torchs_message(calib, tmp_path):
    with pytest.raises(ModelError, match=r"(?s)could not export TinyNet.*channels"):
        mcuq.compile(tiny_net(), calib, tmp_path / "out", example_input=torch.zeros(1, 4, 8, 8))
    assert not (tmp_path / "out").exists()
