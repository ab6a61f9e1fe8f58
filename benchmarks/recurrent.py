"""The GRU and LSTM keyword-spotting nets (tests/helpers/recurrent_nets.py: 49 x 10 MFCC-like input, hidden
32, a Linear head on the last step), exported with both PyTorch exporters: mcuq's SQNR against ONNX Runtime
on the float model next to ONNX Runtime `quantize_static`'s (MinMax, Percentile), the arena, and the
instructions per inference under QEMU on a Cortex-M4 (mps2-an386) and a Cortex-M55 (mps3-an547), with the
kernels' fast paths (SMLAD / Helium gate products) and with -DMCUQ_PORTABLE_KERNELS. The recurrent layer's
own instructions come from the firmware's per-layer counts; "exact" counts the whole inference with the
qemu-icount plugin where ../shared/tools/qemu-icount exists.

    python benchmarks/recurrent.py [--hidden 32] [--no-firmware]

Prints Markdown.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the test helpers, and this checkout's mcuq
sys.path.insert(0, str(REPO / "benchmarks"))

from firmware import build_plugin, measure, one_sample  # noqa: E402

from mcuq.firmware.boards import get_board  # noqa: E402
from tests.helpers import recurrent_nets  # noqa: E402

BOARDS = ("mps2-an386", "mps3-an547")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--no-firmware", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        plugin = None if args.no_firmware else build_plugin(tmp)
        print("| net | exporter | mcuq SQNR dB | ORT MinMax | ORT Percentile | bar (best - 1) | arena B |")
        print("|---|---|---|---|---|---|---|")
        firmware_rows = []
        for kind in ("gru", "lstm"):
            for form in recurrent_nets.FORMS:
                folder = tmp / f"{kind}_{form}"
                folder.mkdir()
                path = recurrent_nets.export(kind, form, folder / f"{kind}_kws.onnx", args.hidden)
                m = recurrent_nets.measure(path, folder / "out")
                ort = {k: v.sqnr_db for k, v in m.ort.items()}
                print(f"| {kind} h{args.hidden} | {form} | {m.mcuq.sqnr_db:.2f} | {ort['MinMax']:.2f} | "
                      f"{ort['Percentile']:.2f} | {m.best_ort_sqnr - 1:.2f} | {m.compiled.arena_size} |")
                if form == "torchscript-17" and not args.no_firmware:
                    sample = one_sample(m.compiled, recurrent_nets.mfcc_like(1, seed=2))
                    for board_name in BOARDS:
                        board = get_board(board_name)
                        for label, cflags in (("fast", ""), ("portable", "-DMCUQ_PORTABLE_KERNELS")):
                            r = measure(m.compiled, sample, board, folder / f"{board_name}_{label}", "-O2", plugin,
                                        cflags)
                            firmware_rows.append((kind, board_name, label, r["layers"][0], r["instructions"],
                                                  r["exact"]))
        if firmware_rows:
            print("\n| net | board | kernels | recurrent layer insns | inference insns | exact (plugin) |")
            print("|---|---|---|---|---|---|")
            for kind, board, label, layer, total, exact in firmware_rows:
                exact_text = "-" if exact is None else f"{exact:,}"
                print(f"| {kind} | {board} | {label} | {layer:,} | {total:,} | {exact_text} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
