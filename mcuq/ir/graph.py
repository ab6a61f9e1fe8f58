"""The float IR: a small graph of named tensors and nodes, channels-last (NHWC) inside.

The ONNX frontend produces it, `passes` rewrite it, `float_exec` runs it, and `quant` lowers it to the
int8 IR (`qir`). Nodes are frozen; a pass builds a new `Graph` rather than mutating one in place.

Op set (``Node.op``) and attributes. Every 4-D activation tensor is ``[N, H, W, C]``.

| op                 | inputs              | attrs                                                              |
|--------------------|---------------------|--------------------------------------------------------------------|
| conv2d             | x, w[O,KH,KW,I/g], b[O] | strides(h,w) dilations(h,w) pads(t,l,b,r) groups act_min act_max |
| depthwise_conv2d   | x, w[1,KH,KW,C*m], b[C*m] | strides dilations pads depth_multiplier act_min act_max     |
| fully_connected    | x[...,K], w[O,K], b[O] | act_min act_max (rows: every leading axis of x, e.g. [N,T,K])  |
| add, mul           | a, b (same shape)   | act_min act_max                                                    |
| max_pool, avg_pool | x                   | kernel(h,w) strides pads count_include_pad (avg only) act_min act_max |
| clip               | x                   | act_min act_max (ReLU is clip(0, inf), ReLU6 clip(0, 6))           |
| leaky_relu         | x                   | alpha                                                              |
| sigmoid, tanh      | x                   |                                                                    |
| softmax            | x                   | (over the last axis)                                               |
| concat             | x0, x1, ...         | axis (non-negative)                                                |
| reshape            | x                   | shape (tuple of ints, fully known)                                 |
| transpose          | x                   | perm                                                               |
| pad                | x                   | pads (begin_0..begin_{r-1}, end_0..end_{r-1}), value (float)      |
| fake_quant         | x                   | scale, zero_point (int8): y = (clip(round(x/scale)+zp) - zp)*scale |
| slice              | x                   | starts, steps, sizes (per axis; axis 0 whole): a box with steps    |
| gather_channels    | x                   | indices (over the last axis): y[..., c] = x[..., indices[c]]       |
| lstm               | x[N,T,F], W, R, B, h0, c0 | reverse; outputs: h and c of each step [N,T,H]                |
| gru                | x[N,T,F], W, R, B, h0 | reverse; linear_before_reset=1; output: h of each step [N,T,H]    |

``lstm`` and ``gru`` run one direction with ONNX's gate order (LSTM i, o, f, c; GRU z, r, h): W [G*H, F],
R [G*H, H], B [2*G*H] (Wb then Rb), initial states [H].

``fake_quant`` carries a quantization the model file fixes (a QuantizeLinear/DequantizeLinear pair);
`mcuq.quant.fixed` takes these nodes out of the optimized graph before lowering. A conv2d,
depthwise_conv2d or fully_connected whose weights the file stores as integers has the attrs
``weight_scales`` (float32 [O], one per output channel, so ``round(w / weight_scales)`` gives the
stored int8 weights in any layout) and, for an int32 bias, ``bias_values`` (int [O]) and
``bias_scales`` (float32 [O]).

``act_min``/``act_max`` are the clamp of a fused activation in real units (``-inf``/``inf`` when none).
Constant inputs (weights, biases) are tensors with ``data`` set; activations have ``data is None``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from mcuq.ir.ops import OPS

NO_ACTIVATION = (-math.inf, math.inf)


def axis_last_perm(rank: int, axis: int) -> tuple[int, ...]:
    """The transpose that moves ``axis`` last, keeping the others in order: for NCHW's channels (rank 4,
    axis 1) the NCHW -> NHWC transpose, which the layout rewrites cancel. gather_channels works there."""
    return tuple(a for a in range(rank) if a != axis) + (axis,)


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    data: np.ndarray | None = field(default=None, compare=False)

    @property
    def is_constant(self) -> bool:
        return self.data is not None


@dataclass(frozen=True)
class Node:
    op: str
    name: str  # the ONNX node name it came from (for messages and the report)
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict = field(default_factory=dict, compare=False)

    def replace(self, **changes) -> Node:
        return dataclasses.replace(self, **changes)


@dataclass
class Graph:
    """A model: tensors by name, nodes in topological order, graph inputs and outputs.

    ``input_perms[name]`` is the permutation that takes the ONNX input layout to the IR layout
    (``(0, 2, 3, 1)`` when an NCHW input became NHWC, identity otherwise), so that callers can
    convert user data: ``ir_array = onnx_array.transpose(perm)``. ``output_perms`` likewise takes
    the IR output layout back to the ONNX one: ``onnx_array = ir_array.transpose(perm)``.
    """

    tensors: dict[str, Tensor]
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]
    input_perms: dict[str, tuple[int, ...]] = field(default_factory=dict)
    output_perms: dict[str, tuple[int, ...]] = field(default_factory=dict)
    io_quant: dict[str, tuple[float, int]] = field(default_factory=dict)
    name: str = "model"

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def producer(self, tensor: str) -> Node | None:
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def const(self, name: str) -> np.ndarray | None:
        t = self.tensors.get(name)
        return None if t is None else t.data

    def copy(self) -> Graph:
        return Graph(
            tensors=dict(self.tensors),
            nodes=list(self.nodes),
            inputs=list(self.inputs),
            outputs=list(self.outputs),
            input_perms=dict(self.input_perms),
            output_perms=dict(self.output_perms),
            io_quant=dict(self.io_quant),
            name=self.name,
        )

    def validate(self) -> None:
        """Check the invariants every stage relies on; raise AssertionError naming the culprit."""
        known = set(self.inputs) | {n for n, t in self.tensors.items() if t.is_constant}
        for node in self.nodes:
            assert node.op in OPS, f"node {node.name!r}: unknown IR op {node.op!r}"
            for name in node.inputs:
                assert name in known, f"node {node.name!r} reads {name!r} before it is produced"
            for name in node.outputs:
                assert name in self.tensors, f"node {node.name!r}: output {name!r} has no tensor"
                known.add(name)
        for name in self.outputs:
            assert name in known, f"graph output {name!r} is never produced"
