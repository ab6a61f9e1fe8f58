"""Host build: compile the generated C with the host compiler and call it through cffi (ABI mode).

The flags are the strict ones the generated code promises to pass: -O2 -Wall -Wextra -Werror, C99.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import cffi
import numpy as np

from .errors import ToolchainError
from .qir import DTYPE_NUMPY, QModel

HOST_CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared"]


def host_compiler() -> list[str]:
    cc = os.environ.get("CC", "cc")
    command = shlex.split(cc)
    if shutil.which(command[0]) is None:
        raise ToolchainError(
            f"no host C compiler: {command[0]!r} is not on PATH; install gcc (apt-get install gcc) or set CC"
        )
    return command


C_TYPES = {"int8": "int8_t", "int16": "int16_t", "float32": "float"}


def _ctype(dtype) -> str:
    """"int16" or np.int16 -> "int16_t"."""
    return C_TYPES[np.dtype(dtype).name]


class HostModel:
    """The generated C, built as a shared library for this machine."""

    def __init__(self, c_path: Path, h_path: Path, prefix: str, model: QModel):
        self.prefix = prefix
        self.model = model
        self._tmp = tempfile.TemporaryDirectory(prefix="mcuq-host-")
        lib_path = Path(self._tmp.name) / f"lib{prefix}.so"
        command = [*host_compiler(), *HOST_CFLAGS, "-I", str(h_path.parent), str(c_path), "-o", str(lib_path)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise ToolchainError(
                f"the generated C did not compile on the host ({' '.join(command)}):\n{result.stderr.strip()}"
            )
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
