"""How long `mcuq compile` takes on each shared model, stage by stage (wall-clock seconds).

    python benchmarks/compile_time.py            # models from $MCUQ_MODEL_ZOO or ../shared/models

Prints a Markdown table. Calibration: the models' own calibration sets (KWS x_calib, MNIST digits
0-199), 200 smooth random images for ResNet-8; verification on the same data.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import mcuq

REPO = Path(__file__).resolve().parent.parent
ZOO = Path(os.environ.get("MCUQ_MODEL_ZOO", REPO.parent / "shared" / "models"))


def cases():
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


def main() -> int:
    if not ZOO.is_dir():
        print(f"model zoo not found at {ZOO}; set MCUQ_MODEL_ZOO", file=sys.stderr)
        return 1
    stages = ["load", "calibrate", "quantize_and_emit", "host_build", "verify"]
    print(f"| model | samples | total s | {' | '.join(stages)} |")
    print("|---|---|---|" + "---|" * len(stages))
    for name, path, calib in cases():
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            compiled = mcuq.compile(path, calib, Path(out) / "m")
            total = time.perf_counter() - start
        secs = compiled.report["seconds"]
        print(f"| {name} | {len(calib)} | {total:.1f} | " + " | ".join(f"{secs[s]:.2f}" for s in stages) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
