"""Command line: `mcuq compile|build|run MODEL.onnx --calib DATA -o OUTDIR [--board B]`, `mcuq inspect MODEL.onnx`,
`mcuq boards`."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

from mcuq.calib import METHODS
from mcuq.calib.ptq import DEFAULT_BIAS_CORRECTION, DEFAULT_EQUALIZATION, DEFAULT_METHOD
from mcuq.codegen.names import console_name, terminal_text
from mcuq.codegen.templating import db_text
from mcuq.errors import McuqError
from mcuq.firmware.boards import all_boards
from mcuq.firmware.project import DEFAULT_STACK_SIZE, OPT_LEVELS
from mcuq.firmware.qemu import DEFAULT_TIMEOUT_S
from mcuq.plan import DEFAULT_SCRATCH_GROWTH
from mcuq.quant.auto_precision import DEFAULT_THRESHOLD_DB
from mcuq.version import __version__


def parse_input_shapes(values: list[str]) -> dict[str, tuple[int, ...]]:
    """`NAME:1,3,32,32` (or `1,3,32,32` for the only input) -> {NAME: (1, 3, 32, 32)}."""
    shapes = {}
    for value in values:
        name, _, dims = value.rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--input-shape {value!r}: expected NAME:d0,d1,... with integer dims, e.g. input:1,3,32,32"
            ) from None
        if any(d <= 0 for d in shape):
            raise argparse.ArgumentTypeError(f"--input-shape {value!r}: dims must be positive")
        shapes[name] = shape
    return shapes


def _add_compile_args(c: argparse.ArgumentParser) -> None:
    c.add_argument("model", help="the float ONNX model, a pre-quantized one (QuantizeLinear/DequantizeLinear), "
                   "or a .tflite model (float, or int8 from the TFLite converter)")
    c.add_argument("--calib",
                   help=".npy or .npz[:KEY] with N samples in the model's input layout without the batch dim "
                   "(int8 samples for an int8 model input); needed unless the model is pre-quantized "
                   "(QDQ, int8 .tflite)")
    c.add_argument("-o", "--output", required=True, help="output folder for the C files and the report")
    c.add_argument("--name", help="name of the files and prefix of every C symbol (default: model file name)")
    c.add_argument("--input-shape", action="append", default=[], metavar="NAME:D0,D1,...",
                   help="fix the dynamic dims of an input (batch defaults to 1); repeat per input")
    c.add_argument("--calib-method", choices=METHODS, default=DEFAULT_METHOD,
                   help="how activation ranges are chosen: minmax, percentile, mse (least quantization error), "
                        "entropy (least KL divergence), auto (per tensor, the one with the least error in the next "
                        f"layer's output) (default: {DEFAULT_METHOD})")
    c.add_argument("--bias-correction", action=argparse.BooleanOptionalAction, default=DEFAULT_BIAS_CORRECTION,
                   help="correct each layer's bias for the mean shift its int8 weights cause, measured on the "
                        "calibration data")
    c.add_argument("--equalize", action=argparse.BooleanOptionalAction, default=DEFAULT_EQUALIZATION,
                   help="cross-layer equalization: balance per-channel weight ranges of consecutive conv/depthwise "
                        "layers joined by ReLU or nothing (exact in float; ReLU6 pairs are left alone)")
    c.add_argument("--int16", metavar="LAYER[,LAYER...]|auto[:DB]",
                   help="run these layers with int16 activations and int8 weights (TFLite 16x8; conv, depthwise, "
                        "fully connected, add, max/avg pool); `outputs` in the list stands for the layers that write "
                        "the model's outputs, which then are int16 (finer logits); or `auto`: the layers that add "
                        f"noise below DB dB (default {DEFAULT_THRESHOLD_DB:g}) on the calibration data, and their "
                        "readers")
    c.add_argument("--verify-data", help="samples to verify on (default: the calibration data; for a "
                   "pre-quantized model without either, random int8 inputs)")
    c.add_argument("--verify-labels", help="class labels of the verification samples (.npy or .npz[:KEY]): "
                   "the report then gives float and int8 accuracy")
    c.add_argument("--force", action="store_true", help="overwrite mcuq's files in an existing output folder")
    c.add_argument("--scratch-growth", type=float, default=100 * DEFAULT_SCRATCH_GROWTH, metavar="PERCENT",
                   help="let the arena grow by up to this percentage of the least arena where kernels then get the "
                        "scratch of their faster paths; 0 keeps the least arena "
                        f"(default: {100 * DEFAULT_SCRATCH_GROWTH:g})")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress messages")


def _add_firmware_args(c: argparse.ArgumentParser, board_required: bool) -> None:
    c.add_argument("--board", required=board_required,
                   help="target board (`mcuq boards` lists them)" + ("" if board_required else
                        ": also build firmware for it, and run it under QEMU when the board is emulated"))
    c.add_argument("--opt", choices=[level.lstrip("-") for level in OPT_LEVELS], default="O2",
                   help="firmware optimization level, as gcc's -O (default: O2; Os for size)")
    c.add_argument("--samples", type=int, default=8,
                   help="test inputs (the first of --verify-data, else of --calib) built into the firmware "
                        "and checked against the host build (default: 8)")
    c.add_argument("--stack-size", type=int, default=DEFAULT_STACK_SIZE,
                   help=f"bytes of stack the firmware reserves (default: {DEFAULT_STACK_SIZE})")
    c.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                   help=f"seconds before a QEMU run is stopped as hung (default: {DEFAULT_TIMEOUT_S:g})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcuq", description="ONNX -> verified int8 C for Cortex-M")
    parser.add_argument("--version", action="version", version=f"mcuq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compile", help="quantize an ONNX model and write int8 C, verified on the host "
                       "(and, with --board, on the board or its emulation)")
    _add_compile_args(c)
    _add_firmware_args(c, board_required=False)
    b = sub.add_parser("build", help="compile, then write and build a firmware project for a board and check "
                       "that it fits")
    _add_compile_args(b)
    _add_firmware_args(b, board_required=True)
    r = sub.add_parser("run", help="build, then run the firmware under QEMU (emulated boards): outputs checked "
                       "against the host build, instructions per layer")
    _add_compile_args(r)
    _add_firmware_args(r, board_required=True)
    sub.add_parser("boards", help="list the boards mcuq builds for")
    i = sub.add_parser("inspect", help="without data, in about a second: whether every node compiles (else the "
                       "list of those that do not), MACs and int8 weight bytes per layer, the arena compile plans")
    i.add_argument("model", help="the ONNX model")
    i.add_argument("--input-shape", action="append", default=[], metavar="NAME:D0,D1,...",
                   help="fix the dynamic dims of an input (batch defaults to 1); repeat per input")
    return parser


def _progress(quiet: bool):
    start = time.perf_counter()

    def say(message: str) -> None:
        if not quiet:
            print(f"[{time.perf_counter() - start:6.1f}s] {message}", file=sys.stderr, flush=True)

    return say


def _firmware_options(args: argparse.Namespace):
    from mcuq.firmware import FirmwareOptions
    from mcuq.firmware.boards import get_board

    if not args.board:
        return None
    board = get_board(args.board)
    if args.command == "run" and not board.emulated:
        emulated = ", ".join(b.name for b in all_boards() if b.emulated)
        raise McuqError(f"board {board.name} is not emulated by QEMU, so it cannot run here; `mcuq build` builds and "
                        f"size-checks it. Emulated boards: {emulated}")
    return FirmwareOptions(board, run=args.command != "build", samples=args.samples, opt=f"-{args.opt}",
                           stack_size=args.stack_size, timeout_s=args.timeout)


def run_compile(args: argparse.Namespace) -> int:
    from mcuq.data import load_labels
    from mcuq.pipeline import compile as compile_model

    try:
        shapes = parse_input_shapes(args.input_shape)
    except argparse.ArgumentTypeError as exc:
        raise McuqError(str(exc)) from None
    compiled = compile_model(
        args.model, args.calib, args.output, name=args.name, input_shapes=shapes or None,
        calib_method=args.calib_method, bias_correction=args.bias_correction, equalization=args.equalize,
        int16_layers=args.int16, verify_data=args.verify_data,
        verify_labels=load_labels(args.verify_labels) if args.verify_labels else None, force=args.force,
        scratch_growth=args.scratch_growth / 100,
        firmware_options=_firmware_options(args), progress=_progress(args.quiet),
    )
    r = compiled.report
    v = r["verification"]
    for warning in r.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{compiled.c_path}  {compiled.h_path}")
    growth = r["memory"]["scratch_growth_bytes"]
    least = f" ({r['memory']['least_arena_bytes']:,} B with each kernel's least scratch)" if growth else ""
    print(f"layers {len(r['layers'])}, MACs {r['totals']['macs']:,}, weights {r['totals']['weight_bytes']:,} B, "
          f"arena {r['totals']['arena_bytes']:,} B{least}")
    int16 = r["precision"]["int16_layers"]
    if int16:
        print(f"int16 activations in {len(int16)} layers ({r['precision']['boundaries']} int8/int16 boundaries): "
              + ", ".join(entry["name"] for entry in int16))
    print(f"C vs golden on {v['samples']} samples: bit-exact")
    for m in v.get("int8_vs_reference", []):
        print(f"int8 vs {v['float_reference']} on the model file, {console_name(m['name'])}: {m['mismatches']} of "
              f"{m['total']} values differ, max {m['max_lsb']} LSB")
    for m in v["float_metrics"]:
        agree = "" if m["top1_agreement"] is None else f", top-1 agreement {100 * m['top1_agreement']:.2f} %"
        print(f"vs float ({v['float_reference']}) {console_name(m['name'])}: SQNR {m['sqnr_db']:.1f} dB, "
              f"max abs error {m['max_abs_error']:.4g}{agree}")
    if "accuracy" in v:
        acc = v["accuracy"]
        print(f"accuracy on the labels: float {100 * acc['float']:.2f} %, int8 {100 * acc['int8']:.2f} %")
    print_offenders(r)
    if "firmware" in r:
        print_firmware(r)
    print(f"report: {args.output}/report.md")
    return 0


def print_offenders(report: dict) -> None:
    """The diagnosis's short answer: which layers add the most quantization noise, and what would help."""
    offenders = report.get("diagnosis", {}).get("offenders", [])
    if offenders:
        print("where the error comes from (report.md has every layer):")
    for o in offenders:
        below = o.get("falls_below_db")
        falls = "" if below is None else f"the output's SQNR falls below {below:g} dB here; "
        print(f"  L{o['index']} {console_name(o['name'])} ({o['op']}): {falls}adds noise at "
              f"{db_text(o['added_sqnr_db'])} dB "
              f"(own SQNR {db_text(o['own_sqnr_db'])} dB)")
        for hint in o["hints"]:
            print(f"      {hint}")


