"""Run int8 kernel calls on an emulated Cortex-M and check them against the golden model.

The int8 kernel tests of tests/runtime_c/ (one file per kernel family) run on the host, where the MVE
path cannot run and the DSP path runs on C emulations of its instructions. This harness checks the
real instructions: it writes one C file of test cases (each: one kernel call on random data, with the
golden model's output as the expected bytes), builds it with every runtime_c kernel for a board's core, runs it under QEMU, and
reads back which cases failed.

Each case owns one int8 work buffer holding its inputs and its output region (after, or overlapping,
the inputs, for in-place execution). The firmware compares the whole buffer after the call with the
initial bytes where the output region replaced: a write outside the output is caught too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcuq import golden
from mcuq.codegen.emit import folded_bias
from mcuq.codegen.templating import template_environment
from mcuq.firmware.boards import Board, get_board
from mcuq.qir.model import Layer, QOp, QTensor
from tests.helpers.paths import REPO

INCLUDE = REPO / "runtime_c" / "include"
SRC = REPO / "runtime_c" / "src"
SCRATCH_BYTES = 16384  # the roomy scratch of the largest random conv (5x5x64: 9,600 B) fits
C_TYPE = {np.dtype(np.int8): "int8_t", np.dtype(np.int16): "int16_t", np.dtype(np.int32): "int32_t"}


def tools_missing() -> str | None:
    """Why the harness cannot run here, or None."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            return f"{tool} not on PATH (scripts/install-toolchain.sh installs it)"
    return None


