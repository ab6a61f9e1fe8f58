"""Rewrites of the float IR, applied to a fixed point by `optimize`.

Each rewrite is a pure function ``graph -> new graph | None``: it finds the first place where it
applies, returns a new graph with that one change, or None when it applies nowhere. `optimize`
runs the first rewrite that applies, then starts again from the top of ``REWRITES``, until none
applies; so clean-ups listed first (dead code, cancelling transposes) always run before fusions.

Together they turn the loader's literal NCHW translation into an NHWC graph: transposes are pushed
down through elementwise ops until they cancel, become reshapes or reach a graph input/output;
per-channel affines (BatchNormalization, Add/Mul by a constant) fold into the preceding conv or
fully connected layer; Relu/Clip fuse into their producer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcuq import ir
from mcuq.ir.ops import ops_where

Rewrite = Callable[[ir.Graph], "ir.Graph | None"]

NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_TO_NCHW = (0, 3, 1, 2)
# The perm that makes a graph input channels-last, by rank ([N, C, W] → [N, W, C] is its own inverse),
# and the one that brings a channels-last graph output back to the ONNX layout.
TO_CHANNELS_LAST = {3: (0, 2, 1), 4: NCHW_TO_NHWC}
FROM_CHANNELS_LAST = {3: (0, 2, 1), 4: NHWC_TO_NCHW}
# fake_quant (a quantization the model file fixes) is elementwise too: transposes move through it.
UNARY_ELEMENTWISE_OPS = ops_where(lambda op: op.elementwise_inputs == 1)
BINARY_ELEMENTWISE_OPS = ops_where(lambda op: op.elementwise_inputs == 2)
CONV_OPS = ops_where(lambda op: op.weights is not None and op.weights.windowed)
AFFINE_FOLD_TARGETS = ops_where(lambda op: op.weights is not None)
FUSABLE_ACTIVATION_OPS = ops_where(lambda op: op.fuses_activation)
MAX_REWRITES = 100_000


def optimize(graph: ir.Graph) -> ir.Graph:
    """Apply ``REWRITES`` until none applies; return the new graph (the argument is unchanged)."""
    return to_fixed_point(graph.copy(), REWRITES)


def to_fixed_point(graph: ir.Graph, rewrites) -> ir.Graph:
    """Apply the first of ``rewrites`` that changes ``graph``, again and again, until none does."""
    for _ in range(MAX_REWRITES):
        for rewrite in rewrites:
            result = rewrite(graph)
            if result is not None:
                graph = result
                break
        else:
            graph.validate()
            return graph
    raise RuntimeError(f"graph rewrites did not reach a fixed point after {MAX_REWRITES} steps")


# --------------------------------------------------------------------------------------------
# Graph queries and edits shared by the rewrites


@dataclass(frozen=True)
class Index:
    """Producers and consumers of every tensor, built once per rewrite attempt."""

    producers: dict[str, ir.Node]
    consumers: dict[str, list[ir.Node]]
    graph_outputs: frozenset[str]

    @staticmethod
    def of(graph: ir.Graph) -> Index:
        producers, consumers = {}, {}
        for node in graph.nodes:
            for name in node.outputs:
                producers[name] = node
            for name in dict.fromkeys(node.inputs):
                consumers.setdefault(name, []).append(node)
        return Index(producers, consumers, frozenset(graph.outputs))

    def producer(self, tensor: str, op: str | frozenset[str]) -> ir.Node | None:
        node = self.producers.get(tensor)
        ops = {op} if isinstance(op, str) else op
        return node if node is not None and node.op in ops else None

    def sole_consumer(self, tensor: str) -> ir.Node | None:
        """The only node reading ``tensor``, if exactly one does and it is not a graph output."""
        users = self.consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in self.graph_outputs else None


def nodes_of(graph: ir.Graph, ops: frozenset[str] | str) -> list[ir.Node]:
    ops = {ops} if isinstance(ops, str) else ops
    return [node for node in graph.nodes if node.op in ops]


def fresh_name(tensors: dict[str, ir.Tensor], hint: str) -> str:
    name, counter = hint, 1
    while name in tensors:
        counter += 1
        name = f"{hint}_{counter}"
    return name


def add_activation(tensors: dict[str, ir.Tensor], hint: str, shape: tuple[int, ...]) -> str:
    name = fresh_name(tensors, hint)
    tensors[name] = ir.Tensor(name, tuple(shape))
    return name


def add_constant(tensors: dict[str, ir.Tensor], hint: str, data: np.ndarray) -> str:
    name = fresh_name(tensors, hint)
    data = np.ascontiguousarray(data, dtype=np.float32)
    tensors[name] = ir.Tensor(name, tuple(data.shape), data)
    return name


def renamed(node: ir.Node, old: str, new: str) -> ir.Node:
    def swap(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(new if n == old else n for n in names)

    return node.replace(inputs=swap(node.inputs), outputs=swap(node.outputs))


def with_nodes_replaced(
    graph: ir.Graph,
    replacements: dict[int, list[ir.Node]],
    tensors: dict[str, ir.Tensor] | None = None,
    **changes,
) -> ir.Graph:
    """A new graph where each node whose id() is a key is replaced, in place, by the given nodes."""
    nodes = []
    for node in graph.nodes:
        nodes.extend(replacements.get(id(node), [node]))
    return dataclasses.replace(graph, nodes=nodes, tensors=dict(tensors or graph.tensors), **changes)


def bypassed(graph: ir.Graph, node: ir.Node) -> ir.Graph | None:
    """Remove a node that copies its only input to its only output (same shape)."""
    source, target = node.inputs[0], node.outputs[0]
    tensors = dict(graph.tensors)
    nodes = [n for n in graph.nodes if n is not node]
    if target not in graph.outputs:
        del tensors[target]
        return dataclasses.replace(graph, nodes=[renamed(n, target, source) for n in nodes], tensors=tensors)
    if source in graph.inputs or source in graph.outputs or graph.tensors[source].is_constant:
        return None  # the graph output has to be produced by some node
    tensors[target] = ir.Tensor(target, graph.tensors[source].shape)
    del tensors[source]
    return dataclasses.replace(graph, nodes=[renamed(n, source, target) for n in nodes], tensors=tensors)


def transposed_shape(shape: tuple[int, ...], perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[p] for p in perm)


def composed(first: tuple[int, ...], then: tuple[int, ...]) -> tuple[int, ...]:
    """The perm of ``x.transpose(first).transpose(then)``."""
    return tuple(first[i] for i in then)


def inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(perm))


def shape_of(graph: ir.Graph, tensor: str) -> tuple[int, ...]:
    return graph.tensors[tensor].shape


def activation_range(node: ir.Node) -> tuple[float, float]:
    return node.attrs.get("act_min", -math.inf), node.attrs.get("act_max", math.inf)


# --------------------------------------------------------------------------------------------
# Dead code and no-ops


def remove_dead_nodes(graph: ir.Graph) -> ir.Graph | None:
    used = set(graph.outputs) | {name for node in graph.nodes for name in node.inputs}
    live = [node for node in graph.nodes if any(name in used for name in node.outputs)]
    return None if len(live) == len(graph.nodes) else dataclasses.replace(graph, nodes=live)


def remove_unused_tensors(graph: ir.Graph) -> ir.Graph | None:
    used = set(graph.inputs) | set(graph.outputs)
    for node in graph.nodes:
        used.update(node.inputs)
        used.update(node.outputs)
    if used >= set(graph.tensors):
        return None
    return dataclasses.replace(graph, tensors={k: v for k, v in graph.tensors.items() if k in used})


def remove_identity_reshape(graph: ir.Graph) -> ir.Graph | None:
    """A reshape to the input's own shape (also what Identity and Dropout load as) vanishes."""
    for node in nodes_of(graph, "reshape"):
        if shape_of(graph, node.inputs[0]) == shape_of(graph, node.outputs[0]):
            result = bypassed(graph, node)
            if result is not None:
                return result
    return None


