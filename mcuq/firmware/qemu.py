"""Run a firmware ELF under QEMU and read what it printed over semihosting.

`-icount shift=0` makes QEMU advance virtual time by exactly 1 ns per guest instruction, so the
SysTick ticks the firmware reads around each layer are deterministic, and instructions follow from
them: one tick of a `clock_hz` core is 1e9 / clock_hz instructions (40 at 25 MHz). The resolution is
therefore one tick per layer, not one instruction.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcuq.errors import McuqError
from mcuq.firmware.project import FirmwareProject
from mcuq.firmware.toolchain import QEMU, require_tools

DEFAULT_TIMEOUT_S = 120.0
EXIT_MEANINGS = {1: "an output differs from the host build", 2: "the model returned an error status",
                 3: "the core took a HardFault or another unexpected exception"}


class FirmwareRunError(McuqError):
    """The firmware did not run to the end (hang, fault, or unreadable output)."""


@dataclass
class FirmwareRun:
    exit_status: int
    clock_hz: int
    outputs: list[list[np.ndarray]]  # [sample][output] the bytes printed, as int8 (see `output`)
    layer_ticks: list[list[int]]  # [sample][layer]
    stack_bytes: int
    log: str = field(repr=False)

    def output(self, sample: int, index: int, dtype) -> np.ndarray | None:
        """Output ``index`` of ``sample`` as values of ``dtype`` (the firmware prints bytes, little-endian
        as in memory); None when nothing or a partial value was printed."""
        raw = self.outputs[sample][index] if sample < len(self.outputs) and index < len(self.outputs[sample]) else None
        if raw is None or raw.nbytes % np.dtype(dtype).itemsize:
            return None
        return raw.view(np.dtype(dtype).newbyteorder("<"))

    @property
    def ns_per_tick(self) -> float:
        return 1e9 / self.clock_hz

    def layer_instructions(self, sample: int = 0) -> list[int]:
        """Instructions per layer (icount shift=0: 1 ns per instruction), to one tick's resolution."""
        return [round(t * self.ns_per_tick) for t in self.layer_ticks[sample]]

    def total_instructions(self, sample: int = 0) -> int:
        return round(sum(self.layer_ticks[sample]) * self.ns_per_tick)


def qemu_command(project: FirmwareProject, elf: Path | None = None) -> list[str]:
    return [
        QEMU, "-M", project.board.qemu_machine, "-nographic", "-monitor", "none", "-serial", "none",
        "-icount", "shift=0", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf or project.elf),
    ]


def run_firmware(project: FirmwareProject, *, timeout_s: float = DEFAULT_TIMEOUT_S, elf: Path | None = None
                 ) -> FirmwareRun:
    """Run the built ELF (the Makefile's, or ``elf``: e.g. the CMake build's); raises FirmwareRunError on a
    timeout, a fault or output it cannot read."""
    board = project.board
    if not board.emulated:
        raise McuqError(f"board {board.name} is not emulated by QEMU: `mcuq build` builds and size-checks it; "
                        "run on an emulated board (see `mcuq boards`)")
    require_tools(run_under_qemu=True)
    try:
        done = subprocess.run(qemu_command(project, elf), capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        printed = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        raise FirmwareRunError(
            f"the firmware did not finish within {timeout_s:g} s on {board.name} and was stopped; it may hang "
            f"(last output: {_tail(printed or '')!r}); raise --timeout if the model is just slow"
        ) from None
    log = done.stdout + done.stderr
    run = parse_output(log, done.returncode, board.clock_hz)
    if done.returncode not in (0, 1):
        meaning = EXIT_MEANINGS.get(done.returncode, "QEMU or the firmware failed")
        raise FirmwareRunError(f"the firmware on {board.name} exited with status {done.returncode} ({meaning}): "
                               f"{_tail(log)}")
    return run


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def parse_output(log: str, exit_status: int, clock_hz: int) -> FirmwareRun:
    """Read the lines main.c prints (see templates/firmware/main.c.j2)."""
    outputs: dict[tuple[int, int], list[bytes]] = {}
    ticks: dict[int, list[int]] = {}
    stack = None
    header = None
    for line in log.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "mcuq-fw":
            header = dict(f.split("=", 1) for f in fields[2:])
        elif fields[0] == "out" and len(fields) == 4:
            outputs.setdefault((int(fields[1]), int(fields[2])), []).append(bytes.fromhex(fields[3]))
        elif fields[0] == "ticks":
            ticks[int(fields[1])] = [int(f) for f in fields[2:]]
        elif fields[0] == "stack":
            stack = int(fields[1])
    if header is None:
        raise FirmwareRunError(f"the firmware printed nothing mcuq understands (exit status {exit_status}): "
                               f"{_tail(log)}")
    samples = int(header["samples"])
    if exit_status in (0, 1) and (len(ticks) != samples or stack is None):
        raise FirmwareRunError(f"the firmware's output is incomplete: {_tail(log)}")
    n_outputs = 1 + max((o for _, o in outputs), default=-1)
    as_int8 = [
        [np.frombuffer(b"".join(outputs.get((s, o), [])), dtype=np.int8) for o in range(n_outputs)]
        for s in range(samples)
    ]
    return FirmwareRun(exit_status, clock_hz, as_int8, [ticks.get(s, []) for s in range(samples)], stack or 0, log)
