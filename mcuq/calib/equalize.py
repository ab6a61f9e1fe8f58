"""Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization", section 4.1) on the float IR.

For two weighted layers in a row, y = f(W1 x + b1) then z = W2 y + b2, with f commuting with a
positive per-channel scale (f(v / s) = f(v) / s for s > 0: identity and ReLU), output channel i of
the first layer can be divided by s_i and input channel i of the second multiplied by s_i without
changing z. Choosing s_i = sqrt(r1_i / r2_i), with r the per-channel absolute maxima of the weights,
makes both ranges sqrt(r1_i * r2_i): balanced. Chains (conv -> depthwise -> pointwise -> ...) are
equalized pair by pair, repeated until the scales settle.

ReLU6 and other clips do not commute with scaling (clip(v / s, 0, 6) != clip(v, 0, 6) / s), and the
IR has one clip bound per tensor, not one per channel; such pairs are left alone and listed in the
result with that reason. So are pairs whose middle tensor is read by anything else (a residual
branch would see the scaled values) or is a graph output.

Pairs handled: first a conv2d (groups 1) or a depthwise conv (multiplier 1), second a conv2d (groups
1) or depthwise conv (multiplier 1) reading the first's output directly. Zero padding is unaffected
(0 / s = 0). In float the result equals the original up to float32 rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mcuq.ir.graph import Graph, Node
from mcuq.ir.ops import op_info
from mcuq.passes.rewrites import Index, add_constant, remove_unused_tensors, with_nodes_replaced

MAX_ROUNDS = 100
TOLERANCE = 1e-4  # stop when no scale moves by more than this factor (in log)



@dataclass
class Equalization:
    graph: Graph
    pairs: list[tuple[str, str]] = field(default_factory=list)  # node names equalized
    skipped: list[str] = field(default_factory=list)  # why a candidate pair was left alone
    rounds: int = 0


def equalizable_layer(graph: Graph, node: Node) -> bool:
    if node.op == "conv2d" and node.attrs.get("groups", 1) != 1:
        return False
    if node.op == "depthwise_conv2d" and node.attrs.get("depth_multiplier", 1) != 1:
        return False
    axes = op_info(node.op).weights
    return axes is not None and axes.windowed and all(graph.const(n) is not None for n in node.inputs[1:3])


def commutes_with_scaling(node: Node) -> bool:
    """True for no activation and ReLU: f(v / s) = f(v) / s for every s > 0."""
    return node.attrs.get("act_min", -math.inf) in (-math.inf, 0.0) and node.attrs.get("act_max", math.inf) == math.inf


def find_pairs(graph: Graph) -> tuple[list[tuple[int, int]], list[str]]:
    """(first, second) node indices of the pairs to equalize, and the reasons others were skipped."""
    index = Index.of(graph)
    position = {id(node): i for i, node in enumerate(graph.nodes)}
    pairs, skipped = [], []
    for first in graph.nodes:
        if not equalizable_layer(graph, first):
            continue
        second = index.sole_consumer(first.outputs[0])
        if second is None or not equalizable_layer(graph, second) or second.inputs[0] != first.outputs[0]:
            continue
        if not commutes_with_scaling(first):
            skipped.append(
                f"{first.name} -> {second.name}: its activation clips at "
                f"({first.attrs.get('act_min')}, {first.attrs.get('act_max')}), which per-channel scaling "
                "would change (ReLU6: clip(v/s, 0, 6) != clip(v, 0, 6)/s)"
            )
            continue
        pairs.append((position[id(first)], position[id(second)]))
    return pairs, skipped


def channel_ranges(weights: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(np.abs(weights.astype(np.float64)), axis, 0)
    return moved.reshape(moved.shape[0], -1).max(axis=1)


def balancing_scales(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """s_i = sqrt(r1_i / r2_i); 1 where a channel is all zero on either side."""
    ok = (r1 > 0) & (r2 > 0)
    return np.where(ok, np.sqrt(np.where(ok, r1, 1.0) / np.where(ok, r2, 1.0)), 1.0)


def along(axis: int, ndim: int, values: np.ndarray) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = -1
    return values.reshape(shape)


def equalize(graph: Graph) -> Equalization:
    """The graph with every equalizable pair balanced (the argument is unchanged)."""
    pairs, skipped = find_pairs(graph)
    if not pairs:
        return Equalization(graph, [], skipped)
    nodes = graph.nodes
    weights = {i: graph.const(nodes[i].inputs[1]).astype(np.float64) for pair in pairs for i in pair}
    biases = {i: graph.const(nodes[i].inputs[2]).astype(np.float64) for pair in pairs for i in pair}
    rounds = 0
    while rounds < MAX_ROUNDS:
        rounds += 1
        largest_step = 0.0
        for i, j in pairs:
            out_axis, in_axis = op_info(nodes[i].op).weights.output, op_info(nodes[j].op).weights.input
            s = balancing_scales(channel_ranges(weights[i], out_axis), channel_ranges(weights[j], in_axis))
            weights[i] = weights[i] / along(out_axis, weights[i].ndim, s)
            biases[i] = biases[i] / s
            weights[j] = weights[j] * along(in_axis, weights[j].ndim, s)
            largest_step = max(largest_step, float(np.max(np.abs(np.log(s)))))
        if largest_step < TOLERANCE:
            break
    tensors = dict(graph.tensors)
    replacements = {}
    for i in weights:
        node = nodes[i]
        w = add_constant(tensors, f"{node.inputs[1]}__equalized", weights[i])
        b = add_constant(tensors, f"{node.inputs[2]}__equalized", biases[i])
        replacements[id(node)] = [node.replace(inputs=(node.inputs[0], w, b, *node.inputs[3:]))]
    new_graph = with_nodes_replaced(graph, replacements, tensors)
    new_graph = remove_unused_tensors(new_graph) or new_graph  # the replaced weights
    names = [(nodes[i].name, nodes[j].name) for i, j in pairs]
    return Equalization(new_graph, names, skipped, rounds)
