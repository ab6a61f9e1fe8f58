"""Execution order: among the topological orders of the layers, the one whose arena is smallest.

Independent branches can run in either order (ResNet's shortcut conv before or after the main
path's convs); which tensors are alive together, and so the peak, depends on it. Orders are
enumerated depth-first from the given one (which comes first and wins ties), up to a limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from mcuq.plan.arena import least_arena
from mcuq.qir.model import QModel

ORDER_LIMIT = 48  # topological orders tried: enough for every branch choice of ResNet-like models


def dependencies(model: QModel) -> list[set[int]]:
    """For each layer, the layers whose outputs it reads."""
    producer = {layer.output: i for i, layer in enumerate(model.layers)}
    return [{producer[n] for n in layer.inputs if n in producer} for layer in model.layers]


def topological_orders(model: QModel, limit: int) -> Iterator[tuple[int, ...]]:
    """Up to `limit` topological orders of the layers; the first is the given order."""
    deps = dependencies(model)
    count = 0

    def extend(order: list[int], done: set[int]) -> Iterator[tuple[int, ...]]:
        nonlocal count
        if len(order) == len(deps):
            count += 1
            yield tuple(order)
            return
        for i in range(len(deps)):
            if count >= limit:
                return
            if i not in done and deps[i] <= done:
                order.append(i)
                done.add(i)
                yield from extend(order, done)
                done.discard(i)
                order.pop()

    yield from extend([], set())


def reorder(model: QModel, order: tuple[int, ...]) -> QModel:
    return replace(model, layers=[model.layers[i] for i in order])


def best_schedule(model: QModel, limit: int = ORDER_LIMIT) -> QModel:
    """The model with its layers in the order that gives the smallest arena (the given order on ties)."""
    best, best_size = model, None
    memo: dict = {}  # sizes and in-place shifts depend on the layers, not on their order: worked out once
    for order in topological_orders(model, limit):
        candidate = reorder(model, order)
        size = least_arena(candidate, below=best_size, memo=memo)  # None: not smaller than the best
        if size is not None:
            best, best_size = candidate, size
    return best
