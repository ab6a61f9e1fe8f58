"""Rewrites for sequence models ([N, T, F] tensors, transformers), run after `rewrites.REWRITES` by `optimize`.

- A transpose (alone, or transpose → reshape → transpose) that leaves every element where it was is one
  reshape: nn.MultiheadAttention's seq-first [1, T, F] -> [T, 1, F]; the ViT's patch embedding,
  Conv → flatten(2) → transpose(1, 2), reads the NHWC conv output as [N, H*W, C]
  in place (the loader's NHWC → NCHW transpose, the flatten and torch's transpose compose to nothing).
- A constant Add after a fully connected layer that adds one value per output (Linear's bias on a
  sequence, which the exporters write as MatMul + Add) folds into the layer's bias.
- A transpose of more than 4 axes drops its unit axes (the kernel permutes 4).
- Two constant Adds in a row are one (a class token's constant, then the positional embedding).
"""

from __future__ import annotations

import math

import numpy as np

from mcuq import ir
from mcuq.passes.rewrites import Index, add_activation, add_constant, nodes_of, shape_of, with_nodes_replaced


def element_order(shape: tuple[int, ...], chain: list[ir.Node]) -> np.ndarray:
    """Where each element of a tensor of ``shape`` ends up after a chain of transposes and reshapes,
    in row-major order of the result."""
    order = np.arange(math.prod(shape)).reshape(shape)
    for node in chain:
        order = order.transpose(node.attrs["perm"]) if node.op == "transpose" else order.reshape(node.attrs["shape"])
    return order.reshape(-1)


def order_keeping_transpose_chain_to_reshape(graph: ir.Graph) -> ir.Graph | None:
    """A transpose (after a reshape after a transpose, or alone) that keeps every element in place."""
    index = Index.of(graph)
    for last in nodes_of(graph, "transpose"):
        middle = index.producer(last.inputs[0], "reshape")
        first = index.producer(middle.inputs[0], "transpose") if middle is not None else None
        chain = [first, middle, last] if first is not None else [last]
        order = element_order(shape_of(graph, chain[0].inputs[0]), chain)
        if np.array_equal(order, np.arange(order.size)):
            shape = shape_of(graph, last.outputs[0])
            reshape = ir.Node("reshape", last.name, chain[0].inputs, last.outputs, {"shape": shape})
            return with_nodes_replaced(graph, {id(last): [reshape]})
    return None


def wide_transpose_without_unit_axes(graph: ir.Graph) -> ir.Graph | None:
    """A transpose of more than 4 axes (nn.MultiheadAttention's [1, T, N, 3, E] -> [3, T, N, 1, E]) as
    reshape -> transpose of its axes larger than 1 -> reshape: the kernel permutes 4 axes at most."""
    for node in nodes_of(graph, "transpose"):
        shape, perm = shape_of(graph, node.inputs[0]), tuple(node.attrs["perm"])
        kept = [axis for axis in range(len(shape)) if shape[axis] != 1]
        if len(perm) <= 4 or len(kept) == len(shape):
            continue
        tensors = dict(graph.tensors)
        squeezed = tuple(shape[axis] for axis in kept)
        inner_perm = tuple(kept.index(axis) for axis in perm if axis in kept)
        before = add_activation(tensors, f"{node.name}__squeezed", squeezed)
        moved = add_activation(tensors, f"{node.name}__moved", tuple(squeezed[p] for p in inner_perm))
        nodes = [ir.Node("reshape", node.name, node.inputs, (before,), {"shape": squeezed}),
                 ir.Node("transpose", node.name, (before,), (moved,), {"perm": inner_perm}),
                 ir.Node("reshape", node.name, (moved,), node.outputs, {"shape": shape_of(graph, node.outputs[0])})]
        return with_nodes_replaced(graph, {id(node): nodes}, tensors)
    return None


def constant_operand(graph: ir.Graph, node: ir.Node) -> tuple[str, np.ndarray] | None:
    """(activation, constant) of a two-input node with exactly one constant input, else None."""
    constants = [graph.tensors[name].data for name in node.inputs]
    if len(node.inputs) != 2 or sum(c is not None for c in constants) != 1:
        return None
    which = 0 if constants[0] is not None else 1
    return node.inputs[1 - which], constants[which]


def unclamped(node: ir.Node) -> bool:
    return node.attrs.get("act_min", -math.inf) == -math.inf and node.attrs.get("act_max", math.inf) == math.inf


def per_last_axis(constant: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The vector a constant adds along the last axis of ``shape``, if it is the same in every row."""
    try:
        rows = np.broadcast_to(constant, shape).reshape(-1, shape[-1])
    except ValueError:
        return None
    return rows[0] if np.all(rows == rows[0]) and np.broadcast_shapes(constant.shape, shape) == shape else None


def fold_bias_add_into_fully_connected(graph: ir.Graph) -> ir.Graph | None:
    index = Index.of(graph)
    for add in nodes_of(graph, "add"):
        operands = constant_operand(graph, add)
        fc = index.producer(operands[0], "fully_connected") if operands is not None else None
        if fc is None or index.sole_consumer(fc.outputs[0]) is not add or not unclamped(fc):
            continue
        if "bias_values" in fc.attrs:  # a QDQ file's int32 bias stays as the file stores it
            continue
        vector = per_last_axis(operands[1], shape_of(graph, add.outputs[0]))
        if vector is None:
            continue
        tensors = dict(graph.tensors)
        bias = add_constant(tensors, f"{fc.name}__bias", graph.tensors[fc.inputs[2]].data + vector)
        attrs = {**fc.attrs, "act_min": add.attrs["act_min"], "act_max": add.attrs["act_max"]}
        folded = fc.replace(inputs=(*fc.inputs[:2], bias), outputs=add.outputs, attrs=attrs)
        return with_nodes_replaced(graph, {id(fc): [folded], id(add): []}, tensors)
    return None


def merge_constant_adds(graph: ir.Graph) -> ir.Graph | None:
    index = Index.of(graph)
    for second in nodes_of(graph, "add"):
        outer = constant_operand(graph, second)
        first = index.producer(outer[0], "add") if outer is not None else None
        inner = constant_operand(graph, first) if first is not None else None
        if inner is None or index.sole_consumer(first.outputs[0]) is not second or not unclamped(first):
            continue
        shape = shape_of(graph, second.outputs[0])
        if shape_of(graph, first.outputs[0]) != shape or shape_of(graph, inner[0]) != shape:
            continue
        tensors = dict(graph.tensors)
        total = add_constant(tensors, f"{second.name}__constant", inner[1] + outer[1])
        merged = second.replace(inputs=(inner[0], total))
        return with_nodes_replaced(graph, {id(first): [], id(second): [merged]}, tensors)
    return None


REWRITES = [
    wide_transpose_without_unit_axes,
    order_keeping_transpose_chain_to_reshape,
    fold_bias_add_into_fully_connected,
    merge_constant_adds,
]