def remove_identity_transpose(graph: ir.Graph) -> ir.Graph | None:
    for node in nodes_of(graph, "transpose"):
        if tuple(node.attrs["perm"]) == tuple(range(len(node.attrs["perm"]))):
            result = bypassed(graph, node)
            if result is not None:
                return result
    return None


def remove_zero_pad(graph: ir.Graph) -> ir.Graph | None:
    for node in nodes_of(graph, "pad"):
        if not any(node.attrs["pads"]):
            result = bypassed(graph, node)
            if result is not None:
                return result
    return None


# --------------------------------------------------------------------------------------------
# Transposes and reshapes


def merge_consecutive_transposes(graph: ir.Graph) -> ir.Graph | None:
    index = Index.of(graph)
    for node in nodes_of(graph, "transpose"):
        first = index.producer(node.inputs[0], "transpose")
        if first is not None:
            perm = composed(first.attrs["perm"], node.attrs["perm"])
            merged = node.replace(inputs=first.inputs, attrs={**node.attrs, "perm": perm})
            return with_nodes_replaced(graph, {id(node): [merged]})
    return None


def merge_consecutive_reshapes(graph: ir.Graph) -> ir.Graph | None:
    index = Index.of(graph)
    for node in nodes_of(graph, "reshape"):
        first = index.producer(node.inputs[0], "reshape")
        if first is not None:
            return with_nodes_replaced(graph, {id(node): [node.replace(inputs=first.inputs)]})
    return None


def moves_only_unit_dims(shape: tuple[int, ...], perm: tuple[int, ...]) -> bool:
    """True when the transpose keeps the batch first and the order of all dims larger than 1."""
    moved = [axis for axis in perm if shape[axis] != 1]
    return perm[0] == 0 and moved == sorted(moved)


