"""Run int8 kernel calls on an emulated Cortex-M and check them against the golden model.

The int8 kernel tests of tests/runtime_c/ (one file per kernel family) run on the host, where the MVE
path cannot run and the DSP path runs on C emulations of its instructions. This harness checks the
real instructions: it writes one C file of test cases (each: one layer's kernel call on random data,
with the golden model's output as the expected bytes), builds it with every runtime_c kernel for a
board's core, runs it under QEMU, and reads back which cases failed. A case's declarations and call
are the generated model's: the op's template (templates/ops/) renders the layer's view.

Each case owns one arena holding its inputs, its output region (after, or overlapping, the inputs,
for in-place execution; or a channel slice of wider pixels) and its scratch, laid out as the host
harness lays it out (`kernel_harness.layout`). The firmware compares the arena after the call, up to
the scratch, with the initial bytes where the output rows replaced: a write outside the output is
caught too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcuq import golden
from mcuq.codegen import views
from mcuq.codegen.emit import LayerView
from mcuq.codegen.names import ModelString
from mcuq.codegen.templating import template_environment
from mcuq.firmware.boards import Board, get_board
from mcuq.qir import kernels
from mcuq.qir.model import Layer, QTensor
from tests.helpers import kernel_harness
from tests.helpers.paths import REPO

INCLUDE = REPO / "runtime_c" / "include"
SRC = REPO / "runtime_c" / "src"


def tools_missing() -> str | None:
    """Why the harness cannot run here, or None."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            return f"{tool} not on PATH (scripts/install-toolchain.sh installs it)"
    return None


def _c_array(name: str, values: np.ndarray, const: bool = True) -> str:
    flat = np.asarray(values).reshape(-1)
    body = ", ".join(str(int(v)) for v in flat) if flat.size else "0"
    qualifier = "static const" if const else "static"
    return f"{qualifier} int8_t {name}[{max(flat.size, 1)}] __attribute__((aligned(4))) = {{{body}}};"


@dataclass
class KernelCase:
    """One layer's kernel call(s) on its own arena: the initial bytes, the bytes expected after the
    call (the golden output in the output rows), and where the layer's tensors and scratch are."""

    label: str
    layer: Layer
    tensors: dict[str, QTensor]
    placement: views.Placement
    buffer: np.ndarray  # int8, initial bytes
    expected: np.ndarray  # int8, the bytes after the call (the scratch region is not compared)


def layer_case(label: str, layer: Layer, inputs: list[np.ndarray], tensors: dict[str, QTensor],
               inplace_shift: int | None = None, pixel_stride: int | None = None, roomy: bool = False,
               scratch_size: int | None = None) -> KernelCase:
    """An int8 layer as a case, with the golden model's output as the expected bytes. `inplace_shift`:
    run with the output that many bytes after input 0's start (overlapping it). `pixel_stride`: write
    the output as the first channels of pixels that many channels wide. The kernel gets the least
    scratch it needs, or with `roomy` the scratch of its faster path (kernels.roomy_scratch_bytes), or
    exactly `scratch_size` bytes."""
    want = golden.run_layer(layer, inputs, tensors)
    arena = kernel_harness.layout(layer, tensors, None if inplace_shift is None else (0, inplace_shift),
                                  None if pixel_stride is None else (0, pixel_stride), roomy, scratch_size)
    buffer = np.random.default_rng(arena.size).integers(-128, 128, size=arena.size).astype(np.int8)
    for offset, x in zip(arena.placement.inputs, inputs):
        data = np.asarray(x, dtype=np.int8).reshape(-1)
        buffer[offset : offset + data.size] = data
    expected = buffer.copy()
    for r, row in enumerate(want.reshape(arena.rows, -1)):
        at = arena.placement.output + r * arena.row_stride
        expected[at : at + row.size] = row
    return KernelCase(label, layer, tensors, arena.placement, buffer, expected)


# The C of one case: the layer's declarations and calls as the generated model has them (the op's
# template renders the layer's view), on the case's own arena.
_CASE = """{% import l.template as op %}
/* {{ label }} */
#define {{ l.aligned }} __attribute__((aligned(4)))
{{ op.decl(l) }}
{{ buffers }}
static int {{ l.prefix }}(void)
{
    int8_t *const arena = {{ l.prefix }}_buf;
    mcuq_status status = MCUQ_OK;
{% if check_scratch %}
    /* 3: the kernel's buffer-size function disagrees with kernels.scratch_bytes */
    if ({{ l.view.calls[0].function }}_get_buffer_size(&{{ l.sym("input_dims") }}, &{{ l.sym("filter_dims") }}) != {{ least }})
    {
        return 3;
    }
{% endif %}
    {
{{ op.call(l) -}}
    }
    if (status != MCUQ_OK)
    {
        return 2;
    }
    return report_diff({{ index }}, arena, {{ l.prefix }}_want, {{ compared }});
}
"""