def c_init(value) -> str:
    """A Python dict / tuple / int as a C initializer (dicts with designated fields)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f".{k} = {c_init(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "{" + ", ".join(c_init(v) for v in value) + "}"
    return str(int(value))


def _c_array(name: str, values: np.ndarray, const: bool = True) -> str:
    flat = np.asarray(values).reshape(-1)
    body = ", ".join(str(int(v)) for v in flat) if flat.size else "0"
    qualifier = "static const" if const else "static"
    return f"{qualifier} {C_TYPE[flat.dtype]} {name}[{max(flat.size, 1)}] __attribute__((aligned(4))) = {{{body}}};"


@dataclass
class KernelCase:
    """One kernel call. `call` is a C expression of type mcuq_status; in it, `buf` is the work buffer,
    `scratch` a scratch buffer of SCRATCH_BYTES, and each name of `consts` a const array."""

    label: str
    call: str
    buffer: np.ndarray  # int8, initial bytes
    expected: np.ndarray  # int8, the bytes after the call
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    setup: str = ""  # C declarations the call uses (params structs, dims)


def _dims(shape) -> dict:
    shape = (1,) * (4 - len(shape)) + tuple(int(d) for d in shape)
    return dict(zip("nhwc", shape))


def _place(inputs: list[np.ndarray], out_size: int, inplace_shift: int | None):
    """Lay inputs and the output out in one buffer. Returns (buffer, input offsets, output offset):
    with `inplace_shift` d, the output starts d bytes after input 0 (d <= 0 runs ahead of it)."""
    lead = max(0, -(inplace_shift or 0))
    offsets, at = [], lead
    for x in inputs:
        offsets.append(at)
        at += x.size
    out_at = offsets[0] + inplace_shift if inplace_shift is not None else at
    size = max(at, out_at + out_size) + 8  # a guard after everything
    rng = np.random.default_rng(size)
    buffer = rng.integers(-128, 128, size=size).astype(np.int8)
    for x, o in zip(inputs, offsets):
        buffer[o : o + x.size] = np.asarray(x, dtype=np.int8).reshape(-1)
    return buffer, offsets, out_at


def layer_case(label: str, layer: Layer, inputs: list[np.ndarray], tensors: dict[str, QTensor],
               inplace_shift: int | None = None, pixel_stride: int | None = None, roomy: bool = False) -> KernelCase:
    """The kernel call of an int8 layer (conv, depthwise, FC, add, pooling, softmax) as a case, with
    the golden model's output as the expected bytes. `inplace_shift`: run with the output that many
    bytes after input 0's start (overlapping it). `pixel_stride`: write the output as the first
    channels of pixels that many channels wide (conv, depthwise, pooling). The kernel gets the least
    scratch it needs, or with `roomy` the scratch of its faster path (golden.roomy_scratch_bytes)."""
    want = golden.run_layer(layer, inputs, tensors)
    out_shape = tensors[layer.output].shape
    channels = out_shape[-1]
    stride = pixel_stride or channels
    out_span = want.size // channels * stride - (stride - channels)
    buffer, in_at, out_at = _place(inputs, out_span, inplace_shift)
    expected = buffer.copy()
    for i, row in enumerate(want.reshape(-1, channels)):
        expected[out_at + i * stride : out_at + i * stride + channels] = row
    p = layer.params
    consts: dict[str, np.ndarray] = {}
    in_dims = _dims(tensors[layer.inputs[0]].shape)
    src, dst = f"buf + {in_at[0]}", f"buf + {out_at}"
    if layer.op in (QOp.CONV, QOp.DEPTHWISE_CONV, QOp.FULLY_CONNECTED):
        consts = dict(weights=np.asarray(p.weights, np.int8), bias=folded_bias(layer.op, p),
                      mults=np.asarray(p.multiplier, np.int32), shifts=np.asarray(p.shift, np.int32))
    if layer.op in (QOp.CONV, QOp.DEPTHWISE_CONV):
        conv = dict(input_offset=p.input_offset, output_offset=p.output_offset)
        geometry = dict(stride=dict(h=p.stride[0], w=p.stride[1]), dilation=dict(h=p.dilation[0], w=p.dilation[1]),
                        padding=dict(zip(("top", "left", "bottom", "right"), p.padding)),
                        activation=dict(min=p.act_min, max=p.act_max))
        least = golden.scratch_bytes(layer, tensors)
        scratch = max(least, golden.roomy_scratch_bytes(layer, tensors)) if roomy else least
        if scratch > SCRATCH_BYTES:
            raise ValueError(f"{label}: needs {scratch} B of scratch, the harness has {SCRATCH_BYTES}")
        if layer.op is QOp.CONV:
            params = {**conv, **geometry, "groups": p.groups, "output_pixel_stride": stride}
            kind, fn = "mcuq_conv_params", "mcuq_convolve_s8"
        else:
            params = {**conv, "ch_mult": p.ch_mult, **geometry, "output_pixel_stride": stride}
            kind, fn = "mcuq_dw_conv_params", "mcuq_depthwise_conv_s8"
        setup = (f"static const {kind} params = {c_init(params)};\n"
                 f"static const mcuq_dims in_dims = {c_init(in_dims)}, f_dims = {c_init(_dims(p.weights.shape))}, "
                 f"out_dims = {c_init(_dims(out_shape))};\n"
                 "const mcuq_per_channel_quant quant = {mults, shifts};\n"
                 f"const mcuq_context ctx = {{scratch, {scratch}}};\n"
                 f"if ({fn}_get_buffer_size(&in_dims, &f_dims) != {least}) return 3;")
        call = f"{fn}(&ctx, &params, &quant, &in_dims, {src}, &f_dims, weights, bias, &out_dims, {dst})"
    elif layer.op is QOp.FULLY_CONNECTED:
        o, k = p.weights.shape
        batch = inputs[0].size // k
        params = dict(input_offset=p.input_offset, output_offset=p.output_offset,
                      activation=dict(min=p.act_min, max=p.act_max))
        setup = (f"static const mcuq_fc_params params = {c_init(params)};\n"
                 f"static const mcuq_fc_dims dims = {c_init(dict(batches=batch, input_depth=k, output_depth=o))};\n"
                 "const mcuq_per_channel_quant quant = {mults, shifts};")
        call = f"mcuq_fully_connected_s8(&params, &quant, &dims, {src}, weights, bias, {dst})"
    elif layer.op is QOp.ADD:
        params = dict(input1_offset=p.input1_offset,
                      input1_quant=dict(multiplier=p.input1_multiplier, shift=p.input1_shift),
                      input2_offset=p.input2_offset,
                      input2_quant=dict(multiplier=p.input2_multiplier, shift=p.input2_shift),
                      left_shift=p.left_shift, output_offset=p.output_offset,
                      output_quant=dict(multiplier=p.output_multiplier, shift=p.output_shift),
                      activation=dict(min=p.act_min, max=p.act_max))
        rows = dict(rows=want.size // channels, row_size=channels, output_row_stride=stride)
        setup = (f"static const mcuq_add_params params = {c_init(params)};\n"
                 f"static const mcuq_elementwise_dims dims = {c_init(rows)};")
        call = f"mcuq_elementwise_add_s8(&params, &dims, {src}, buf + {in_at[1]}, {dst})"
    elif layer.op in (QOp.MAX_POOL, QOp.AVG_POOL):
        params = dict(kernel=dict(h=p.kernel[0], w=p.kernel[1]), stride=dict(h=p.stride[0], w=p.stride[1]),
                      padding=dict(zip(("top", "left", "bottom", "right"), p.padding)),
                      activation=dict(min=p.act_min, max=p.act_max),
                      count_include_pad=int(p.count_include_pad), pad_value=p.pad_value, output_pixel_stride=stride)
        fn = "mcuq_max_pool_s8" if layer.op is QOp.MAX_POOL else "mcuq_avg_pool_s8"
        setup = (f"static const mcuq_pool_params params = {c_init(params)};\n"
                 f"static const mcuq_dims in_dims = {c_init(in_dims)}, out_dims = {c_init(_dims(out_shape))};")
        call = f"{fn}(&params, &in_dims, {src}, &out_dims, {dst})"
    elif layer.op is QOp.SOFTMAX:
        params = dict(input_multiplier=p.input_multiplier, input_left_shift=p.input_left_shift,
                      diff_min=p.diff_min)
        setup = f"static const mcuq_softmax_params params = {c_init(params)};"
        call = f"mcuq_softmax_s8(&params, {src}, {want.size // channels}, {channels}, {dst})"
    else:
        raise ValueError(f"no kernel case for {layer.op}")
    return KernelCase(label, call, buffer, expected, consts, setup)


def _case_source(index: int, case: KernelCase) -> str:
    name = f"case{index}"
    arrays = [_c_array(f"{name}_{k}", v) for k, v in case.consts.items()]
    arrays.append(_c_array(f"{name}_buf", case.buffer, const=False))
    arrays.append(_c_array(f"{name}_want", case.expected))
    renames = "".join(f"#define {k} {name}_{k}\n" for k in case.consts)
    undefs = "".join(f"#undef {k}\n" for k in case.consts)
    return f"""
