"""Arena planning: execution order and tensor lifetimes -> offsets in one static arena.

`schedule` picks the order of independent branches, `arena` the offsets (with `inplace` saying where
a layer may write over its input), `planner` is the buffer-placement interface and `greedy` its
first-fit strategy in several orders; `concat` says which Concat inputs their producers write
straight into the Concat's output.
"""

from mcuq.plan.arena import (
           ALIGNMENT,
           DEFAULT_SCRATCH_GROWTH,
           ArenaPlan,
           inplace_layers,
           lifetimes,
           plan_arena,
           scratch_name,
           with_roomy_scratch,
)
from mcuq.plan.concat import Slice, slice_writes
from mcuq.plan.planner import ArenaPlanner
from mcuq.plan.schedule import best_schedule

__all__ = ["ALIGNMENT", "DEFAULT_SCRATCH_GROWTH", "ArenaPlan", "ArenaPlanner", "Slice", "best_schedule",
           "inplace_layers", "lifetimes", "plan_arena", "scratch_name", "slice_writes", "with_roomy_scratch"]
