"""Every benchmark model on every emulated core: instructions per inference, MACs per instruction,
flash and RAM, from the firmware mcuq builds and runs under QEMU.

    python benchmarks/firmware.py [--flags O2,Os,O2-freestanding] [--models kws_dscnn,resnet8,vww_mobilenet_025]
                                  [--cores M4,M55] [--per-layer] [--no-exact] [--portable] [--write-results]

--flags builds every model under each named set of compiler flags (FLAG_SETS: O2, Os, O3, and
O2-freestanding = `-O2 -ffreestanding -fno-builtin`, as Zephyr and NXP's SDK build applications); the
"vs O2" column gives each row's instructions over the plain -O2 row of the same model and core.

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
Where ../shared/reference/cmsisnn-v7-qemu.md has the model and the optimization level, the table shows
CMSIS-NN v7's instructions on the same core and level (the reference has -O2, -Os and -O3, no freestanding
build) and, at -O2, the issue-15 target (0.55x CMSIS-NN on M4, 0.7x on M55, 0.8x on M3, the core without
the DSP extension; 0.8x on M55 for the VWW network). vww_mobilenet_025 is MLPerf Tiny's visual wake words
network with random weights (narrow_models.py), held against the reference's "vww" figures. Prints Markdown.
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
from narrow_models import narrow_cases
from sequence_models import sequence_cases
from zoo_models import REPO, ZOO, cases

sys.path.insert(0, str(REPO))  # this checkout's mcuq and runtime_c, not whichever one is installed

import mcuq  # noqa: E402
from mcuq import firmware, quant  # noqa: E402
from mcuq.firmware.boards import all_boards  # noqa: E402

PLUGIN_SOURCE = REPO.parent / "shared" / "tools" / "qemu-icount" / "icount_plugin.c"
CMSIS_REFERENCE = REPO.parent / "shared" / "reference" / "cmsisnn-v7-qemu.md"
REFERENCE_NAMES = {"kws_dscnn": "kws", "resnet8": "ic", "vww_mobilenet_025": "vww"}  # ours -> the reference's
TARGET_FACTOR = {"M4": 0.55, "M55": 0.7, "M3": 0.8}  # issue 15: instructions at most this times CMSIS-NN's (at -O2)
MODEL_TARGET_FACTOR = {("vww_mobilenet_025", "M55"): 0.8}  # issue 15's VWW target where it differs
# --flags names -> (optimization level, extra CFLAGS). O2-freestanding is how Zephyr (-ffreestanding) and
# NXP's MCUXpresso SDK (-ffreestanding -fno-builtin) build: memcpy/memset are no longer inlined.
FLAG_SETS = {
    "O2": ("-O2", ""),
    "Os": ("-Os", ""),
    "O3": ("-O3", ""),
    "O2-freestanding": ("-O2", "-ffreestanding -fno-builtin"),
}


def cmsis_reference() -> dict[tuple[str, str, str], int]:
    """(reference model name, core, level such as "O2") -> CMSIS-NN v7's instructions per inference, from
    the reference's table of every optimization level (header "| model | m3 O2 | m3 Os | ...")."""
    if not CMSIS_REFERENCE.exists():
        return {}
    lines = CMSIS_REFERENCE.read_text().splitlines()
    found = {}
    for i, line in enumerate(lines):
        header = [c.strip() for c in line.strip().strip("|").split("|")]
        if header[0] != "model" or not all(re.fullmatch(r"m\d+ O\w+", c) for c in header[1:]):
            continue
        columns = [(c.split()[0].upper(), c.split()[1]) for c in header[1:]]
        for row in lines[i + 2:]:
            if not row.startswith("|"):
                break
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            for (core, level), cell in zip(columns, cells[1:]):
                found[(cells[0], core, level)] = int(cell.split()[0].replace(",", ""))
    return found


def target_factor(name: str, core: str) -> float | None:
    return MODEL_TARGET_FACTOR.get((name, core), TARGET_FACTOR.get(core))


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
    cores = sorted({core for _, core in sums}, key=lambda c: (int(c.split()[0][1:]), c))
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


def all_cases(folder: Path | None = None):
    """The zoo's models, then the narrow networks built as ONNX and issue 14's sequence models exported from
    torch into folder (names only without one)."""
    yield from cases()
    yield from narrow_cases(folder)
    yield from sequence_cases(folder)


def against_o2(instructions: int, plain: int | None) -> str:
    """This row's instructions over the plain -O2 build's of the same model and core."""
    return f"{instructions / plain:.3f}" if plain else "–"


