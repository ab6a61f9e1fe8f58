"""Command line: `mcuq compile MODEL.onnx --calib DATA -o OUTDIR`."""

from __future__ import annotations

import argparse
import sys
import time

from . import __version__
from .calibrate import OBSERVERS
from .errors import McuqError


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcuq", description="ONNX -> verified int8 C for Cortex-M")
    parser.add_argument("--version", action="version", version=f"mcuq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compile", help="quantize an ONNX model and write int8 C, verified on the host")
    c.add_argument("model", help="the float ONNX model, or a pre-quantized one (QuantizeLinear/DequantizeLinear)")
    c.add_argument("--calib",
                   help=".npy or .npz[:KEY] with N samples in the model's input layout without the batch dim "
                   "(int8 samples for an int8 model input); needed unless the model is pre-quantized (QDQ)")
    c.add_argument("-o", "--output", required=True, help="output folder for the C files and the report")
    c.add_argument("--name", help="name of the files and prefix of every C symbol (default: model file name)")
    c.add_argument("--input-shape", action="append", default=[], metavar="NAME:D0,D1,...",
                   help="fix the dynamic dims of an input (batch defaults to 1); repeat per input")
    c.add_argument("--calib-method", choices=sorted(OBSERVERS), default="minmax",
                   help="how activation ranges are chosen (default: minmax)")
    c.add_argument("--verify-data", help="samples to verify on (default: the calibration data; for a "
                   "pre-quantized model without either, random int8 inputs)")
    c.add_argument("--verify-labels", help="class labels of the verification samples (.npy or .npz[:KEY]): "
                   "the report then gives float and int8 accuracy")
    c.add_argument("--force", action="store_true", help="overwrite mcuq's files in an existing output folder")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    return parser


def _progress(quiet: bool):
    start = time.perf_counter()

    def say(message: str) -> None:
        if not quiet:
            print(f"[{time.perf_counter() - start:6.1f}s] {message}", file=sys.stderr, flush=True)

    return say


def run_compile(args: argparse.Namespace) -> int:
    from .compiler import compile as compile_model
    from .data import load_labels

    try:
        shapes = parse_input_shapes(args.input_shape)
    except argparse.ArgumentTypeError as exc:
        raise McuqError(str(exc)) from None
    compiled = compile_model(
        args.model, args.calib, args.output, name=args.name, input_shapes=shapes or None,
        calib_method=args.calib_method, verify_data=args.verify_data,
        verify_labels=load_labels(args.verify_labels) if args.verify_labels else None, force=args.force,
        progress=_progress(args.quiet),
    )
    r = compiled.report
    v = r["verification"]
    print(f"{compiled.c_path}  {compiled.h_path}")
    print(f"layers {len(r['layers'])}, MACs {r['totals']['macs']:,}, weights {r['totals']['weight_bytes']:,} B, "
          f"arena {r['totals']['arena_bytes']:,} B")
    print(f"C vs golden on {v['samples']} samples: bit-exact")
    for m in v.get("int8_vs_reference", []):
        print(f"int8 vs {v['float_reference']} on the model file, {m['name']}: {m['mismatches']} of "
              f"{m['total']} values differ, max {m['max_lsb']} LSB")
    for m in v["float_metrics"]:
        agree = "" if m["top1_agreement"] is None else f", top-1 agreement {100 * m['top1_agreement']:.2f} %"
        print(f"vs float ({v['float_reference']}) {m['name']}: SQNR {m['sqnr_db']:.1f} dB, "
              f"max abs error {m['max_abs_error']:.4g}{agree}")
    if "accuracy" in v:
        acc = v["accuracy"]
        print(f"accuracy on the labels: float {100 * acc['float']:.2f} %, int8 {100 * acc['int8']:.2f} %")
    print(f"report: {args.output}/report.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "compile":
            return run_compile(args)
    except McuqError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 2
