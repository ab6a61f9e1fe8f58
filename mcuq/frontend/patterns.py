"""Activation functions that exporters write as several ONNX nodes, recognized as the one ONNX op they
compute, so that the pipeline runs them as one table lookup instead of a chain of int8 ops (each of
which would round; Erf, Pow, Greater and Where are no ops of mcuq's):

- GELU, ``x * 0.5 * (1 + Erf(x / sqrt 2))`` in any order of the two products (torch below opset 20,
  both exporters): ``Gelu``; its tanh approximation, ``x * 0.5 * (1 + Tanh(sqrt(2 / pi) * (x + 0.044715
  x^3)))``: ``Gelu(approximate="tanh")``;
- Softplus with torch's linear tail, ``Where(x > 20, x, Softplus(x))`` (dynamo exporter): ``Softplus``;
- layer normalization over the last axis, ``(x - mean) / sqrt(var + eps) * gamma + beta`` as ReduceMean,
  Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add (torch's TorchScript exporter below opset 17):
  ``LayerNormalization``.

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


def product_by(g: Graph, name: str, factor: float, reader: str) -> tuple[onnx.NodeProto, str] | None:
    """(the Mul, its other operand) when ``name`` is ``Mul(a, factor)`` (either order) read only by one
    ``reader`` node; else None."""
    mul = g.producer(name, "Mul")
    if mul is None or g.sole_reader(name, reader) is None:
        return None
    for a, k in (tuple(mul.input), tuple(reversed(mul.input))):
        if g.is_scalar(k, factor):
            return mul, a
    return None


def erf_gelu(g: Graph, erf: onnx.NodeProto) -> Match | None:
    """``x * 0.5 * (1 + Erf(x / sqrt 2))`` (Div by sqrt 2 or Mul by its inverse) → Gelu."""
    if erf.op_type != "Erf":
        return None
    scaled = erf.input[0]
    div = g.producer(scaled, "Div")
    if div is not None and g.sole_reader(scaled, "Erf") is not None and g.is_scalar(div.input[1], math.sqrt(2.0)):
        x = div.input[0]
    elif (found := product_by(g, scaled, 1.0 / math.sqrt(2.0), "Erf")) is not None:
        div, x = found
    else:
        return None
    return gelu_tail(g, erf, x, [div], "none")


def tanh_gelu(g: Graph, tanh: onnx.NodeProto) -> Match | None:
    """``x * 0.5 * (1 + Tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))`` with x^3 as Pow(x, 3) (dynamo) or
    x * (x * x) (TorchScript) → Gelu(approximate="tanh")."""
    if tanh.op_type != "Tanh" or (scaled := product_by(g, tanh.input[0], math.sqrt(2.0 / math.pi), "Tanh")) is None:
        return None
    outer, inner = scaled
    add = g.producer(inner, "Add")
    if add is None or g.sole_reader(inner, "Mul") is not outer:
        return None
    for x, term in (tuple(add.input), tuple(reversed(add.input))):
        cubic = product_by(g, term, 0.044715, "Add")
        cube = cube_nodes(g, cubic[1], x) if cubic is not None else None
        if cube is not None:
            return gelu_tail(g, tanh, x, [*cube, cubic[0], add, outer], "tanh")
    return None


def cube_nodes(g: Graph, name: str, x: str) -> list[onnx.NodeProto] | None:
    """The nodes computing ``name`` = x^3, read only by one Mul: Pow(x, 3), or x * (x * x)."""
    if g.sole_reader(name, "Mul") is None:
        return None
    power = g.producer(name, "Pow")
    if power is not None:
        return [power] if power.input[0] == x and g.is_scalar(power.input[1], 3.0) else None
    cube = g.producer(name, "Mul")
    square_name = other_input(cube, x) if cube is not None and x in cube.input else None
    square = g.producer(square_name or "", "Mul")
    if square is None or list(square.input) != [x, x] or g.sole_reader(square_name, "Mul") is not cube:
        return None
    return [square, cube]


def gelu_tail(g: Graph, gate: onnx.NodeProto, x: str, head: list[onnx.NodeProto], approximate: str) -> Match | None:
    """GELU after its Erf or Tanh ``gate`` (computed from x by the ``head`` nodes): 1 + gate, then the
    products by x and 0.5 (`halves`)."""
    plus_one = g.sole_reader(gate.output[0], "Add")
    if plus_one is None or not g.is_scalar(other_input(plus_one, gate.output[0]) or "", 1.0):
        return None
    matched = [*head, gate, plus_one]
    last = halves(g, plus_one.output[0], x, matched)
    if last is None:
        return None
    return matched, helper.make_node("Gelu", [x], [last], name=matched[-1].name or gate.name, approximate=approximate)


def thresholded_softplus(g: Graph, where: onnx.NodeProto) -> Match | None:
    """``Where(x > t, x, Softplus(x))`` (torch's dynamo exporter, t = 20) → Softplus: for t >= 15 the two
    branches differ by log(1 + e^-x) < 3.1e-7, below float32's resolution at x."""
    if where.op_type != "Where":
        return None
    condition, above, below = where.input
    greater, softplus = g.producer(condition, "Greater"), g.producer(below, "Softplus")
    if greater is None or softplus is None:
        return None
    x = softplus.input[0]
    threshold = g.constants.get(greater.input[1])
    if (greater.input[0] != x or above != x or threshold is None or threshold.size != 1
            or float(threshold.reshape(-1)[0]) < 15.0
            or g.sole_reader(condition, "Where") is None or g.sole_reader(below, "Where") is None):
        return None
    return [greater, softplus, where], helper.make_node("Softplus", [x], [where.output[0]],
                                                       name=where.name or softplus.name)


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


def mean_over_last_axis(g: Graph, name: str, reader: str) -> onnx.NodeProto | None:
    """The ReduceMean over axis -1 (keepdims) that computes ``name``, read only by one ``reader``; else None."""
    mean = g.producer(name, "ReduceMean")
    if mean is None or g.sole_reader(name, reader) is None or len(mean.input) < 2:
        return None
    axes = g.constants.get(mean.input[1])
    keepdims = next((a.i for a in mean.attribute if a.name == "keepdims"), 1)
    return mean if axes is not None and axes.reshape(-1).tolist() == [-1] and keepdims == 1 else None


def affine_tail(g: Graph, y: str, matched: list[onnx.NodeProto]) -> tuple[str, str | None, str | None]:
    """Follow ``y`` through ``Mul(y, gamma)`` then ``Add(., beta)`` (each optional, constants, either
    order), appending their nodes to ``matched``: (the last output, gamma, beta)."""
    found: dict[str, str | None] = {"Mul": None, "Add": None}
    for op in ("Mul", "Add"):
        node = g.sole_reader(y, op)
        other = other_input(node, y) if node is not None else None
        if other is None or other not in g.constants:
            continue
        found[op] = other
        matched.append(node)
        y = node.output[0]
    return y, found["Mul"], found["Add"]


def layer_norm_chain(g: Graph, div: onnx.NodeProto) -> Match | None:
    """``(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * gamma + beta`` over the last axis, as
    torch's TorchScript exporter writes nn.LayerNorm below opset 17 (ReduceMean → Sub → Pow(2) →
    ReduceMean → Add(eps) → Sqrt → Div → Mul(gamma) → Add(beta)) → LayerNormalization(axis=-1)."""
    if div.op_type != "Div":
        return None
    centered, root = div.input
    sqrt, sub = g.producer(root, "Sqrt"), g.producer(centered, "Sub")
    if sqrt is None or sub is None or g.sole_reader(root, "Div") is None:
        return None
    x = sub.input[0]
    mean = mean_over_last_axis(g, sub.input[1], "Sub")
    plus_eps = g.producer(sqrt.input[0], "Add")
    if mean is None or mean.input[0] != x or plus_eps is None or g.sole_reader(sqrt.input[0], "Sqrt") is None:
        return None
    variance = next((name for name in plus_eps.input if g.producer(name, "ReduceMean") is not None), None)
    epsilon = g.constants.get(other_input(plus_eps, variance) or "") if variance else None
    variance_mean = mean_over_last_axis(g, variance, "Add") if epsilon is not None and epsilon.size == 1 else None
    square = g.producer(variance_mean.input[0], "Pow") if variance_mean is not None else None
    if (square is None or square.input[0] != centered or not g.is_scalar(square.input[1], 2.0)
            or g.sole_reader(square.output[0], "ReduceMean") is None
            or sorted(n.op_type for n in g.readers(centered)) != ["Div", "Pow"] or centered in g.outputs):
        return None
    matched = [mean, sub, square, variance_mean, plus_eps, sqrt, div]
    last, gamma, beta = affine_tail(g, div.output[0], matched)
    if gamma is None:
        return None  # LayerNormalization requires a Scale: a chain without one is left as it is
    inputs = [x, gamma] + ([beta] if beta else [])
    node = helper.make_node("LayerNormalization", inputs, [last], name=div.name or sqrt.name, axis=-1,
                            epsilon=float(epsilon.reshape(-1)[0]))
    return matched, node


RULES: tuple[Callable[[Graph, onnx.NodeProto], Match | None], ...] = (erf_gelu, tanh_gelu, thresholded_softplus,
                                                                     layer_norm_chain)


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
