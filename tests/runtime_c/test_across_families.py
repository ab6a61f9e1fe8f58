"""What spans the int8 kernel families: the golden model's run_model chains layers exactly as their
kernels compute them one after another (conv, average pool, softmax), and the softmax, pooling and
table kernels refuse arguments they cannot honour."""

from __future__ import annotations

import numpy as np
import pytest

from mcuq import golden, qir
from mcuq.numerics import fixedpoint as fp
from mcuq.qir.model import QOp
from tests.helpers.c_kernels import load
from tests.helpers.kernel_harness import c_dims, check, i8_ptr
from tests.helpers.kernel_layers import make_tensor, random_i8

# Every test here runs on each kernel path the host can run: portable C and the emulated DSP path.
pytestmark = pytest.mark.usefixtures("kernel_variant")


def test_run_model_chains_layers_and_checks_feeds():
    rng = np.random.default_rng(0)
    conv = qir.ConvParams(
        weights=random_i8(rng, (4, 3, 3, 2)).clip(-127, 127),
        bias=rng.integers(-500, 500, size=4).astype(np.int32),
        multiplier=np.full(4, 1 << 30, np.int32),
        shift=np.full(4, -8, np.int32),
        input_offset=5,
        output_offset=-3,
        stride=(1, 1),
        dilation=(1, 1),
        padding=(1, 1, 1, 1),
        act_min=-128,
        act_max=127,
    )
    pool = qir.PoolParams(kernel=(6, 6), stride=(1, 1), padding=(0, 0, 0, 0), act_min=-128, act_max=127)
    tensors = {
        "x": make_tensor("x", (1, 6, 6, 2), -5),
        "c": make_tensor("c", (1, 6, 6, 4), -3),
        "p": make_tensor("p", (1, 1, 1, 4), -3),
        "y": make_tensor("y", (1, 4), -128),
    }
    layers = [
        qir.Layer(QOp.CONV, "conv", ("x",), "c", conv),
        qir.Layer(QOp.AVG_POOL, "pool", ("c",), "p", pool),
        qir.Layer(QOp.SOFTMAX, "softmax", ("p",), "y", fp.prepare_softmax(0.1)),
    ]
    model = qir.QModel("m", tensors, layers, ["x"], ["y"])
    x = random_i8(rng, (1, 6, 6, 2))
    values = golden.run_model(model, {"x": x})
    assert set(values) == {"x", "c", "p", "y"}
    want = x
    for layer in layers:
        want = check(layer, [want], tensors)
        assert np.array_equal(values[layer.output], want)
    assert values["y"].shape == (1, 4)
    with pytest.raises(ValueError):
        golden.run_model(model, {"x": x.astype(np.int32)})
    with pytest.raises(ValueError):
        golden.run_model(model, {"x": x[:, :3]})


def test_kernels_reject_bad_arguments():
    ffi, lib = load()
    x = np.zeros(8, np.int8)
    table = np.ascontiguousarray(fp.prepare_softmax(0.1).exp_table, dtype=np.int32)
    sm = ffi.new("mcuq_softmax_params *", {"exp_table": ffi.cast("const int32_t *", ffi.from_buffer(table))})
    assert lib.mcuq_softmax_s8(sm, i8_ptr(ffi, x), 1, 8, i8_ptr(ffi, x)) == lib.MCUQ_OK
    assert lib.mcuq_softmax_s8(sm, i8_ptr(ffi, x), 1, 4096, i8_ptr(ffi, x)) == lib.MCUQ_ARG_ERROR
    sm.exp_table = ffi.NULL
    assert lib.mcuq_softmax_s8(sm, i8_ptr(ffi, x), 1, 8, i8_ptr(ffi, x)) == lib.MCUQ_ARG_ERROR
    pool = ffi.new(
        "mcuq_pool_params *",
        {
            "kernel": {"h": 2, "w": 2},
            "stride": {"h": 1, "w": 1},
            "padding": {"top": 2},
            "activation": {"min": -128, "max": 127},
            "output_pixel_stride": 2,
        },
    )
    # The first output row's window lies entirely in the top padding.
    status = lib.mcuq_avg_pool_s8(
        pool, c_dims(ffi, (1, 2, 2, 2)), i8_ptr(ffi, x), c_dims(ffi, (1, 3, 1, 2)), i8_ptr(ffi, np.zeros(6, np.int8))
    )
    assert status == lib.MCUQ_ARG_ERROR
    pool.padding.top = 0
    args = (c_dims(ffi, (1, 2, 2, 2)), i8_ptr(ffi, x), c_dims(ffi, (1, 1, 1, 2)), i8_ptr(ffi, np.zeros(6, np.int8)))
    assert lib.mcuq_max_pool_s8(pool, *args) == lib.MCUQ_OK
    pool.output_pixel_stride = 1  # narrower than the output's 2 channels
    assert lib.mcuq_max_pool_s8(pool, *args) == lib.MCUQ_ARG_ERROR
    table = np.zeros(256, np.int8)
    rows = ffi.new("mcuq_elementwise_dims *", {"rows": 2, "row_size": 4, "output_row_stride": 4})
    assert lib.mcuq_lut_s8(i8_ptr(ffi, table), rows, i8_ptr(ffi, x), i8_ptr(ffi, x)) == lib.MCUQ_OK
    assert lib.mcuq_lut_s8(ffi.NULL, rows, i8_ptr(ffi, x), i8_ptr(ffi, x)) == lib.MCUQ_ARG_ERROR
    rows.output_row_stride = 3  # rows would overlap
    assert lib.mcuq_lut_s8(i8_ptr(ffi, table), rows, i8_ptr(ffi, x), i8_ptr(ffi, x)) == lib.MCUQ_ARG_ERROR
