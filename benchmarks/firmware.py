"""Every benchmark model on every emulated core: instructions per inference, MACs per instruction,
flash and RAM, from the firmware mcuq builds and runs under QEMU.

    python benchmarks/firmware.py [--opt O2] [--models kws_dscnn,resnet8] [--cores M4,M55] [--per-layer]
                                  [--no-exact] [--portable] [--write-results]

--portable also builds every model with -DMCUQ_PORTABLE_KERNELS (the portable C path on every core) and
prints, per layer kind and core, the fast paths' instructions against the portable ones: no kind may be
slower.

Instructions are what `mcuq run` reports (QEMU -icount shift=0, SysTick read after each layer; exact to
one tick, 40 instructions at 25 MHz). Where ../shared/tools/qemu-icount exists, the "exact" column counts
the same inference again with that TCG plugin (every instruction from the call of <model>_invoke to the
return, so it includes copying the input in and the output out): the two columns cross-check each other.
Flash is .text + .rodata + .data without the embedded test data; "code" is the .text of the model's own
object file (the kernels it uses and its call sequence; the weights are .rodata), the figure to hold
against CMSIS-NN's kernel .text. RAM is .data + .bss (the arena) plus the stack the run actually used.
Where ../shared/reference/cmsisnn-v7-qemu.md has the model, the table shows CMSIS-NN v7's instructions on
the same core, its ratio to ours and the target (issue 4: 0.7x CMSIS-NN on M4, 0.8x on M55; issue 15:
0.8x on M3, the core without the DSP extension). Prints Markdown.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import results
from zoo_models import REPO, ZOO, cases

import mcuq
from mcuq import firmware, quant
from mcuq.firmware.boards import all_boards

PLUGIN_SOURCE = REPO.parent / "shared" / "tools" / "qemu-icount" / "icount_plugin.c"
CMSIS_REFERENCE = REPO.parent / "shared" / "reference" / "cmsisnn-v7-qemu.md"
REFERENCE_NAMES = {"kws_dscnn": "kws", "resnet8": "ic"}  # our benchmark names -> the reference's
TARGET_FACTOR = {"M4": 0.7, "M55": 0.8, "M3": 0.8}  # issues 4, 15: instructions at most this times CMSIS-NN's


def cmsis_reference() -> dict[tuple[str, str], int]:
    """(reference model name, core) -> CMSIS-NN v7's instructions per inference at -O2."""
    if not CMSIS_REFERENCE.exists():
        return {}
    found = {}
    for line in CMSIS_REFERENCE.read_text().splitlines():
        m = re.match(r"\| (\w+) \| [\d,]+ \| (M\d+) \([^)]*\) \| ([\d,]+) \|", line)
        if m:
            found.setdefault((m.group(1), m.group(2)), int(m.group(3).replace(",", "")))
    return found


def code_bytes(project: firmware.FirmwareProject) -> int:
    """.text of the model's object file: its kernels and call sequence."""
    obj = project.folder / "build" / f"{project.prefix}.o"
    out = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
    return sum(int(f[1]) for f in (line.split() for line in out.splitlines())
               if len(f) >= 2 and f[0].startswith(".text") and f[1].isdigit())


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


def measure(compiled, sample, board, folder: Path, opt: str, plugin: Path | None, cflags: str = "") -> dict:
    folder.mkdir()
    for path in (compiled.c_path, compiled.h_path):
        shutil.copy(path, folder / path.name)
    project = firmware.write_project(folder, compiled.name, board, [sample], opt=opt)
    try:
        build = firmware.build_firmware(project, arena_bytes=compiled.arena_size, extra_cflags=cflags)
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
        code=code_bytes(project),
        ram=build.ram_bytes - project.stack_size + run.stack_bytes,
        arena=compiled.arena_size,
        stack=run.stack_bytes,
        layers=run.layer_instructions(0),
    )


def describe(layer, model) -> str:
    """E.g. "conv 3x3/1 16->16 32x32" (window/stride, channels, output size), as the reference tables."""
    out = model.tensors[layer.output].shape
    p = layer.params
    if layer.op.value in ("conv", "depthwise_conv"):
        _, kh, kw, _ = p.weights.shape
        c_in = model.tensors[layer.inputs[0]].shape[-1]
        return f"{layer.op.value} {kh}x{kw}/{p.stride[0]} {c_in}->{out[-1]} {out[1]}x{out[2]}"
    if layer.op.value == "fully_connected":
        return f"fully_connected {p.weights.shape[1]}->{p.weights.shape[0]}"
    return f"{layer.op.value} {'x'.join(str(d) for d in out)}"


def print_layers(name: str, compiled, by_core: dict[str, list[int]]) -> None:
    """One row per layer: its instructions on each core, and MACs per instruction where it has MACs."""
    cores = list(by_core)
    print(f"\n### {name}: instructions per layer (MACs/insn)\n")
    print("| # | layer | MACs | " + " | ".join(cores) + " |")
    print("|---|---|---|" + "---|" * len(cores))
    for i, row in enumerate(compiled.report["layers"]):
        cells = []
        for core in cores:
            n = by_core[core][i]
            cells.append(f"{n:,}" + (f" ({row['macs'] / n:.2f})" if row["macs"] and n else ""))
        label = describe(compiled.qmodel.layers[i], compiled.qmodel)
        print(f"| {row['index']} | {label} | {row['macs']:,} | " + " | ".join(cells) + " |")
    totals = [sum(by_core[c]) for c in cores]
    print("| | **total** | | " + " | ".join(f"**{t:,}**" for t in totals) + " |")