/* {case.label} */
{chr(10).join(arrays)}
{renames}static int {name}(void)
{{
    int8_t *const buf = {name}_buf;
    {case.setup.replace(chr(10), chr(10) + "    ")}
    if ({case.call} != MCUQ_OK)
    {{
        return 2;
    }}
    return report_diff({index}, buf, {name}_want, {case.buffer.size});
}}
{undefs}"""


MAIN = r"""
#include <stdint.h>
#include <string.h>
#include "mcuq_nn.h"
#include "fw_support.h"

/* Not static: a set of cases without conv or depthwise leaves it unused, which is fine. */
int16_t scratch_words[%(scratch)d / 2];
#define scratch ((void *)scratch_words)

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
            /* 3: the kernel's buffer-size function disagrees with golden.scratch_bytes */
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


def run_cases(cases: list[KernelCase], board_name: str, folder: Path, opt: str = "-O2") -> QemuResult:
    """Build the cases with all kernels for `board_name` and run them under QEMU."""
    board: Board = get_board(board_name)
    folder.mkdir(parents=True, exist_ok=True)
    env = template_environment()
    context = dict(board=board, stack_size=8192, prefix="kernels", PREFIX="KERNELS", version="test", opt=opt,
                   cpu_flags=board.cpu_flags(), samples=[], outputs=[])
    for template, name in (("startup.c.j2", "startup.c"), ("fw_support.c.j2", "fw_support.c"),
                           ("fw_support.h.j2", "fw_support.h"), ("linker.ld.j2", "board.ld")):
        (folder / name).write_text(env.get_template(f"firmware/{template}").render(context))
    sources = "".join(_case_source(i, c) for i, c in enumerate(cases))
    names = ", ".join(f"case{i}" for i in range(len(cases)))
    (folder / "cases.c").write_text(MAIN % dict(scratch=SCRATCH_BYTES, cases=sources, names=names))
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
