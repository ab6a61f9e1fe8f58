"""Soak test: compile thousands of random valid ONNX graphs (tests/helpers/graph_fuzz.py) and count what happens.

    python benchmarks/soak.py --count 1000                      # seeds 0..999, host only
    python benchmarks/soak.py --count 1000 --board mps2-an386   # and every 10th graph under QEMU too
    python benchmarks/soak.py --seeds 17,423 --board mps2-an386 # reproduce listed graphs

Each graph is compiled with `mcuq.compile` (C against the golden model, bit for bit), its C outputs
are compared with ONNX Runtime's float outputs (SQNR), and with --board (an emulated one) a share of
the graphs also runs under QEMU, whose outputs must equal the host build's. Outcomes: ok, refused
(an McuqError: its message is listed), crash (any other exception: its traceback is saved),
c_mismatch, qemu_mismatch, build_failed; ok graphs below 20 dB are listed as low SQNR.

Prints the counts, the SQNR distribution (percentiles and a text histogram), the worst graphs (seed,
SQNR, the layer the per-layer diagnosis blames, the op chain) and every failure; writes the same to
OUT/summary.md, all outcomes to OUT/outcomes.json, and for each listed graph OUT/cases/seed_N/ with
its model.onnx and outcome.json (failures also keep mcuq's output folder). Exit status 1 when any graph
crashed, mismatched or failed to build. Each graph runs in a worker process, so a crash of the loaded
C cannot take the soak down; --jobs sets how many (default 1: the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import re
import shutil
import sys
import time
from collections import Counter
from multiprocessing.connection import wait
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# This checkout's mcuq (not an installed one) and its tests' helpers, where the generator lives.
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from tests.helpers import graph_fuzz  # noqa: E402

FAILURES = ("crash", "c_mismatch", "qemu_mismatch", "build_failed")
KINDS = ("ok", "refused") + FAILURES
PERCENTILES = (0, 1, 5, 10, 25, 50, 75, 90, 100)
HISTOGRAM_EDGES = (-math.inf, 10, 15, 20, 25, 30, 35, 40, 45, 50, math.inf)


# --------------------------------------------------------------------------------------------------
# Worker side


def worker(connection, work_dir: str, board: str | None) -> None:
    """Receive seeds, send back outcomes (as dicts) until told to stop (None)."""
    options = None
    if board:
        from mcuq import firmware
        from mcuq.firmware.boards import get_board

        options = firmware.FirmwareOptions(get_board(board), samples=2)
    while (job := connection.recv()) is not None:
        seed, with_firmware = job
        folder = Path(work_dir) / f"seed_{seed}"
        try:
            case = graph_fuzz.generate(seed)
            outcome = graph_fuzz.run_case(case, folder, options if with_firmware else None)
        except Exception:  # noqa: BLE001 - a generator failure is reported, not fatal
            import traceback

            outcome = graph_fuzz.Outcome(seed, "(generator failed)", "crash", message=traceback.format_exc())
        result = outcome.to_json()
        if outcome.kind in FAILURES:
            result["folder"] = str(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        connection.send(result)


class Worker:
    def __init__(self, context, work_dir: Path, board: str | None):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=worker, args=(child, str(work_dir), board), daemon=True)
        self.process.start()
        child.close()
        self.job: tuple[int, bool] | None = None
        self.started = 0.0

    def give(self, job: tuple[int, bool]) -> None:
        self.job, self.started = job, time.monotonic()
        self.connection.send(job)

    def stop(self) -> None:
        try:
            self.connection.send(None)
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


def run_all(jobs: list[tuple[int, bool]], work_dir: Path, board: str | None, parallel: int, timeout_s: float,
            report_one) -> list[dict]:
    """Run every (seed, with_firmware) job in worker processes; a worker that dies or hangs is
    replaced and its graph counted as a crash."""
    context = multiprocessing.get_context("spawn")
    pending = list(reversed(jobs))
    workers = [Worker(context, work_dir, board) for _ in range(min(parallel, len(jobs)))]
    results = []
    for w in workers:
        if pending:
            w.give(pending.pop())
    while any(w.job for w in workers):
        busy = [w for w in workers if w.job]
        ready = wait([w.connection for w in busy], timeout=5)
        for w in busy:
            result = None
            if w.connection in ready:
                try:
                    result = w.connection.recv()
                except EOFError:
                    result = dead_worker_result(w, f"the worker process died (exit code {w.process.exitcode})")
            elif time.monotonic() - w.started > timeout_s:
                w.process.kill()
                result = dead_worker_result(w, f"no result after {timeout_s:g} s (killed)")
            if result is None:
                continue
            results.append(result)
            report_one(result, len(results), len(jobs))
            if result.get("worker_died"):
                workers[workers.index(w)] = w = Worker(context, work_dir, board)
            w.job = None
            if pending:
                w.give(pending.pop())
    for w in workers:
        w.stop()
    return results


def dead_worker_result(w: Worker, why: str) -> dict:
    seed, _ = w.job
    return graph_fuzz.Outcome(seed, graph_fuzz.generate(seed).chain, "crash", message=why).to_json() | {
        "worker_died": True}


# --------------------------------------------------------------------------------------------------
# Summary


def percentile_line(values: list[float]) -> str:
    import numpy as np

    finite = np.array([v for v in values if math.isfinite(v)])
    exact = len(values) - len(finite)
    parts = [f"p{p} {np.percentile(finite, p):.1f}" for p in PERCENTILES] if len(finite) else []
    return ", ".join(parts) + (f" (dB; {exact} graphs exact: infinite SQNR)" if exact else " (dB)")


def histogram(values: list[float], width: int = 50) -> list[str]:
    counts = [sum(lo <= v < hi for v in values) for lo, hi in zip(HISTOGRAM_EDGES, HISTOGRAM_EDGES[1:])]
    counts.append(sum(v == math.inf for v in values))
    labels = [f"{'' if lo == -math.inf else f'{lo:g}'}..{'' if hi == math.inf else f'{hi:g}'}"
              for lo, hi in zip(HISTOGRAM_EDGES, HISTOGRAM_EDGES[1:])] + ["exact"]
    scale = width / max(max(counts), 1)
    return [f"  {label:>7} dB | {'#' * math.ceil(n * scale):<{width}} {n}" for label, n in zip(labels, counts)]


def refusal_pattern(message: str) -> str:
    """A refusal message with node names and numbers blanked, so equal refusals group together."""
    text = re.sub(r"'[^']*'", "'…'", message.splitlines()[0] if message else "")
    return re.sub(r"-?\d+(\.\d+)?", "N", text)[:200]


def reproduce_command(seed: int, board: str | None) -> str:
    return f"python benchmarks/soak.py --seeds {seed}" + (f" --board {board}" if board else "")


def summary_lines(results: list[dict], board: str | None, worst_count: int, seconds: float) -> list[str]:
    counts = Counter(r["kind"] for r in results)
    ok = [r for r in results if r["kind"] == "ok"]
    sqnrs = [r["sqnr_db"] for r in ok]
    low = [r for r in ok if r["sqnr_db"] < graph_fuzz.LOW_SQNR_DB]
    lines = [f"# soak: {len(results)} graphs in {seconds:.0f} s" + (f", board {board}" if board else ""), "",
             "outcomes: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in KINDS)
             + f"; low SQNR (< {graph_fuzz.LOW_SQNR_DB:g} dB, counted as ok) {len(low)}; "
             + f"QEMU == host on {sum(r['qemu'] for r in ok)} graphs", ""]
    if sqnrs:
        lines += ["SQNR of the C against ONNX Runtime (worst output of each ok graph): " + percentile_line(sqnrs),
                  *histogram(sqnrs), ""]
        lines += [f"worst {min(worst_count, len(ok))} graphs (reproduce one: "
                  f"{reproduce_command(0, board).replace(' 0', ' SEED', 1)}):"]
        lines.append("  (beside each: ONNX Runtime's quantize_static, QDQ int8 per-channel MinMax, on the same "
                     "calibration and verification data: a graph whose int8 form is hard for any quantizer "
                     "scores low on both)")
        for r in sorted(ok, key=lambda r: r["sqnr_db"])[:worst_count]:
            ort = r.get("ort_sqnr_db")
            ort_text = f"{ort:6.1f} dB" if isinstance(ort, float) else f"{ort}"
            lines.append(f"  seed {r['seed']:>5}  mcuq {r['sqnr_db']:6.1f} dB  ORT {ort_text}  "
                         f"blamed: {r['blamed_layer']}  |  {r['chain']}")
        lines.append("")
    refusals = Counter(refusal_pattern(r["message"]) for r in results if r["kind"] == "refused")
    if refusals:
        lines.append("refusals (McuqError), by message:")
        for pattern, n in refusals.most_common():
            example = next(r for r in results if r["kind"] == "refused" and refusal_pattern(r["message"]) == pattern)
            lines.append(f"  {n:>4} x  (e.g. seed {example['seed']}) {example['message'].splitlines()[0][:300]}")
        lines.append("")
    failures = [r for r in results if r["kind"] in FAILURES]
    if failures:
        lines.append("failures:")
        for r in sorted(failures, key=lambda r: (r["kind"], r["seed"])):
            last = [line for line in r["message"].strip().splitlines() if line.strip()][-1:] or [""]
            lines.append(f"  {r['kind']:<13} seed {r['seed']:>5}  {last[0][:200]}  |  {r['chain'][:200]}")
        lines.append("")
    return lines


def ort_sqnr_db(seed: int) -> float | str:
    """The worst output SQNR of ONNX Runtime's own int8 quantization of graph ``seed``: the yardstick
    for a low mcuq figure. A text when ORT cannot quantize or run the graph."""
    import tempfile

    import onnx
    from other_quantizers import ort_quantize

    case = graph_fuzz.generate(seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(case.model, path)
        try:
            qdq, _ = ort_quantize(path, case.calibration(), "MinMax", Path(tmp))
            got = graph_fuzz.float_outputs(onnx.load(str(qdq)), case.verification())
        except Exception as exc:  # noqa: BLE001 - ORT's failure is a fact to print, not ours to fix
            return f"n/a ({type(exc).__name__})"
    reference = graph_fuzz.float_outputs(case.model, case.verification())
    return min(graph_fuzz.sqnr_db(r, g) for r, g in zip(reference, got))


def add_ort_yardstick(results: list[dict], worst_count: int) -> None:
    """ORT's SQNR for the worst graphs (run here, after the soak: few graphs, ORT only)."""
    ok = sorted((r for r in results if r["kind"] == "ok"), key=lambda r: r["sqnr_db"])
    for r in ok[:worst_count]:
        r["ort_sqnr_db"] = ort_sqnr_db(r["seed"])


