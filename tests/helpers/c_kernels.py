"""Build every ``runtime_c/src/**/*.c`` into one shared library and load it with cffi (ABI mode).

The cdef is read from the real headers (``mcuq_nn_types.h`` and ``mcuq_nn.h``), with preprocessor
lines and the ``MCUQ_API`` marker removed, so the test binding cannot drift from the API. The
library is built once per test session (``load()`` is cached) into a temporary directory.

The static inline helpers of ``mcuq_nn_support.h`` have no symbols of their own; a small test-only
translation unit (``_SUPPORT_SHIM``) wraps each one as an exported array function so the tests can
compare them with ``mcuq.numerics.fixedpoint`` element by element.
"""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import cffi
import numpy as np

from tests.helpers.paths import REPO

INCLUDE = REPO / "runtime_c" / "include"
SRC = REPO / "runtime_c" / "src"
CFLAGS = ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-std=c99"]


# name -> (arity, C expression over a[i], b[i], c[i])
SUPPORT_FUNCTIONS = {
    "requantize": (3, "mcuq_requantize(a[i], b[i], c[i])"),
    "requantize_fast": (3, "mcuq_requantize_fast(a[i], b[i], c[i])"),
    "doubling_high_mult_no_sat": (2, "mcuq_doubling_high_mult_no_sat(a[i], b[i])"),
    "sat_doubling_high_mult": (2, "mcuq_sat_doubling_high_mult(a[i], b[i])"),
    "rounding_divide_by_pot": (2, "mcuq_rounding_divide_by_pot(a[i], b[i])"),
    "sat_mult_by_pot": (2, "mcuq_sat_mult_by_pot(a[i], b[i])"),
    "exp_on_negative_values": (1, "mcuq_exp_on_negative_values(a[i])"),
    "one_over_one_plus_x_for_x_in_0_1": (1, "mcuq_one_over_one_plus_x_for_x_in_0_1(a[i])"),
    "clz_u32": (1, "mcuq_clz_u32((uint32_t)a[i])"),
    # for right shifts c <= -2, with the channel constants the no-DSP kernels hoist
    "requantize_rshift2": (3, "mcuq_requantize_rshift2(a[i], b[i], (int32_t)(1u << (-c[i] - 2)), -c[i] - 1)"),
}
_ARGS = ("const int32_t *a", "const int32_t *b", "const int32_t *c")


def _shim_prototype(name: str, arity: int) -> str:
    return f"void mcuq_test_{name}({', '.join(_ARGS[:arity])}, int32_t *out, int32_t n)"


def _support_shim() -> str:
    body = ['#include "mcuq_nn_support.h"']
    for name, (arity, expr) in SUPPORT_FUNCTIONS.items():
        proto = _shim_prototype(name, arity)
        body.append(
            f"{proto};\n{proto}\n{{\n    int32_t i;\n    for (i = 0; i < n; i++)\n"
            f"    {{\n        out[i] = {expr};\n    }}\n}}"
        )
    return "\n\n".join(body) + "\n"


def _cdef_text() -> str:
    text = (INCLUDE / "mcuq_nn_types.h").read_text() + (INCLUDE / "mcuq_nn.h").read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    shims = [_shim_prototype(name, arity) + ";" for name, (arity, _) in SUPPORT_FUNCTIONS.items()]
    return re.sub(r"\bMCUQ_API\b", "", "\n".join(lines + shims))


# Kernel paths the host can run: the portable C, the DSP path on C emulations of its instructions
# (mcuq_nn_simd.h), and the no-DSP path of Cortex-M3/M0 (with the M0's 16-bit-halves long multiply). The
# MVE path runs only on an emulated Cortex-M55 (tests/runtime_c/test_kernels_qemu.py).
VARIANTS = {"portable": [], "dsp": ["-DMCUQ_EMULATE_DSP"], "nodsp": ["-DMCUQ_EMULATE_NODSP"]}
_active = ["portable"]


def use_variant(name: str) -> None:
    """Make ``load()`` return the kernels built for path ``name`` (a key of VARIANTS)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown kernel variant {name!r}")
    _active[0] = name


def load():
    """(ffi, lib) for the kernels of the active variant; compiled on first use."""
    return _load(_active[0])


@functools.cache
def _load(variant: str):
    sources = sorted(str(p) for p in SRC.rglob("*.c"))
    if not sources:
        raise RuntimeError(f"no C sources under {SRC}")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc) on PATH")
    out_dir = Path(tempfile.mkdtemp(prefix="mcuq_kernels_"))
    atexit.register(shutil.rmtree, out_dir, ignore_errors=True)
    shim = out_dir / "mcuq_support_shim.c"
    shim.write_text(_support_shim())
    # Beyond the generator's flags: force-include the API header so that every definition is checked
    # against its prototype, and require a prototype for every non-static function (kernel files
    # may define only the API and static helpers).
    checks = ["-include", "mcuq_nn.h", "-Wmissing-prototypes"]
    lib_path = out_dir / f"libmcuq_kernels_{variant}.so"
    cmd = [cc, *CFLAGS, *VARIANTS[variant], *checks, f"-I{INCLUDE}", *sources, str(shim), "-o", str(lib_path)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building the kernels failed:\n{' '.join(cmd)}\n{proc.stderr}")
    ffi = cffi.FFI()
    ffi.cdef(_cdef_text())
    return ffi, ffi.dlopen(str(lib_path))


def support(name: str, *args):
    """Apply the C helper ``mcuq_<name>`` of mcuq_nn_support.h elementwise; int32 arrays in and out."""
    ffi, lib = load()
    arrays = [
        np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=np.int32), np.shape(args[0]))) for a in args
    ]
    out = np.empty(np.shape(args[0]), dtype=np.int32)
    fn = getattr(lib, f"mcuq_test_{name}")
    fn(*[ffi.from_buffer("int32_t[]", a) for a in arrays], ffi.from_buffer("int32_t[]", out), out.size)
    return out