def against_cmsis(name: str, core: str, flags: str, instructions: int, reference: dict) -> str:
    """CMSIS-NN v7's figure at the same optimization level where the reference has one, and at -O2 the
    issue-15 target with whether it is met."""
    cmsis = reference.get((REFERENCE_NAMES.get(name, ""), core, flags))
    if not cmsis:
        return "– | "
    factor = target_factor(name, core)
    if flags != "O2" or not factor:
        return f"{cmsis:,} ({instructions / cmsis:.2f}x) | "
    met = "met" if instructions <= factor * cmsis else "MISSED"
    return f"{cmsis:,} ({instructions / cmsis:.2f}x) | ≤ {factor * cmsis:,.0f} ({met})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flags", default="O2", help="comma-separated compiler flag sets, each one of: "
                        + ", ".join(FLAG_SETS) + " (default O2)")
    parser.add_argument("--models", help="comma-separated subset of: " + ", ".join(n for n, *_ in all_cases()))
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
    unknown = sorted((wanted or set()) - {name for name, _, _ in all_cases()})
    if unknown:
        print(f"no benchmark model named {', '.join(map(repr, unknown))}; choose from "
              f"{', '.join(repr(name) for name, _, _ in all_cases())}", file=sys.stderr)
        return 2
    flag_sets = [f.strip() for f in args.flags.split(",")]
    bad_flags = [f for f in flag_sets if f not in FLAG_SETS]
    if bad_flags:
        print(f"no flag set named {', '.join(map(repr, bad_flags))}; choose from {', '.join(FLAG_SETS)}",
              file=sys.stderr)
        return 2
    flag_sets.sort(key=lambda f: f != "O2")  # the plain -O2 rows first: the others are held against them
    cores = {c.strip().lower().removeprefix("cortex-") for c in args.cores.split(",")} if args.cores else None
    boards = [b for b in all_boards()
              if b.emulated and (cores is None or b.core.lower().removeprefix("cortex-") in cores)]
    with results.recorded(__file__, args.write_results), tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plugin = None if args.no_exact else build_plugin(tmp)
        exact_source = "qemu-icount plugin" if plugin else ("skipped" if args.no_exact else "plugin not found")
        flag_text = ", ".join(f"{f} = {' '.join(filter(None, FLAG_SETS[f]))}" for f in flag_sets)
        print(f"Firmware ({flag_text}), arm-none-eabi-gcc, QEMU -icount shift=0; exact column: {exact_source}\n")
        print("| model | MACs | core (board) | flags | instructions | vs O2 | CMSIS-NN v7 (same level) | target "
              "| exact (plugin) | MACs/insn | code B | flash B | RAM B (.data + .bss + stack used) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        reference = cmsis_reference()
        per_layer: dict[str, tuple] = {}
        portable_layers: dict[str, tuple] = {}
        for name, path, calib in all_cases(tmp):
            if wanted and name not in wanted:
                continue
            if path is None:
                print(f"| {name} | skipped: needs torch and onnxscript (the `torch` extra) |" + " |" * 11)
                continue
            safe = re.sub(r"\W+", "_", name).strip("_")
            compiled = mcuq.compile(path, calib[:50], tmp / safe, name=safe)
            sample = one_sample(compiled, calib)
            macs = compiled.report["totals"]["macs"]
            plain_o2: dict[str, int] = {}
            for flags in flag_sets:
                opt, cflags = FLAG_SETS[flags]
                for board in boards:
                    folder = tmp / f"{safe}_{board.name}_{flags}"
                    m = measure(compiled, sample, board, folder, opt, plugin, cflags)
                    core = f"{board.core} ({board.name})"
                    if "error" in m:
                        print(f"| {name} | {macs:,} | {core} | {flags} | does not fit: {m['error']} |" + " |" * 8)
                        continue
                    if flags == "O2":
                        plain_o2[board.core] = m["instructions"]
                    exact = f"{m['exact']:,}" if m["exact"] is not None else "–"
                    print(f"| {name} | {macs:,} | {core} | {flags} | {m['instructions']:,} "
                          f"| {against_o2(m['instructions'], plain_o2.get(board.core))} "
                          f"| {against_cmsis(name, board.core, flags, m['instructions'], reference)} "
                          f"| {exact} | {m['macs_per_insn']:.3f} | {m['code']:,} | {m['flash']:,} "
                          f"| {m['ram']:,} (arena {m['arena']:,}, stack {m['stack']:,}) |")
                    column = board.core if len(flag_sets) == 1 else f"{board.core} {flags}"
                    per_layer.setdefault(name, (compiled, {}))[1][column] = m["layers"]
                    if args.portable:
                        portable = measure(compiled, sample, board, tmp / f"{folder.name}_portable", opt, None,
                                           f"{cflags} -DMCUQ_PORTABLE_KERNELS".strip())
                        portable_layers.setdefault(name, (compiled, {}))[1][column] = (m["layers"],
                                                                                      portable["layers"])
        if args.per_layer:
            for name, (compiled, by_core) in per_layer.items():
                print_layers(name, compiled, by_core)
        if args.portable:
            print_against_portable(portable_layers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
