"""Real PyTorch models exported to ONNX the ways users export them, for the real-export tests and the
benchmark: torchvision classifiers at microcontroller widths and inputs, and small hand-written nets of
the kinds people put on microcontrollers. Weights are seeded, inputs tiny.

Three export forms (`EXPORTERS`): the dynamo exporter (the default since torch 2.9, its default opset)
and the TorchScript exporter (``dynamo=False``) at opsets 13 and 17.

torchvision on the package index is built against another torch: with --no-deps it installs, its `_C`
extension does not load, and `torchvision/_meta_registrations.py` then fails on
``register_fake("torchvision::nms")``. Defining the two operator schemas it registers fakes for, before
anything imports torchvision, lets the model definitions import; they never call those operators.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED = 13

# name -> torch.onnx.export keyword arguments
EXPORTERS = {
    "dynamo": {"dynamo": True},
    "torchscript-13": {"dynamo": False, "opset_version": 13},
    "torchscript-17": {"dynamo": False, "opset_version": 17},
}

_torchvision_schemas = []  # the Library objects must live as long as the process, or the schemas go


def import_torchvision_models():
    """torchvision.models, importable with CPU torch and an index torchvision (see the module doc)."""
    import torch

    if not _torchvision_schemas and not _has_op("torchvision::nms"):
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor qdets, Tensor qscores, float iou_threshold) -> Tensor")
        _torchvision_schemas.append(lib)
    import torchvision.models

    return torchvision.models


def _has_op(qualified: str) -> bool:
    import torch

    namespace, name = qualified.split("::")
    try:
        getattr(getattr(torch.ops, namespace), name)
    except (AttributeError, RuntimeError):
        return False
    return True


@dataclass(frozen=True)
class TorchModel:
    """A model to export: ``build()`` returns the torch module (weights seeded by the caller);
    ``input_shape`` is NCHW (or NCW) with batch 1; ``inputs`` makes seeded float samples of that
    shape without the batch dimension."""

    name: str
    build: Callable
    input_shape: tuple[int, ...]
    inputs: Callable[[np.random.Generator, int, tuple[int, ...]], np.ndarray]
    from_torchvision: bool = False
    # The TorchScript exporter writes nn.MultiheadAttention only from opset 14 (scaled_dot_product_attention).
    exporters: tuple[str, ...] = tuple(EXPORTERS)


def image_like(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Smooth random images, roughly normalized (what a model sees after ImageNet normalization):
    low-frequency noise upsampled from a coarse grid, so that convolutions see structure and not
    only white noise, plus a little fine noise."""
    c, *spatial = shape
    coarse = rng.normal(0, 1, size=(n, c, *[max(1, s // 8) for s in spatial])).astype(np.float32)
    smooth = coarse
    for axis, size in enumerate(spatial, start=2):
        smooth = np.repeat(smooth, -(-size // smooth.shape[axis]), axis=axis)
        smooth = np.take(smooth, np.arange(size), axis=axis)
    return (smooth + rng.normal(0, 0.3, size=smooth.shape)).astype(np.float32)


def raw_pixels(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Images in [0, 1], for a model that normalizes its input itself."""
    return np.clip(image_like(rng, n, shape) * 0.25 + 0.5, 0, 1).astype(np.float32)


def mfcc_like(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """[frames, coefficients] features that change smoothly over time, as MFCCs of speech do: the
    image-like noise of `image_like` laid out with time first."""
    frames, coefficients = shape
    return np.ascontiguousarray(image_like(rng, n, (coefficients, frames)).transpose(0, 2, 1))


def _torchvision(name: str, label: str, **kwargs) -> TorchModel:
    """A torchvision classifier (random weights: no download) on 64x64 images."""

    def build():
        return getattr(import_torchvision_models(), name)(weights=None, **kwargs)

    return TorchModel(label, build, (1, 3, 64, 64), image_like, from_torchvision=True)


def _small_nets():
    from tests.helpers import torch_nets  # needs torch: imported only when a model is built

    return torch_nets


def _net(name: str):
    return lambda: getattr(_small_nets(), name)()


def _models() -> dict[str, TorchModel]:
    models = [
        _torchvision("mobilenet_v2", "mobilenet_v2_0.35", width_mult=0.35),
        _torchvision("mobilenet_v3_small", "mobilenet_v3_small_0.5", width_mult=0.5),
        _torchvision("squeezenet1_1", "squeezenet1_1"),
        _torchvision("shufflenet_v2_x0_5", "shufflenet_v2_x0_5"),
        _torchvision("mnasnet0_5", "mnasnet0_5"),
        _torchvision("resnet18", "resnet18"),
        _torchvision("efficientnet_b0", "efficientnet_b0"),
        _torchvision("regnet_x_400mf", "regnet_x_400mf"),
        TorchModel("unet", _net("UNet"), (1, 3, 32, 32), image_like),
        TorchModel("conv_autoencoder", _net("ConvAutoencoder"), (1, 1, 28, 28), raw_pixels),
        TorchModel("kws_conv1d", _net("KwsConv1d"), (1, 10, 49), image_like),
        TorchModel("activations", _net("Activations"), (1, 3, 16, 16), image_like),
        TorchModel("input_normalization", _net("InputNormalization"), (1, 3, 32, 32), raw_pixels),
        TorchModel("gru_kws", _net("GruKws"), (1, 49, 10), mfcc_like),
        TorchModel("lstm_kws", _net("LstmKws"), (1, 49, 10), mfcc_like),
        TorchModel("keyword_transformer", _net("KeywordTransformer"), (1, 49, 10), mfcc_like),
        TorchModel("tiny_vit", _net("TinyViT"), (1, 3, 32, 32), image_like,
                   exporters=("dynamo", "torchscript-17")),
    ]
    return {m.name: m for m in models}


MODELS = _models()


def seeded_module(model: TorchModel):
    """The module in eval mode with weights drawn from a fixed seed; batch-norm statistics made
    non-trivial so that folding them is exercised."""
    import torch

    torch.manual_seed(SEED)
    module = model.build().eval()
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return module


def export(model: TorchModel, exporter: str, path: Path) -> Path:
    """Write ``model`` exported with ``exporter`` (a key of `EXPORTERS`) to ``path``; quietly."""
    import torch

    module = seeded_module(model)
    example = torch.zeros(model.input_shape)
    log = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), input_names=["x"], output_names=["y"],
                          external_data=False, **EXPORTERS[exporter])
    return path


def samples(model: TorchModel, n: int, seed: int = SEED) -> np.ndarray:
    return model.inputs(np.random.default_rng(seed), n, model.input_shape[1:])
