"""Outputs of the generated C on every benchmark model's evaluation data, saved or compared.

A refactoring that must not change behaviour (code generation, templates, kernels) is checked with:

    python benchmarks/c_outputs.py --save /tmp/before     # on the old commit
    python benchmarks/c_outputs.py --compare /tmp/before  # on the new one

Each case compiles one model (the zoo models, the zoo's QDQ files, the bundled example, and int16
layers chosen by ``--int16 auto`` on two models, so the s16 kernels are covered too) and runs the host
build of its C on all its evaluation inputs; the outputs must be identical, byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_models import ZOO, eval_cases  # noqa: E402

import mcuq  # noqa: E402


def variants():
    """(case name, model path, calibration data, evaluation data, compile options)."""
    for case in eval_cases():
        yield case.name, case.path, case.calib, case.test, {}
        if case.name in ("kws_dscnn", "digits (bundled)"):
            yield case.name + " int16 auto", case.path, case.calib, case.test[:200], {"int16_layers": "auto:40"}
    # The QDQ files take int8 inputs: KWS's own quantized test set, random bytes for ResNet-8.
    with np.load(ZOO / "kws_dscnn" / "data.npz") as d:
        yield "kws_dscnn qdq", ZOO / "kws_dscnn" / "model_int8_qdq.onnx", None, d["q_test"], {}
    images = np.random.default_rng(0).integers(-128, 128, size=(200, 32, 32, 3), dtype=np.int8)
    yield "resnet8 qdq", ZOO / "resnet8_cifar10" / "model_int8_qdq.onnx", None, images, {}


def outputs(path: Path, calib, test, options: dict) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory() as out:
        compiled = mcuq.compile(path, calib, out, verify_data=test[:20], **options)
        result = compiled.run(test)
    result = result if isinstance(result, list) else [result]
    return {f"output{i}": np.asarray(y) for i, y in enumerate(result)} | {"arena": np.array(compiled.arena_size)}


def file_name(case: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in case) + ".npz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", type=Path, help="folder to save the outputs in")
    action.add_argument("--compare", type=Path, help="folder of saved outputs to compare with")
    args = parser.parse_args()
    differing = 0
    for case, path, calib, test, options in variants():
        got = outputs(path, calib, test, options)
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(v).tobytes() for v in got.values())).hexdigest()[:16]
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            np.savez(args.save / file_name(case), **got)
            print(f"{case:28s} saved  {digest}  ({len(test)} inputs, arena {int(got['arena'])} B)")
            continue
        with np.load(args.compare / file_name(case)) as saved:
            same = set(saved.files) == set(got) and all(np.array_equal(saved[k], got[k]) for k in got)
        differing += not same
        print(f"{case:28s} {'identical' if same else 'DIFFERENT'}  {digest}  ({len(test)} inputs)")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
