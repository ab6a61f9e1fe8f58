"""Peak RAM of mcuq's arena against TensorFlow Lite Micro's, for each shared model.

    python benchmarks/memory.py [--write-results]   # models from $MCUQ_MODEL_ZOO or ../shared/models

Prints a Markdown table: mcuq's arena (activations + kernel scratch, everything the generated code
uses), its lower bound (the most bytes alive at one step, an in-place pair counted once), the arena
of a plain liveness planner (no layer in place, reshapes aliased, the same orders tried), TFLM's
arena and the ratio, and the flash taken by weights and parameters. TFLM's arena is measured with
the `tflite-micro` pip package on the zoo's `model_int8.tflite` (the total of its
RecordingMicroAllocator: planned tensors, the "head", plus persistent data; x86-64 build, reference
kernels) when it is installed, else taken from ../shared/reference/cmsisnn-v7-qemu.md; MNIST has no
TFLite model.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import results
from compile_time import ZOO, cases

import mcuq
from mcuq.plan import plan_arena

SAMPLES = 64  # calibration (and verification) samples: the arena does not depend on them
TFLITE = {"kws_dscnn": "kws_dscnn", "resnet8": "resnet8_cifar10"}
# TFLM pip's RecordingMicroAllocator totals from ../shared/reference/cmsisnn-v7-qemu.md (Memory).
TFLM_REFERENCE = {"kws_dscnn": 24_272, "resnet8": 55_984}
TFLM_REFERENCE_HEAD = {"kws_dscnn": 16_000, "resnet8": 49_152}  # of which planned tensors ("head")


# Run in a child process: TFLM's C++ prints the allocations itself, and only at exit does its output
# reach the file descriptor for sure.
_PRINT_ALLOCATIONS = (
    "import sys\n"
    "from tflite_micro import runtime\n"
    "runtime.Interpreter.from_file(sys.argv[1], arena_size=1 << 20).print_allocations()\n"
)


def tflm_arena(name: str) -> tuple[int | None, str]:
    """(total bytes, note) of TFLM's arena for a model: measured if tflite-micro is installed."""
    if name not in TFLITE:
        return None, "no TFLite model"
    path = ZOO / TFLITE[name] / "model_int8.tflite"
    run = subprocess.run([sys.executable, "-c", _PRINT_ALLOCATIONS, str(path)], capture_output=True, text=True)
    printed = run.stdout + run.stderr
    total = re.search(r"Arena allocation total (\d+) bytes", printed)
    head = re.search(r"Arena allocation head (\d+) bytes", printed)
    if total is None or head is None:
        return TFLM_REFERENCE[name], f"tensors {TFLM_REFERENCE_HEAD[name]:,}, reference"
    return int(total.group(1)), f"tensors {int(head.group(1)):,}, measured"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    results.add_option(parser)
    args = parser.parse_args()
    if not ZOO.is_dir():
        print(f"model zoo not found at {ZOO}; set MCUQ_MODEL_ZOO", file=sys.stderr)
        return 1
    with results.recorded(__file__, args.write_results):
        print("| model | mcuq arena B | lower bound B | liveness only B | TFLM arena B | mcuq / TFLM "
              "| flash (weights) B |")
        print("|---|---|---|---|---|---|---|")
        for name, path, calib in cases():
            with tempfile.TemporaryDirectory() as out:
                compiled = mcuq.compile(path, calib[:SAMPLES], Path(out) / "m")
            plain = plan_arena(compiled.qmodel, modes=("reshapes",)).size
            tflm, source = tflm_arena(name)
            tflm_text = f"{tflm:,} ({source})" if tflm else "–"
            ratio = f"{compiled.arena_size / tflm:.2f}" if tflm else "–"
            print(f"| {name} | {compiled.arena_size:,} | {compiled.plan.lower_bound:,} | {plain:,} | {tflm_text} | "
                  f"{ratio} | {compiled.report['totals']['weight_bytes']:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
