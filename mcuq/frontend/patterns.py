"""Activation functions that exporters write as several ONNX nodes, recognized as the one ONNX op they
compute, so that the pipeline runs them as one table lookup instead of a chain of int8 ops (each of
which would round, and Erf is no op of mcuq's): GELU, ``x * 0.5 * (1 + Erf(x / sqrt 2))`` in any order
of the two products (torch below opset 20, both exporters), becomes ``Gelu``.

(``x * Sigmoid(x)`` and ``x * HardSigmoid(x)``, SiLU and HardSwish, are recognized by the Mul handler,
`onnx_ops.gated_by_itself`, as their parts are ops of their own.)

Runs on the folded node list (constants known, shapes inferred): a replacement node writes the last
node's output, whose shape is known already. Intermediate tensors must have no other reader and not be
graph outputs, else the pattern is left as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper


@dataclass
class Graph:
    """The node list with who reads each tensor."""

    nodes: list[onnx.NodeProto]
    constants: dict[str, np.ndarray]
    outputs: frozenset[str]

    def readers(self, name: str) -> list[onnx.NodeProto]:
        return [node for node in self.nodes if name in node.input]

    def sole_reader(self, name: str, op: str) -> onnx.NodeProto | None:
        """The one node (of type ``op``) that reads ``name``, which is no graph output; else None."""
        readers = self.readers(name)
        if name in self.outputs or len(readers) != 1 or readers[0].op_type != op:
            return None
        return readers[0]

    def producer(self, name: str, op: str) -> onnx.NodeProto | None:
        node = next((n for n in self.nodes if name in n.output), None)
        return node if node is not None and node.op_type == op else None

    def is_scalar(self, name: str, value: float) -> bool:
        array = self.constants.get(name)
        return array is not None and array.size == 1 and math.isclose(float(array.reshape(-1)[0]), value,
                                                                     rel_tol=1e-4)


def other_input(node: onnx.NodeProto, name: str) -> str | None:
    """The input of a two-input node that is not ``name`` (None when both are ``name``)."""
    rest = [n for n in node.input if n != name]
    return rest[0] if len(rest) == 1 else None


Match = tuple[list[onnx.NodeProto], onnx.NodeProto]  # the nodes replaced, the node replacing them


def erf_gelu(g: Graph, erf: onnx.NodeProto) -> Match | None:
    """``x * 0.5 * (1 + Erf(x / sqrt 2))`` (Div by sqrt 2 or Mul by its inverse) → Gelu."""
    if erf.op_type != "Erf":
        return None
    scaled = erf.input[0]
    div = g.producer(scaled, "Div") or g.producer(scaled, "Mul")
    if div is None or g.sole_reader(scaled, "Erf") is None:
        return None
    x, k = div.input
    factor = math.sqrt(2.0) if div.op_type == "Div" else 1.0 / math.sqrt(2.0)
    if not g.is_scalar(k, factor):
        return None
    plus_one = g.sole_reader(erf.output[0], "Add")
    if plus_one is None or not g.is_scalar(other_input(plus_one, erf.output[0]) or "", 1.0):
        return None
    matched = [div, erf, plus_one]
    last = halves(g, plus_one.output[0], x, matched)
    if last is None:
        return None
    return matched, helper.make_node("Gelu", [x], [last], name=matched[-1].name or erf.name)


def halves(g: Graph, y: str, x: str, matched: list[onnx.NodeProto]) -> str | None:
    """Follow ``y`` through the products by ``x`` and by 0.5 (or by one ``Mul(x, 0.5)``), in either
    order, appending their nodes to ``matched``; the last product's output, or None."""
    wanted = {"x", "half"}
    while wanted:
        mul = g.sole_reader(y, "Mul")
        if mul is None:
            return None
        factor = other_input(mul, y)
        half_x = g.producer(factor or "", "Mul")
        if factor == x and "x" in wanted:
            wanted.discard("x")
        elif g.is_scalar(factor or "", 0.5) and "half" in wanted:
            wanted.discard("half")
        elif (wanted == {"x", "half"} and half_x is not None and g.sole_reader(factor, "Mul") is mul
              and x in half_x.input and g.is_scalar(other_input(half_x, x) or "", 0.5)):
            matched.append(half_x)
            wanted.clear()
        else:
            return None
        matched.append(mul)
        y = mul.output[0]
    return y


RULES: tuple[Callable[[Graph, onnx.NodeProto], Match | None], ...] = (erf_gelu,)


def fused_activations(nodes: list[onnx.NodeProto], constants: dict[str, np.ndarray],
                      outputs: list[str]) -> list[onnx.NodeProto]:
    """``nodes`` with each recognized pattern replaced by its one node, at the place of the pattern's
    last node (all its inputs are computed by then)."""
    g = Graph(list(nodes), constants, frozenset(outputs))
    for node in list(g.nodes):
        if not any(node is n for n in g.nodes):
            continue  # replaced by an earlier match
        for rule in RULES:
            match = rule(g, node)
            if match is not None:
                replaced, new = match
                ids = {id(n) for n in replaced}
                last = max(i for i, n in enumerate(g.nodes) if id(n) in ids)
                g.nodes[last] = new
                g.nodes = [n for n in g.nodes if id(n) not in ids]
                break
    return g.nodes