def print_against_portable(portable_layers: dict[str, tuple]) -> None:
    """Per layer kind (op and window, e.g. "conv 1x1") and core: fast-path instructions / portable ones,
    summed over the layers of that kind in all models."""
    sums: dict[tuple[str, str], list[int]] = {}
    for compiled, by_core in portable_layers.values():
        for core, (fast, portable) in by_core.items():
            for layer, f, p in zip(compiled.qmodel.layers, fast, portable):
                kind = describe(layer, compiled.qmodel).split(" ")
                key = " ".join(kind[:2]) if layer.op.value in ("conv", "depthwise_conv") else kind[0]
                entry = sums.setdefault((key, core), [0, 0])
                entry[0] += f
                entry[1] += p
    cores = sorted({core for _, core in sums}, key=lambda c: int(c[1:]))
    kinds = sorted({kind for kind, _ in sums})
    print("\n### Fast paths against the portable C path (instructions, fast / portable)\n")
    print("| layer kind | " + " | ".join(cores) + " |")
    print("|---|" + "---|" * len(cores))
    for kind in kinds:
        cells = []
        for core in cores:
            f, p = sums.get((kind, core), (0, 0))
            cells.append(f"{f:,} / {p:,} ({f / p:.2f})" if p else (f"{f:,} / 0" if f else "–"))
        print(f"| {kind} | " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opt", default="O2", choices=["O2", "Os", "O3"])
    parser.add_argument("--models", help="comma-separated subset of: " + ", ".join(n for n, *_ in cases()))
    parser.add_argument("--cores", help="comma-separated subset of the emulated cores, e.g. M4,M55")
    parser.add_argument("--per-layer", action="store_true", help="also print instructions per layer")
    parser.add_argument("--no-exact", action="store_true", help="skip the qemu-icount plugin cross-check")
    parser.add_argument("--portable", action="store_true",
                        help="also measure the portable C path and compare per layer kind")
    results.add_option(parser)
    args = parser.parse_args()
    if not ZOO.is_dir():
        print(f"model zoo not found at {ZOO}; set MCUQ_MODEL_ZOO", file=sys.stderr)
        return 1
    wanted = set(args.models.split(",")) if args.models else None
    unknown = sorted((wanted or set()) - {name for name, _, _ in cases()})
    if unknown:
        print(f"no benchmark model named {', '.join(map(repr, unknown))}; choose from "
              f"{', '.join(repr(name) for name, _, _ in cases())}", file=sys.stderr)
        return 2
    cores = {c.strip().lower().removeprefix("cortex-") for c in args.cores.split(",")} if args.cores else None
    boards = [b for b in all_boards()
              if b.emulated and (cores is None or b.core.lower().removeprefix("cortex-") in cores)]
    with results.recorded(__file__, args.write_results), tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plugin = None if args.no_exact else build_plugin(tmp)
        exact_source = "qemu-icount plugin" if plugin else ("skipped" if args.no_exact else "plugin not found")
        print(f"Firmware -{args.opt}, arm-none-eabi-gcc, QEMU -icount shift=0; exact column: {exact_source}\n")
        print("| model | MACs | core (board) | instructions | CMSIS-NN v7 | target | exact (plugin) | MACs/insn "
              "| code B | flash B | RAM B (.data + .bss + stack used) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        reference = cmsis_reference()
        per_layer: dict[str, tuple] = {}
        portable_layers: dict[str, tuple] = {}
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
                    print(f"| {name} | {macs:,} | {core} | does not fit: {m['error']} | | | | | | | |")
                    continue
                exact = f"{m['exact']:,}" if m["exact"] is not None else "–"
                cmsis = reference.get((REFERENCE_NAMES.get(name, ""), board.core))
                factor = TARGET_FACTOR.get(board.core)
                target = ""
                if cmsis and factor:
                    met = "met" if m["instructions"] <= factor * cmsis else "MISSED"
                    target = f"≤ {factor * cmsis:,.0f} ({met}: {m['instructions'] / cmsis:.2f}x)"
                print(f"| {name} | {macs:,} | {core} | {m['instructions']:,} | {f'{cmsis:,}' if cmsis else '–'} "
                      f"| {target} | {exact} | {m['macs_per_insn']:.3f} | {m['code']:,} | {m['flash']:,} "
                      f"| {m['ram']:,} (arena {m['arena']:,}, stack {m['stack']:,}) |")
                per_layer.setdefault(name, (compiled, {}))[1][board.core] = m["layers"]
                if args.portable:
                    portable = measure(compiled, sample, board, tmp / f"{safe}_{board.name}_portable",
                                       f"-{args.opt}", None, "-DMCUQ_PORTABLE_KERNELS")
                    portable_layers.setdefault(name, (compiled, {}))[1][board.core] = (m["layers"],
                                                                                      portable["layers"])
        if args.per_layer:
            for name, (compiled, by_core) in per_layer.items():
                print_layers(name, compiled, by_core)
        if args.portable:
            print_against_portable(portable_layers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
