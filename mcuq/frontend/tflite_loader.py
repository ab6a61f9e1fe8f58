"""Load a TensorFlow Lite flatbuffer (``.tflite``) into the float IR (`mcuq.ir`), as `onnx_loader` does
for ONNX.

The file is read with the ``tflite`` package (the schema's generated Python, an optional extra imported
only here, only when a .tflite is read). TFLite graphs are NHWC already and their kernels' weight layouts
are the IR's (conv OHWI, depthwise [1, KH, KW, C*m], fully connected [O, K]), so each operator maps to IR
nodes without transposes, through one handler per builtin op in ``HANDLERS``.

An int8 model (the TFLite converter's full-integer output) keeps its own quantization exactly as the QDQ
path does (`mcuq.frontend.qdq`): every int8 activation is written by its operator and then passes a
``fake_quant`` node with the file's scale and zero point (`mcuq.quant.fixed` turns those into facts about
tensors); int8 weights and int32 biases reach the lowering as the ``weight_scales`` / ``bias_values``
attributes of their layer; int8 graph inputs and outputs become real-valued, their quantization kept in
``Graph.io_quant``. A float model is plain float IR, calibrated like an ONNX model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcuq import ir
from mcuq.codegen.names import console_name
from mcuq.errors import McuqError, ModelError, ShapeError, UnsupportedOpError
from mcuq.frontend.onnx_loader import check_tensor_size, check_weight_values, translate_collecting_refusals
from mcuq.frontend.onnx_ops import IrBuilder, Shape, explicit_pads, stored_quant_attrs
from mcuq.frontend.qdq import ActQuant, ConstQuant

FILE_IDENTIFIER = b"TFL3"  # bytes 4..8 of every TFLite flatbuffer

# TensorType of the schema → numpy; other types (string, bool, complex, uint8, int16, ...) are refused.
DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64, 9: np.int8}
TYPE_NAMES = {0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 5: "STRING", 6: "BOOL",
              7: "INT16", 8: "COMPLEX64", 9: "INT8", 10: "FLOAT64"}

# ActivationFunctionType of the schema → the clamp in real units (`ir.NO_ACTIVATION` for none).
FUSED_ACTIVATIONS = {0: ir.NO_ACTIVATION, 1: (0.0, math.inf), 2: (-1.0, 1.0), 3: (0.0, 6.0)}
FUSED_ACTIVATION_NAMES = {4: "TANH", 5: "SIGN_BIT"}
PADDING_VALID = 1  # Padding of the schema: SAME = 0, VALID = 1


def is_tflite(path: str | Path) -> bool:
    """True when ``path`` names a TFLite flatbuffer: by its suffix, or by the file identifier inside."""
    path = Path(path)
    if path.suffix.lower() == ".tflite":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(8)[4:8] == FILE_IDENTIFIER
    except OSError:
        return False


def import_tflite():
    try:
        import tflite
    except ImportError:
        raise McuqError(
            "reading .tflite models needs the 'tflite' package: pip install 'mcuq[tflite]' (or pip install tflite)"
        ) from None
    return tflite


# --------------------------------------------------------------------------------------------
# The flatbuffer, read into plain data


@dataclass(frozen=True)
class TfTensor:
    index: int
    name: str
    shape: Shape
    type_code: int
    data: np.ndarray | None  # the stored values of a constant, None for an activation
    scales: np.ndarray  # empty when the tensor is not quantized
    zero_points: np.ndarray
    axis: int  # quantized_dimension, meaningful with several scales

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type_code, f"type {self.type_code}")

    @property
    def quantized(self) -> bool:
        return self.scales.size > 0

    def act_quant(self) -> ActQuant:
        return ActQuant(float(self.scales[0]), int(self.zero_points[0]) if self.zero_points.size else 0)


@dataclass(frozen=True)
class TfOperator:
    index: int
    op: str  # the builtin op's name (CONV_2D), or the custom op's code
    inputs: tuple[int, ...]  # tensor indices; -1 for an optional input left out
    outputs: tuple[int, ...]
    options: object | None  # the op's BuiltinOptions table, typed (tflite.Conv2DOptions, ...)


@dataclass(frozen=True)
class TfModel:
    tensors: list[TfTensor]
    operators: list[TfOperator]
    inputs: list[int]
    outputs: list[int]


def read_tflite(path: Path) -> TfModel:
    if path.is_dir():
        raise ModelError(f"{path} is a folder; give the path of the .tflite model file in it")
    if not path.is_file():
        raise ModelError(f"{path}: no such file; give the path of a .tflite model")
    buffer = path.read_bytes()
    if len(buffer) < 8 or buffer[4:8] != FILE_IDENTIFIER:
        raise ModelError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier); convert the model with the "
                         "TFLite converter (tf.lite.TFLiteConverter) first")
    tflite = import_tflite()
    try:
        model = tflite.Model.GetRootAsModel(buffer, 0)
        return parsed_model(tflite, model, path)
    except McuqError:
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt flatbuffer fails anywhere inside the generated reader
        raise ModelError(f"{path}: cannot read the TFLite flatbuffer ({exc}); convert the model again") from exc


def parsed_model(tflite, model, path: Path) -> TfModel:
    if model.SubgraphsLength() != 1:
        raise ModelError(
            f"{path}: the model has {model.SubgraphsLength()} subgraphs (control flow: IF, WHILE, CALL_ONCE); "
            "mcuq compiles models with one subgraph"
        )
    graph = model.Subgraphs(0)
    tensors = [parsed_tensor(model, graph.Tensors(i), i) for i in range(graph.TensorsLength())]
    option_classes = {code: name for name, code in vars(tflite.BuiltinOptions).items() if not name.startswith("_")}
    operators = [parsed_operator(tflite, model, graph.Operators(i), i, option_classes)
                 for i in range(graph.OperatorsLength())]
    model = TfModel(tensors, operators, graph.InputsAsNumpy().tolist(), graph.OutputsAsNumpy().tolist())
    check_tensor_indices(model, path)
    return model


def check_tensor_indices(model: TfModel, path: Path) -> None:
    """Every tensor index the graph and its operators name exists (-1 marks an optional input left out)."""
    count = len(model.tensors)
    named = [("graph input", i) for i in model.inputs] + [("graph output", i) for i in model.outputs] + [
        (f"operator {op.index} ({op.op})", i) for op in model.operators for i in (*op.inputs, *op.outputs)]
    bad = next(((where, i) for where, i in named if not -1 <= i < count or (i == -1 and "operator" not in where)),
               None)
    if bad is not None:
        raise ModelError(f"{path}: {bad[0]} names tensor {bad[1]}, but the model has tensors 0 to {count - 1}; "
                         "the file is corrupt: convert the model again")


def parsed_tensor(model, tensor, index: int) -> TfTensor:
    name = tensor.Name().decode("utf-8", "replace") if tensor.Name() else ""
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    check_tensor_size(f"tensor {console_name(name)!r}", shape, "")
    if tensor.Sparsity() is not None:
        raise ModelError(f"tensor {console_name(name)!r} is stored sparse; convert the model without sparsity")
    quant = tensor.Quantization()
    scales = quant.ScaleAsNumpy() if quant is not None and quant.ScaleLength() else np.zeros(0, np.float32)
    zero_points = quant.ZeroPointAsNumpy() if quant is not None and quant.ZeroPointLength() else np.zeros(0, np.int64)
    axis = quant.QuantizedDimension() if quant is not None else 0
    data = stored_data(model.Buffers(tensor.Buffer()), tensor.Type(), shape, console_name(name))
    return TfTensor(index, name, shape, tensor.Type(), data,
                    np.asarray(scales, np.float32), np.asarray(zero_points, np.int64), axis)


def stored_data(buffer, type_code: int, shape: Shape, name: str) -> np.ndarray | None:
    if buffer is None or buffer.DataLength() == 0:
        if buffer is not None and buffer.Offset() > 1:
            raise ModelError(f"tensor {name!r} keeps its data outside the flatbuffer (a model over 2 GB); "
                             "mcuq reads models that fit a microcontroller")
        return None
    dtype = DTYPES.get(type_code)
    if dtype is None:
        return None  # refused by the handler that reads it, with the op's name
    raw = buffer.DataAsNumpy()
    if raw.size != math.prod(shape) * np.dtype(dtype).itemsize:
        raise ModelError(f"tensor {name!r}: {raw.size} bytes of data for shape {list(shape)}; the file is corrupt")
    values = np.frombuffer(raw.tobytes(), dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        check_weight_values(name, values)
    return values


def parsed_operator(tflite, model, operator, index: int, option_classes: dict[int, str]) -> TfOperator:
    code = model.OperatorCodes(operator.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())  # the schema's two fields (v3 files)
    if builtin == tflite.BuiltinOperator.CUSTOM:
        op = f"custom {code.CustomCode().decode('utf-8', 'replace') if code.CustomCode() else '?'}"
    else:
        op = tflite.BUILTIN_OPCODE2NAME.get(builtin, f"builtin {builtin}")
    options = None
    table = operator.BuiltinOptions()
    class_name = option_classes.get(operator.BuiltinOptionsType())
    if table is not None and class_name:
        options = getattr(tflite, class_name)()
        options.Init(table.Bytes, table.Pos)
    return TfOperator(index, op, tuple(operator.InputsAsNumpy().tolist()) if operator.InputsLength() else (),
                      tuple(operator.OutputsAsNumpy().tolist()), options)


# --------------------------------------------------------------------------------------------
# Translation: one handler per builtin op


class Translator:
    """An `IrBuilder` and what the handlers ask about the TFLite tensors: their IR names, constant values,
    stored integers, and whether an output is int8 (then a ``fake_quant`` with the file's grid follows)."""

    def __init__(self, model: TfModel):
        self.model = model
        self.b = IrBuilder({}, {})
        self.names: dict[int, str] = {}  # tensor index → IR name of the tensor the readers read
        self.folded: dict[int, np.ndarray] = {}  # constants computed here (DEQUANTIZE of a float16 constant)

    def tensor(self, index: int) -> TfTensor:
        return self.model.tensors[index]

    def name(self, index: int) -> str:
        if index not in self.names:
            self.names[index] = self.b.fresh_name(self.tensor(index).name or f"tensor_{index}")
        return self.names[index]

    def is_constant(self, index: int) -> bool:
        return index in self.folded or self.tensor(index).data is not None

    def activation(self, op: TfOperator, position: int) -> str:
        """The IR name of the activation ``op`` reads at ``position``."""
        index = op.inputs[position]
        if index < 0 or self.is_constant(index):
            raise unsupported(self, op, f"input {position} must be computed from the model input, not a constant")
        tensor = self.tensor(index)
        if tensor.type_code not in (0, 9):
            raise unsupported(self, op, f"input {position} is {tensor.type_name}; mcuq computes on FLOAT32 and "
                                        "INT8 activations")
        if self.name(index) not in self.b.tensors:
            raise ModelError(f"operator {op.index} ({op.op}) reads tensor {console_name(tensor.name)!r}, which no "
                             "earlier operator writes and no input or constant holds; the file is corrupt")
        return self.name(index)

    def constant(self, op: TfOperator, position: int, what: str) -> np.ndarray:
        """The real (dequantized) value of a constant input."""
        index = op.inputs[position] if position < len(op.inputs) else -1
        if index < 0 or not self.is_constant(index):
            raise unsupported(self, op, f"{what} (input {position}) must be a constant")
        if index in self.folded:
            return self.folded[index]
        tensor = self.tensor(index)
        if tensor.data is None:  # a constant of a type mcuq does not read
            raise unsupported(self, op, f"{what} (input {position}) is {tensor.type_name}")
        stored = self.stored(index)
        if stored is None:
            return tensor.data.astype(np.float32) if tensor.data.dtype == np.float16 else tensor.data
        return (stored.values.astype(np.float64) * scale_vector(stored, tensor.data.ndim)).astype(np.float32)

    def stored(self, index: int) -> ConstQuant | None:
        """The integers of a quantized constant (weights, bias) as the file stores them, or None."""
        tensor = self.tensor(index) if index >= 0 else None
        if tensor is None or tensor.data is None or not tensor.quantized:
            return None
        if np.any(tensor.zero_points != 0):
            raise ModelError(
                f"tensor {console_name(tensor.name)!r} holds {tensor.type_name} constants with zero point "
                f"{np.unique(tensor.zero_points)[:4].tolist()}; int8 kernels take symmetric weights (zero point 0): "
                "convert with the TFLite converter's full-integer quantization"
            )
        axis = tensor.axis if tensor.scales.size > 1 else None
        return ConstQuant(tensor.data, tensor.scales, axis)

    def layer_constants(self, op: TfOperator, label: str, out_axis: int) -> tuple[tuple[str, str], dict]:
        """(IR names of the weights and bias, the attrs carrying their stored integers) of a conv or FC."""
        weights = self.constant(op, 1, "the weights")
        out_channels = weights.shape[out_axis]
        has_bias = len(op.inputs) > 2 and op.inputs[2] >= 0
        bias = self.constant(op, 2, "the bias") if has_bias else np.zeros(out_channels, np.float32)
        stored = self.stored(op.inputs[1])
        if stored is not None and stored.axis not in (None, out_axis):
            raise unsupported(self, op, f"weights quantized along axis {stored.axis}, not the output channels")
        attrs = stored_quant_attrs(stored, self.stored(op.inputs[2]) if has_bias else None,
                                   out_channels) if stored is not None else {}
        names = (self.b.add_constant(f"{label}__weights", weights), self.b.add_constant(f"{label}__bias", bias))
        return names, attrs

    def emit(self, op: TfOperator, ir_op: str, inputs: tuple[str, ...], attrs: dict, position: int = 0,
             shape: Shape | None = None) -> None:
        """Write output ``position`` of ``op`` with one IR node (of ``shape`` when given; then a reshape to the
        tensor's shape follows); an int8 output then passes a ``fake_quant`` with the file's grid."""
        tensor = self.tensor(op.outputs[position])
        label, out = operator_label(self, op), self.name(tensor.index)
        final = shape is None or tuple(shape) == tensor.shape
        direct = final and not tensor.quantized  # the node itself writes the tensor
        y = self.b.emit(ir_op, label, inputs, shape or tensor.shape, attrs, out if direct else "")
        if tensor.quantized:
            y = self.fake_quant(label, y, tensor, out if final else "", shape)
        if not final:
            self.b.reshape(label, y, tensor.shape, out)

    def fake_quant(self, label: str, x: str, tensor: TfTensor, output: str = "", shape: Shape | None = None) -> str:
        """``x`` (of ``shape``, by default the tensor's) on the int8 grid the file gives ``tensor``."""
        if tensor.type_code != 9 or tensor.scales.size != 1:
            raise ModelError(
                f"tensor {console_name(tensor.name)!r} is a {tensor.type_name} activation with {tensor.scales.size} "
                "scales; mcuq's kernels take int8 activations with one scale and zero point per tensor"
            )
        q = tensor.act_quant()
        return self.b.emit("fake_quant", label, (x,), shape or tensor.shape,
                           {"scale": float(np.float32(q.scale)), "zero_point": q.zero_point}, output)


def scale_vector(stored: ConstQuant, rank: int) -> np.ndarray:
    shape = [1] * rank
    if stored.axis is not None:
        shape[stored.axis] = -1
    return stored.scales.astype(np.float64).reshape(shape)


def operator_label(t: Translator, op: TfOperator) -> str:
    """TFLite operators have no names: an operator is known by the tensor it writes."""
    first = op.outputs[0] if op.outputs else -1
    return t.tensor(first).name if first >= 0 and t.tensor(first).name else f"operator_{op.index}"


def unsupported(t: Translator, op: TfOperator, detail: str) -> UnsupportedOpError:
    return UnsupportedOpError(op.op, console_name(operator_label(t, op)), detail)


def options(op: TfOperator):
    """The operator's options table; TFLite's converter always writes one for the ops that read it."""
    if op.options is None:
        raise ModelError(f"operator {op.index} ({op.op}) has no options table in the file; convert the model again")
    return op.options


def fused_activation(t: Translator, op: TfOperator) -> dict:
    code = options(op).FusedActivationFunction()
    if code not in FUSED_ACTIVATIONS:
        name = FUSED_ACTIVATION_NAMES.get(code, str(code))
        raise unsupported(t, op, f"fused activation {name}; convert with RELU, RELU6 or no fused activation")
    act_min, act_max = FUSED_ACTIVATIONS[code]
    return {"act_min": act_min, "act_max": act_max}


def window_pads(padding: int, spatial: Shape, kernel: Shape, strides: Shape, dilations: Shape) -> tuple[int, ...]:
    """TFLite's SAME padding puts the odd pixel at the end (bottom, right): ONNX's SAME_UPPER."""
    return explicit_pads("VALID" if padding == PADDING_VALID else "SAME_UPPER", spatial, kernel, strides,
                         dilations, None)


def conv_layer(t: Translator, op: TfOperator, ir_op: str, out_axis: int,
               channel_attrs: Callable[[Translator, TfOperator, int, Shape], dict]) -> None:
    """CONV_2D and DEPTHWISE_CONV_2D: the same window and weights; ``channel_attrs`` says how the channels
    map (groups, depth multiplier) from the input channels and the weights' shape."""
    x = t.activation(op, 0)
    _, height, width, channels = require_rank4(t, op)
    o = options(op)
    (w, bias), fixed = t.layer_constants(op, operator_label(t, op), out_axis)
    weight_shape = t.b.tensors[w].shape
    strides, dilations = (o.StrideH(), o.StrideW()), (o.DilationHFactor(), o.DilationWFactor())
    attrs = {"strides": strides, "dilations": dilations,
             "pads": window_pads(o.Padding(), (height, width), weight_shape[1:3], strides, dilations),
             **channel_attrs(t, op, channels, weight_shape), **fused_activation(t, op), **fixed}
    t.emit(op, ir_op, (x, w, bias), attrs)


def conv_groups(t: Translator, op: TfOperator, channels: int, weight_shape: Shape) -> dict:
    per_group = weight_shape[3]  # OHWI: the input channels of one group
    if channels % per_group:
        raise unsupported(t, op, f"{channels} input channels but weights for {per_group} per group")
    return {"groups": channels // per_group}


def depth_multiplier(t: Translator, op: TfOperator, channels: int, weight_shape: Shape) -> dict:
    return {"depth_multiplier": weight_shape[3] // channels}  # [1, KH, KW, C*m]


def conv_2d(t: Translator, op: TfOperator) -> None:
    conv_layer(t, op, "conv2d", 0, conv_groups)


def depthwise_conv_2d(t: Translator, op: TfOperator) -> None:
    conv_layer(t, op, "depthwise_conv2d", 3, depth_multiplier)


def fully_connected(t: Translator, op: TfOperator) -> None:
    """TFLite flattens the input to rows of K (the weights' second dimension); so does the IR's FC."""
    x = t.activation(op, 0)
    label = operator_label(t, op)
    (w, bias), fixed = t.layer_constants(op, label, out_axis=0)
    out_channels, depth = t.b.tensors[w].shape
    elements = math.prod(t.b.tensors[x].shape)
    if elements % depth:
        raise unsupported(t, op, f"input of {elements} values is not rows of the weights' {depth}")
    rows = elements // depth
    if t.b.tensors[x].shape != (rows, depth):
        x = t.b.reshape(label, x, (rows, depth))
    t.emit(op, "fully_connected", (x, w, bias), {**fused_activation(t, op), **fixed}, shape=(rows, out_channels))


def elementwise(ir_op: str) -> Callable[[Translator, TfOperator], None]:
    """ADD, MUL of two activations, or of an activation and a constant of any shape that broadcasts (the
    lowering quantizes a constant operand on its own grid, an int8 file's constant included)."""

    def handler(t: Translator, op: TfOperator) -> None:
        constant = [t.is_constant(op.inputs[i]) for i in (0, 1)]
        if all(constant):
            raise unsupported(t, op, "both operands are constants; fold the operator into a constant")
        operands = tuple(t.b.add_constant(f"{operator_label(t, op)}__constant", t.constant(op, i, "the operand"))
                         if constant[i] else t.activation(op, i) for i in (0, 1))
        t.emit(op, ir_op, operands, fused_activation(t, op))

    handler.__name__ = ir_op
    return handler


def pool_2d(ir_op: str, extra: dict) -> Callable[[Translator, TfOperator], None]:
    def handler(t: Translator, op: TfOperator) -> None:
        x = t.activation(op, 0)
        _, height, width, _ = require_rank4(t, op)
        o = options(op)
        kernel, strides = (o.FilterHeight(), o.FilterWidth()), (o.StrideH(), o.StrideW())
        attrs = {"kernel": kernel, "strides": strides,
                 "pads": window_pads(o.Padding(), (height, width), kernel, strides, (1, 1)),
                 **extra, **fused_activation(t, op)}
        t.emit(op, ir_op, (x,), attrs)

    handler.__name__ = ir_op
    return handler


def mean(t: Translator, op: TfOperator) -> None:
    """A mean over H and W of an NHWC tensor (Keras' GlobalAveragePooling2D) is an average pool."""
    x = t.activation(op, 0)
    n, height, width, channels = require_rank4(t, op)
    axes = sorted(int(a) % 4 for a in t.constant(op, 1, "the axes").reshape(-1))
    if axes != [1, 2]:
        raise unsupported(t, op, f"axes {axes}; mcuq reduces over H and W (axes 1 and 2: global average pooling)")
    attrs = {"kernel": (height, width), "strides": (1, 1), "pads": (0, 0, 0, 0), "count_include_pad": 0,
             **dict(zip(("act_min", "act_max"), ir.NO_ACTIVATION))}
    t.emit(op, "avg_pool", (x,), attrs, shape=(n, 1, 1, channels))


def reshape(t: Translator, op: TfOperator) -> None:
    """RESHAPE, SQUEEZE, EXPAND_DIMS: the output tensor's shape, which the file states."""
    x = t.activation(op, 0)
    t.emit(op, "reshape", (x,), {"shape": t.tensor(op.outputs[0]).shape})


def softmax(t: Translator, op: TfOperator) -> None:
    if op.options is not None and op.options.Beta() != 1.0:
        raise unsupported(t, op, f"beta={op.options.Beta()}; fold beta into the layer before the softmax")
    x = t.activation(op, 0)
    t.emit(op, "softmax", (x,), {"axis": len(t.tensor(op.outputs[0]).shape) - 1})


def unary(ir_op: str, **attrs) -> Callable[[Translator, TfOperator], None]:
    def handler(t: Translator, op: TfOperator) -> None:
        t.emit(op, ir_op, (t.activation(op, 0),), dict(attrs))

    handler.__name__ = ir_op
    return handler


def leaky_relu(t: Translator, op: TfOperator) -> None:
    t.emit(op, "leaky_relu", (t.activation(op, 0),), {"alpha": float(options(op).Alpha())})


def concatenation(t: Translator, op: TfOperator) -> None:
    if options(op).FusedActivationFunction() != 0:
        raise unsupported(t, op, "a fused activation; convert without one (a separate RELU)")
    inputs = tuple(t.activation(op, i) for i in range(len(op.inputs)))
    rank = len(t.tensor(op.outputs[0]).shape)
    t.emit(op, "concat", inputs, {"axis": options(op).Axis() % rank})


def pad(t: Translator, op: TfOperator) -> None:
    """PAD and PADV2 (with a constant value); an int8 PAD pads with the zero point, the real 0."""
    x = t.activation(op, 0)
    amounts = t.constant(op, 1, "the paddings").astype(np.int64).reshape(-1, 2)
    if np.any(amounts < 0):
        raise unsupported(t, op, "negative paddings (cropping)")
    value = float(t.constant(op, 2, "the pad value").reshape(-1)[0]) if len(op.inputs) > 2 else 0.0
    t.emit(op, "pad", (x,), {"pads": tuple(int(p) for p in (*amounts[:, 0], *amounts[:, 1])), "value": value})


def transpose(t: Translator, op: TfOperator) -> None:
    x = t.activation(op, 0)
    perm = tuple(int(p) for p in t.constant(op, 1, "the permutation").reshape(-1))
    t.emit(op, "transpose", (x,), {"perm": perm})


def quantize(t: Translator, op: TfOperator) -> None:
    """float → int8, or int8 → int8 on another grid (a requantization): the output's fake quantization."""
    x = t.activation(op, 0)
    t.fake_quant(operator_label(t, op), x, t.tensor(op.outputs[0]), t.name(op.outputs[0]))


def dequantize(t: Translator, op: TfOperator) -> None:
    """int8 → float: the real values are already there. Of a constant (float16 or int8 weights of a float
    model): the float constant, folded here."""
    index = op.inputs[0]
    if t.is_constant(index):
        t.folded[op.outputs[0]] = t.constant(op, 0, "the quantized constant").astype(np.float32)
        return
    x = t.activation(op, 0)
    t.b.reshape(operator_label(t, op), x, t.tensor(op.outputs[0]).shape, t.name(op.outputs[0]))


def require_rank4(t: Translator, op: TfOperator) -> Shape:
    shape = t.tensor(op.inputs[0]).shape
    if len(shape) != 4:
        raise unsupported(t, op, f"input of rank {len(shape)}; only rank 4 (NHWC) is supported")
    return shape


HANDLERS: dict[str, Callable[[Translator, TfOperator], None]] = {
    "CONV_2D": conv_2d,
    "DEPTHWISE_CONV_2D": depthwise_conv_2d,
    "FULLY_CONNECTED": fully_connected,
    "ADD": elementwise("add"),
    "MUL": elementwise("mul"),
    "AVERAGE_POOL_2D": pool_2d("avg_pool", {"count_include_pad": 0}),  # TFLite averages the valid pixels
    "MAX_POOL_2D": pool_2d("max_pool", {}),
    "MEAN": mean,
    "RESHAPE": reshape,
    "SQUEEZE": reshape,
    "EXPAND_DIMS": reshape,
    "SOFTMAX": softmax,
    "LOGISTIC": unary("sigmoid"),
    "TANH": unary("tanh"),
    "RELU": unary("clip", act_min=0.0, act_max=math.inf),
    "RELU6": unary("clip", act_min=0.0, act_max=6.0),
    "RELU_N1_TO_1": unary("clip", act_min=-1.0, act_max=1.0),
    "LEAKY_RELU": leaky_relu,
    "HARD_SWISH": unary("hard_swish"),
    "CONCATENATION": concatenation,
    "PAD": pad,
    "PADV2": pad,
    "TRANSPOSE": transpose,
    "QUANTIZE": quantize,
    "DEQUANTIZE": dequantize,
}


# --------------------------------------------------------------------------------------------
# The whole model


def load_tflite(path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> ir.Graph:
    """Read the .tflite model at ``path`` and return its float IR (not yet optimized). TFLite shapes are
    static: ``input_shapes`` may only repeat them."""
    path = Path(path)
    model = read_tflite(path)
    t = Translator(model)
    inputs, io_quant = [], {}
    for index in model.inputs:
        name, quant = add_input(t, index, input_shapes or {})
        inputs.append(name)
        io_quant.update(quant)
    translate_all(t)
    outputs = [t.name(index) for index in model.outputs]
    for index, name in zip(model.outputs, outputs):
        if name not in t.b.tensors or t.b.tensors[name].is_constant or index in model.inputs:
            raise ModelError(f"graph output {console_name(name)!r} is a constant or a graph input; mcuq compiles "
                             "models whose outputs are computed from their inputs")
        if t.tensor(index).quantized:
            io_quant[name] = astuple(t.tensor(index).act_quant())
    return ir.Graph(
        tensors=t.b.tensors, nodes=t.b.nodes, inputs=inputs, outputs=outputs,
        input_perms={n: tuple(range(len(t.b.tensors[n].shape))) for n in inputs},
        output_perms={n: tuple(range(len(t.b.tensors[n].shape))) for n in outputs},
        io_quant=io_quant, name=path.stem,
    )


def astuple(q: ActQuant) -> tuple[float, int]:
    return (q.scale, q.zero_point)


def add_input(t: Translator, index: int, input_shapes: dict[str, tuple[int, ...]]
              ) -> tuple[str, dict[str, tuple[float, int]]]:
    """A graph input: (its IR name, its file quantization if int8). An int8 input holds real values in the IR
    and passes a fake_quant with its grid, whose output its readers read."""
    tensor = t.tensor(index)
    if tensor.type_code not in (0, 9):
        raise ModelError(f"input {console_name(tensor.name)!r} is {tensor.type_name}; mcuq compiles models with "
                         "FLOAT32 or INT8 inputs")
    name = t.b.fresh_name(tensor.name or f"input_{index}")
    requested = input_shapes.get(name)
    if requested is not None and tuple(requested) != tensor.shape:
        raise ShapeError(f"--input-shape {name}: a .tflite model has static shapes; its input is {list(tensor.shape)}")
    t.b.tensors[name] = ir.Tensor(name, tensor.shape)
    if not tensor.quantized:
        t.names[index] = name
        return name, {}
    t.names[index] = t.fake_quant(name, name, tensor, t.b.fresh_name(f"{name}__dequantized"))
    return name, {name: astuple(tensor.act_quant())}


def translate_all(t: Translator) -> None:
    """Translate every operator; raise one `UnsupportedModelError` listing every operator refused (as
    `onnx_loader.translate_all` does: a refused operator's outputs stand in with their shapes)."""
    operators = t.model.operators
    translate_collecting_refusals(
        operators, lambda op: translate_operator(t, op), lambda op: op.inputs,
        lambda op, _: operator_location(t, op, len(operators)), lambda op: stand_in_outputs(t, op))


def translate_operator(t: Translator, op: TfOperator) -> None:
    handler = HANDLERS.get(op.op)
    if handler is None:
        raise UnsupportedOpError(op.op, console_name(operator_label(t, op)), supported=sorted(HANDLERS))
    handler(t, op)


def operator_location(t: Translator, op: TfOperator, count: int) -> str:
    first = next((i for i in op.inputs if i >= 0), -1)
    reads = f", reads tensor {console_name(t.tensor(first).name)!r}" if first >= 0 else ""
    return f"operator {op.index} of {count}{reads}"


def stand_in_outputs(t: Translator, op: TfOperator) -> list[int]:
    for index in op.outputs:
        name = t.name(index)
        if name not in t.b.tensors:
            t.b.tensors[name] = ir.Tensor(name, t.tensor(index).shape)
    return list(op.outputs)
