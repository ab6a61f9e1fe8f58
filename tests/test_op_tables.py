"""The op tables are complete and agree with what they describe: every float op the frontend can
produce has an `OpInfo` row and a lowering, every int8 op a `KernelSpec` row, a golden function per
kernel dtype, a view and a template; every kernel's source file defines its entry point."""

from __future__ import annotations

import re

import pytest

from mcuq.codegen import views
from mcuq.golden import FUNCTIONS
from mcuq.ir.float_exec import OPS as FLOAT_FUNCTIONS
from mcuq.ir.ops import OPS, OutputGrid
from mcuq.qir.kernels import KERNELS, all_c_kernels
from mcuq.qir.model import QOp
from mcuq.quant.lower import HANDLERS as LOWERINGS
from mcuq.resources import resource_dir


def test_every_float_op_has_a_row_a_float_function_and_a_lowering():
    assert set(FLOAT_FUNCTIONS) == set(OPS)
    # fake_quant is folded into the tensors' quantization before lowering (quant.fixed)
    assert set(LOWERINGS) == set(OPS) - {"fake_quant"}


def test_every_int8_op_has_a_kernel_row_a_view_and_a_template():
    assert set(KERNELS) == set(QOp) == set(views.VIEWS)
    for op in QOp:
        assert (resource_dir("templates") / views.template_name(op)).is_file(), op


def test_every_kernel_has_a_golden_function_in_its_dtype():
    for spec in KERNELS.values():
        for dtype in spec.kernels:
            assert (spec.op, dtype) in FUNCTIONS, (spec.op, dtype)


@pytest.mark.parametrize("kernel", all_c_kernels(), ids=lambda k: k.function)
def test_kernel_source_defines_its_entry_point(kernel):
    text = (resource_dir("runtime_c") / "src" / kernel.source).read_text()
    assert re.search(rf"^MCUQ_API\s+[\w ]+\b{kernel.function}\s*\(", text, re.MULTILINE), kernel.source


def test_ops_with_weights_requantize_into_their_own_range():
    for row in OPS.values():
        if row.weights is not None:
            assert row.output_grid is OutputGrid.CALIBRATED and row.fuses_activation, row.name