def print_firmware(report: dict) -> None:
    fw = report["firmware"]
    print(f"firmware {fw['elf']} for {fw['board']} ({fw['cpu']}, {fw['opt']}):")
    flash_share, ram_share = 100 * fw["flash_bytes"] / fw["flash_limit"], 100 * fw["ram_bytes"] / fw["ram_limit"]
    print(f"  flash {fw['flash_bytes']:,} of {fw['flash_limit']:,} B ({flash_share:.1f} %, "
          f"{fw['test_data_bytes']:,} B of it test data)")
    print(f"  RAM   {fw['ram_bytes']:,} of {fw['ram_limit']:,} B ({ram_share:.1f} %: "
          f"arena {report['totals']['arena_bytes']:,} B, stack {fw['stack_reserved']:,} B reserved)")
    if "run" not in fw:
        return
    run = fw["run"]
    print(f"  QEMU run on {run['samples']} samples: outputs equal the host build's, bit for bit; "
          f"stack used {run['stack_used_bytes']:,} B")
    print(f"  {'#':>3}  {'op':<16} {'MACs':>12} {'instructions':>13} {'MACs/insn':>9}")
    for row, layer in zip(run["layers"], report["layers"]):
        mpi = f"{row['macs_per_instruction']:.3f}" if row["macs_per_instruction"] else "-"
        print(f"  {row['index']:>3}  {layer['op']:<16} {layer['macs']:>12,} {row['instructions']:>13,} {mpi:>9}")
    mpi = f"{run['macs_per_instruction']:.3f}" if run["macs_per_instruction"] else "-"
    print(f"  {'':>3}  {'total':<16} {report['totals']['macs']:>12,} {run['total_instructions']:>13,} {mpi:>9}"
          f"   (QEMU -icount, exact to {run['instructions_per_tick']:g} instructions per layer)")


