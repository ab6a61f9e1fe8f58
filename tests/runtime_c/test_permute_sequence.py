"""mcuq_transpose_s8 on the permutations sequence models make: attention's heads [N, T, H, d] -> [N, H, T, d]
and back, K^T ([N, H, T, d] -> [N, H, d, T]), the seq-first [T, N, D] of nn.MultiheadAttention, with unit
axes anywhere. The kernel merges neighbouring axes and copies contiguous runs (memcpy) where the innermost
axis stays innermost, else gathers bytes; both must equal the golden model (numpy's transpose) byte for
byte, on the host (portable and emulated DSP builds) and under QEMU on a Cortex-M4 and a Cortex-M55."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check
from tests.helpers.kernel_layers import cfg, make_layer, random_i8, seeds
from tests.helpers.kernel_qemu import layer_case, run_cases
from tests.runtime_c.test_kernels_qemu import CORES
from tests.runtime_c.test_kernels_qemu import pytestmark as needs_qemu_tools

# (input shape, perm): the transformer's permutations at the four models' sizes, and edge forms.
ATTENTION_PERMUTES = [
    ((1, 50, 4, 8), (0, 2, 1, 3)),  # KWT heads: [N, T, H, d] -> [N, H, T, d], runs of d = 8 bytes
    ((1, 4, 50, 8), (0, 2, 1, 3)),  # and back before the output projection
    ((1, 4, 65, 8), (0, 1, 3, 2)),  # ViT K^T: the innermost axis moves, bytes one by one
    ((65, 1, 32), (1, 0, 2)),  # seq-first [T, N, D] -> [N, T, D]: a unit axis only, one block
    ((3, 65, 1, 32), (1, 0, 2, 3)),  # packed QKV rows
    ((1, 7, 3, 5), (0, 3, 2, 1)),  # odd sizes, full reversal of the last three
    ((2, 3, 4, 5), (3, 1, 0, 2)),
    ((1, 1, 1, 1), (0, 3, 1, 2)),
]


def permute_layer(shape, perm):
    out_shape = tuple(shape[p] for p in perm)
    return make_layer(QOp.TRANSPOSE, qir.TransposeParams(tuple(perm)), [tuple(shape)], out_shape)


@pytest.mark.usefixtures("kernel_variant")
@pytest.mark.parametrize("shape, perm", ATTENTION_PERMUTES)
def test_attention_permutes_equal_numpy(shape, perm):
    layer, tensors = permute_layer(shape, perm)
    x = random_i8(np.random.default_rng(5), shape)
    assert np.array_equal(check(layer, [x], tensors), np.transpose(x, perm))


@st.composite
def permutes_with_unit_axes(draw):
    """Rank 2 to 4, sizes 1 (merged away by the kernel) to 9, any permutation."""
    rank = draw(st.integers(2, 4))
    shape = tuple(draw(st.sampled_from([1, 1, 2, 3, 4, 7, 9])) for _ in range(rank))
    return shape, tuple(draw(st.permutations(range(rank))))


@pytest.mark.usefixtures("kernel_variant")
@cfg(80)
@given(permutes_with_unit_axes(), seeds)
def test_random_permutes_equal_numpy(case, seed):
    shape, perm = case
    layer, tensors = permute_layer(shape, perm)
    x = random_i8(np.random.default_rng(seed), shape)
    assert np.array_equal(check(layer, [x], tensors), np.transpose(x, perm))


@needs_qemu_tools
@pytest.mark.parametrize("core", list(CORES))
def test_attention_permutes_under_qemu(core, tmp_path):
    rng = np.random.default_rng(17)
    cases = []
    for shape, perm in ATTENTION_PERMUTES:
        layer, tensors = permute_layer(shape, perm)
        cases.append(layer_case(f"transpose {shape} {perm}", layer, [random_i8(rng, shape)], tensors))
    result = run_cases(cases, CORES[core], tmp_path)
    assert not result.failed, "on {}: {}\n{}".format(
        core, "; ".join(cases[i].label for i in result.failed), result.log[-3000:])