def transpose_of_unit_dims_to_reshape(graph: ir.Graph) -> ir.Graph | None:
    for node in nodes_of(graph, "transpose"):
        perm = tuple(node.attrs["perm"])
        if perm != tuple(range(len(perm))) and moves_only_unit_dims(shape_of(graph, node.inputs[0]), perm):
            shape = shape_of(graph, node.outputs[0])
            as_reshape = ir.Node("reshape", node.name, node.inputs, node.outputs, {"shape": shape})
            return with_nodes_replaced(graph, {id(node): [as_reshape]})
    return None


def transpose_after(
    graph: ir.Graph, op_node: ir.Node, new_inputs: tuple[str, ...], perm: tuple[int, ...], attrs: dict
) -> ir.Graph:
    """Replace ``op(transpose(x)...)`` by ``transpose(op'(x...))``: the op reads ``new_inputs``
    (untransposed) and writes a fresh tensor that a transpose by ``perm`` turns into its output."""
    tensors = dict(graph.tensors)
    output = op_node.outputs[0]
    inner_shape = transposed_shape(shape_of(graph, output), inverse(perm))
    inner = add_activation(tensors, f"{output}__before_transpose", inner_shape)
    moved_op = op_node.replace(inputs=new_inputs, outputs=(inner,), attrs=attrs)
    transpose = ir.Node("transpose", op_node.name, (inner,), (output,), {"perm": tuple(perm)})
    return with_nodes_replaced(graph, {id(op_node): [moved_op, transpose]}, tensors)


def push_transpose_through_unary(graph: ir.Graph) -> ir.Graph | None:
    index = Index.of(graph)
    for node in nodes_of(graph, UNARY_ELEMENTWISE_OPS):
        transpose = index.producer(node.inputs[0], "transpose")
        if transpose is not None and index.sole_consumer(node.inputs[0]) is node:
            return transpose_after(graph, node, transpose.inputs, transpose.attrs["perm"], node.attrs)
    return None


def same_transpose_of_all_inputs(
    index: Index, node: ir.Node
) -> tuple[tuple[str, ...], tuple[int, ...]] | None:
    """(untransposed inputs, perm) when every input of ``node`` is a transpose by the same perm."""
    transposes = [index.producer(name, "transpose") for name in node.inputs]
    if any(t is None for t in transposes):
        return None
    perms = {tuple(t.attrs["perm"]) for t in transposes}
    if len(perms) != 1:
        return None
    return tuple(t.inputs[0] for t in transposes), perms.pop()


def push_transpose_through_binary(graph: ir.Graph) -> ir.Graph | None:
    index = Index.of(graph)
    for node in nodes_of(graph, BINARY_ELEMENTWISE_OPS):
        found = same_transpose_of_all_inputs(index, node)
        if found is not None:
            return transpose_after(graph, node, found[0], found[1], node.attrs)
    return None


def push_reshape_through_elementwise(graph: ir.Graph) -> ir.Graph | None:
    """``op(reshape(x), reshape(y))`` → ``reshape(op(x, y))`` for an elementwise op whose inputs are all
    reshapes from one shape: the reshape moves on down to the next one, with which it merges (a Relu
    between two Conv1d layers sits between the reshapes that give them H = 1)."""
    index = Index.of(graph)
    for node in nodes_of(graph, UNARY_ELEMENTWISE_OPS | BINARY_ELEMENTWISE_OPS):
        reshapes = [index.producer(name, "reshape") for name in node.inputs]
        if any(r is None for r in reshapes) or len({shape_of(graph, r.inputs[0]) for r in reshapes}) != 1:
            continue
        if len(node.inputs) == 1 and index.sole_consumer(node.inputs[0]) is not node:
            continue
        tensors = dict(graph.tensors)
        output = node.outputs[0]
        inner = add_activation(tensors, f"{output}__before_reshape", shape_of(graph, reshapes[0].inputs[0]))
        moved = node.replace(inputs=tuple(r.inputs[0] for r in reshapes), outputs=(inner,))
        reshape = ir.Node("reshape", node.name, (inner,), (output,), {"shape": shape_of(graph, output)})
        return with_nodes_replaced(graph, {id(node): [moved, reshape]}, tensors)
    return None


def non_unit_axes(shape: tuple[int, ...]) -> list[int]:
    return [axis for axis, size in enumerate(shape) if size != 1]


