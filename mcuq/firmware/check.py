"""From a firmware build and run to the report: sizes against the board's limits, outputs against the
host build, and instructions per layer."""

from __future__ import annotations

from mcuq.firmware.project import TestSample
from mcuq.firmware.qemu import FirmwareRun
from mcuq.firmware.toolchain import FirmwareBuild


def output_mismatches(run: FirmwareRun, samples: list[TestSample]) -> list[str]:
    """One line per (sample, output) whose bytes differ from the host build's."""
    problems = []
    for s, sample in enumerate(samples):
        for o, expected in enumerate(sample.expected):
            got = run.output(s, o, expected.dtype)
            if got is None or got.shape != expected.shape:
                problems.append(f"sample {s} output {o}: {0 if got is None else got.size} values printed, "
                                f"{expected.size} expected")
                continue
            diff = got.astype(int) - expected.astype(int)
            if diff.any():
                problems.append(f"sample {s} output {o}: {int((diff != 0).sum())} values differ, up to "
                                f"{int(abs(diff).max())} LSB")
    return problems


def stack_overflow(run: FirmwareRun, stack_size: int) -> str | None:
    """Why the run cannot be trusted when it used every byte of its stack, else None. The firmware paints
    the stack before the model runs and counts the painted words left after it (`fw_stack_used`): none left
    means the stack grew to its limit and most likely past it, over the data below it (the arena), which
    corrupts outputs or faults."""
    if run.stack_bytes < stack_size:
        return None
    return (f"the firmware used all of its {stack_size:,} B stack and most likely overflowed it into the arena: "
            f"its outputs cannot be trusted; give it more stack (--stack-size {2 * stack_size}, or the "
            "`stack_size` of FirmwareOptions); report.json's firmware.run.stack_used_bytes then shows what it needs")


def size_summary(build: FirmwareBuild) -> dict:
    board = build.project.board
    return dict(
        flash_bytes=build.flash_bytes,
        flash_limit=board.flash.length,
        ram_bytes=build.ram_bytes,
        ram_limit=board.ram.length,
        test_data_bytes=build.project.test_data_bytes,
        stack_reserved=build.project.stack_size,
        sections={k: v for k, v in build.sections.items() if not k.startswith((".debug", ".comment", ".ARM.attr"))},
    )


def run_summary(run: FirmwareRun, samples: list[TestSample], layer_macs: list[int]) -> dict:
    """Per-layer instructions of the first sample; totals of every sample (they differ only where a kernel's
    work depends on the data)."""
    per_layer = run.layer_instructions(0)
    totals = [run.total_instructions(s) for s in range(len(samples))]
    macs = sum(layer_macs)
    return dict(
        samples=len(samples),
        mismatches=output_mismatches(run, samples),
        exit_status=run.exit_status,
        ns_per_tick=run.ns_per_tick,
        instructions_per_tick=run.ns_per_tick,  # icount shift=0: one instruction per ns
        layers=[
            dict(index=i, ticks=t, instructions=n, macs_per_instruction=(m / n if n and m else None))
            for i, (t, n, m) in enumerate(zip(run.layer_ticks[0], per_layer, layer_macs))
        ],
        total_instructions=totals[0],
        total_instructions_per_sample=totals,
        macs_per_instruction=macs / totals[0] if totals[0] else None,
        stack_used_bytes=run.stack_bytes,
    )
