"""Small float TFLite models for the frontend tests, written with the schema's generated builders (the
``tflite`` package) and run by TensorFlow Lite Micro as the reference.

A model is a list of tensors (name, shape, constant data or None) and of operators (builtin name,
input and output tensor indices, options as the name of the options table and its fields)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import flatbuffers
import numpy as np
import tflite


@dataclass
class Op:
    name: str  # BUILTIN name, e.g. "MAX_POOL_2D"
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: str = ""  # options table, e.g. "Pool2DOptions"
    fields: dict = field(default_factory=dict)  # e.g. {"FilterWidth": 2}


@dataclass
class T:
    name: str
    shape: tuple[int, ...]
    data: np.ndarray | None = None  # constants: float32, int8 or int32
    dtype: str = ""  # an activation's type: "float32" (default) or "int8"; a constant's is its data's
    quant: tuple | None = None  # (scales, zero points, quantized dimension)

    @property
    def type_code(self) -> int:
        dtype = str(self.data.dtype) if self.data is not None else (self.dtype or "float32")
        return {"float32": tflite.TensorType.FLOAT32, "int8": tflite.TensorType.INT8,
                "int32": tflite.TensorType.INT32}[dtype]


CODES = {name: code for code, name in tflite.BUILTIN_OPCODE2NAME.items()}


def _int_vector(b: flatbuffers.Builder, values) -> int:
    return b.CreateNumpyVector(np.asarray(values, np.int32))


def _table_vector(b: flatbuffers.Builder, start, offsets: list[int]) -> int:
    start(b, len(offsets))
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    return b.EndVector()


def _options(b: flatbuffers.Builder, op: Op) -> int | None:
    if not op.options:
        return None
    getattr(tflite, f"{op.options}Start")(b)
    for name, value in op.fields.items():
        getattr(tflite, f"{op.options}Add{name}")(b, value)
    return getattr(tflite, f"{op.options}End")(b)


def _quantization(b: flatbuffers.Builder, quant: tuple) -> int:
    scales, zero_points, axis = quant
    scale_vec = b.CreateNumpyVector(np.asarray(scales, np.float32).reshape(-1))
    zero_vec = b.CreateNumpyVector(np.asarray(zero_points, np.int64).reshape(-1))
    tflite.QuantizationParametersStart(b)
    tflite.QuantizationParametersAddScale(b, scale_vec)
    tflite.QuantizationParametersAddZeroPoint(b, zero_vec)
    tflite.QuantizationParametersAddQuantizedDimension(b, axis)
    return tflite.QuantizationParametersEnd(b)


def build(tensors: list[T], ops: list[Op], inputs: list[int], outputs: list[int]) -> bytes:
    b = flatbuffers.Builder(4096)
    buffers = [tflite.BufferStart(b) or tflite.BufferEnd(b)]  # buffer 0: empty, as the converter writes
    buffer_of = []
    for tensor in tensors:
        if tensor.data is None:
            buffer_of.append(0)
            continue
        data = b.CreateNumpyVector(np.frombuffer(np.ascontiguousarray(tensor.data).tobytes(), np.uint8))
        tflite.BufferStart(b)
        tflite.BufferAddData(b, data)
        buffers.append(tflite.BufferEnd(b))
        buffer_of.append(len(buffers) - 1)
    tensor_tables = []
    for tensor, buffer in zip(tensors, buffer_of):
        name, shape = b.CreateString(tensor.name), _int_vector(b, tensor.shape)
        quant = _quantization(b, tensor.quant) if tensor.quant else None
        tflite.TensorStart(b)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        tflite.TensorAddName(b, name)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, tensor.type_code)
        tflite.TensorAddBuffer(b, buffer)
        tensor_tables.append(tflite.TensorEnd(b))
    names = list(dict.fromkeys(op.name for op in ops))
    codes = []
    for name in names:
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(CODES[name], 127))
        tflite.OperatorCodeAddBuiltinCode(b, CODES[name])
        tflite.OperatorCodeAddVersion(b, 1)
        codes.append(tflite.OperatorCodeEnd(b))
    op_tables = []
    for op in ops:
        ins, outs, options = _int_vector(b, op.inputs), _int_vector(b, op.outputs), _options(b, op)
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, names.index(op.name))
        tflite.OperatorAddInputs(b, ins)
        tflite.OperatorAddOutputs(b, outs)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, op.options))
            tflite.OperatorAddBuiltinOptions(b, options)
        op_tables.append(tflite.OperatorEnd(b))
    tensors_vec = _table_vector(b, tflite.SubGraphStartTensorsVector, tensor_tables)
    ops_vec = _table_vector(b, tflite.SubGraphStartOperatorsVector, op_tables)
    ins, outs, name = _int_vector(b, inputs), _int_vector(b, outputs), b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors_vec)
    tflite.SubGraphAddInputs(b, ins)
    tflite.SubGraphAddOutputs(b, outs)
    tflite.SubGraphAddOperators(b, ops_vec)
    tflite.SubGraphAddName(b, name)
    subgraph = tflite.SubGraphEnd(b)
    subgraphs = _table_vector(b, tflite.ModelStartSubgraphsVector, [subgraph])
    codes_vec = _table_vector(b, tflite.ModelStartOperatorCodesVector, codes)
    buffers_vec = _table_vector(b, tflite.ModelStartBuffersVector, buffers)
    description = b.CreateString("mcuq test model")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, codes_vec)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddDescription(b, description)
    tflite.ModelAddBuffers(b, buffers_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def write(path: Path, tensors: list[T], ops: list[Op], inputs: list[int], outputs: list[int]) -> Path:
    path.write_bytes(build(tensors, ops, inputs, outputs))
    return path


def tflm_outputs(path: Path, x: np.ndarray) -> list[np.ndarray]:
    """TensorFlow Lite Micro's outputs for each sample of ``x`` (the test extra installs tflite-micro)."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(str(path))
    outs = []
    for sample in x:
        interpreter.set_input(sample[None], 0)
        interpreter.invoke()
        outs.append(interpreter.get_output(0).copy())
    return outs