def run_inspect(args: argparse.Namespace) -> int:
    """Print the verdict; exit status 0 when the model compiles, that of the refusal when it does not."""
    from mcuq.inspection import inspect_model

    try:
        shapes = parse_input_shapes(args.input_shape)
    except argparse.ArgumentTypeError as exc:
        raise McuqError(str(exc)) from None
    result = inspect_model(args.model, shapes or None)
    model = console_name(Path(args.model).name)
    if not result.supported:
        print(f"{model}: does not compile: {result.refused}")
        return result.refused.exit_code
    print(f"{model}: every node compiles ({len(result.layers)} int8 layers)")
    print(f"  {'#':>3}  {'op':<16} {'output':<16} {'MACs':>12} {'weights B':>10}  name")
    for layer in result.layers:
        shape = "x".join(str(d) for d in layer["output_shape"])
        print(f"  {layer['index']:>3}  {layer['op']:<16} {shape:<16} {layer['macs']:>12,} "
              f"{layer['weight_bytes']:>10,}  {console_name(layer['name'])}")
    print(f"total: MACs {result.macs:,}, weights {result.weight_bytes:,} B (int8), arena {result.arena_bytes:,} B")
    return 0


def run_boards() -> int:
    print(f"{'board':<18} {'core':<5} {'FPU':<12} {'DSP':<4} {'MVE':<4} {'clock':>8} {'flash':>9} {'RAM':>9}  QEMU")
    for b in all_boards():
        print(f"{b.name:<18} {b.core:<5} {b.fpu:<12} {'yes' if b.dsp else 'no':<4} {'yes' if b.mve else 'no':<4} "
              f"{b.clock_hz / 1e6:>5g} MHz {_kib(b.flash.length):>9} {_kib(b.ram.length):>9}  "
              f"{b.qemu_machine or '- (build and size only)'}")
    return 0


