"""The broadcasting kernels (mcuq_broadcast_add_s8, _mul_s8) on the real instructions: layers run on an
emulated Cortex-M4 (DSP path) and Cortex-M55 (MVE path) under QEMU, each equal to the golden model
byte for byte, with separate buffers and in place over the operand of the output's dims. The shapes
are the ones models have (SE gates [1,1,1,C] either side, per-pixel maps, constant operands) with
channel counts around the vector widths and their tails."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mcuq.numerics import fixedpoint as fp
from mcuq.qir.model import QOp
from tests.helpers.kernel_layers import make_layer
from tests.helpers.kernel_qemu import layer_case, run_cases, tools_missing
from tests.runtime_c.test_broadcast import broadcast_layer

CORES = {"M4": "mps2-an386", "M55": "mps3-an547"}

missing = tools_missing()
pytestmark = pytest.mark.skipif(
    missing is not None and not os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS"), reason=str(missing)
)

# (kind, output dims, operand dims, constant index)
SHAPES = [
    ("mul", (1, 6, 5, c), [(1, 6, 5, c), (1, 1, 1, c)], None) for c in (1, 3, 4, 7, 16, 33)
] + [
    ("mul", (1, 4, 4, 24), [(1, 1, 1, 24), (1, 4, 4, 24)], None),
    ("mul_clamped", (1, 4, 3, 21), [(1, 4, 3, 21), (1, 1, 1, 21)], None),
    ("mul", (1, 4, 4, 12), [(1, 4, 4, 12), (1, 4, 4, 1)], None),
    ("mul", (1, 5, 5, 8), [(1, 5, 5, 8), (1, 5, 5, 8)], 1),
    ("add", (1, 6, 5, 17), [(1, 6, 5, 17), (1, 1, 1, 17)], None),
    ("add", (1, 4, 4, 12), [(1, 4, 4, 1), (1, 4, 4, 12)], None),
    ("add", (1, 5, 5, 8), [(1, 1, 5, 8), (1, 5, 5, 8)], 0),
    ("sub", (1, 4, 6, 9), [(1, 4, 6, 9), (1, 1, 6, 1)], None),
]

PARAMS = {
    "mul": fp.prepare_mul(0.05, -3, 1 / 256, -128, 0.04, 5, -128, 127),
    "mul_clamped": fp.prepare_mul(0.05, -3, 1 / 256, -128, 0.01, -20, -20, 90),
    "add": fp.prepare_add(0.037, -3, 0.021, 11, 0.05, 4, -100, 127),
    "sub": fp.prepare_sub(0.021, 7, 0.037, -5, 0.05, 4, -128, 127),
}


def cases():
    out = []
    for i, (kind, out_dims, operand_dims, constant_index) in enumerate(SHAPES):
        rng = np.random.default_rng(i)
        layer, tensors, inputs, _ = broadcast_layer(kind.removesuffix("_clamped"), PARAMS[kind], out_dims, operand_dims, constant_index, rng)
        label = f"{kind} {operand_dims} constant {constant_index}"
        out.append(layer_case(label, layer, inputs, tensors))
        if tensors[layer.inputs[0]].shape == out_dims:
            out.append(layer_case(f"{label}, in place", layer, inputs, tensors, inplace_shift=0))
    sub = fp.prepare_sub(0.021, 7, 0.037, -5, 0.05, 4, -128, 127)
    x = np.arange(-128, 128, dtype=np.int8)
    a, b = (np.ascontiguousarray(m) for m in np.meshgrid(x, x, indexing="ij"))
    layer, tensors = make_layer(QOp.ADD, sub, [a.shape, a.shape], a.shape)
    out.append(layer_case("sub on the add kernel, every input pair, in place", layer, [a, b], tensors, inplace_shift=0))
    return out


@pytest.mark.parametrize("core", list(CORES))
def test_broadcast_layers_equal_golden(core, tmp_path):
    case_list = cases()
    result = run_cases(case_list, CORES[core], tmp_path)
    assert not result.failed, "on {}: {}\n{}".format(
        core, "; ".join(case_list[i].label for i in result.failed), result.log[-3000:])