def push_transpose_through_unit_reshape(graph: ir.Graph) -> ir.Graph | None:
    """``reshape(transpose(x))`` where the reshape only adds or drops dims of size 1 → ``transpose'(reshape'(x))``:
    the transpose moves on down to meet its inverse (dynamo's AdaptiveAvgPool1d is Unsqueeze → ReduceMean,
    which puts such a reshape between the transposes of two rank-3 layers)."""
    index = Index.of(graph)
    for reshape in nodes_of(graph, "reshape"):
        transpose = index.producer(reshape.inputs[0], "transpose")
        if transpose is None or index.sole_consumer(reshape.inputs[0]) is not reshape:
            continue
        source, middle, target = (shape_of(graph, t) for t in (transpose.inputs[0], reshape.inputs[0],
                                                               reshape.outputs[0]))
        if [middle[a] for a in non_unit_axes(middle)] != [target[a] for a in non_unit_axes(target)]:
            continue
        perm = tuple(transpose.attrs["perm"])
        # Each size > 1 axis of the target comes from one axis of the source; the new reshape keeps the
        # target's unit axes where they are and fills the other places with the source's axes in order.
        origins = [perm[a] for a in non_unit_axes(middle)]
        slots = non_unit_axes(target)
        in_source_order = sorted(origins)
        new_shape = list(target)
        new_perm = list(range(len(target)))
        for slot, origin in zip(slots, in_source_order):
            new_shape[slot] = source[origin]
        for slot, origin in zip(slots, origins):
            new_perm[slot] = slots[in_source_order.index(origin)]
        tensors = dict(graph.tensors)
        inner = add_activation(tensors, f"{reshape.outputs[0]}__before_transpose", tuple(new_shape))
        nodes = [reshape.replace(inputs=transpose.inputs, outputs=(inner,), attrs={"shape": tuple(new_shape)}),
                 transpose.replace(inputs=(inner,), outputs=reshape.outputs, attrs={"perm": tuple(new_perm)})]
        return with_nodes_replaced(graph, {id(reshape): nodes}, tensors)
    return None


def push_transpose_through_concat(graph: ir.Graph) -> ir.Graph | None:
    index = Index.of(graph)
    for node in nodes_of(graph, "concat"):
        found = same_transpose_of_all_inputs(index, node)
        if found is not None:
            inputs, perm = found
            attrs = {**node.attrs, "axis": perm[node.attrs["axis"]]}
            return transpose_after(graph, node, inputs, perm, attrs)
    return None


def push_transpose_through_pad(graph: ir.Graph) -> ir.Graph | None:
    index = Index.of(graph)
    for node in nodes_of(graph, "pad"):
        transpose = index.producer(node.inputs[0], "transpose")
        if transpose is None or index.sole_consumer(node.inputs[0]) is not node:
            continue
        perm = tuple(transpose.attrs["perm"])
        rank = len(perm)
        pads = list(node.attrs["pads"])
        remapped = [0] * (2 * rank)
        for axis, source_axis in enumerate(perm):
            remapped[source_axis] = pads[axis]
            remapped[rank + source_axis] = pads[rank + axis]
        attrs = {**node.attrs, "pads": tuple(remapped)}
        return transpose_after(graph, node, transpose.inputs, perm, attrs)
    return None


def nhwc_graph_input(graph: ir.Graph) -> ir.Graph | None:
    """An NCHW graph input read only by transpose(0,2,3,1) becomes an NHWC input."""
    index = Index.of(graph)
    for name in graph.inputs:
        users = index.consumers.get(name, [])
        if not users or name in graph.outputs:
            continue
        to_channels_last = TO_CHANNELS_LAST.get(len(shape_of(graph, name)))
        if all(u.op == "transpose" and tuple(u.attrs["perm"]) == to_channels_last for u in users):
            if any(u.outputs[0] in graph.outputs for u in users):
                continue
            nodes = [n for n in graph.nodes if not any(n is u for u in users)]
            for user in users:
                nodes = [renamed(n, user.outputs[0], name) for n in nodes]
            tensors = {k: v for k, v in graph.tensors.items() if k not in {u.outputs[0] for u in users}}
            tensors[name] = ir.Tensor(name, transposed_shape(shape_of(graph, name), to_channels_last))
            old_perm = graph.input_perms.get(name, tuple(range(len(to_channels_last))))
            input_perms = {**graph.input_perms, name: composed(old_perm, to_channels_last)}
            return dataclasses.replace(graph, nodes=nodes, tensors=tensors, input_perms=input_perms)
    return None


def pads_after_transpose(pads: tuple[int, ...], perm: tuple[int, ...]) -> tuple[int, ...]:
    """The pads of ``pad(x).transpose(perm)`` expressed on ``x.transpose(perm)``."""
    rank = len(perm)
    return tuple(pads[perm[axis]] for axis in range(rank)) + tuple(
        pads[rank + perm[axis]] for axis in range(rank)
    )


def pull_input_transpose_above_elementwise(graph: ir.Graph) -> ir.Graph | None:
    """graph input → pad/unary op → only transpose(0,2,3,1)s: transpose first, so that the input
    itself becomes NHWC (e.g. ZeroPad2d as a PyTorch model's first layer)."""
    index = Index.of(graph)
    for name in graph.inputs:
        op_node = index.sole_consumer(name)
        if op_node is None or op_node.op not in UNARY_ELEMENTWISE_OPS | {"pad"}:
            continue
        output = op_node.outputs[0]
        users = index.consumers.get(output, [])
        if not users or output in graph.outputs:
            continue
        if not all(u.op == "transpose" and tuple(u.attrs["perm"]) == NCHW_TO_NHWC for u in users):
            continue
        tensors = dict(graph.tensors)
        moved_input = add_activation(
            tensors, f"{name}__nhwc", transposed_shape(shape_of(graph, name), NCHW_TO_NHWC)
        )
        moved_output = add_activation(
            tensors, f"{output}__nhwc", transposed_shape(shape_of(graph, output), NCHW_TO_NHWC)
        )
        attrs = dict(op_node.attrs)
        if op_node.op == "pad":
            attrs["pads"] = pads_after_transpose(attrs["pads"], NCHW_TO_NHWC)
        replacement = [
            ir.Node("transpose", op_node.name, (name,), (moved_input,), {"perm": NCHW_TO_NHWC}),
            op_node.replace(inputs=(moved_input,), outputs=(moved_output,), attrs=attrs),
        ]
        graph = with_nodes_replaced(graph, {id(op_node): replacement, **{id(u): [] for u in users}}, tensors)
        for user in users:
            graph = dataclasses.replace(
                graph, nodes=[renamed(n, user.outputs[0], moved_output) for n in graph.nodes]
            )
        return graph
    return None


