"""Host build: compile the generated C with the host compiler and call it through cffi (ABI mode).

The flags are the strict ones the generated code promises to pass: -O2 -Wall -Wextra -Werror, C99.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import cffi
import numpy as np

from mcuq.errors import ToolchainError
from mcuq.qir.model import DTYPE_NUMPY, QModel

HOST_CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC"]

# Sections whose code runs when a library is loaded or unloaded. The generated C never has any; one in the
# object means something in the model file (a name) made it into code, and loading it would run that code.
LOAD_TIME_SECTIONS = (".init_array", ".fini_array", ".preinit_array", ".ctors", ".dtors", ".init", ".fini")


def host_compiler() -> list[str]:
    cc = os.environ.get("CC", "cc")
    command = shlex.split(cc)
    if shutil.which(command[0]) is None:
        raise ToolchainError(
            f"no host C compiler: {command[0]!r} is not on PATH; install gcc (apt-get install gcc) or set CC"
        )
    return command


@functools.cache
def speed_flags(compiler: tuple[str, ...]) -> tuple[str, ...]:
    """Flags that make the host build run faster without changing what it computes or warns about. gcc's
    -O2 vectorizes only loops its "very cheap" cost model takes; the dynamic model (-O3's) vectorizes the
    portable kernels' inner loops too: verification of ResNet-8 on 200 samples 2.8 s -> 1.5 s. clang
    vectorizes at -O2 already (and would warn about the gcc option)."""
    try:
        version = subprocess.run([*compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return ("-fvect-cost-model=dynamic",) if "Free Software Foundation" in version else ()


C_TYPES = {"int8": "int8_t", "int16": "int16_t", "float32": "float"}


def _ctype(dtype) -> str:
    """"int16" or np.int16 -> "int16_t"."""
    return C_TYPES[np.dtype(dtype).name]


def _run_compiler(command: list[str], step: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolchainError(
            f"the generated C did not {step} on the host ({' '.join(command)}):\n{result.stderr.strip()}"
        )


def elf_section_names(path: Path) -> list[str] | None:
    """The section names of an ELF object file (32 or 64 bit, either byte order); None if it is not ELF
    (e.g. Mach-O on macOS, where the check below is skipped)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        return None
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    word = order + ("Q" if wide else "I")
    # ELF header: e_shoff (section table offset); e_shentsize, e_shnum, e_shstrndx. Section header: sh_name
    # (offset in the name table) first, sh_offset at 0x18 (64 bit) or 0x10 (32 bit).
    table = struct.unpack_from(word, data, 0x28 if wide else 0x20)[0]
    entry_size, count, names_index = struct.unpack_from(order + "HHH", data, 0x3A if wide else 0x2E)
    names_at = struct.unpack_from(word, data, table + names_index * entry_size + (0x18 if wide else 0x10))[0]
    names = []
    for i in range(count):
        start = names_at + struct.unpack_from(order + "I", data, table + i * entry_size)[0]
        names.append(data[start : data.index(b"\0", start)].decode("latin-1"))
    return names


def refuse_load_time_code(obj_path: Path) -> None:
    """Defense in depth behind the name sanitizers (`mcuq.codegen.names`): the host build loads the generated C
    into this process, so an object with constructors or destructors is never linked or loaded."""
    names = elf_section_names(obj_path) or []
    found = sorted({n for n in names for s in LOAD_TIME_SECTIONS if n == s or n.startswith(s + ".")})
    if found:
        raise ToolchainError(
            f"the generated C defines code that would run when it is loaded ({', '.join(found)} in "
            f"{obj_path.name}); mcuq never generates that, so the model file smuggled code into it. "
            "Refusing to load it: this is a bug in mcuq's name sanitizing, please report it with the model"
        )


class HostModel:
    """The generated C, built as a shared library for this machine."""

    def __init__(self, c_path: Path, h_path: Path, prefix: str, model: QModel):
        self.prefix = prefix
        self.model = model
        self._tmp = tempfile.TemporaryDirectory(prefix="mcuq-host-")
        obj_path, lib_path = Path(self._tmp.name) / f"{prefix}.o", Path(self._tmp.name) / f"lib{prefix}.so"
        compiler = host_compiler()
        _run_compiler([*compiler, *HOST_CFLAGS, *speed_flags(tuple(compiler)), "-I", str(h_path.parent),
                       "-c", str(c_path), "-o", str(obj_path)], "compile")
        refuse_load_time_code(obj_path)
        _run_compiler([*host_compiler(), "-shared", str(obj_path), "-o", str(lib_path)], "link")
        self.ffi = cffi.FFI()
        ins = ", ".join(f"const int8_t *input{i}" for i in range(len(model.inputs)))
        outs = ", ".join(f"{_ctype(model.tensors[n].dtype)} *output{i}" for i, n in enumerate(model.outputs))
        fins = ", ".join(f"const float *input{i}" for i in range(len(model.inputs)))
        fouts = ", ".join(f"float *output{i}" for i in range(len(model.outputs)))
        self.ffi.cdef(
            f"int {prefix}_invoke({ins}, {outs});\n"
            f"int {prefix}_invoke_f32({fins}, {fouts});\n"
            f"int {prefix}_invoke_with_arena(void *arena, size_t arena_size, {ins}, {outs});\n"
        )
        self.lib = self.ffi.dlopen(str(lib_path))

    def _call(self, fn, dtype, inputs: list[np.ndarray], arena: tuple | None = None) -> list[np.ndarray]:
        """``dtype``: np.int8 for the integer API (each output in its own integer type), np.float32."""
        ins = [np.ascontiguousarray(x, dtype=dtype) for x in inputs]
        out_types = [dtype if dtype == np.float32 else np.dtype(DTYPE_NUMPY[self.model.tensors[n].dtype])
                     for n in self.model.outputs]
        outs = [np.zeros(self.model.tensors[n].shape, dtype=t) for n, t in zip(self.model.outputs, out_types)]
        args = [self.ffi.cast(_ctype(x.dtype) + " *", self.ffi.from_buffer(x)) for x in ins]
        args += [self.ffi.cast(_ctype(y.dtype) + " *", self.ffi.from_buffer(y)) for y in outs]
        if arena is not None:
            args[0:0] = [self.ffi.from_buffer(arena[0]), arena[1]]
        status = fn(*args)
        if status != 0:
            raise RuntimeError(f"{self.prefix}_invoke returned status {status}")
        return outs

    def invoke(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """int8 inputs in the IR layout (with batch dim 1) -> integer outputs (int8, or int16 where an
        int16 layer writes a model output)."""
        return self._call(self.lib.__getattr__(f"{self.prefix}_invoke"), np.int8, list(inputs))

    def invoke_f32(self, *inputs: np.ndarray) -> list[np.ndarray]:
        return self._call(self.lib.__getattr__(f"{self.prefix}_invoke_f32"), np.float32, list(inputs))

    def invoke_with_arena(self, arena: np.ndarray, *inputs: np.ndarray, arena_size: int | None = None
                          ) -> list[np.ndarray]:
        """Run in the caller's `arena` (an int8 array); `arena_size` (default: its length) is the size
        the C is told. Raises RuntimeError with the status the C returns, e.g. for a too small arena."""
        size = arena.nbytes if arena_size is None else arena_size
        fn = self.lib.__getattr__(f"{self.prefix}_invoke_with_arena")
        return self._call(fn, np.int8, list(inputs), (arena, size))

    def close(self) -> None:
        self._tmp.cleanup()