def save_cases(results: list[dict], out: Path, worst_count: int, board: str | None) -> None:
    """OUT/cases/seed_N/: the model and outcome of each failure and each of the worst graphs."""
    ok = sorted((r for r in results if r["kind"] == "ok"), key=lambda r: r["sqnr_db"])
    listed = ok[:worst_count] + [r for r in results if r["kind"] != "ok"]
    for r in listed:
        folder = out / "cases" / f"seed_{r['seed']}"
        if r.get("folder") and Path(r["folder"]).is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            shutil.move(r["folder"], folder)
        folder.mkdir(parents=True, exist_ok=True)
        import onnx

        onnx.save(graph_fuzz.generate(r["seed"]).model, folder / "model.onnx")
        (folder / "outcome.json").write_text(json.dumps({**r, "reproduce": reproduce_command(r["seed"], board)},
                                                        indent=1, default=str))


# --------------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100, help="graphs to run (seeds START..START+COUNT-1)")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", help="comma-separated seeds to run instead (reproduce listed graphs)")
    parser.add_argument("--board", help="an emulated board (e.g. mps2-an386): run a share of the graphs under QEMU")
    parser.add_argument("--qemu-every", type=int, default=10, help="with --board, every Nth seed runs under QEMU")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per graph before it counts as a crash")
    parser.add_argument("--worst", type=int, default=15, help="how many of the lowest-SQNR graphs to list")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "soak", help="results folder (replaced)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(range(args.start, args.start + args.count))
    if args.board:
        from mcuq import firmware
        from mcuq.firmware.boards import get_board

        if not get_board(args.board).emulated:
            print(f"board {args.board!r} is not emulated by QEMU; choose one of boards/ with a qemu machine",
                  file=sys.stderr)
            return 2
        firmware.require_tools(run_under_qemu=True)
    every = max(args.qemu_every, 1)
    jobs = [(seed, bool(args.board) and (args.seeds is not None or seed % every == 0)) for seed in seeds]
    shutil.rmtree(args.out, ignore_errors=True)
    work_dir = args.out / "work"
    work_dir.mkdir(parents=True)

    def report_one(result: dict, done: int, total: int) -> None:
        if result["kind"] in FAILURES or result["kind"] == "refused" or done % 50 == 0 or done == total:
            sqnr = f"{result['sqnr_db']:.1f} dB" if result.get("sqnr_db") is not None else ""
            print(f"[{done}/{total}] seed {result['seed']}: {result['kind']} {sqnr}", flush=True)

    start = time.perf_counter()
    results = run_all(jobs, work_dir, args.board, args.jobs, args.timeout, report_one)
    results.sort(key=lambda r: r["seed"])
    seconds = time.perf_counter() - start
    add_ort_yardstick(results, args.worst)
    lines = summary_lines(results, args.board, args.worst, seconds)
    save_cases(results, args.out, args.worst, args.board)
    shutil.rmtree(work_dir, ignore_errors=True)
    text = "\n".join(lines) + f"\nresults in {args.out}\n"
    (args.out / "summary.md").write_text(text)
    (args.out / "outcomes.json").write_text(json.dumps(results, indent=1, default=str))
    print()
    print(text)
    return 1 if any(r["kind"] in FAILURES for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
