"""Pre-quantized ONNX ("QDQ": QuantizeLinear/DequantizeLinear pairs) → a float ONNX model that keeps
the file's quantization, for the rest of the frontend.

Exporters (ONNX Runtime's ``quantize_static``, PyTorch/Brevitas/NNCF QAT, tf2onnx of an int8 TFLite
model) write an int8 model as float ops between DequantizeLinear (DQ) and QuantizeLinear (Q) nodes:

    DQ(int8 W, s_w[c]) ─┐
    DQ(int32 b, s_b[c]) ─┼─▶ Conv ─▶ Relu ─▶ Q(s, zp) ─▶ int8 ─▶ [Reshape, Transpose, ...] ─▶ DQ(s, zp) ─▶ next op
    DQ(int8 x, s_x, zp_x)┘

`canonicalize` rewrites that into the canonical form the loader's handlers understand, a model that
ONNX Runtime still runs with the same results:

* a DQ of a constant (weights, bias) becomes a float initializer of its dequantized value; the stored
  integers and scales are kept in ``QdqModel.constants`` under that initializer's name, so that the
  lowering uses the file's int8 weights and int32 bias instead of quantizing again;
* every quantized activation is a float tensor preceded by a Q→DQ pair (a "fake quantization" whose
  scale and zero point the loader turns into an IR ``fake_quant`` node); int8 shape ops between a Q and
  its DQs (Reshape, Transpose, ...) now move float values, and the DQs become Identity;
* int8 graph inputs and outputs become float32 (the real values); their file quantization is kept in
  ``QdqModel.io_quant`` so that data and results can be exchanged in the file's own int8 form;
* MatMul followed by the Add of a quantized bias becomes one Gemm, so that the int32 bias stays exact.

Patterns mcuq cannot compile bit-exactly raise a `ModelError` naming the node and what to change.
uint8 activations are accepted: (s, zp) on uint8 is the same real grid as (s, zp - 128) on int8.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mcuq.errors import ModelError

QUANTIZE, DEQUANTIZE = "QuantizeLinear", "DequantizeLinear"

#: Ops that move quantized values without arithmetic: their output keeps the input's quantization.
INT8_SHAPE_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "MaxPool"})

#: ONNX's operator-oriented quantized ops: a different format, not compiled.
OPERATOR_ORIENTED_OPS = frozenset(
    {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "QLinearAdd", "QLinearMul",
     "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSoftmax", "QLinearSigmoid",
     "QLinearLeakyRelu", "DynamicQuantizeLinear"}
)

INT8_TYPES = {TensorProto.INT8: "int8", TensorProto.UINT8: "uint8"}


@dataclass(frozen=True)
class ConstQuant:
    """A constant as the model file stores it: ``real = (values - 0) * scales`` along ``axis``."""

    values: np.ndarray  # the stored integers: int8 weights or int32 bias
    scales: np.ndarray  # float32; one value when per tensor
    axis: int | None  # None when per tensor


@dataclass(frozen=True)
class ActQuant:
    """The quantization of an activation, in the int8 domain (a uint8 zero point minus 128)."""

    scale: float
    zero_point: int


@dataclass
class QdqModel:
    model: onnx.ModelProto
    constants: dict[str, ConstQuant] = field(default_factory=dict)
    io_quant: dict[str, ActQuant] = field(default_factory=dict)


def has_qdq(model: onnx.ModelProto) -> bool:
    return any(n.op_type in (QUANTIZE, DEQUANTIZE) or n.op_type in OPERATOR_ORIENTED_OPS for n in model.graph.node)


def canonicalize(model: onnx.ModelProto) -> QdqModel:
    """The canonical float form of a QDQ model (see the module docstring); a model without Q/DQ
    nodes is returned unchanged. ``model`` must be sorted topologically."""
    if not has_qdq(model):
        return QdqModel(model)
    reject_operator_oriented(model)
    work = Rewriter(model)
    work.fold_constant_quantize()
    work.fold_constant_dequantize()
    work.fake_quantize_activations()
    work.fuse_matmul_bias()
    return QdqModel(work.result(), work.constants, work.io_quant)


def reject_operator_oriented(model: onnx.ModelProto) -> None:
    for node in model.graph.node:
        if node.op_type in OPERATOR_ORIENTED_OPS:
            raise ModelError(
                f"node {label(node)!r} ({node.op_type}) is operator-oriented quantization, which mcuq does not "
                "compile; export the model in QDQ format (ONNX Runtime: quantize_static(..., "
                "quant_format=QuantFormat.QDQ)) or pass the float model with calibration data"
            )


def label(node: onnx.NodeProto) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


def quant_axis(node: onnx.NodeProto, rank: int) -> int:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("block_size", 0):
        raise ModelError(
            f"node {label(node)!r} ({node.op_type}): blocked quantization (block_size) is not supported; "
            "quantize per tensor or per channel"
        )
    return int(attrs.get("axis", 1)) % max(rank, 1)


def round_half_even(x: np.ndarray) -> np.ndarray:
    return np.round(x)  # numpy rounds half to even, as QuantizeLinear does


class Rewriter:
    """One pass per method over a working copy of the graph."""

    def __init__(self, model: onnx.ModelProto):
        self.model = onnx.ModelProto()
        self.model.CopyFrom(model)
        self.graph = self.model.graph
        self.inits = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        self.nodes: list[onnx.NodeProto] = list(self.graph.node)
        self.constants: dict[str, ConstQuant] = {}
        self.io_quant: dict[str, ActQuant] = {}
        self.names = set(self.inits) | {v.name for v in self.graph.input} | {
            o for n in self.nodes for o in n.output}

    # -- helpers ---------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.names:
            k += 1
            name = f"{hint}_{k}"
        self.names.add(name)
        return name

    def const(self, name: str) -> np.ndarray | None:
        return self.inits.get(name) if name else None

    def scale_and_zero_point(self, node: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray]:
        scale = self.const(node.input[1])
        if scale is None:
            raise ModelError(f"node {label(node)!r} ({node.op_type}): the scale must be a constant")
        zp_name = node.input[2] if len(node.input) > 2 else ""
        zp = self.const(zp_name)
        if zp_name and zp is None:
            raise ModelError(f"node {label(node)!r} ({node.op_type}): the zero point must be a constant")
        if zp is None:
            zp = np.zeros(scale.shape, np.uint8)  # ONNX's default: uint8, zero point 0
        return scale.astype(np.float32), zp

    def add_initializer(self, name: str, array: np.ndarray) -> None:
        self.inits[name] = array
        self.names.add(name)

    def activation_quant(self, node: onnx.NodeProto) -> ActQuant:
        """The per-tensor (scale, zero point) of an activation Q or DQ node, in the int8 domain."""
        scale, zp = self.scale_and_zero_point(node)
        if scale.size != 1:
            raise ModelError(
                f"node {label(node)!r} ({node.op_type}) quantizes an activation per channel; int8 kernels "
                "take one scale and zero point per activation tensor: quantize activations per tensor"
            )
        if zp.dtype not in (np.int8, np.uint8):
            raise ModelError(
                f"node {label(node)!r} ({node.op_type}) quantizes an activation to {zp.dtype}; mcuq compiles "
                "int8 or uint8 activations"
            )
        offset = -128 if zp.dtype == np.uint8 else 0
        return ActQuant(float(scale.reshape(-1)[0]), int(zp.reshape(-1)[0]) + offset)

    # -- constants ---------------------------------------------------------------------------
    def fold_constant_quantize(self) -> None:
        """Q of a constant float tensor (fake-quantized weights) → its integers as an initializer."""
        kept = []
        for node in self.nodes:
            x = self.const(node.input[0]) if node.op_type == QUANTIZE else None
            if x is None:
                kept.append(node)
                continue
            scale, zp = self.scale_and_zero_point(node)
            shape = [1] * x.ndim
            if scale.size > 1:
                shape[quant_axis(node, x.ndim)] = -1
            info = np.iinfo(zp.dtype)
            q = round_half_even(x.astype(np.float64) / scale.reshape(shape)) + zp.reshape(shape).astype(np.int64)
            self.add_initializer(node.output[0], np.clip(q, info.min, info.max).astype(zp.dtype))
        self.nodes = kept

    def fold_constant_dequantize(self) -> None:
        """DQ of stored integers (weights, bias) → a float initializer; the integers go to ``constants``."""
        kept = []
        for node in self.nodes:
            q = self.const(node.input[0]) if node.op_type == DEQUANTIZE else None
            if q is None:
                kept.append(node)
                continue
            scale, zp = self.scale_and_zero_point(node)
            axis = quant_axis(node, q.ndim) if scale.size > 1 else None
            if np.any(zp != 0) or q.dtype not in (np.int8, np.int32):
                raise ModelError(
                    f"node {label(node)!r} (DequantizeLinear) holds {q.dtype} constants with zero point "
                    f"{np.unique(zp)[:4].tolist()}; int8 kernels take symmetric int8 weights (zero point 0) "
                    "and int32 bias: quantize weights as QuantType.QInt8 with symmetric ranges"
                )
            shape = [1] * q.ndim
            if axis is not None:
                shape[axis] = -1
            real = (q.astype(np.float32) * scale.reshape(shape)).astype(np.float32)
            self.add_initializer(node.output[0], real)
            self.constants[node.output[0]] = ConstQuant(q, scale.reshape(-1), axis)
        self.nodes = kept

    # -- activations --------------------------------------------------------------------------
    def fake_quantize_activations(self) -> None:
        """Quantized activations → float tensors behind a Q→DQ pair (see the module docstring)."""
        quant: dict[str, ActQuant] = {}  # integer-typed tensors of the file and their quantization
        nodes: list[onnx.NodeProto] = []
        for value in self.graph.input:
            if value.type.tensor_type.elem_type in INT8_TYPES:
                q = self.integer_input(value)
                pair = self.fake_quant_pair(value.name, q)
                quant[pair[-1].output[0]] = q  # readers of the input read the pair's output instead
                nodes.extend(pair)
        for node in self.nodes:
            nodes.extend(self.rewrite_node(node, quant))
        for value in self.graph.output:
            if value.name in quant:
                self.io_quant[value.name] = quant[value.name]
                value.type.tensor_type.elem_type = TensorProto.FLOAT
        self.nodes = nodes

    def integer_input(self, value: onnx.ValueInfoProto) -> ActQuant:
        """An int8 graph input: its quantization is the one of the first DQ that reads it (possibly
        through shape ops). Turned into a float input of the real values."""
        if value.type.tensor_type.elem_type != TensorProto.INT8:
            raise ModelError(
                f"input {value.name!r} is uint8; mcuq's generated code takes int8 inputs: give the model a "
                "float or int8 input (int8 = uint8 - 128 with zero point - 128)"
            )
        frontier = {value.name}
        for node in self.nodes:
            if not node.input or node.input[0] not in frontier:
                continue
            if node.op_type == DEQUANTIZE:
                q = self.activation_quant(node)
                self.io_quant[value.name] = q
                value.type.tensor_type.elem_type = TensorProto.FLOAT
                return q
            if node.op_type in INT8_SHAPE_OPS:
                frontier.add(node.output[0])
        raise ModelError(
            f"input {value.name!r} is int8 but no DequantizeLinear reads it; mcuq cannot tell its scale"
        )

    def fake_quant_pair(self, source: str, q: ActQuant) -> list[onnx.NodeProto]:
        """Q→DQ after a graph input ``source``: every later reader of it reads the pair's output."""
        dq_out = self.fresh(f"{source}__dequantized")
        for node in self.nodes:
            node.input[:] = [dq_out if i == source else i for i in node.input]
        return self.pair(source, q, dq_out, f"{source}__input")

    def pair(self, x: str, q: ActQuant, y: str, hint: str) -> list[onnx.NodeProto]:
        scale = self.fresh(f"{hint}__scale")
        zp = self.fresh(f"{hint}__zero_point")
        self.add_initializer(scale, np.array(q.scale, np.float32))
        self.add_initializer(zp, np.array(q.zero_point, np.int8))
        q_out = self.fresh(f"{hint}__int8")
        return [helper.make_node(QUANTIZE, [x, scale, zp], [q_out], name=f"{hint}__quantize"),
                helper.make_node(DEQUANTIZE, [q_out, scale, zp], [y], name=f"{hint}__dequantize")]

    def rewrite_node(self, node: onnx.NodeProto, quant: dict[str, ActQuant]) -> list[onnx.NodeProto]:
        data = node.input[0] if node.input else ""
        if node.op_type == QUANTIZE:
            if data in quant:
                raise ModelError(f"node {label(node)!r} (QuantizeLinear) reads {data!r}, which is already int8")
            q = self.activation_quant(node)
            quant[node.output[0]] = q
            return self.pair(data, q, node.output[0], label(node))
        if node.op_type == DEQUANTIZE:
            if data not in quant:
                raise ModelError(
                    f"node {label(node)!r} (DequantizeLinear) reads {data!r}, which is neither a constant nor "
                    "the output of a QuantizeLinear or an int8 input; mcuq cannot tell its quantization"
                )
            q = self.activation_quant(node)
            if q != quant[data]:
                raise ModelError(
                    f"node {label(node)!r} (DequantizeLinear) reads {data!r} with scale {q.scale!r}, zero point "
                    f"{q.zero_point} but it was quantized with scale {quant[data].scale!r}, zero point "
                    f"{quant[data].zero_point}; give the Q and DQ of one tensor the same parameters"
                )
            return [helper.make_node("Identity", [data], [node.output[0]], name=label(node))]
        readers = [name for name in node.input if name in quant]
        if node.op_type in INT8_SHAPE_OPS and readers == [data]:
            quant[node.output[0]] = quant[data]
            return [node]
        if readers:
            raise ModelError(
                f"node {label(node)!r} ({node.op_type}) computes on the int8 tensor {readers[0]!r}; only "
                f"DequantizeLinear and shape ops ({', '.join(sorted(INT8_SHAPE_OPS))}) may read int8 "
                "tensors: put a DequantizeLinear before it"
            )
        return [node]

    # -- MatMul + bias ------------------------------------------------------------------------
    def fuse_matmul_bias(self) -> None:
        """MatMul(x, W) → Add(·, b) with quantized W and int32 b → Gemm(x, W, b): the bias then reaches
        the lowering with the layer (an Add of a constant would only be folded into it as floats)."""
        readers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.nodes:
            for name in node.input:
                readers.setdefault(name, []).append(node)
        outputs = {v.name for v in self.graph.output}
        replace: dict[int, onnx.NodeProto | None] = {}
        for node in self.nodes:
            if node.op_type != "MatMul" or node.input[1] not in self.constants or node.output[0] in outputs:
                continue
            users = readers.get(node.output[0], [])
            if len(users) != 1 or users[0].op_type != "Add":
                continue
            add = users[0]
            bias = next((i for i in add.input if i != node.output[0]), "")
            weights = self.inits[node.input[1]]
            if (bias not in self.constants or self.constants[bias].values.dtype != np.int32
                    or weights.ndim != 2 or self.inits[bias].shape != (weights.shape[1],)):
                continue
            gemm = helper.make_node("Gemm", [node.input[0], node.input[1], bias], [add.output[0]], name=label(node))
            replace[id(node)] = gemm
            replace[id(add)] = None
        self.nodes = [replace.get(id(n), n) for n in self.nodes if replace.get(id(n), n) is not None]

    # -- result -------------------------------------------------------------------------------
    def result(self) -> onnx.ModelProto:
        used = {name for node in self.nodes for name in node.input}
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)
        del self.graph.initializer[:]
        self.graph.initializer.extend(
            numpy_helper.from_array(np.asarray(a), name) for name, a in self.inits.items() if name in used)
        self.constants = {k: v for k, v in self.constants.items() if k in used}
        del self.graph.value_info[:]
        return self.model