def nhwc_graph_output(graph: ir.Graph) -> ir.Graph | None:
    """A graph output made by transpose(0,3,1,2) is output in NHWC; output_perms records the perm.
    Nodes that also read the output get it through a new transpose (which then moves on down)."""
    index = Index.of(graph)
    for name in graph.outputs:
        transpose = index.producer(name, "transpose")
        from_channels_last = FROM_CHANNELS_LAST.get(len(shape_of(graph, name)))
        if transpose is None or tuple(transpose.attrs["perm"]) != from_channels_last:
            continue
        source = transpose.inputs[0]
        if source in graph.inputs or source in graph.outputs or graph.tensors[source].is_constant:
            continue
        users = index.consumers.get(name, [])
        tensors = {k: v for k, v in graph.tensors.items() if k != source}
        tensors[name] = ir.Tensor(name, shape_of(graph, source))
        nchw = add_activation(tensors, f"{name}__nchw", shape_of(graph, name)) if users else ""
        nodes = []
        for node in graph.nodes:
            if node is transpose:
                if users:
                    nodes.append(ir.Node("transpose", node.name, (name,), (nchw,), {"perm": from_channels_last}))
                continue
            if any(node is user for user in users):
                node = node.replace(inputs=tuple(nchw if i == name else i for i in node.inputs))
            nodes.append(renamed(node, source, name))
        old_perm = graph.output_perms.get(name, tuple(range(len(from_channels_last))))
        output_perms = {**graph.output_perms, name: composed(from_channels_last, old_perm)}
        return dataclasses.replace(graph, nodes=nodes, tensors=tensors, output_perms=output_perms)
    return None


def columns_in_source_order(
    weights: np.ndarray, transposed: tuple[int, ...], perm: tuple[int, ...]
) -> np.ndarray:
    """FC weights over ``flatten(x.transpose(perm))`` → the same weights over ``flatten(x)``."""
    per_axis = weights.reshape((weights.shape[0],) + tuple(transposed[1:]))
    back = inverse(perm)
    return per_axis.transpose((0,) + tuple(back[axis] for axis in range(1, len(perm)))).reshape(
        weights.shape[0], -1
    )


def reshape_nhwc_before_fully_connected(graph: ir.Graph) -> ir.Graph | None:
    """transpose → reshape to [N, K] → fully_connected: reshape the untransposed tensor and permute
    the weight columns instead (Flatten of an NCHW tensor fed by an NHWC conv)."""
    index = Index.of(graph)
    for fc in nodes_of(graph, "fully_connected"):
        flat = fc.inputs[0]
        reshape = index.producer(flat, "reshape")
        if reshape is None or index.sole_consumer(flat) is not fc:
            continue
        transpose = index.producer(reshape.inputs[0], "transpose")
        if transpose is None or index.sole_consumer(reshape.inputs[0]) is not reshape:
            continue
        perm = tuple(transpose.attrs["perm"])
        weights = graph.const(fc.inputs[1])
        transposed = shape_of(graph, transpose.outputs[0])
        if (
            perm[0] != 0
            or weights is None
            or len(shape_of(graph, flat)) != 2
            or transposed[0] != shape_of(graph, flat)[0]
        ):
            continue
        tensors = dict(graph.tensors)
        permuted = add_constant(
            tensors, f"{fc.inputs[1]}__nhwc", columns_in_source_order(weights, transposed, perm)
        )
        new_reshape = reshape.replace(inputs=transpose.inputs)
        new_fc = fc.replace(inputs=(flat, permuted, *fc.inputs[2:]))
        return with_nodes_replaced(graph, {id(reshape): [new_reshape], id(fc): [new_fc]}, tensors)
    return None


# --------------------------------------------------------------------------------------------
# Folding and fusion


