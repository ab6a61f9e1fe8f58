"""The int8 data movement kernels (runtime_c/src/data_movement: mcuq_concat_s8, mcuq_transpose_s8,
mcuq_pad_s8) equal the golden model bit for bit on random shapes, axes, permutations and pads, and
agree with numpy's concatenate, transpose and pad where those apply."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.numerics import fixedpoint as fp
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check
from tests.helpers.kernel_layers import cfg, make_layer, random_i8, seeds, zero_points

# Every test here runs on each kernel path the host can run: portable C and the emulated DSP path.
pytestmark = pytest.mark.usefixtures("kernel_variant")


@st.composite
def concat_layers(draw):
    rank = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 4)) for _ in range(rank)]
    axis = draw(st.integers(-rank, rank - 1))
    n = draw(st.integers(1, 3))
    extents = [draw(st.integers(1, 3)) for _ in range(n)]
    in_shapes = []
    for e in extents:
        s = list(shape)
        s[axis] = e
        in_shapes.append(tuple(s))
    out_shape = list(shape)
    out_shape[axis] = sum(extents)
    reals = [draw(st.one_of(st.just(0.0), st.floats(0.05, 4.0))) for _ in range(n)]
    qm = [fp.quantize_multiplier(r) for r in reals]
    params = qir.ConcatParams(
        axis=axis,
        input_offsets=tuple(-draw(zero_points) for _ in range(n)),
        multipliers=tuple(m for m, _ in qm),
        shifts=tuple(s for _, s in qm),
        output_offset=draw(zero_points),
    )
    return params, in_shapes, tuple(out_shape)


@cfg(80)
@given(concat_layers(), seeds)
def test_concat(concat, seed):
    params, in_shapes, out_shape = concat
    rng = np.random.default_rng(seed)
    layer, tensors = make_layer(QOp.CONCAT, params, in_shapes, out_shape)
    inputs = [random_i8(rng, s) for s in in_shapes]
    got = check(layer, inputs, tensors)
    # Inputs with multiplier 0 appear verbatim in the output.
    pieces = np.split(got, np.cumsum([s[params.axis] for s in in_shapes])[:-1], axis=params.axis)
    for x, piece, m in zip(inputs, pieces, params.multipliers):
        if m == 0:
            assert np.array_equal(x, piece)


@cfg(60)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.randoms(use_true_random=False), seeds)
def test_transpose(shape, random, seed):
    perm = list(range(len(shape)))
    random.shuffle(perm)
    out_shape = tuple(shape[a] for a in perm)
    layer, tensors = make_layer(QOp.TRANSPOSE, qir.TransposeParams(tuple(perm)), [tuple(shape)], out_shape)
    x = random_i8(np.random.default_rng(seed), shape)
    assert np.array_equal(check(layer, [x], tensors), np.transpose(x, perm))


@cfg(60)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data(), zero_points, seeds)
def test_pad(shape, data, pad_value, seed):
    r = len(shape)
    pads = tuple(data.draw(st.lists(st.integers(0, 2), min_size=2 * r, max_size=2 * r)))
    out_shape = tuple(shape[i] + pads[i] + pads[r + i] for i in range(r))
    layer, tensors = make_layer(QOp.PAD, qir.PadParams(pads, pad_value), [tuple(shape)], out_shape)
    x = random_i8(np.random.default_rng(seed), shape)
    got = check(layer, [x], tensors)
    inner = tuple(slice(pads[i], pads[i] + shape[i]) for i in range(r))
    assert np.array_equal(got[inner], x)
    assert np.count_nonzero(got == pad_value) >= got.size - x.size
