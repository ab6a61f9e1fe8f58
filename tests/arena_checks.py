"""Checks of the arena a generated model uses: the header's ARENA_SIZE is the plan's size, and the C,
run in a caller arena of exactly that many bytes filled with random bytes, equals the golden model
bit for bit and writes nothing past the arena's end. Random contents catch a plan that lets a tensor
overlap live data (or a kernel reading bytes it never wrote): the result would depend on the poison."""

from __future__ import annotations

import re

import numpy as np

from mcuq import golden

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