def fold_pad_into_conv(graph: ir.Graph) -> ir.Graph | None:
    """A zero pad of H and W before a conv becomes part of the conv's own padding."""
    index = Index.of(graph)
    for conv in nodes_of(graph, CONV_OPS):
        pad = index.producer(conv.inputs[0], "pad")
        if pad is None or pad.attrs["value"] != 0.0 or len(pad.attrs["pads"]) != 8:
            continue
        p = pad.attrs["pads"]  # begin N,H,W,C then end N,H,W,C
        if p[0] or p[3] or p[4] or p[7]:
            continue
        top, left, bottom, right = conv.attrs["pads"]
        pads = (top + p[1], left + p[2], bottom + p[5], right + p[6])
        folded = conv.replace(inputs=(pad.inputs[0], *conv.inputs[1:]), attrs={**conv.attrs, "pads": pads})
        return with_nodes_replaced(graph, {id(conv): [folded]})
    return None


def is_channel_affine(graph: ir.Graph, node: ir.Node) -> bool:
    """A 1×1 depthwise conv with multiplier 1: y[..., c] = x[..., c] * w[c] + b[c]."""
    if node.op != "depthwise_conv2d" or node.attrs.get("depth_multiplier", 1) != 1:
        return False
    weights, bias = graph.const(node.inputs[1]), graph.const(node.inputs[2])
    return (
        weights is not None
        and bias is not None
        and weights.shape[:3] == (1, 1, 1)
        and tuple(node.attrs["strides"]) == (1, 1)
        and not any(node.attrs["pads"])
    )


def keeps_last_axis(graph: ir.Graph, reshape: ir.Node) -> bool:
    before, after = shape_of(graph, reshape.inputs[0]), shape_of(graph, reshape.outputs[0])
    return before[-1] == after[-1]


def affine_source(graph: ir.Graph, index: Index, affine: ir.Node) -> ir.Node | None:
    """The conv/FC whose output reaches ``affine`` through reshapes that keep the channel axis,
    every tensor on the way read by nothing else; None if there is none."""
    tensor = affine.inputs[0]
    while index.sole_consumer(tensor) is not None:
        producer = index.producers.get(tensor)
        if producer is None:
            return None
        if producer.op == "reshape" and keeps_last_axis(graph, producer):
            tensor = producer.inputs[0]
            continue
        if producer.op in AFFINE_FOLD_TARGETS and activation_range(producer) == ir.NO_ACTIVATION:
            return producer
        return None
    return None


def scaled_weights(op: str, weights: np.ndarray, scale: np.ndarray) -> np.ndarray:
    if op == "depthwise_conv2d":  # [1, KH, KW, C*m]: output channel on the last axis
        return weights * scale
    return weights * scale.reshape((-1,) + (1,) * (weights.ndim - 1))  # OHWI, [O, K]


def fold_affine_into_producer(graph: ir.Graph) -> ir.Graph | None:
    """conv/FC → 1×1 depthwise (BatchNormalization, Add/Mul by a per-channel constant): scale the
    producer's weights and bias; the depthwise becomes a same-shape reshape that then vanishes."""
    index = Index.of(graph)
    for affine in nodes_of(graph, "depthwise_conv2d"):
        if not is_channel_affine(graph, affine):
            continue
        producer = affine_source(graph, index, affine)
        if (
            producer is None
            or "weight_scales" in producer.attrs  # stored int8 weights of a pre-quantized model stay as they are
            or graph.const(producer.inputs[1]) is None
            or graph.const(producer.inputs[2]) is None
        ):
            continue
        scale = graph.const(affine.inputs[1]).reshape(-1)
        shift = graph.const(affine.inputs[2])
        tensors = dict(graph.tensors)
        weights = scaled_weights(producer.op, graph.const(producer.inputs[1]), scale)
        bias = graph.const(producer.inputs[2]) * scale + shift
        new_weights = add_constant(tensors, f"{producer.inputs[1]}__folded", weights)
        new_bias = add_constant(tensors, f"{producer.inputs[2]}__folded", bias)
        act_min, act_max = activation_range(affine)
        folded = producer.replace(
            inputs=(producer.inputs[0], new_weights, new_bias),
            attrs={**producer.attrs, "act_min": act_min, "act_max": act_max},
        )
        out_shape = shape_of(graph, affine.outputs[0])
        passthrough = ir.Node("reshape", affine.name, affine.inputs[:1], affine.outputs, {"shape": out_shape})
        return with_nodes_replaced(graph, {id(producer): [folded], id(affine): [passthrough]}, tensors)
    return None


def fuse_clip_into_producer(graph: ir.Graph) -> ir.Graph | None:
    """Relu/ReLU6/Clip after an op that can clamp its own output: intersect the ranges."""
    index = Index.of(graph)
    for clip in nodes_of(graph, "clip"):
        producer = index.producer(clip.inputs[0], FUSABLE_ACTIVATION_OPS)
        if producer is None or index.sole_consumer(clip.inputs[0]) is not clip:
            continue
        low, high = activation_range(producer)
        attrs = {
            **producer.attrs,
            "act_min": max(low, clip.attrs["act_min"]),
            "act_max": min(high, clip.attrs["act_max"]),
        }
        fused = producer.replace(outputs=clip.outputs, attrs=attrs)
        tensors = {k: v for k, v in graph.tensors.items() if k != clip.inputs[0]}
        return with_nodes_replaced(graph, {id(producer): [fused], id(clip): []}, tensors)
    return None


