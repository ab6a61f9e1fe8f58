"""SqnrAccumulator.add_samples (one reduction per tensor over a batch) gives the very floats that
adding each sample on its own gives (the per-activation SQNRs of the report must not move)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mcuq.verify.compare import SqnrAccumulator
from tests.helpers.kernel_layers import cfg, seeds

SHAPES = st.sampled_from([(1, 10), (3, 1, 1, 7), (5, 9, 9, 33), (2, 48, 48, 8), (4, 3000), (3, 20, 20, 31)])


def _one_at_a_time(pairs) -> SqnrAccumulator:
    acc = SqnrAccumulator()
    for name, reference, test in pairs:
        for i in range(len(reference)):
            acc.add(name, reference[i : i + 1], test[i : i + 1])
    return acc


@cfg(60)
@given(SHAPES, st.booleans(), st.booleans(), seeds)
def test_add_samples_equals_adding_each_sample(shape, transposed, twice, seed):
    rng = np.random.default_rng(seed)
    reference = (rng.standard_normal(shape) * rng.uniform(0.01, 100)).astype(np.float32)
    test = (reference + rng.standard_normal(shape).astype(np.float32) * 0.01).astype(np.float32)
    if transposed:  # a layout whose sums could run in another order: sample by sample
        reference = np.swapaxes(reference, -1, -2)
        test = np.ascontiguousarray(np.swapaxes(test, -1, -2))
    pairs = [("a", reference, test)] * (2 if twice else 1) + [("b", test, reference)]
    batched = SqnrAccumulator()
    for name, r, t in pairs:
        batched.add_samples(name, r, t)
    expected = _one_at_a_time(pairs)
    assert batched.signal == expected.signal
    assert batched.noise == expected.noise
    assert batched.sqnr_db() == expected.sqnr_db()
