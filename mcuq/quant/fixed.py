"""Fixed quantization: the scales and zero points a pre-quantized model file sets, taken out of the
optimized float IR before lowering.

The frontend turns each QuantizeLinear/DequantizeLinear pair of a QDQ model into a ``fake_quant`` node;
the passes move transposes through them like any elementwise op. Here each ``fake_quant`` node
``x -> y`` with (scale, zero point) P becomes a fact about a tensor, ``fixed[x] = P``, and the node goes:
the layer that writes ``x`` will write it in P. A second, different quantization of a tensor that
already has one (a requantization, DQ → Q with other parameters) cannot be a fact about the same
tensor: it stays as a ``clip`` without bounds, which lowers to a 256-entry table from one int8 grid to
the other.
"""

from __future__ import annotations

import dataclasses
import math

from mcuq import passes
from mcuq.ir.graph import Graph, Node

Quant = tuple[float, int]

#: Clean-ups for what removing the nodes leaves behind (reshape → reshape around a former int8 Reshape).
#: None of them renames a surviving tensor, so ``fixed`` stays valid.
CLEANUPS = (passes.remove_dead_nodes, passes.remove_unused_tensors, passes.merge_consecutive_reshapes)


def take_fixed_quant(graph: Graph) -> tuple[Graph, dict[str, Quant]]:
    """(graph without fake_quant nodes, {tensor name: (scale, zero point)} the model file fixes)."""
    fixed: dict[str, Quant] = {}
    while True:
        node = next((n for n in graph.nodes if n.op == "fake_quant"), None)
        if node is None:
            return cleaned(graph), fixed
        graph = without_fake_quant(graph, node, fixed)


def without_fake_quant(graph: Graph, node: Node, fixed: dict[str, Quant]) -> Graph:
    source, target = node.inputs[0], node.outputs[0]
    quant = (float(node.attrs["scale"]), int(node.attrs["zero_point"]))
    if fixed.get(source, quant) == quant:
        result = passes.bypassed(graph, node)
        if result is not None:
            fixed[source] = quant
            if target in result.tensors:  # the output kept its name (it is a graph output)
                fixed[target] = fixed.pop(source)
            return result
    fixed[target] = quant
    requantize = Node("clip", node.name, node.inputs, node.outputs, {"act_min": -math.inf, "act_max": math.inf})
    return dataclasses.replace(graph, nodes=[requantize if n is node else n for n in graph.nodes])


def cleaned(graph: Graph) -> Graph:
    return passes.to_fixed_point(graph, CLEANUPS)
