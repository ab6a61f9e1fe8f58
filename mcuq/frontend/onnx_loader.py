"""Load an ONNX file into the float IR (`mcuq.ir`).

Stages, each a small function from one ONNX model to the next:

1. read the file (external data relative to the model's folder); reject what is not ONNX;
2. drop initializers listed as graph inputs, sort the nodes topologically;
3. convert to ``TARGET_OPSET`` with ``onnx.version_converter`` (this also rewrites opset < 13
   Softmax into Flatten → Softmax → Reshape), so every handler below is written for one opset;
4. make the input shapes static (batch → 1, other dynamic dims from ``input_shapes``);
   Before that, a pre-quantized (QDQ) model is brought to its canonical float form by
   `mcuq.frontend.qdq`, which keeps the file's scales, zero points, int8 weights and int32 biases;
5. infer shapes (``onnx.shape_inference``) and fold constant subgraphs with
   ``onnx.reference.ReferenceEvaluator``, repeating until nothing more folds;
6. recognize activations written as several nodes (`mcuq.frontend.patterns`: GELU's Erf form);
7. translate each remaining node with the handler registered for its op in ``HANDLERS``
   (`mcuq.frontend.onnx_ops`).

Handlers translate literally: layout-sensitive ops (Conv, pools, BatchNormalization, per-channel
Add/Mul) read NCHW tensors, so they emit ``transpose(0,2,3,1)`` → NHWC op → ``transpose(0,3,1,2)``
and keep the ONNX tensor names (and ONNX layout) on their outputs. `mcuq.passes` removes the
transposes that cancel.
"""

from __future__ import annotations

import ast
import inspect
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper, numpy_helper, shape_inference, version_converter
from onnx.reference import ReferenceEvaluator

from mcuq import ir
from mcuq.errors import McuqError, ModelError, ShapeError, UnsupportedModelError, UnsupportedOpError
from mcuq.frontend import patterns, qdq, resample
from mcuq.frontend.onnx_ops import HANDLERS, IrBuilder, Shape, node_label

TARGET_OPSET = 21
DEFAULT_DOMAINS = ("", "ai.onnx")

# Ops never evaluated at load time even when all their inputs are constant.
NOT_FOLDABLE = frozenset(
    {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}
    | {"If", "Loop", "Scan"}
)
# Ops whose output depends only on the input's shape, so they fold once that shape is static.
SHAPE_ONLY_OPS = frozenset({"Shape", "Size"})



