"""How long `mcuq compile` takes, stage by stage (wall-clock seconds), on the shared models and on the
torchvision exports issue 15 sets compile-time targets for.

    python benchmarks/compile_time.py [--models resnet8,resnet18] [--profile 25] [--write-results]

Models: the zoo models (calibration as in zoo_models.py, verification on the same data) and
``resnet18`` (64x64), ``regnet_x_400mf`` and ``mobilenet_v2_0.35`` (96x96), exported by the TorchScript
exporter at opset 13 (seeded weights, `tests/helpers/torch_export.py`) into a cache folder, with 64
smooth random images for calibration. Targets (issue 15): each torchvision model under 15 s, ResNet-8
(200 samples) under 8 s. Wall seconds per stage; the whole compile's CPU seconds too (this process's
threads and the host C compiler), which depend less on the machine's load (the load average is printed
too), and the wall seconds of ``mcuq inspect`` on the same file. ``--profile N`` prints cProfile's N
costliest functions (cumulative) per model.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import results
from zoo_models import REPO, ZOO, cases

sys.path.insert(0, str(REPO))  # the test helpers, and this checkout's mcuq

import mcuq  # noqa: E402

STAGES = ["load", "calibrate", "quantize_and_emit", "host_build", "verify", "diagnose"]
# torchvision model -> (input height and width, calibration samples)
TORCHVISION = {"resnet18": (64, 64), "regnet_x_400mf": (96, 64), "mobilenet_v2_0.35": (96, 64)}
CACHE = Path(tempfile.gettempdir()) / "mcuq-compile-time-models"


def torchvision_case(name: str) -> tuple[str, Path, object]:
    """(label, ONNX path, calibration samples) for a torchvision model at its benchmark size."""
    from tests.helpers import torch_export

    size, n = TORCHVISION[name]
    model = torch_export.MODELS[name]
    model = dataclasses.replace(model, input_shape=model.input_shape[:2] + (size, size))
    path = CACHE / f"{name}_{size}.onnx"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        torch_export.export(model, "torchscript-13", path)
    return f"{name} {size}x{size}", path, torch_export.samples(model, n)


def all_cases(selected: set[str] | None):
    for name, path, calib in cases():
        if selected is None or name in selected:
            yield name, path, calib
    for name in TORCHVISION:
        if selected is None or name in selected:
            yield torchvision_case(name)


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its finished children (the host C compiler)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed_compile(path: Path, calib, profile_lines: int):
    """Compile into a temporary folder; (total wall seconds, total CPU seconds, the report's per-stage
    wall seconds). CPU seconds move less than wall seconds with what else runs on the machine."""
    profiler = cProfile.Profile() if profile_lines else None
    with tempfile.TemporaryDirectory() as out:
        start, cpu_start = time.perf_counter(), cpu_seconds()
        if profiler:
            profiler.enable()
        compiled = mcuq.compile(path, calib, Path(out) / "m")
        if profiler:
            profiler.disable()
        total, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(profile_lines)
    return total, cpu, compiled.report["seconds"]


def timed_inspect(path: Path) -> float:
    """Wall seconds of ``mcuq inspect`` on the model, the command itself (a fresh interpreter: its imports
    count, as they do for a user)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mcuq", "inspect", str(path)], check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated names (default: all); zoo names or "
                        + ", ".join(TORCHVISION))
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print cProfile's N costliest functions per model on stderr")
    results.add_option(parser)
    args = parser.parse_args()
    if not ZOO.is_dir():
        print(f"model zoo not found at {ZOO}; set MCUQ_MODEL_ZOO", file=sys.stderr)
        return 1
    selected = set(args.models.split(",")) if args.models else None
    with results.recorded(__file__, args.write_results):
        print(f"| model | samples | load avg | total s | CPU s | {' | '.join(STAGES)} | inspect s |")
        print("|---|---|---|---|---|" + "---|" * (len(STAGES) + 1))
        for name, path, calib in all_cases(selected):
            load = os.getloadavg()[0]
            total, cpu, secs = timed_compile(path, calib, args.profile)
            print(f"| {name} | {len(calib)} | {load:.1f} | {total:.1f} | {cpu:.1f} | "
                  + " | ".join(f"{secs[s]:.2f}" for s in STAGES) + f" | {timed_inspect(path):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
