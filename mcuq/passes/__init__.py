"""Pure rewrites of the float IR to a fixed point (`rewrites`)."""

from mcuq.passes.rewrites import (
    bypassed,
    merge_consecutive_reshapes,
    optimize,
    remove_dead_nodes,
    remove_unused_tensors,
    to_fixed_point,
)

__all__ = [
    "bypassed", "merge_consecutive_reshapes", "optimize", "remove_dead_nodes", "remove_unused_tensors",
    "to_fixed_point",
]
