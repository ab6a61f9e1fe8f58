"""The benchmark models: each shared model with its calibration data, and the bundled example.

Calibration: the models' own calibration sets (KWS x_calib, MNIST digits 0-199), 200 smooth random
images for ResNet-8 (the zoo has no CIFAR images). Evaluation (`eval_cases`): KWS x_test with labels,
MNIST digits 200-1999 with labels, 200 more smooth random images for ResNet-8 (no labels), the
bundled example's test split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
ZOO = Path(os.environ.get("MCUQ_MODEL_ZOO", REPO.parent / "shared" / "models"))


@dataclass
class Case:
    name: str
    path: Path
    calib: np.ndarray
    test: np.ndarray
    labels: np.ndarray | None
    tflite: Path | None = None  # the TFLite converter's int8 model, where the zoo has one


def smooth_random_images(n: int, seed: int) -> np.ndarray:
    """ResNet-8 inputs: 8x8 random 0..255 pixels blown up to 32x32 (NCHW)."""
    coarse = np.random.default_rng(seed).uniform(0, 255, size=(n, 3, 8, 8)).astype(np.float32)
    return np.repeat(np.repeat(coarse, 4, 2), 4, 3)


def eval_cases():
    """Every benchmark model with calibration and evaluation data."""
    with np.load(ZOO / "kws_dscnn" / "data.npz") as d:
        yield Case("kws_dscnn", ZOO / "kws_dscnn" / "model.onnx", d["x_calib"], d["x_test"], d["y_test"],
                   ZOO / "kws_dscnn" / "model_int8.tflite")
    yield Case("resnet8", ZOO / "resnet8_cifar10" / "model.onnx", smooth_random_images(200, 0),
               smooth_random_images(200, 1), None, ZOO / "resnet8_cifar10" / "model_int8.tflite")
    with np.load(ZOO / "mnist" / "data.npz") as d:
        images, labels = d["images"].astype(np.float32) / 255.0, d["labels"]
    torch_x, keras_x = (images * 2 - 1)[:, None], images[..., None]
    for name, file, x in (("mnist_opset9", "pytorch_opset9.onnx", torch_x),
                          ("mnist_opset20_ext", "pytorch_opset20_external.onnx", torch_x),
                          ("mnist_keras", "keras2onnx_opset10.onnx", keras_x)):
        yield Case(name, ZOO / "mnist" / file, x[:200], x[200:2000], labels[200:2000])
    example = REPO / "examples" / "digits"
    with np.load(example / "test.npz") as d:
        yield Case("digits (bundled)", example / "digits_cnn.onnx", np.load(example / "calib.npy"), d["x"], d["y"])


def cases():
    """(name, ONNX path, calibration samples) for every benchmark model."""
    for case in eval_cases():
        yield case.name, case.path, case.calib