def softmax_over_last_axis(graph: ir.Graph) -> ir.Graph | None:
    """A softmax over another axis: transpose that axis last, softmax, transpose back."""
    for node in nodes_of(graph, "softmax"):
        shape = shape_of(graph, node.inputs[0])
        axis = node.attrs.get("axis", len(shape) - 1)
        if axis == len(shape) - 1:
            continue
        perm = tuple(a for a in range(len(shape)) if a != axis) + (axis,)
        tensors = dict(graph.tensors)
        moved = add_activation(tensors, f"{node.inputs[0]}__axis_last", transposed_shape(shape, perm))
        result = add_activation(tensors, f"{node.outputs[0]}__axis_last", transposed_shape(shape, perm))
        nodes = [
            ir.Node("transpose", node.name, node.inputs, (moved,), {"perm": perm}),
            node.replace(inputs=(moved,), outputs=(result,), attrs={**node.attrs, "axis": len(shape) - 1}),
            ir.Node("transpose", node.name, (result,), node.outputs, {"perm": inverse(perm)}),
        ]
        return with_nodes_replaced(graph, {id(node): nodes}, tensors)
    return None


def permuted_axis(moved: np.ndarray) -> tuple[int, tuple[int, ...]] | None:
    """(axis, indices) when ``moved``, a rearrangement of ``np.arange(size).reshape(shape)``, takes
    whole slices along one non-batch axis in another order: ``moved == np.take(source, indices, axis)``."""
    source = np.arange(moved.size).reshape(moved.shape)
    for axis in range(1, moved.ndim):
        first_row = np.moveaxis(moved, axis, -1).reshape(-1, moved.shape[axis])[0]
        indices = np.unravel_index(first_row, moved.shape)[axis]
        if np.array_equal(np.take(source, indices, axis=axis), moved):
            return axis, tuple(int(i) for i in indices)
    return None


def gather_along_axis(tensors: dict[str, ir.Tensor], first: ir.Node, last: ir.Node,
                      moved: np.ndarray) -> list[ir.Node] | None:
    """A reshape -> transpose -> reshape back to the input's shape that only reorders whole slices along
    one axis (``moved``: where each output element comes from): a gather_channels over that axis, moved
    last between transposes (for NCHW channels the NCHW <-> NHWC ones, which the layout rewrites cancel)."""
    found = permuted_axis(moved)
    if found is None or found[1] == tuple(range(len(found[1]))):
        return None
    axis, indices = found
    perm = ir.axis_last_perm(moved.ndim, axis)
    to_last = add_activation(tensors, f"{first.name}__channels_last", transposed_shape(moved.shape, perm))
    gathered = add_activation(tensors, f"{first.name}__gathered", transposed_shape(moved.shape, perm))
    return [ir.Node("transpose", first.name, first.inputs, (to_last,), {"perm": perm}),
            ir.Node("gather_channels", first.name, (to_last,), (gathered,), {"indices": indices}),
            ir.Node("transpose", first.name, (gathered,), last.outputs, {"perm": inverse(perm)})]


def gather_of_vector(tensors: dict[str, ir.Tensor], first: ir.Node, last: ir.Node,
                     moved: np.ndarray, in_shape: tuple[int, ...]) -> list[ir.Node] | None:
    """The same chain on a tensor with one dim above 1 (a shuffle after global pooling, [1, 1, 1, C] in
    NHWC), whatever the output's shape: reshapes (free) around a gather_channels of the whole vector."""
    if sum(d > 1 for d in in_shape) > 1 or np.array_equal(moved, np.arange(moved.size)):
        return None
    out_shape = tensors[last.outputs[0]].shape
    row = add_activation(tensors, f"{first.name}__row", (1, moved.size))
    gathered = add_activation(tensors, f"{first.name}__gathered", (1, moved.size))
    return [ir.Node("reshape", first.name, first.inputs, (row,), {"shape": (1, moved.size)}),
            ir.Node("gather_channels", first.name, (row,), (gathered,), {"indices": tuple(int(i) for i in moved)}),
            ir.Node("reshape", first.name, (gathered,), last.outputs, {"shape": tuple(out_shape)})]


def channel_shuffle_to_gather(graph: ir.Graph) -> ir.Graph | None:
    """ShuffleNet's channel shuffle, ``Reshape [N, g, C/g, H, W] -> Transpose [0, 2, 1, 3, 4] -> Reshape
    [N, C, H, W]`` as both exporters write it (and any such chain that only reorders whole slices along
    one axis, or the elements of a vector) becomes one gather_channels: a per-pixel permutation, not a
    rank-5 transpose."""
    index = Index.of(graph)
    for first in nodes_of(graph, "reshape"):
        middle = index.sole_consumer(first.outputs[0])
        last = index.sole_consumer(middle.outputs[0]) if middle is not None and middle.op == "transpose" else None
        if last is None or last.op != "reshape":
            continue
        shape = shape_of(graph, first.inputs[0])
        moved = np.arange(math.prod(shape)).reshape(shape_of(graph, first.outputs[0])).transpose(middle.attrs["perm"])
        tensors = dict(graph.tensors)
        if shape_of(graph, last.outputs[0]) == shape:
            nodes = gather_along_axis(tensors, first, last, moved.reshape(shape))
        else:
            nodes = gather_of_vector(tensors, first, last, moved.reshape(-1), shape)
        if nodes is not None:
            return with_nodes_replaced(graph, {id(first): [], id(middle): [], id(last): nodes}, tensors)
    return None


