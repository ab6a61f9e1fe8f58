"""Board descriptions: `boards/<name>.toml` -> `Board` (core, FPU, memory regions, clock, QEMU machine).

See boards/README.md for the keys. Every file is checked when read, so a typo in a board file is an
error that names the file and the key, not a broken linker script later.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from mcuq.errors import McuqError
from mcuq.resources import resource_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class BoardError(McuqError):
    """An unknown board or a malformed board file."""


@dataclass(frozen=True)
class Region:
    origin: int
    length: int


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    cpu: str
    fpu: str
    float_abi: str
    dsp: bool
    mve: bool
    clock_hz: int
    flash: Region
    ram: Region
    qemu_machine: str | None = None

    @property
    def emulated(self) -> bool:
        return self.qemu_machine is not None

    @property
    def core(self) -> str:
        """`cortex-m4` -> `M4`, `cortex-m0plus` -> `M0+`."""
        return "M" + self.cpu.removeprefix("cortex-m").replace("plus", "+").upper()

    def cpu_flags(self) -> list[str]:
        """arm-none-eabi-gcc flags that select this core, its FPU and float ABI."""
        flags = [f"-mcpu={self.cpu}", "-mthumb", f"-mfloat-abi={self.float_abi}"]
        if self.fpu != "none":
            flags.append(f"-mfpu={self.fpu}")
        return flags


_KEYS = {
    "name": str, "description": str, "cpu": str, "fpu": str, "float_abi": str, "dsp": bool, "mve": bool,
    "clock_hz": int, "flash": dict, "ram": dict,
}
_OPTIONAL_KEYS = {"qemu_machine": str}
FLOAT_ABIS = ("soft", "softfp", "hard")


def boards_dir() -> Path:
    return resource_dir("boards")


def _region(path: Path, key: str, value: dict) -> Region:
    if set(value) != {"origin", "length"} or not all(isinstance(v, int) for v in value.values()):
        raise BoardError(f"{path}: [{key}] must have exactly the integer keys origin and length")
    if value["length"] <= 0 or value["origin"] < 0 or value["origin"] + value["length"] > 2**32:
        raise BoardError(f"{path}: [{key}] origin/length do not describe a region of the 32-bit address space")
    return Region(value["origin"], value["length"])


def parse_board(path: Path) -> Board:
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"{path}: not valid TOML: {exc}") from None
    missing = sorted(set(_KEYS) - set(raw))
    unknown = sorted(set(raw) - set(_KEYS) - set(_OPTIONAL_KEYS))
    if missing or unknown:
        raise BoardError(f"{path}: missing keys {missing}, unknown keys {unknown}; see boards/README.md")
    for key, kind in {**_KEYS, **_OPTIONAL_KEYS}.items():
        if key in raw and not isinstance(raw[key], kind):
            raise BoardError(f"{path}: {key} must be a {kind.__name__}, not {raw[key]!r}")
    if raw["name"] != path.stem:
        raise BoardError(f"{path}: name {raw['name']!r} must equal the file name {path.stem!r}")
    if raw["float_abi"] not in FLOAT_ABIS or (raw["fpu"] == "none") != (raw["float_abi"] == "soft"):
        raise BoardError(f"{path}: float_abi {raw['float_abi']!r} does not fit fpu {raw['fpu']!r}")
    if not raw["cpu"].startswith("cortex-m"):
        raise BoardError(f"{path}: cpu {raw['cpu']!r} is not a Cortex-M core")
    fields = {k: raw[k] for k in _KEYS if k not in ("flash", "ram")}
    return Board(**fields, flash=_region(path, "flash", raw["flash"]), ram=_region(path, "ram", raw["ram"]),
                 qemu_machine=raw.get("qemu_machine"))


def all_boards() -> list[Board]:
    """Every board mcuq knows, emulated ones first, then by name."""
    boards = [parse_board(p) for p in sorted(boards_dir().glob("*.toml"))]
    return sorted(boards, key=lambda b: (not b.emulated, b.name))


def get_board(name: str) -> Board:
    path = boards_dir() / f"{name}.toml"
    if not path.is_file():
        names = ", ".join(b.name for b in all_boards())
        raise BoardError(f"unknown board {name!r}; known boards: {names} (`mcuq boards` describes them)")
    return parse_board(path)
