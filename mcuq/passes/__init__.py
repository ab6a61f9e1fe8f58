"""Pure rewrites of the float IR to a fixed point: `rewrites` (layout, folding, fusion) and, built on
its helpers, `sequence` (sequence models). `optimize` applies both lists."""

from mcuq import ir
from mcuq.passes import sequence
from mcuq.passes.rewrites import (
    REWRITES as LAYOUT_AND_FUSION_REWRITES,
)
from mcuq.passes.rewrites import (
    bypassed,
    merge_consecutive_reshapes,
    remove_dead_nodes,
    remove_unused_tensors,
    to_fixed_point,
)

REWRITES = [*LAYOUT_AND_FUSION_REWRITES, *sequence.REWRITES]


def optimize(graph: ir.Graph) -> ir.Graph:
    """Apply ``REWRITES`` until none applies; return the new graph (the argument is unchanged)."""
    return to_fixed_point(graph.copy(), REWRITES)


__all__ = [
    "REWRITES", "bypassed", "merge_consecutive_reshapes", "optimize", "remove_dead_nodes", "remove_unused_tensors",
    "to_fixed_point",
]
