"""The benchmark models: each shared model with its calibration data, and the bundled example.

Calibration: the models' own calibration sets (KWS x_calib, MNIST digits 0-199), 200 smooth random
images for ResNet-8 (the zoo has no CIFAR images).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
ZOO = Path(os.environ.get("MCUQ_MODEL_ZOO", REPO.parent / "shared" / "models"))


def cases():
    """(name, ONNX path, calibration samples) for every benchmark model."""
    with np.load(ZOO / "kws_dscnn" / "data.npz") as d:
        yield "kws_dscnn", ZOO / "kws_dscnn" / "model.onnx", d["x_calib"]
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, size=(200, 3, 8, 8)).astype(np.float32)
    yield "resnet8", ZOO / "resnet8_cifar10" / "model.onnx", np.repeat(np.repeat(coarse, 4, 2), 4, 3)
    with np.load(ZOO / "mnist" / "data.npz") as d:
        images = d["images"][:200].astype(np.float32) / 255.0
    yield "mnist_opset9", ZOO / "mnist" / "pytorch_opset9.onnx", (images * 2 - 1)[:, None]
    yield "mnist_opset20_ext", ZOO / "mnist" / "pytorch_opset20_external.onnx", (images * 2 - 1)[:, None]
    yield "mnist_keras", ZOO / "mnist" / "keras2onnx_opset10.onnx", images[..., None]
    example = REPO / "examples" / "digits"
    yield "digits (bundled)", example / "digits_cnn.onnx", np.load(example / "calib.npy")
