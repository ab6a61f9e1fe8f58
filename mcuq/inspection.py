"""`mcuq inspect MODEL`: what compiling the model would give, in about a second and without data.

It runs the stages of `mcuq.pipeline` that do not need calibration data — load, optimize, lower to the
int8 IR, plan the arena — with a placeholder quantization (every activation in [-1, 1]) instead of
calibrated ranges. Quantization decides the numbers, not the layers or the buffers: the arena, MACs
and weight bytes are the ones `compile` plans (a test checks the arena on real models). A model with
nodes mcuq cannot compile gets the frontend's list of every such node instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mcuq import quant
from mcuq.errors import UnsupportedOpError
from mcuq.ir.graph import Graph
from mcuq.pipeline import load_for_compile
from mcuq.plan import best_schedule, plan_arena, with_roomy_scratch
from mcuq.report.summary import layer_macs, layer_weight_bytes

# Any range holding 0 plans the same layers and buffers; [-1, 1] is a typical activation's.
PLACEHOLDER_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class Inspection:
    """The verdict on a model: the refused nodes (none when it compiles), else its layers and memory."""

    refused: UnsupportedOpError | None
    layers: list[dict]  # index, name, op, output_shape, macs, weight_bytes; [] when refused
    arena_bytes: int | None  # None when refused

    @property
    def supported(self) -> bool:
        return self.refused is None

    @property
    def macs(self) -> int:
        return sum(layer["macs"] for layer in self.layers)

    @property
    def weight_bytes(self) -> int:
        return sum(layer["weight_bytes"] for layer in self.layers)


def inspect_model(model: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Inspection:
    """Load ``model`` and plan it as `compile` would, with placeholder quantization; raise McuqError for
    what is not a refusal of nodes (an unreadable file, a dynamic shape without ``input_shapes``)."""
    try:
        loaded = load_for_compile(Path(model), Path(model).stem, input_shapes)
    except UnsupportedOpError as refused:
        return Inspection(refused, [], None)
    qmodel = best_schedule(quant.quantize(loaded.graph, placeholder_ranges(loaded.graph), loaded.fixed))
    plan = with_roomy_scratch(qmodel, plan_arena(qmodel))
    layers = [dict(index=i, name=layer.name, op=layer.op.value, output_shape=list(qmodel.tensors[layer.output].shape),
                   macs=layer_macs(layer, qmodel), weight_bytes=layer_weight_bytes(layer, qmodel.tensors))
              for i, layer in enumerate(qmodel.layers)]
    return Inspection(None, layers, plan.size)


def placeholder_ranges(graph: Graph) -> dict[str, tuple[float, float]]:
    """Every activation in `PLACEHOLDER_RANGE`; a pre-quantized model's file fixes its own."""
    return {name: PLACEHOLDER_RANGE for name, tensor in graph.tensors.items() if not tensor.is_constant}
