"""How long `mcuq compile` takes on each shared model, stage by stage (wall-clock seconds).

    python benchmarks/compile_time.py [--write-results]   # models from $MCUQ_MODEL_ZOO or ../shared/models

Prints a Markdown table. Calibration as in zoo_models.py; verification on the same data.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import results
from zoo_models import ZOO, cases

import mcuq


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    results.add_option(parser)
    args = parser.parse_args()
    if not ZOO.is_dir():
        print(f"model zoo not found at {ZOO}; set MCUQ_MODEL_ZOO", file=sys.stderr)
        return 1
    stages = ["load", "calibrate", "quantize_and_emit", "host_build", "verify", "diagnose"]
    with results.recorded(__file__, args.write_results):
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
