"""Checks of the arena a generated model uses: the header's ARENA_SIZE is the plan's size, and the C,
run in a caller arena of exactly that many bytes filled with random bytes, equals the golden model
bit for bit and writes nothing past the arena's end. Random contents catch a plan that lets a tensor
overlap live data (or a kernel reading bytes it never wrote): the result would depend on the poison."""

from __future__ import annotations

import re

import numpy as np

from mcuq import codegen, golden
from mcuq.verify.host import HostModel

GUARD = 64  # bytes after the arena that must stay untouched
BAD_ARENA = -2


def header_arena_size(compiled) -> int:
    match = re.search(rf"#define {compiled.host.prefix.upper()}_ARENA_SIZE (\d+)", compiled.h_path.read_text())
    return int(match.group(1))


def check_poisoned_arena(compiled, q: np.ndarray, rounds: int = 3) -> None:
    """``q``: one int8 input in the IR layout (batch dim included)."""
    size = header_arena_size(compiled)
    assert size == compiled.arena_size
    model = compiled.qmodel
    want = golden.run_model(model, {model.inputs[0]: q})
    rng = np.random.default_rng(size)
    for _ in range(rounds):
        buf = rng.integers(-128, 128, size=size + GUARD, dtype=np.int64).astype(np.int8)
        guard = buf[size:].copy()
        outs = compiled.host.invoke_with_arena(buf[:size], q)
        for name, got in zip(model.outputs, outs):
            np.testing.assert_array_equal(got, want[name], err_msg=f"output {name} in a poisoned arena")
        np.testing.assert_array_equal(buf[size:], guard, err_msg="the C wrote past ARENA_SIZE")
    # One byte short: refused before anything runs.
    try:
        compiled.host.invoke_with_arena(buf[:size], q, arena_size=size - 1)
    except RuntimeError as err:
        assert f"status {BAD_ARENA}" in str(err)
    else:
        raise AssertionError("an arena one byte short of ARENA_SIZE was accepted")


def int8_sample(compiled, seed=0) -> np.ndarray:
    """A random int8 input of the compiled model, in the IR layout (batch dim included)."""
    t_in = compiled.qmodel.tensors[compiled.qmodel.inputs[0]]
    return np.random.default_rng(seed).integers(-128, 128, size=t_in.shape).astype(np.int8)


def plan_mismatches(compiled, plan, tmp_path) -> int:
    """Values in which the C generated for `plan` differs from the golden model, in a poisoned arena,
    over a few inputs (one input can hide a corruption: a softmax output saturates)."""
    code = codegen.generate(compiled.qmodel, plan, "broken", "m.onnx")
    tmp_path.mkdir()
    (tmp_path / "broken.c").write_text(code.c_source)
    (tmp_path / "broken.h").write_text(code.header)
    host = HostModel(tmp_path / "broken.c", tmp_path / "broken.h", "broken", compiled.qmodel)
    model, mismatches = compiled.qmodel, 0
    for seed in range(4):
        q = int8_sample(compiled, seed)
        want = golden.run_model(model, {model.inputs[0]: q})[model.outputs[0]]
        arena = np.random.default_rng(1).integers(-128, 128, size=plan.size + 64).astype(np.int8)
        (got,) = host.invoke_with_arena(arena, q)
        mismatches += int(np.count_nonzero(got != want))
    return mismatches


def assert_arena_least_then_grown(compiled, least_bound: int) -> None:
    """The model's least arena is at most ``least_bound`` and the planner's scratch growth added at most
    `plan.DEFAULT_SCRATCH_GROWTH` of it."""
    from mcuq.plan import DEFAULT_SCRATCH_GROWTH, plan_arena

    least_plan = plan_arena(compiled.qmodel)
    least = least_plan.size
    assert least_plan.lower_bound <= least <= least_bound, (least_plan.lower_bound, least, least_bound)
    assert least <= compiled.arena_size <= least + int(least * DEFAULT_SCRATCH_GROWTH), (compiled.arena_size, least)
    # The report says both: the arena, and what it would be with each kernel's least scratch.
    memory = compiled.report["memory"]
    assert (memory["least_arena_bytes"], memory["scratch_growth_bytes"]) == (least, compiled.arena_size - least)