def _case_source(index: int, case: KernelCase) -> str:
    name = f"case{index}"
    view = views.op_view(case.layer, case.tensors, case.placement)
    layer_view = LayerView(index=0, prefix=name, template=views.template_name(case.layer.op), name=ModelString(""),
                           summary=ModelString(""), inputs=[], output={}, view=view, context=views.context_of(view),
                           inplace=None, write={}, written=[])
    scratch = case.placement.scratch
    buffers = "\n".join([_c_array(f"{name}_buf", case.buffer, const=False), _c_array(f"{name}_want", case.expected)])
    return template_environment().from_string(_CASE).render(
        l=layer_view, label=case.label, buffers=buffers, index=index,
        # The convolutions' buffer-size functions take their input and filter dims (the recurrent kernels'
        # take the hidden size; tests/runtime_c/test_recurrent.py checks those on the host).
        check_scratch=(kernels.c_kernel(case.layer, case.tensors).scratch is not None
                       and {"input_dims", "filter_dims"} <= {s.name for s in view.structs}),
        least=kernels.scratch_bytes(case.layer, case.tensors),
        compared=scratch[0] if scratch else case.buffer.size)


MAIN = r"""
#include <stdint.h>
#include <string.h>
#include "mcuq_nn.h"
#include "fw_support.h"

/* 0 when equal; else prints the first differing byte and returns 1. */
static int report_diff(int index, const int8_t *got, const int8_t *want, uint32_t size)
{
    uint32_t i;
    for (i = 0; i < size; i++)
    {
        if (got[i] != want[i])
        {
            fw_line_begin();
            fw_line_str("case ");
            fw_line_uint((uint32_t)index);
            fw_line_str(" differs at byte ");
            fw_line_uint(i);
            fw_line_end();
            return 1;
        }
    }
    return 0;
}
%(cases)s
typedef int (*case_fn)(void);
static const case_fn cases[] = {%(names)s};

int main(void)
{
    uint32_t i, failed = 0;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    {
        const int result = cases[i]();
        if (result != 0)
        {
            failed++;
            fw_line_begin();
            /* 3: the kernel's buffer-size function disagrees with kernels.scratch_bytes */
            fw_line_str(result == 2 ? "case error " : (result == 3 ? "case scratch " : "case failed "));
            fw_line_uint(i);
            fw_line_end();
        }
    }
    fw_line_begin();
    fw_line_str("cases failed ");
    fw_line_uint(failed);
    fw_line_end();
    fw_exit(failed == 0 ? FW_EXIT_OK : FW_EXIT_MISMATCH);
}
"""


@dataclass
class QemuResult:
    failed: list[int]  # indices of the failing cases
    log: str


def run_cases(cases: list[KernelCase], board_name: str | Board, folder: Path, opt: str = "-O2") -> QemuResult:
    """Build the cases with all kernels for `board_name` (or that Board) and run them under QEMU."""
    board: Board = board_name if isinstance(board_name, Board) else get_board(board_name)
    folder.mkdir(parents=True, exist_ok=True)
    env = template_environment()
    context = dict(board=board, stack_size=8192, prefix="kernels", PREFIX="KERNELS", version="test", opt=opt,
                   cpu_flags=board.cpu_flags(), samples=[], outputs=[])
    for template, name in (("startup.c.j2", "startup.c"), ("fw_support.c.j2", "fw_support.c"),
                           ("fw_support.h.j2", "fw_support.h"), ("linker.ld.j2", "board.ld")):
        (folder / name).write_text(env.get_template(f"firmware/{template}").render(context))
    sources = "".join(_case_source(i, c) for i, c in enumerate(cases))
    names = ", ".join(f"case{i}" for i in range(len(cases)))
    (folder / "cases.c").write_text(MAIN % dict(cases=sources, names=names))
    kernels = sorted(str(p) for p in SRC.rglob("*.c"))
    elf = folder / "cases.elf"
    command = ["arm-none-eabi-gcc", *board.cpu_flags(), opt, "-std=c99", "-Wall", "-Wextra", "-Werror",
               "-ffunction-sections", "-fdata-sections", f"-I{INCLUDE}", f"-I{folder}", "-include", "mcuq_nn.h",
               *kernels, str(folder / "cases.c"), str(folder / "startup.c"), str(folder / "fw_support.c"),
               "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", f"-Wl,-T,{folder / 'board.ld'}",
               "-o", str(elf)]
    built = subprocess.run(command, capture_output=True, text=True, check=False)
    if built.returncode != 0:
        raise RuntimeError(f"building the kernel cases failed:\n{built.stderr[-4000:]}")
    run = subprocess.run(["qemu-system-arm", "-M", board.qemu_machine, "-nographic", "-monitor", "none",
                          "-serial", "none", "-icount", "shift=0", "-semihosting-config",
                          "enable=on,target=native", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=300, check=False)
    log = run.stdout + run.stderr
    summary = re.search(r"cases failed (\d+)", log)
    if summary is None:
        raise RuntimeError(f"the kernel cases did not finish (exit {run.returncode}):\n{log[-2000:]}")
    failed = [int(n) for n in re.findall(r"case (?:failed|error|scratch) (\d+)", log)]
    return QemuResult(failed, log)
