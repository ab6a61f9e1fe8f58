"""Mixed precision: which float IR nodes run with int16 activations (TFLite's 16x8 scheme), checked
before lowering.

A node "in int16" reads int16 inputs and writes an int16 output (symmetric, zero point 0) with the
s16 kernel of its op; its weights stay int8 (per channel) and its bias becomes int64. Where an int8
tensor feeds an int16 node, or the other way round, the lowering inserts a requantize layer. The model's
input stays int8 (a first layer in int16 reads it converted). A model output written by an int16 node
is int16 in the C API (`int16_t *output`, its scale in the header): asked for with the node's name or
`outputs`, it is what removes the int8 rounding of the logits.

Ops with an int16 form: conv, depthwise conv, fully connected, add, max and average pooling. A reshape
takes the precision of its input (it only moves bytes). Asking for int16 on any other op is an error
that names the op, rather than a silent int8 fallback: the user asked for precision that would not be
delivered. `--int16 auto` only considers ops with an int16 form.
"""

from __future__ import annotations

from collections.abc import Iterable

from mcuq.errors import McuqError
from mcuq.ir.graph import Graph, Node
from mcuq.ir.ops import op_info, ops_where

INT16_OPS = ops_where(lambda op: op.int16)
FOLLOWS_INPUT = ops_where(lambda op: op.follows_input_precision)  # no arithmetic: keeps its input's precision


def has_int16_form(graph: Graph, node: Node) -> bool:
    """Whether ``node`` can run in int16: its op has an int16 kernel, and for an elementwise op of two
    inputs, they are activations of the output's shape (the broadcasting kernels are int8 only)."""
    if node.op not in INT16_OPS:
        return False
    if op_info(node.op).elementwise_inputs != 2:
        return True
    shape = graph.tensors[node.outputs[0]].shape
    return all(not graph.tensors[name].is_constant and graph.tensors[name].shape == shape for name in node.inputs)


def boundary_name(tensor: str, dtype: str) -> str:
    """The name of ``tensor`` converted to ``dtype`` at a precision boundary."""
    return f"{tensor}@{dtype}"


OUTPUTS = "outputs"  # in an --int16 list: the layers that write the model's outputs (int16 logits)


def output_writers(graph: Graph) -> list[str]:
    """The layers with an int16 form whose output is a model output (looking back through reshapes)."""
    found = []
    for name in graph.outputs:
        node = graph.producer(name)
        while node is not None and node.op in FOLLOWS_INPUT:
            node = graph.producer(node.inputs[0])
        if node is None or node.op not in INT16_OPS:
            what = "a model input" if node is None else f"a {node.op}"
            raise McuqError(f"--int16 {OUTPUTS}: model output {name!r} is written by {what}, which has no int16 "
                            f"kernel; int16 covers {', '.join(sorted(INT16_OPS))}")
        found.append(node.name)
    return found


def resolve(graph: Graph, requested: Iterable[str]) -> frozenset[str]:
    """The node names to run in int16, checked: each must name a node whose op has an int16 form (other
    nodes of the same name stay int8, see `node_dtype`).
    `OUTPUTS` (unless a layer has that name) stands for the layers that write the model's outputs."""
    by_name: dict[str, list[Node]] = {}
    for node in graph.nodes:
        by_name.setdefault(node.name, []).append(node)
    names = []
    for n in requested:
        names.extend(output_writers(graph) if n == OUTPUTS and n not in by_name else [n] if n else [])
    unknown = [n for n in names if n not in by_name]
    if unknown:
        listing = ", ".join(node.name for node in graph.nodes if node.op in INT16_OPS)
        raise McuqError(f"--int16: no layer named {', '.join(map(repr, unknown))}; layers with an int16 form: "
                        f"{listing or 'none'} (names as in report.md)")
    unsupported = [by_name[n][0] for n in names if not any(has_int16_form(graph, node) for node in by_name[n])]
    if unsupported:
        node = unsupported[0]
        raise McuqError(f"--int16: layer {node.name!r} is a {node.op}, which has no int16 kernel; int16 covers "
                        f"{', '.join(sorted(INT16_OPS))} (reshapes follow their input; add of two activations "
                        "of one shape); keep it int8")
    return frozenset(names)


def node_dtype(node: Node, int16_nodes: frozenset[str], input_dtype: str) -> str:
    """The activation dtype ``node`` runs in: int16 when chosen and its op has an int16 form, its input's
    for a reshape, else int8. A name may stand for several nodes: the passes name a transpose they move
    past an op (or add around one) after that op, and that transpose stays int8."""
    if node.op in FOLLOWS_INPUT:
        return input_dtype
    return "int16" if node.name in int16_nodes and node.op in INT16_OPS else "int8"