def slice_of_gathered_channels(graph: ir.Graph) -> ir.Graph | None:
    """A slice along the last axis only of a gather_channels output is itself a gather of the selected
    indices: ShuffleNetV2's shuffle followed by the next unit's channel split becomes two gathers of
    half the channels each, and the full shuffle (a whole copy) goes once nothing else reads it."""
    index = Index.of(graph)
    for node in nodes_of(graph, "slice"):
        gather = index.producer(node.inputs[0], "gather_channels")
        shape = shape_of(graph, node.inputs[0])
        starts, steps, sizes = node.attrs["starts"], node.attrs["steps"], node.attrs["sizes"]
        if gather is None or any(starts[a] != 0 or sizes[a] != shape[a] for a in range(len(shape) - 1)):
            continue
        chosen = gather.attrs["indices"][starts[-1]::steps[-1]][:sizes[-1]]
        merged = ir.Node("gather_channels", node.name, gather.inputs, node.outputs, {"indices": tuple(chosen)})
        return with_nodes_replaced(graph, {id(node): [merged]})
    return None

def uniform_positive_factor(graph: ir.Graph, node: ir.Node) -> float | None:
    """c when ``node`` computes x * c for one c > 0, with no clamp: a ``mul`` by a constant of equal values,
    or the 1x1 depthwise (zero bias) a Mul by a scalar on a rank-4 tensor loads as; else None."""
    if activation_range(node) != ir.NO_ACTIVATION:
        return None
    if node.op == "mul":
        values = [graph.const(name) for name in node.inputs]
        factor = next((v for v in values if v is not None), None)
    elif is_channel_affine(graph, node) and not np.any(graph.const(node.inputs[2])):
        factor = graph.const(node.inputs[1])
    else:
        return None
    if factor is None or sum(graph.const(name) is None for name in node.inputs) != 1:
        return None
    flat = factor.reshape(-1)
    return float(flat[0]) if flat.size and flat[0] > 0 and np.all(flat == flat[0]) else None


def fold_scale_into_batch_matmul(graph: ir.Graph) -> ir.Graph | None:
    """batch_matmul → x * c (c > 0: attention's 1/sqrt(d)), with transposes around the product that cancel:
    the batch matmul computes alpha * (A B^T) itself (its requantization takes the factor; no layer, no
    rounding of its own)."""
    index = Index.of(graph)
    for matmul in nodes_of(graph, "batch_matmul"):
        tensor, chain, factor, perm = matmul.outputs[0], [], None, None
        while (node := index.sole_consumer(tensor)) is not None:
            if node.op == "transpose":
                perm = tuple(node.attrs["perm"]) if perm is None else composed(perm, tuple(node.attrs["perm"]))
            elif factor is None and (found := uniform_positive_factor(graph, node)) is not None:
                factor = found
            else:
                break
            chain.append(node)
            tensor = node.outputs[0]
            if factor is not None and (perm is None or perm == tuple(range(len(perm)))):
                break
        if factor is None or (perm is not None and perm != tuple(range(len(perm)))):
            continue
        attrs = {**matmul.attrs, "alpha": matmul.attrs.get("alpha", 1.0) * factor}
        folded = matmul.replace(outputs=(tensor,), attrs=attrs)
        tensors = {k: v for k, v in graph.tensors.items() if k not in {n.outputs[0] for n in [matmul, *chain[:-1]]}}
        return with_nodes_replaced(graph, {id(matmul): [folded], **{id(n): [] for n in chain}}, tensors)
    return None


REWRITES: list[Rewrite] = [
    remove_dead_nodes,
    remove_unused_tensors,
    remove_identity_reshape,
    remove_identity_transpose,
    remove_zero_pad,
    merge_consecutive_transposes,
    merge_consecutive_reshapes,
    nhwc_graph_input,
    nhwc_graph_output,
    pull_input_transpose_above_elementwise,
    transpose_of_unit_dims_to_reshape,
    push_transpose_through_unary,
    push_transpose_through_binary,
    push_transpose_through_concat,
    push_transpose_through_pad,
    reshape_nhwc_before_fully_connected,
    fold_pad_into_conv,
    fold_affine_into_producer,
    fuse_clip_into_producer,
    softmax_over_last_axis,
    channel_shuffle_to_gather,
    slice_of_gathered_channels,
    push_reshape_through_elementwise,
    push_transpose_through_unit_reshape,
    fold_scale_into_batch_matmul,
]