def load_onnx(path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> ir.Graph:
    """Read the ONNX model at ``path`` and return its float IR (not yet optimized).

    ``input_shapes`` gives the full shape of inputs with dynamic dimensions; a dynamic first
    (batch) dimension defaults to 1.
    """
    path = Path(path)
    model = read_model(path)
    model = without_initializer_inputs(model)
    model = sorted_topologically(model)
    quantized = qdq.canonicalize(model)
    model = converted_to_opset(quantized.model, TARGET_OPSET)
    model = with_static_input_shapes(model, input_shapes or {})
    nodes, constants, shapes = fold_constants(model)
    nodes = patterns.fused_activations(nodes, constants, [value.name for value in model.graph.output])
    return to_ir(model.graph, nodes, constants, shapes, name=path.stem, quantized=quantized)


# --------------------------------------------------------------------------------------------
# Reading and canonicalizing the ONNX model


def read_model(path: Path) -> onnx.ModelProto:
    if os.path.isdir(path):
        raise ModelError(f"{path} is a folder; give the path of the .onnx model file in it")
    if not os.path.isfile(path):  # False, not an OSError, for a name too long
        raise ModelError(f"{path}: no such file; give the path of an .onnx model")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: the file is empty (0 bytes); export the model to ONNX again")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError) as exc:
        raise ModelError(f"{path}: not an ONNX model ({exc}); export the model to ONNX first") from exc
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({exc})") from exc
    if not model.graph.node or not model.opset_import or not model.graph.output:
        raise ModelError(
            f"{path}: not an ONNX model (no graph, nodes or opset); export the model to ONNX first"
        )
    if default_opset(model) is None:
        raise ModelError(f"{path}: the model imports no default ONNX opset (domain '')")
    load_external_data(model, path.parent)
    check_initializers(model)
    return model


# --------------------------------------------------------------------------------------------
# External data: read only regular files inside the model's folder


def load_external_data(model: onnx.ModelProto, folder: Path) -> None:
    """Read the external data of ``model``'s tensors from ``folder`` into the model.

    An ONNX file is untrusted: its external data locations must not read anything outside the
    model's folder. `external_data_problem` explains the usual ways a location fails; onnx's own
    checks (which also refuse any link and data past the end of the file) stay as a second guard.
    """
    for tensor in model.graph.initializer:
        if external_data_helper.uses_external_data(tensor):
            problem = external_data_problem(tensor.name, external_data_helper.ExternalDataInfo(tensor).location,
                                            folder)
            if problem:
                raise ModelError(problem)
    try:
        external_data_helper.load_external_data_for_model(model, str(folder))
    except (onnx.checker.ValidationError, OSError, ValueError) as exc:
        raise ModelError(
            f"cannot read the model's external data ({exc}); keep the data files beside the model, as "
            "onnx.save(model, path, save_as_external_data=True) writes them"
        ) from exc


def external_data_problem(tensor: str, location: str, folder: Path) -> str | None:
    """Why the external data of ``tensor`` at ``location`` cannot be read (None when it can)."""
    where = f"tensor {tensor!r} keeps its data in {location!r}"
    fix = "put the data file in the model's folder and save the model with a relative location"
    if not location:
        return f"tensor {tensor!r} has external data without a location; re-export the model"
    if Path(location).is_absolute():
        return f"{where}, an absolute path; mcuq reads external data only from the model's folder: {fix}"
    target = folder / location
    real_folder = folder.resolve()
    if target.is_symlink():
        return (f"{where}, a symbolic link (to {str(target.resolve())!r}); external data is never read through "
                "a link, which could point anywhere: copy the data file itself into the model's folder")
    if not target.resolve().is_relative_to(real_folder):
        return f"{where}, which is outside the model's folder {str(real_folder)!r}; {fix}"
    if not target.is_file():
        return f"{where}, which does not exist in the model's folder {str(real_folder)!r}; copy it there"
    return None


# --------------------------------------------------------------------------------------------
# Values no microcontroller model holds: non-finite weights, tensors of hundreds of MiB

# The largest tensor mcuq accepts, in elements of 4 bytes (float32): 256 MiB, far beyond the RAM and
# flash of any microcontroller, far below what the host needs to stay responsive. Checked on the input
# shapes and on every inferred shape before constant folding allocates anything.
MAX_TENSOR_BYTES = 256 * 2**20
MAX_TENSOR_ELEMENTS = MAX_TENSOR_BYTES // 4
# A weight beyond this magnitude overflows float32 (3.4e38) after a few multiply-adds; trained
# weights are many orders of magnitude smaller. Bounds of Clip (often FLT_MAX or inf) are not weights.
MAX_WEIGHT_MAGNITUDE = 1e30
CLIP_BOUND_INPUTS = {"Clip": (1, 2)}


def check_initializers(model: onnx.ModelProto) -> None:
    """Refuse initializers too large for a microcontroller, and float weights that are NaN, Inf or
    so large that the float model overflows; each message names the initializer."""
    bounds_only = clip_bound_names(model.graph)
    for init in model.graph.initializer:
        check_tensor_size(f"initializer {init.name!r}", tuple(init.dims), "")
        if init.data_type not in FLOAT_TYPES:
            continue
        check_weight_values(init.name, numpy_helper.to_array(init), infinity_allowed=init.name in bounds_only)


def check_weight_values(name: str, values: np.ndarray, infinity_allowed: bool = False) -> None:
    """Refuse float weights that are NaN, Inf (unless ``infinity_allowed``) or beyond `MAX_WEIGHT_MAGNITUDE`."""
    finite = np.isfinite(values)
    if infinity_allowed:
        finite |= np.isinf(values)  # Clip(max=inf) is a ReLU
    big = finite & (np.abs(np.where(finite, values, 0.0)) > MAX_WEIGHT_MAGNITUDE)
    if not finite.all() or big.any():
        raise ModelError(non_finite_message(name, values, finite, big))


FLOAT_TYPES = frozenset({onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                         onnx.TensorProto.BFLOAT16})


def clip_bound_names(graph: onnx.GraphProto) -> set[str]:
    """Names read only as the min/max bound of a Clip, and by nothing else."""
    bound, other = set(), set()
    for node in graph.node:
        positions = CLIP_BOUND_INPUTS.get(node.op_type, ())
        for i, name in enumerate(node.input):
            (bound if i in positions else other).add(name)
    return bound - other


def non_finite_message(name: str, values: np.ndarray, finite: np.ndarray, big: np.ndarray) -> str:
    flat = values.reshape(-1)
    counts = [f"{int(np.isnan(flat).sum())} NaN", f"{int((~finite.reshape(-1) & np.isinf(flat)).sum())} Inf",
              f"{int(big.sum())} beyond ±{MAX_WEIGHT_MAGNITUDE:g}"]
    first = int(np.argmax(~finite.reshape(-1) | big.reshape(-1)))
    index = tuple(int(i) for i in np.unravel_index(first, values.shape)) if values.ndim else ()
    return (
        f"initializer {name!r} (shape {list(values.shape)}) holds values no float32 model can compute with: "
        f"{', '.join(c for c in counts if not c.startswith('0 '))} (first {flat[first]:g} at index "
        f"{list(index)}); the model file is corrupt or its training diverged: re-export it from a good checkpoint"
    )


def check_tensor_size(what: str, shape: tuple[int, ...], hint: str) -> None:
    elements = math.prod(shape)
    if elements > MAX_TENSOR_ELEMENTS:
        raise ShapeError(
            f"{what} has shape {list(shape)}: {elements:,} elements, {elements * 4 / 2**30:,.1f} GiB as float32; "
            f"mcuq refuses tensors over {MAX_TENSOR_BYTES // 2**20} MiB, which no microcontroller holds{hint}"
        )


def default_opset(model: onnx.ModelProto) -> int | None:
    versions = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    return versions[0] if versions else None


def without_initializer_inputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """Old exporters list initializers as graph inputs; they are constants, not inputs."""
    constant_names = {init.name for init in model.graph.initializer}
    real_inputs = [value for value in model.graph.input if value.name not in constant_names]
    if len(real_inputs) == len(model.graph.input):
        return model
    result = copy_model(model)
    del result.graph.input[:]
    result.graph.input.extend(real_inputs)
    return result


def sorted_topologically(model: onnx.ModelProto) -> onnx.ModelProto:
    """Order nodes so that each reads only graph inputs, initializers or earlier outputs."""
    graph = model.graph
    available = {value.name for value in graph.input} | {init.name for init in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        ready = [node for node in pending if all(name in available for name in node.input)]
        if not ready:
            node = pending[0]
            missing = [name for name in node.input if name not in available]
            raise ModelError(
                f"node {node_label(node)!r} ({node.op_type}) reads {missing[0]!r}, which no node, "
                "input or initializer produces (or the graph has a cycle); re-export the model"
            )
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        ready_ids = {id(node) for node in ready}
        pending = [node for node in pending if id(node) not in ready_ids]
    if [id(n) for n in ordered] == [id(n) for n in graph.node]:
        return model
    result = copy_model(model)
    del result.graph.node[:]
    result.graph.node.extend(ordered)
    return result


def converted_to_opset(model: onnx.ModelProto, target: int) -> onnx.ModelProto:
    source = default_opset(model)
    if source == target:
        return model
    try:
        converted = version_converter.convert_version(model, target)
    except Exception as exc:  # the converter raises plain RuntimeError/ValueError with C++ text
        raise ModelError(
            f"cannot convert the model from opset {source} to opset {target}: {exc}; "
            f"re-export it with an opset between 9 and {onnx.defs.onnx_opset_version()}"
        ) from exc
    resample.pin_legacy_resize_semantics(model, converted)
    return with_node_metadata_of(model, converted)


def with_node_metadata_of(source: onnx.ModelProto, converted: onnx.ModelProto) -> onnx.ModelProto:
    """The converter drops the nodes' metadata_props (where torch records each node's module): copy them
    back onto the nodes it kept, found by name."""
    metadata = {node.name: node.metadata_props for node in source.graph.node if node.name and node.metadata_props}
    for node in converted.graph.node:
        if node.name in metadata and not node.metadata_props:
            node.metadata_props.extend(metadata[node.name])
    return converted


def with_static_input_shapes(
    model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]
) -> onnx.ModelProto:
    input_names = [value.name for value in model.graph.input]
    unknown = sorted(set(input_shapes) - set(input_names))
    if unknown:
        raise ShapeError(
            f"--input-shape names {unknown[0]!r}, which is not a model input; inputs: {input_names}"
        )
    result = copy_model(model)
    for value in result.graph.input:
        check_float_input(value)
        shape = static_input_shape(value, input_shapes.get(value.name))
        set_static_shape(value, shape)
    for value in result.graph.output:  # re-inferred from the static inputs
        value.type.tensor_type.ClearField("shape")
    del result.graph.value_info[:]
    return result


def check_float_input(value: onnx.ValueInfoProto) -> None:
    elem_type = value.type.tensor_type.elem_type
    if elem_type != onnx.TensorProto.FLOAT:
        type_name = onnx.TensorProto.DataType.Name(elem_type)
        raise ModelError(
            f"input {value.name!r} has type {type_name}; mcuq compiles models with float32 inputs, or int8 "
            "inputs that a DequantizeLinear reads (pre-quantized QDQ models)"
        )


def static_input_shape(value: onnx.ValueInfoProto, requested: tuple[int, ...] | None) -> Shape:
    shape = requested_or_declared_shape(value, requested)
    check_tensor_size(f"input {value.name!r}", shape,
                      f"; pass --input-shape {value.name}:d0,d1,... with the real sizes")
    return shape


def requested_or_declared_shape(value: onnx.ValueInfoProto, requested: tuple[int, ...] | None) -> Shape:
    tensor_type = value.type.tensor_type
    dims = list(tensor_type.shape.dim) if tensor_type.HasField("shape") else None
    if requested is not None:
        requested = tuple(int(d) for d in requested)
        if dims is not None and len(dims) != len(requested):
            raise ShapeError(
                f"input {value.name!r} has rank {len(dims)} but --input-shape gives {len(requested)} dims "
                f"{requested}; give one size per dimension"
            )
        if any(d <= 0 for d in requested):
            raise ShapeError(f"--input-shape {value.name}: sizes must be positive, got {requested}")
        fixed = [(axis, dim.dim_value, size) for axis, (dim, size) in enumerate(zip(dims or [], requested))
                 if dim.HasField("dim_value") and dim.dim_value > 0 and dim.dim_value != size]
        if fixed:
            axis, declared, size = fixed[0]
            raise ShapeError(
                f"--input-shape {value.name}: dimension {axis} is {size}, but the model fixes it at {declared} "
                f"(ONNX Runtime, the float reference, runs the model file as it is); --input-shape sets only "
                f"dynamic dimensions: give {declared} there, or re-export the model with the shape you want"
            )
        return requested
    if dims is None:
        raise ShapeError(
            f"input {value.name!r} has no shape in the model; pass --input-shape {value.name}:d0,d1,..."
        )
    spelled = ",".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims)
    shape = []
    for axis, dim in enumerate(dims):
        if dim.HasField("dim_value") and dim.dim_value == 0:
            raise ShapeError(
                f"input {value.name!r} has size 0 in dimension {axis} (shape [{spelled}]): a "
                "zero-sized tensor holds no data; re-export the model with the real size, or pass --input-shape "
                f"{value.name}:d0,d1,... with every size"
            )
        if dim.HasField("dim_value") and dim.dim_value > 0:
            shape.append(dim.dim_value)
        elif axis == 0:
            shape.append(1)  # the batch
        else:
            raise ShapeError(
                f"input {value.name!r} has dynamic dimension {axis} ({dim.dim_param or 'unnamed'}) in shape "
                f"[{spelled}]; pass --input-shape {value.name}:d0,d1,... with every size, e.g. "
                f"--input-shape {value.name}:{spelled.replace('?', 'N')}"
            )
    return tuple(shape)


