"""Every benchmark model on every emulated core: instructions per inference, MACs per instruction,
flash and RAM, from the firmware mcuq builds and runs under QEMU.

    python benchmarks/firmware.py [--opt O2] [--models kws_dscnn,resnet8] [--cores M4,M55] [--per-layer]
                                  [--no-exact]

Instructions are what `mcuq run` reports (QEMU -icount shift=0, SysTick read after each layer; exact to
one tick, 40 instructions at 25 MHz). Where ../shared/tools/qemu-icount exists, the "exact" column counts
the same inference again with that TCG plugin (every instruction from the call of <model>_invoke to the
return, so it includes copying the input in and the output out): the two columns cross-check each other.
Flash is .text + .rodata + .data without the embedded test data; RAM is .data + .bss (the arena) plus the
stack the run actually used. Prints Markdown.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from zoo_models import REPO, ZOO, cases

import mcuq
from mcuq import firmware, quant
from mcuq.boards import all_boards

PLUGIN_SOURCE = REPO.parent / "shared" / "tools" / "qemu-icount" / "icount_plugin.c"


def build_plugin(folder: Path) -> Path | None:
    if not PLUGIN_SOURCE.exists() or shutil.which("cc") is None:
        return None
    plugin = folder / "libicount.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(plugin), str(PLUGIN_SOURCE)], check=True)
    return plugin


def symbol_address(elf: Path, name: str) -> str:
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    for line in nm.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[2] == name:
            return "0x" + fields[0]
    raise KeyError(name)


def exact_instructions(project: firmware.FirmwareProject, plugin: Path) -> int:
    """Instructions from entering <prefix>_invoke to the next line the firmware prints (its outputs)."""
    start = symbol_address(project.elf, f"{project.prefix}_invoke")
    stop = symbol_address(project.elf, "fw_line_begin")
    command = firmware.qemu.qemu_command(project) + ["-plugin", f"{plugin},start={start},stop={stop}"]
    log = subprocess.run(command, capture_output=True, text=True, timeout=600).stderr
    regions = [int(n) for _, n in re.findall(r"icount region (\d+): (\d+) insns", log)]
    return regions[1]  # region 0 ends at the banner line, before the first inference


def one_sample(compiled, calib) -> firmware.TestSample:
    from mcuq import data

    graph = compiled.graph
    x = data.prepare_samples(calib[:1], graph, data.onnx_input_shape(graph, graph.inputs[0]))[0]
    t_in = compiled.qmodel.tensors[compiled.qmodel.inputs[0]]
    q = quant.quantize_input(x[None], t_in.scale, t_in.zero_point)
    return firmware.TestSample(q.reshape(-1), tuple(y.reshape(-1) for y in compiled.run_int8(q)))


def measure(compiled, sample, board, folder: Path, opt: str, plugin: Path | None) -> dict:
    folder.mkdir()
    for path in (compiled.c_path, compiled.h_path):
        shutil.copy(path, folder / path.name)
    project = firmware.write_project(folder, compiled.name, board, [sample], opt=opt)
    try:
        build = firmware.build_firmware(project, arena_bytes=compiled.arena_size)
    except firmware.DoesNotFitError as exc:
        return dict(error=str(exc).split(": ", 2)[-1].split(" (")[0])
    run = firmware.run_firmware(project, timeout_s=600)
    if run.exit_status != 0:
        raise RuntimeError(f"{compiled.name} on {board.name}: outputs differ from the host build\n{run.log}")
    macs = compiled.report["totals"]["macs"]
    total = run.total_instructions(0)
    return dict(
        instructions=total,
        exact=exact_instructions(project, plugin) if plugin else None,
        macs_per_insn=macs / total if total else 0.0,
        flash=build.flash_bytes - project.test_data_bytes,
        ram=build.ram_bytes - project.stack_size + run.stack_bytes,
        arena=compiled.arena_size,
        stack=run.stack_bytes,
        layers=run.layer_instructions(0),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opt", default="O2", choices=["O2", "Os", "O3"])
    parser.add_argument("--models", help="comma-separated subset of: " + ", ".join(n for n, *_ in cases()))
    parser.add_argument("--cores", help="comma-separated subset of the emulated cores, e.g. M4,M55")
    parser.add_argument("--per-layer", action="store_true", help="also print instructions per layer")
    parser.add_argument("--no-exact", action="store_true", help="skip the qemu-icount plugin cross-check")
    args = parser.parse_args()
    if not ZOO.is_dir():
        print(f"model zoo not found at {ZOO}; set MCUQ_MODEL_ZOO", file=sys.stderr)
        return 1
    wanted = set(args.models.split(",")) if args.models else None
    cores = {c.strip().lower().removeprefix("cortex-") for c in args.cores.split(",")} if args.cores else None
    boards = [b for b in all_boards()
              if b.emulated and (cores is None or b.core.lower().removeprefix("cortex-") in cores)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plugin = None if args.no_exact else build_plugin(tmp)
        print(f"Firmware -{args.opt}, arm-none-eabi-gcc, QEMU -icount shift=0; "
              f"exact column: {'qemu-icount plugin' if plugin else 'plugin not found'}\n")
        print("| model | MACs | core (board) | instructions | exact (plugin) | MACs/insn | flash B | RAM B "
              "(.data + .bss + stack used) |")
        print("|---|---|---|---|---|---|---|---|")
        per_layer = []
        for name, path, calib in cases():
            if wanted and name not in wanted:
                continue
            safe = re.sub(r"\W+", "_", name).strip("_")
            compiled = mcuq.compile(path, calib[:50], tmp / safe, name=safe)
            sample = one_sample(compiled, calib)
            macs = compiled.report["totals"]["macs"]
            for board in boards:
                m = measure(compiled, sample, board, tmp / f"{safe}_{board.name}", f"-{args.opt}", plugin)
                core = f"{board.core} ({board.name})"
                if "error" in m:
                    print(f"| {name} | {macs:,} | {core} | does not fit: {m['error']} | | | | |")
                    continue
                exact = f"{m['exact']:,}" if m["exact"] is not None else "–"
                print(f"| {name} | {macs:,} | {core} | {m['instructions']:,} | {exact} | {m['macs_per_insn']:.3f} "
                      f"| {m['flash']:,} | {m['ram']:,} (arena {m['arena']:,}, stack {m['stack']:,}) |")
                per_layer.append((name, board.core, compiled, m["layers"]))
        if args.per_layer:
            for name, core, compiled, layers in per_layer:
                print(f"\n### {name} on {core}\n\n| # | op | MACs | instructions |\n|---|---|---|---|")
                for row, n in zip(compiled.report["layers"], layers):
                    print(f"| {row['index']} | {row['op']} | {row['macs']:,} | {n:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
