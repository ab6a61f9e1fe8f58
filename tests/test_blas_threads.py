"""A compile runs numpy's BLAS on one thread (`pipeline.one_blas_thread`) and gives the caller's setting back."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import mcuq
from tests.helpers.paths import REPO


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_compile_runs_blas_on_one_thread_and_restores_the_callers(tmp_path):
    if not blas_threads():
        pytest.skip("numpy reports no BLAS thread pool")
    example = REPO / "examples" / "digits"
    seen: list[list[int]] = []
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        mcuq.compile(example / "digits_cnn.onnx", np.load(example / "calib.npy"), tmp_path / "out",
                     progress=lambda _: seen.append(blas_threads()))
        after = blas_threads()
    assert seen and all(threads == [1] * len(before) for threads in seen), seen
    assert after == before