def set_static_shape(value: onnx.ValueInfoProto, shape: Shape) -> None:
    tensor_shape = value.type.tensor_type.shape
    tensor_shape.ClearField("dim")
    for size in shape:
        tensor_shape.dim.add().dim_value = size


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    result = onnx.ModelProto()
    result.CopyFrom(model)
    return result


# --------------------------------------------------------------------------------------------
# Shape inference and constant folding


def fold_constants(
    model: onnx.ModelProto,
) -> tuple[list[onnx.NodeProto], dict[str, np.ndarray], dict[str, Shape | None]]:
    """Evaluate every node whose inputs are constant (or whose output depends only on a static
    shape) until nothing more folds; return the remaining nodes, all constants and value shapes."""
    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    nodes = list(model.graph.node)
    opset = default_opset(model)
    while True:
        shapes = inferred_shapes(model, nodes, constants)
        remaining = []
        for node in nodes:
            if is_foldable(node, constants, shapes):
                constants.update(evaluate_node(node, constants, shapes, opset))
            else:
                remaining.append(node)
        if len(remaining) == len(nodes):
            return nodes, constants, shapes
        nodes = remaining


def inferred_shapes(
    model: onnx.ModelProto, nodes: list[onnx.NodeProto], constants: dict[str, np.ndarray]
) -> dict[str, Shape | None]:
    """Static shapes of all values after ONNX shape inference (None where a dim is unknown)."""
    work = copy_model(model)
    del work.graph.node[:]
    work.graph.node.extend(nodes)
    del work.graph.initializer[:]
    work.graph.initializer.extend(numpy_helper.from_array(array, name) for name, array in constants.items())
    try:
        inferred = shape_inference.infer_shapes(work, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:  # InferenceError and C++ errors
        raise ShapeError(f"ONNX shape inference failed: {exc}") from exc
    graph = inferred.graph
    shapes = {name: tuple(array.shape) for name, array in constants.items()}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        shapes[value.name] = static_shape_of(value)
        if shapes[value.name] is not None:  # before folding allocates it
            check_tensor_size(f"tensor {value.name!r}", shapes[value.name], "; check the input shapes")
    return shapes


def static_shape_of(value: onnx.ValueInfoProto) -> Shape | None:
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    dims = tensor_type.shape.dim
    if not all(d.HasField("dim_value") for d in dims):
        return None
    return tuple(d.dim_value for d in dims)


def is_foldable(
    node: onnx.NodeProto, constants: dict[str, np.ndarray], shapes: dict[str, Shape | None]
) -> bool:
    if node.domain not in DEFAULT_DOMAINS or node.op_type in NOT_FOLDABLE:
        return False
    if node.op_type in SHAPE_ONLY_OPS:
        return shapes.get(node.input[0]) is not None
    return all(name in constants for name in node.input if name)


def evaluate_node(
    node: onnx.NodeProto, constants: dict[str, np.ndarray], shapes: dict[str, Shape | None], opset: int
) -> dict[str, np.ndarray]:
    feeds = {
        name: constants[name] if name in constants else np.zeros(shapes[name], np.float32)
        for name in node.input
        if name
    }
    try:
        outputs = ReferenceEvaluator(node, opsets={"": opset}).run(None, feeds)
    except Exception as exc:
        raise ModelError(
            f"node {node_label(node)!r}: op {node.op_type!r} on constant inputs cannot be evaluated ({exc})"
        ) from exc
    return {name: np.asarray(array) for name, array in zip(node.output, outputs) if name}


# --------------------------------------------------------------------------------------------
# Translation to the IR


def to_ir(
    graph: onnx.GraphProto,
    nodes: list[onnx.NodeProto],
    constants: dict[str, np.ndarray],
    shapes: dict[str, Shape | None],
    name: str,
    quantized: qdq.QdqModel | None = None,
) -> ir.Graph:
    fixed = quantized.constants if quantized else {}
    builder = IrBuilder(constants, shapes, fixed_constants={k: v for k, v in fixed.items() if k in constants})
    inputs = [value.name for value in graph.input]
    for input_name in inputs:
        builder.tensors[input_name] = ir.Tensor(input_name, shapes[input_name])
        builder.taken_names.add(input_name)
    translate_all(builder, nodes, inputs)
    outputs = [value.name for value in graph.output]
    for output in outputs:
        if output not in builder.tensors or builder.tensors[output].is_constant or output in inputs:
            raise ModelError(
                f"graph output {output!r} is a constant or a graph input; mcuq compiles models whose "
                "outputs are computed from their inputs"
            )
    return ir.Graph(
        tensors=builder.tensors,
        nodes=builder.nodes,
        inputs=inputs,
        outputs=outputs,
        input_perms={n: tuple(range(len(shapes[n]))) for n in inputs},
        output_perms={n: tuple(range(len(builder.tensors[n].shape))) for n in outputs},
        io_quant={n: (q.scale, q.zero_point) for n, q in (quantized.io_quant if quantized else {}).items()},
        name=name,
    )


def translate_all(builder: IrBuilder, nodes: list[onnx.NodeProto], graph_inputs: list[str]) -> None:
    """Translate every node; raise one `UnsupportedModelError` listing every node the handlers refuse.

    A refused node's outputs stand in with their inferred shapes, so that the nodes after it are judged
    too. Only refusals are collected: any other McuqError is raised as it comes, unless it is a
    consequence of an earlier refusal (a node reading a refused node's output), and any other exception
    is a bug that stops the load."""
    translate_collecting_refusals(
        nodes, lambda node: translate_node(builder, node), lambda node: node.input,
        lambda node, index: node_location(node, index, len(nodes), graph_inputs),
        lambda node: stand_in_outputs(builder, node))


def translate_collecting_refusals(items: list, translate: Callable, inputs_of: Callable, location: Callable,
                                  stand_in: Callable) -> None:
    """`translate` each item (an ONNX node, a TFLite operator) in order, collecting the `UnsupportedOpError`s
    into one `UnsupportedModelError` (each with ``location(item, index)``); a refused item's outputs get
    stand-ins (``stand_in(item)`` returns their names) so that the items after it are judged too."""
    refusals: list[tuple[UnsupportedOpError, str]] = []
    after_refusal: set = set()  # outputs of refused items and of the items that read them
    for index, item in enumerate(items):
        downstream = any(name in after_refusal for name in inputs_of(item))
        try:
            translate(item)
        except UnsupportedOpError as exc:
            refusals.append((exc, location(item, index)))
            after_refusal.update(stand_in(item))
        except McuqError:
            if not downstream:
                raise
            after_refusal.update(stand_in(item))
    if refusals:
        raise UnsupportedModelError(refusals)


def stand_in_outputs(builder: IrBuilder, node: onnx.NodeProto) -> list[str]:
    """Give a node that could not be translated outputs of the inferred shapes; return their names."""
    for name in node.output:
        shape = builder.shapes.get(name)
        if name and name not in builder.tensors and shape is not None:
            builder.tensors[name] = ir.Tensor(name, shape)
            builder.taken_names.add(name)
    return [name for name in node.output if name]


# torch.onnx's dynamo exporter records where each node comes from in the model's code.
TORCH_SCOPES_KEY = "pkg.torch.onnx.name_scopes"
TORCH_CLASSES_KEY = "pkg.torch.onnx.class_hierarchy"
MAX_LOCATION_TEXT = 120  # metadata is model-supplied: keep what is quoted short


def node_location(node: onnx.NodeProto, index: int, count: int, graph_inputs: list[str]) -> str:
    """Where a person finds ``node``: its place in the graph, the module of the exporting code (torch's
    dynamo exporter names nodes ``node_mean``, ``n0``; its metadata names the module, e.g. ``layer1.0.conv``)
    and the tensor it reads (dynamo names those after the code: ``relu_1``, ``conv1d``)."""
    parts = [f"node {index + 1} of {count}"]
    metadata = {prop.key: prop.value for prop in node.metadata_props}
    module = torch_module_path(metadata.get(TORCH_SCOPES_KEY, ""))
    module_class = torch_module_class(metadata.get(TORCH_CLASSES_KEY, ""))
    if module:
        parts.append(f"in module {module!r}" + (f" ({module_class})" if module_class else ""))
    first_input = next((name for name in node.input if name), "")
    if first_input:
        source = "graph input" if first_input in graph_inputs else "tensor"
        parts.append(f"reads {source} {first_input[:MAX_LOCATION_TEXT]!r}")
    return ", ".join(parts)


def literal_list(text: str) -> list[str]:
    """A Python list of strings as torch writes it in metadata ("['', 'layer1', 'conv']"); [] otherwise."""
    if len(text) > 4 * MAX_LOCATION_TEXT:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def torch_module_path(name_scopes: str) -> str:
    """"['', 'layer1', 'layer1.0', 'layer1.0.conv1', 'conv2d']" → "layer1.0.conv1": the innermost module
    (each scope is the full path), without the op's own name; "" at the top level."""
    scopes = literal_list(name_scopes)
    return scopes[-2][:MAX_LOCATION_TEXT] if len(scopes) >= 2 else ""


def torch_module_class(class_hierarchy: str) -> str:
    """"['m.Net', 'torch.nn.modules.conv.Conv1d', 'aten.conv1d.default']" → "Conv1d", the module's class."""
    classes = literal_list(class_hierarchy)
    if len(classes) < 2:
        return ""
    # Printed unquoted: only what a Python class name holds, so that it cannot break or forge a line.
    return re.sub(r"[^\w]", "?", classes[-2].rsplit(".", 1)[-1], flags=re.ASCII)[:MAX_LOCATION_TEXT]


# Ops mcuq compiles in another form: what to export instead.
OTHER_FORMS = {
    "GlobalMaxPool": "export a MaxPool over the whole H x W (torch: nn.MaxPool2d(kernel_size=(H, W)))",
    "Sum": "with two inputs this is Add: export a + b",
    "Upsample": "deprecated since opset 10; re-export with a newer opset (Resize)",
    **dict.fromkeys(
        ("QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "QLinearAdd", "QLinearMul"),
        "a model quantized in the QOperator format: quantize it in the QDQ format instead (onnxruntime "
        "quantize_static(..., quant_format=QuantFormat.QDQ)), or give mcuq the float model",
    ),
}


def attribute_values(node: onnx.NodeProto) -> dict:
    values = {}
    for attribute in node.attribute:
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list):
            value = tuple(value)
        values[attribute.name] = value
    return values


def translate_node(builder: IrBuilder, node: onnx.NodeProto) -> None:
    handler = HANDLERS.get(node.op_type) if node.domain in DEFAULT_DOMAINS else None
    if handler is None:
        op = node.op_type if node.domain in DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"
        raise UnsupportedOpError(op, node_label(node), OTHER_FORMS.get(op, ""), supported=sorted(HANDLERS))
    attrs = attribute_values(node)
    try:
        inspect.signature(handler).bind(builder, node, **attrs)
    except TypeError:
        accepted = set(inspect.signature(handler).parameters) - {"b", "node"}
        extra = sorted(set(attrs) - accepted)
        raise UnsupportedOpError(
            node.op_type, node_label(node), f"attribute {extra[0]!r} is not supported"
        ) from None
    handler(builder, node, **attrs)