def _kib(n: int) -> str:
    return f"{n // 1024} KiB" if n % 1024 == 0 else f"{n:,} B"


INTERNAL_ERROR_EXIT = 3


def write_traceback(exc: BaseException) -> Path:
    """Write ``exc``'s traceback, with the command line and versions, to a new file in the system's
    temporary folder (never the output folder: a failed job leaves that as it was)."""
    fd, name = tempfile.mkstemp(prefix="mcuq-internal-error-", suffix=".txt")
    with os.fdopen(fd, "w") as out:
        out.write(f"mcuq {__version__}, Python {sys.version.split()[0]}, {platform.platform()}\n")
        out.write(f"command: {' '.join(sys.argv)}\n\n")
        out.write("".join(traceback.format_exception(exc)))
    return Path(name)


def report_internal_error(exc: Exception) -> int:
    """A bug in mcuq (any exception that is not an McuqError): one line that says so, never blames the
    input, and names the file holding the traceback."""
    where = f"{type(exc).__name__} in mcuq"
    try:
        path = write_traceback(exc)
    except OSError as write_error:
        print(f"internal error: {where} (a bug in mcuq, not a problem with your input); the traceback could not "
              f"be written ({write_error.strerror}): {exc}", file=sys.stderr)
        return INTERNAL_ERROR_EXIT
    print(f"internal error: {where} (a bug in mcuq, not a problem with your input); the full traceback is in "
          f"{path}: please report it with that file", file=sys.stderr)
    return INTERNAL_ERROR_EXIT


class TerminalSafeStream:
    """A text stream that prints every control character but line breaks and tabs as U+FFFD. Messages
    quote model-supplied names; a name must not move the cursor, rewrite a line or send escapes."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(terminal_text(text))

    def __getattr__(self, attribute):
        return getattr(self._stream, attribute)


def main(argv: list[str] | None = None) -> int:
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalSafeStream(sys.stdout), TerminalSafeStream(sys.stderr)
    try:
        return run(argv)
    finally:
        sys.stdout, sys.stderr = streams


def run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "boards":
            return run_boards()
        if args.command == "inspect":
            return run_inspect(args)
        return run_compile(args)
    except McuqError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; the output folder is as it was before this run", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every other exception is a bug of mcuq's own
        return report_internal_error(exc)
