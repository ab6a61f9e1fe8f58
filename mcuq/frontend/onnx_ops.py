"""ONNX op handlers: one function per ONNX op, registered in ``HANDLERS``, translating one node into
float IR nodes (`mcuq.ir`) through an `IrBuilder`. ONNX attribute names and defaults are keyword
arguments, so an attribute a handler does not take is reported as unsupported.

Layout-sensitive ops (Conv, pools, BatchNormalization, per-channel Add/Mul) read NCHW tensors: they
emit ``transpose(0,2,3,1)`` → NHWC op → ``transpose(0,3,1,2)`` and keep the ONNX tensor names (and
ONNX layout) on their outputs; `mcuq.passes` removes the transposes that cancel.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx

from mcuq import ir
from mcuq.errors import ShapeError, UnsupportedOpError
from mcuq.frontend import resample
from mcuq.frontend.qdq import ConstQuant
from mcuq.ir import phases

NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_TO_NCHW = (0, 3, 1, 2)

Shape = tuple[int, ...]

def node_label(node: onnx.NodeProto) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


@dataclass
class IrBuilder:
    """Collects IR tensors and nodes while handlers translate ONNX nodes one by one."""

    constants: dict[str, np.ndarray]
    shapes: dict[str, Shape | None]
    tensors: dict[str, ir.Tensor] = field(default_factory=dict)
    nodes: list[ir.Node] = field(default_factory=list)
    taken_names: set[str] = field(default_factory=set)
    fixed_constants: dict[str, ConstQuant] = field(default_factory=dict)  # integers of a QDQ model

    def constant(self, name: str) -> np.ndarray | None:
        return self.constants.get(name) if name else None

    def shape(self, name: str, node: onnx.NodeProto) -> Shape:
        shape = self.shapes.get(name)
        if shape is None:
            raise ShapeError(
                f"node {node_label(node)!r} ({node.op_type}): the shape of {name!r} is not static after shape "
                "inference; pass --input-shape NAME:d0,d1,... for the model's dynamic inputs"
            )
        return shape

    def fresh_name(self, hint: str) -> str:
        name, counter = hint, 1
        while name in self.taken_names or name in self.shapes or name in self.constants:
            counter += 1
            name = f"{hint}_{counter}"
        self.taken_names.add(name)
        return name

    def add_constant(self, hint: str, array: np.ndarray) -> str:
        name = self.fresh_name(hint)
        data = np.ascontiguousarray(array, dtype=np.float32)
        self.tensors[name] = ir.Tensor(name, tuple(data.shape), data)
        return name

    def emit(
        self, op: str, label: str, inputs: tuple[str, ...], shape: Shape, attrs: dict, output: str = ""
    ) -> str:
        """Append an IR node with one output (``output`` or a fresh name) and return its name."""
        output = output or self.fresh_name(f"{label}__{op}")
        self.taken_names.add(output)
        for name in inputs:
            if name not in self.tensors and name in self.constants:
                data = np.ascontiguousarray(self.constants[name], dtype=np.float32)
                self.tensors[name] = ir.Tensor(name, tuple(data.shape), data)
        self.tensors[output] = ir.Tensor(output, tuple(int(d) for d in shape))
        self.nodes.append(ir.Node(op, label, tuple(inputs), (output,), attrs))
        return output

    def transpose(self, label: str, x: str, perm: tuple[int, ...], output: str = "") -> str:
        shape = self.tensors[x].shape
        return self.emit("transpose", label, (x,), tuple(shape[p] for p in perm), {"perm": perm}, output)

    def reshape(self, label: str, x: str, shape: Shape, output: str = "") -> str:
        return self.emit("reshape", label, (x,), shape, {"shape": tuple(int(d) for d in shape)}, output)



# --------------------------------------------------------------------------------------------
# Helpers shared by handlers


def unsupported(node: onnx.NodeProto, detail: str) -> UnsupportedOpError:
    return UnsupportedOpError(node.op_type, node_label(node), detail)


def input_name(node: onnx.NodeProto, index: int) -> str:
    return node.input[index] if index < len(node.input) else ""


def required_constant(b: IrBuilder, node: onnx.NodeProto, index: int, what: str) -> np.ndarray:
    value = b.constant(input_name(node, index))
    if value is None:
        raise unsupported(node, f"{what} (input {index}) must be a constant; mcuq compiles fixed weights")
    return value


def scalar(array: np.ndarray) -> float:
    return float(np.asarray(array).reshape(-1)[0])


def require_rank(b: IrBuilder, node: onnx.NodeProto, name: str, ranks: tuple[int, ...]) -> Shape:
    shape = b.shape(name, node)
    if len(shape) not in ranks:
        raise unsupported(
            node, f"input of rank {len(shape)}; only rank {' or '.join(map(str, ranks))} is supported"
        )
    return shape


def fixed_quant_attrs(
    b: IrBuilder, node: onnx.NodeProto, weight_index: int, out_axis: int, bias_index: int | None, gain: float = 1.0
) -> dict:
    """The IR attrs that carry a pre-quantized layer's stored weights and bias (see `mcuq.ir`): per output
    channel weight scales (times ``gain`` when the handler scales the weights) and the int32 bias."""
    weights = b.fixed_constants.get(input_name(node, weight_index))
    if weights is None:
        return {}
    out_channels = weights.values.shape[out_axis]
    if weights.axis is not None and weights.axis != out_axis:
        raise unsupported(
            node, f"weights quantized per channel along axis {weights.axis}, not the output channels "
            f"(axis {out_axis}); quantize weights per output channel or per tensor"
        )
    bias = b.fixed_constants.get(input_name(node, bias_index)) if bias_index is not None else None
    return stored_quant_attrs(weights, bias, out_channels, gain)


def stored_quant_attrs(weights: ConstQuant, bias: ConstQuant | None, out_channels: int, gain: float = 1.0) -> dict:
    """``weight_scales`` (one per output channel) and, for an int32 bias of one value per output channel,
    ``bias_values`` and ``bias_scales``: what a file's stored integers tell the lowering (see `mcuq.ir`)."""
    attrs = {"weight_scales": np.broadcast_to(weights.scales * np.float32(gain), (out_channels,)).astype(np.float32)}
    if bias is not None and bias.values.dtype == np.int32 and bias.values.shape == (out_channels,):
        attrs["bias_values"] = bias.values.astype(np.int64)
        attrs["bias_scales"] = np.broadcast_to(bias.scales, (out_channels,)).astype(np.float32)
    return attrs


def require_activation(b: IrBuilder, node: onnx.NodeProto, name: str) -> None:
    if b.constant(name) is not None:
        raise unsupported(node, f"input {name!r} is constant where an activation is expected")


def require_unused_outputs(node: onnx.NodeProto, first_unused: int, what: str) -> None:
    if any(node.output[first_unused:]):
        raise unsupported(node, f"its {what} output is used; only the first output is supported")


def nhwc(shape: Shape) -> Shape:
    return tuple(shape[p] for p in NCHW_TO_NHWC)


def explicit_pads(
    auto_pad: str,
    spatial: Shape,
    kernel: Shape,
    strides: Shape,
    dilations: Shape,
    pads: tuple[int, ...] | None,
) -> tuple[int, int, int, int]:
    """ONNX pads or auto_pad → (top, left, bottom, right)."""
    if auto_pad in ("NOTSET", ""):
        return tuple(int(p) for p in (pads or (0, 0, 0, 0)))
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small, large = total // 2, total - total // 2
        begin, end = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
        begins.append(begin)
        ends.append(end)
    return (begins[0], begins[1], ends[0], ends[1])


def ceil_mode_output_size(
    spatial: Shape, kernel: Shape, strides: Shape, pads: tuple[int, int, int, int]
) -> Shape:
    """Output size of ceil-mode pooling as the runtimes compute it: a window that would start in
    the end padding is dropped."""
    sizes = []
    for axis in range(2):
        span = spatial[axis] + pads[axis] + pads[axis + 2] - kernel[axis]
        size = -(-span // strides[axis]) + 1
        if (size - 1) * strides[axis] >= spatial[axis] + pads[axis]:
            size -= 1
        sizes.append(size)
    return tuple(sizes)


def ceil_mode_extra_pads(
    spatial: Shape, out_spatial: Shape, kernel: Shape, strides: Shape, pads: tuple[int, int, int, int]
) -> tuple[int, int]:
    """End padding that makes floor-mode pooling produce ONNX's (ceil-mode) output size."""
    extra = []
    for axis in range(2):
        padded = spatial[axis] + pads[axis] + pads[axis + 2]
        needed = (out_spatial[axis] - 1) * strides[axis] + kernel[axis]
        extra.append(max(0, needed - padded))
    return extra[0], extra[1]


def per_channel_vector(constant: np.ndarray, shape: Shape) -> np.ndarray | None:
    """The length-C vector a constant broadcasts to along axis 1 of ``shape``, or None if it varies
    along any other axis (or would broadcast the activation to a bigger shape)."""
    if len(shape) < 2:
        return None
    try:
        if tuple(np.broadcast_shapes(constant.shape, shape)) != tuple(shape):
            return None
    except ValueError:
        return None
    rows = np.moveaxis(np.broadcast_to(constant, shape), 1, -1).reshape(-1, shape[1])
    if not np.all(rows == rows[0]):
        return None
    return rows[0].astype(np.float32)


def channel_affine(
    b: IrBuilder, node: onnx.NodeProto, x: str, scale: np.ndarray, shift: np.ndarray, output: str
) -> None:
    """y = x * scale[c] + shift[c] along axis 1, as a 1×1 depthwise_conv2d in NHWC."""
    label = node_label(node)
    shape = require_rank(b, node, x, (2, 4))
    channels = shape[1]
    attrs = {
        "strides": (1, 1),
        "dilations": (1, 1),
        "pads": (0, 0, 0, 0),
        "depth_multiplier": 1,
        "act_min": -math.inf,
        "act_max": math.inf,
    }
    weights = b.add_constant(
        f"{label}__scale", np.broadcast_to(scale, (channels,)).reshape(1, 1, 1, channels)
    )
    bias = b.add_constant(f"{label}__shift", np.broadcast_to(shift, (channels,)))
    if len(shape) == 4:
        x_nhwc = b.transpose(label, x, NCHW_TO_NHWC)
        y = b.emit("depthwise_conv2d", label, (x_nhwc, weights, bias), b.tensors[x_nhwc].shape, attrs)
        b.transpose(label, y, NHWC_TO_NCHW, output)
    else:
        x4 = b.reshape(label, x, (shape[0], 1, 1, channels))
        y = b.emit("depthwise_conv2d", label, (x4, weights, bias), b.tensors[x4].shape, attrs)
        b.reshape(label, y, shape, output)


def pool(
    b: IrBuilder,
    node: onnx.NodeProto,
    op: str,
    kernel: Shape,
    strides: Shape,
    pads: tuple[int, int, int, int],
    extra_attrs: dict,
) -> None:
    label = node_label(node)
    x = node.input[0]
    x_nhwc = b.transpose(label, x, NCHW_TO_NHWC)
    attrs = {
        "kernel": tuple(int(k) for k in kernel),
        "strides": tuple(int(s) for s in strides),
        "pads": tuple(int(p) for p in pads),
        **extra_attrs,
        "act_min": -math.inf,
        "act_max": math.inf,
    }
    y = b.emit(op, label, (x_nhwc,), nhwc(b.shape(node.output[0], node)), attrs)
    b.transpose(label, y, NHWC_TO_NCHW, node.output[0])


def pool_geometry(
    b: IrBuilder,
    node: onnx.NodeProto,
    auto_pad: str,
    ceil_mode: int,
    dilations: tuple[int, ...] | None,
    kernel_shape: tuple[int, ...],
    pads: tuple[int, ...] | None,
    strides: tuple[int, ...] | None,
) -> tuple[Shape, tuple[int, int, int, int], tuple[int, int]]:
    """(strides, explicit pads, extra end pads from ceil_mode) of a 2-D pool."""
    shape = require_rank(b, node, node.input[0], (4,))
    if dilations and any(d != 1 for d in dilations):
        raise unsupported(node, f"dilations={list(dilations)}; pooling supports dilation 1 only")
    strides = tuple(strides or (1, 1))
    pads4 = explicit_pads(auto_pad, shape[2:], kernel_shape, strides, (1, 1), pads)
    extra = (0, 0)
    if ceil_mode:
        out_spatial = b.shape(node.output[0], node)[2:]
        if out_spatial != ceil_mode_output_size(shape[2:], kernel_shape, strides, pads4):
            raise unsupported(
                node,
                "ceil_mode=1 where the last window starts in the end padding (ONNX shape inference and "
                "runtimes disagree on the output size); use ceil_mode=0 with explicit pads",
            )
        extra = ceil_mode_extra_pads(shape[2:], out_spatial, kernel_shape, strides, pads4)
    return strides, pads4, extra


# --------------------------------------------------------------------------------------------
# Rank-3 [N, C, W] inputs (torch's Conv1d, MaxPool1d, AvgPool1d, BatchNorm1d, AdaptiveAvgPool1d, a mean
# over W): exactly the 2-D op with H = 1, so the 2-D handler runs on [N, C, 1, W]. The ONNX tensors keep
# their rank-3 shapes; the NHWC form of [N, C, W] inside is [N, W, C], so the layout passes cancel the
# transposes between layers and the graph input and output become channels-last, as 4-D ones do.

NCW_TO_NWC = (0, 2, 1)


def unit_height(shape: Shape) -> Shape:
    """[N, C, W] → [N, C, 1, W]; other ranks as they are (a ReduceMean with keepdims=0 gives [N, C])."""
    return (*shape[:2], 1, *shape[2:]) if len(shape) == 3 else tuple(shape)


def weights_with_unit_height(weights: np.ndarray) -> np.ndarray:
    """Conv1d weights [O, I, K] → Conv2d weights [O, I, 1, K]."""
    return weights.reshape(unit_height(weights.shape))


def axes_with_unit_height(axes: np.ndarray) -> np.ndarray:
    """Reduction axes of [N, C, W] as axes of [N, C, 1, W]: W becomes H and W."""
    mapped = [(2, 3) if int(a) % 3 == 2 else (int(a) % 3,) for a in axes.reshape(-1)]
    return np.array([a for group in mapped for a in group], np.int64)


def attrs_with_unit_height(node: onnx.NodeProto, attrs: dict) -> dict:
    """A 1-D op's spatial attributes as the 2-D op's: kernel (1, k), strides (1, s), pads (0, b, 0, e)."""
    widened = dict(attrs)
    for key, size, widen in (("kernel_shape", 1, lambda v: (1, *v)), ("strides", 1, lambda v: (1, *v)),
                             ("dilations", 1, lambda v: (1, *v)), ("pads", 2, lambda v: (0, v[0], 0, v[1]))):
        if attrs.get(key) is None:
            continue
        if len(attrs[key]) != size:
            raise unsupported(node, f"{key}={list(attrs[key])} on a rank-3 input, which has one spatial axis; "
                                    f"give {size} value{'s' * (size > 1)}")
        widened[key] = tuple(int(v) for v in widen(attrs[key]))
    return widened


def to_unit_height(b: IrBuilder, label: str, x: str) -> str:
    """[N, C, W] → NCHW [N, C, 1, W], written as NWC → NHWC so that the layout passes cancel it."""
    n, c, width = b.tensors[x].shape
    nhwc_x = b.reshape(label, b.transpose(label, x, NCW_TO_NWC), (n, 1, width, c))
    x4 = b.transpose(label, nhwc_x, NHWC_TO_NCHW)
    b.shapes[x4] = b.tensors[x4].shape
    return x4


def from_unit_height(b: IrBuilder, label: str, y4: str, out: str, shape: Shape) -> None:
    """NCHW [N, C, 1, W] → the ONNX tensor ``out`` of rank-3 ``shape`` [N, C, W]."""
    n, c, width = shape
    nwc = b.reshape(label, b.transpose(label, y4, NCHW_TO_NHWC), (n, width, c))
    b.transpose(label, nwc, NCW_TO_NWC, out)


def widened_constant(b: IrBuilder, name: str, widen: Callable[[np.ndarray], np.ndarray]) -> str:
    value = b.constant(name)
    if value is None:
        return name  # the 2-D handler says what it needs
    widened = b.fresh_name(f"{name}__unit_height")
    b.constants[widened] = widen(value)
    b.shapes[widened] = tuple(b.constants[widened].shape)
    if name in b.fixed_constants:  # a QDQ weight: its integers and per-output-channel scales stay
        b.fixed_constants[widened] = b.fixed_constants[name]
    return widened


def on_rank3_as_2d(
    handler: Callable[..., None], constant_inputs: dict[int, Callable[[np.ndarray], np.ndarray]] | None = None
) -> Callable[..., None]:
    """``handler`` (written for NCHW) that also takes a rank-3 [N, C, W] input as [N, C, 1, W]:
    attributes and the constant inputs listed in ``constant_inputs`` (index → widening) get the unit H."""

    @functools.wraps(handler)
    def handle(b: IrBuilder, node: onnx.NodeProto, **attrs) -> None:
        if len(b.shape(node.input[0], node)) != 3:
            handler(b, node, **attrs)
            return
        require_activation(b, node, node.input[0])
        label, out = node_label(node), node.output[0]
        widened = onnx.NodeProto()
        widened.CopyFrom(node)
        widened.name = label
        widened.input[0] = to_unit_height(b, label, node.input[0])
        for index, widen in (constant_inputs or {}).items():
            if input_name(node, index):
                widened.input[index] = widened_constant(b, node.input[index], widen)
        out_shape = b.shape(out, node)
        if unit_height(out_shape) != out_shape:
            widened.output[0] = b.fresh_name(f"{label}__unit_height")
            b.shapes[widened.output[0]] = unit_height(out_shape)
        handler(b, widened, **attrs_with_unit_height(node, attrs))
        if widened.output[0] != out:
            from_unit_height(b, label, widened.output[0], out, out_shape)

    return handle


# --------------------------------------------------------------------------------------------
# Handlers: one per ONNX op (opset TARGET_OPSET), ONNX attribute names and defaults as keywords


def conv(
    b: IrBuilder,
    node: onnx.NodeProto,
    *,
    auto_pad: str = "NOTSET",
    dilations: tuple[int, ...] | None = None,
    group: int = 1,
    kernel_shape: tuple[int, ...] | None = None,
    pads: tuple[int, ...] | None = None,
    strides: tuple[int, ...] | None = None,
) -> None:
    label = node_label(node)
    x = node.input[0]
    shape = require_rank(b, node, x, (4,))
    require_activation(b, node, x)
    w = required_constant(b, node, 1, "the weights")
    out_channels, _, kh, kw = w.shape
    bias = b.constant(input_name(node, 2))
    bias = np.zeros(out_channels, np.float32) if bias is None else bias
    strides = tuple(strides or (1, 1))
    dilations = tuple(dilations or (1, 1))
    attrs = {
        "strides": strides,
        "dilations": dilations,
        "pads": explicit_pads(auto_pad, shape[2:], (kh, kw), strides, dilations, pads),
        "act_min": -math.inf,
        "act_max": math.inf,
        **fixed_quant_attrs(b, node, 1, 0, 2),
    }
    channels = shape[1]
    if group == 1 or group != channels:
        op, weights = "conv2d", w.transpose(0, 2, 3, 1)  # OIHW → OHWI
        attrs["groups"] = group
    else:
        op, weights = "depthwise_conv2d", w.transpose(1, 2, 3, 0)  # [C*m,1,KH,KW] → [1,KH,KW,C*m]
        attrs["depth_multiplier"] = out_channels // channels
    x_nhwc = b.transpose(label, x, NCHW_TO_NHWC)
    inputs = (x_nhwc, b.add_constant(f"{label}__weights", weights), b.add_constant(f"{label}__bias", bias))
    y = b.emit(op, label, inputs, nhwc(b.shape(node.output[0], node)), attrs)
    b.transpose(label, y, NHWC_TO_NCHW, node.output[0])


def max_pool(
    b: IrBuilder,
    node: onnx.NodeProto,
    *,
    kernel_shape: tuple[int, ...],
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    dilations: tuple[int, ...] | None = None,
    pads: tuple[int, ...] | None = None,
    storage_order: int = 0,
    strides: tuple[int, ...] | None = None,
) -> None:
    require_unused_outputs(node, 1, "Indices")
    strides, pads4, extra = pool_geometry(
        b, node, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides
    )
    pads4 = (pads4[0], pads4[1], pads4[2] + extra[0], pads4[3] + extra[1])
    pool(b, node, "max_pool", kernel_shape, strides, pads4, {})


def average_pool(
    b: IrBuilder,
    node: onnx.NodeProto,
    *,
    kernel_shape: tuple[int, ...],
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    count_include_pad: int = 0,
    dilations: tuple[int, ...] | None = None,
    pads: tuple[int, ...] | None = None,
    strides: tuple[int, ...] | None = None,
) -> None:
    strides, pads4, extra = pool_geometry(
        b, node, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides
    )
    if any(extra):
        if count_include_pad and any(pads4):
            raise unsupported(
                node,
                "ceil_mode=1 with count_include_pad=1 and explicit pads; use ceil_mode=0 or count_include_pad=0",
            )
        # Windows overhanging the end (ceil_mode) average over their valid part only.
        count_include_pad = 0
        pads4 = (pads4[0], pads4[1], pads4[2] + extra[0], pads4[3] + extra[1])
    pool(b, node, "avg_pool", kernel_shape, strides, pads4, {"count_include_pad": int(count_include_pad)})


def global_average_pool(b: IrBuilder, node: onnx.NodeProto) -> None:
    shape = require_rank(b, node, node.input[0], (4,))
    pool(b, node, "avg_pool", shape[2:], (1, 1), (0, 0, 0, 0), {"count_include_pad": 0})


def reduce_mean(b: IrBuilder, node: onnx.NodeProto, *, keepdims: int = 1, noop_with_empty_axes: int = 0) -> None:
    """ReduceMean over the two spatial axes of a rank-4 tensor is global average pooling: H and W of NCHW
    (the dynamo exporter writes `x.mean((2, 3))` and `adaptive_avg_pool2d(x, 1)` this way), or axes 1
    and 2 of an NHWC tensor (Keras' GlobalAveragePooling2D, as tf2onnx writes it after its Transpose).
    With keepdims 0 a reshape to [N, C] follows."""
    shape = require_rank(b, node, node.input[0], (4,))
    axes_name = input_name(node, 1)
    axes = b.constant(axes_name) if axes_name else None
    if axes_name and axes is None:
        raise unsupported(node, "axes must be a constant")
    if axes is None or axes.size == 0:
        raise unsupported(node, "a mean over every axis (no axes given); mcuq reduces over H and W only")
    reduced = sorted(int(a) % 4 for a in axes.reshape(-1))
    if reduced not in ([2, 3], [1, 2]):
        raise unsupported(node, f"axes={[int(a) for a in axes.reshape(-1)]}; mcuq reduces over H and W (axes 2 and 3 "
                                "of NCHW, or 1 and 2 of NHWC: global average pooling) only")
    # The permutation that puts the tensor in NHWC order: the reduced axes in the middle, channels last.
    channel_axis = ({1, 2, 3} - set(reduced)).pop()
    to_nhwc = (0, *reduced, channel_axis)
    from_nhwc = tuple(int(i) for i in np.argsort(to_nhwc))
    label, x = node_label(node), node.input[0]
    channels = shape[channel_axis]
    attrs = {"kernel": tuple(int(shape[a]) for a in reduced), "strides": (1, 1), "pads": (0, 0, 0, 0),
             "count_include_pad": 0, "act_min": -math.inf, "act_max": math.inf}
    x_nhwc = x if to_nhwc == (0, 1, 2, 3) else b.transpose(label, x, to_nhwc)
    y = b.emit("avg_pool", label, (x_nhwc,), (shape[0], 1, 1, channels), attrs)
    if not keepdims:
        b.reshape(label, y, (shape[0], channels), node.output[0])
    elif from_nhwc == (0, 1, 2, 3):
        b.reshape(label, y, (shape[0], 1, 1, channels), node.output[0])
    else:
        b.transpose(label, y, from_nhwc, node.output[0])


def batch_normalization(
    b: IrBuilder,
    node: onnx.NodeProto,
    *,
    epsilon: float = 1e-5,
    momentum: float = 0.9,
    training_mode: int = 0,
) -> None:
    if training_mode:
        raise unsupported(node, "training_mode=1; export the model in inference mode")
    require_unused_outputs(node, 1, "running mean/var")
    scale = required_constant(b, node, 1, "scale")
    offset = required_constant(b, node, 2, "B")
    mean = required_constant(b, node, 3, "input_mean")
    var = required_constant(b, node, 4, "input_var")
    factor = scale / np.sqrt(var + epsilon)
    channel_affine(b, node, node.input[0], factor, offset - mean * factor, node.output[0])


def gemm(
    b: IrBuilder,
    node: onnx.NodeProto,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    transA: int = 0,
    transB: int = 0,
) -> None:
    label = node_label(node)
    a = node.input[0]
    require_rank(b, node, a, (2,))
    require_activation(b, node, a)
    weights = required_constant(b, node, 1, "B")
    weights = alpha * (weights if transB else weights.T)  # → [O, K]
    if transA:
        a = b.transpose(label, a, (1, 0))
    out_shape = b.shape(node.output[0], node)
    c_name = input_name(node, 2)
    c = b.constant(c_name)
    bias = np.zeros(weights.shape[0], np.float32)
    if c is not None:
        rows = np.broadcast_to(beta * c, out_shape)
        if not np.all(rows == rows[0]):
            raise unsupported(node, "C varies along the batch axis; only a bias per output is supported")
        bias = rows[0]
    fc_inputs = (a, b.add_constant(f"{label}__weights", weights), b.add_constant(f"{label}__bias", bias))
    attrs = {"act_min": -math.inf, "act_max": math.inf}
    fixed = fixed_quant_attrs(b, node, 1, 0 if transB else 1, 2 if beta == 1.0 else None, gain=alpha)
    if c_name and c is None:  # C is an activation: Y = FC(A) + beta * C
        if b.shape(c_name, node) != out_shape or beta != 1.0:
            raise unsupported(node, "an activation C must have the output's shape and beta=1")
        y = b.emit("fully_connected", label, fc_inputs, out_shape, attrs)
        b.emit("add", label, (y, c_name), out_shape, dict(attrs), node.output[0])
        return
    b.emit("fully_connected", label, fc_inputs, out_shape, {**attrs, **fixed}, node.output[0])


def mat_mul(b: IrBuilder, node: onnx.NodeProto) -> None:
    if b.constant(input_name(node, 1)) is None:
        batch_mat_mul(b, node)
        return
    mat_mul_constant_weights(b, node)


def mat_mul_constant_weights(b: IrBuilder, node: onnx.NodeProto) -> None:
    """A @ W with a constant 2-D W: one fully connected over the rows of A, whose rows are all its leading
    axes ([N, K], a sequence [N, T, K], heads [N, H, T, K]); the output keeps A's leading axes."""
    label = node_label(node)
    a = node.input[0]
    require_rank(b, node, a, (2, 3, 4))
    require_activation(b, node, a)
    weights = required_constant(b, node, 1, "B")
    if weights.ndim != 2:
        raise unsupported(node, f"B of rank {weights.ndim}; only a 2-D constant B is supported")
    inputs = (
        a,
        b.add_constant(f"{label}__weights", weights.T),
        b.add_constant(f"{label}__bias", np.zeros(weights.shape[1], np.float32)),
    )
    attrs = {"act_min": -math.inf, "act_max": math.inf, **fixed_quant_attrs(b, node, 1, 1, None)}
    b.emit("fully_connected", label, inputs, b.shape(node.output[0], node), attrs, node.output[0])


def batch_mat_mul(b: IrBuilder, node: onnx.NodeProto) -> None:
    """MatMul of two activations [..., M, K] x [..., K, N] (attention's Q K^T and A V): ``batch_matmul``,
    whose right operand is given transposed ([..., N, K], as CMSIS-NN's ``arm_batch_matmul_s8``), so each
    output is a dot product of two contiguous rows. K^T written as a Transpose before the MatMul cancels
    with the transpose emitted here (`mcuq.passes`), and the kernel reads K as it is."""
    lhs, rhs = node.input[0], node.input[1]
    lhs_shape, rhs_shape = b.shape(lhs, node), b.shape(rhs, node)
    require_activation(b, node, lhs)
    if len(lhs_shape) != len(rhs_shape) or len(lhs_shape) not in (2, 3, 4):
        raise unsupported(node, f"operands of shapes {list(lhs_shape)} and {list(rhs_shape)}; two activations "
                                "of equal rank 2, 3 or 4 are supported (reshape the smaller one first)")
    if lhs_shape[:-2] != rhs_shape[:-2] or lhs_shape[-1] != rhs_shape[-2]:
        raise unsupported(node, f"operands of shapes {list(lhs_shape)} and {list(rhs_shape)}; the batch dims must "
                                "be equal (no broadcasting) and A's last dim must equal B's second to last")
    rank = len(rhs_shape)
    swap_last_two = (*range(rank - 2), rank - 1, rank - 2)
    label = node_label(node)
    out = node.output[0]
    b.emit("batch_matmul", label, (lhs, b.transpose(label, rhs, swap_last_two)), b.shape(out, node), {}, out)


# Each arithmetic op with a constant operand as one with a constant on the right grid of mcuq's kernels:
# (op, constant index) -> (op it becomes, the constant it takes), or None: not exactly another op.
CONSTANT_FORMS: dict[tuple[str, int], Callable[[np.ndarray], tuple[str, np.ndarray]] | None] = {
    ("add", 0): lambda c: ("add", c),
    ("add", 1): lambda c: ("add", c),
    ("mul", 0): lambda c: ("mul", c),
    ("mul", 1): lambda c: ("mul", c),
    ("sub", 0): lambda c: ("sub", c),  # c - x: the Add kernel with input 2's multiplier negated
    ("sub", 1): lambda c: ("add", -c),  # x - c = x + (-c)
    ("div", 0): None,  # c / x is no product: refused
    ("div", 1): lambda c: ("mul", (1.0 / c.astype(np.float64)).astype(np.float32)),  # x / c = x * (1/c)
}

# An op with a per-channel (or scalar) constant as y = x * scale[c] + shift[c] (a 1x1 depthwise).
CHANNEL_AFFINE: dict[tuple[str, int], Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    ("add", 0): lambda v: (np.ones_like(v), v),
    ("add", 1): lambda v: (np.ones_like(v), v),
    ("mul", 0): lambda v: (v, np.zeros_like(v)),
    ("mul", 1): lambda v: (v, np.zeros_like(v)),
    ("sub", 0): lambda v: (-np.ones_like(v), v),  # c - x: exact, the weight -1 is an int8 value
}


def constant_value(b: IrBuilder, name: str) -> np.ndarray | None:
    """The value of a constant of the model or one a handler added; None for an activation."""
    value = b.constant(name)
    if value is None and name in b.tensors:
        value = b.tensors[name].data
    return value


def nhwc_operand(b: IrBuilder, label: str, name: str, rank: int) -> str:
    """An operand of a rank-4 NCHW op, in NHWC: an activation through a transpose, a constant
    reshaped to rank 4 (numpy's broadcasting aligns the last dims) and transposed."""
    value = constant_value(b, name)
    if value is None:
        return b.transpose(label, name, NCHW_TO_NHWC)
    value = value.reshape((1,) * (rank - value.ndim) + value.shape)
    return b.add_constant(f"{label}__operand", np.transpose(value, NCHW_TO_NHWC))


def from_rows(b: IrBuilder, x: str) -> bool:
    """Whether ``x`` is the output of a fully connected layer: a rank-4 one is [N, H, T, d] (attention
    heads), whose last axis holds the features, not NCHW with channels on axis 1."""
    producer = next((n for n in reversed(b.nodes) if x in n.outputs), None)
    return producer is not None and producer.op == "fully_connected"


def arithmetic(b: IrBuilder, node: onnx.NodeProto, op: str, operands: tuple[str, str]) -> None:
    """``op`` of two operands (activations or a constant) that broadcast to the output: in NHWC where
    the output is rank 4, between transposes that `mcuq.passes` cancels with its neighbours'."""
    label, out = node_label(node), node.output[0]
    out_shape = b.shape(out, node)
    attrs = {"act_min": -math.inf, "act_max": math.inf}
    values = [constant_value(b, name) for name in operands]
    shapes = [b.shape(name, node) if value is None else value.shape for name, value in zip(operands, values)]
    same_shapes = all(value is None and tuple(shape) == tuple(out_shape) for value, shape in zip(values, shapes))
    if len(out_shape) != 4 or same_shapes or any(from_rows(b, name) for name in operands):
        b.emit(op, label, operands, out_shape, attrs, out)
        return
    if any(len(shape) != 4 for value, shape in zip(values, shapes) if value is None):
        raise unsupported(node, "two activations of different ranks; reshape the smaller one to rank 4 first")
    nhwc = tuple(nhwc_operand(b, label, name, 4) for name in operands)
    y = b.emit(op, label, nhwc, tuple(out_shape[p] for p in NCHW_TO_NHWC), attrs)
    b.transpose(label, y, NHWC_TO_NCHW, out)


def elementwise_binary(b: IrBuilder, node: onnx.NodeProto, op: str) -> None:
    """Add, Sub, Mul, Div. Two activations: the op itself (Div refused). A constant operand: the op's
    constant form (`CONSTANT_FORMS`), as a 1x1 depthwise when it is one value per channel (or a
    scalar), else as the op with an int8 constant operand of any broadcastable shape."""
    first, second = node.input
    out_shape = b.shape(node.output[0], node)
    constants = b.constant(first), b.constant(second)
    if all(c is None for c in constants):
        gate = gated_by_itself(b, first, second) if op == "mul" else None
        if gate is not None:  # the gate node is left without readers: the passes drop it
            b.emit(gate[0], node_label(node), (gate[1],), out_shape, {}, node.output[0])
            return
        if op == "div":
            raise unsupported(node, "division by an activation; only a constant divisor is supported "
                                    "(x / c = x * (1/c))")
        arithmetic(b, node, op, (first, second))
        return
    if all(c is not None for c in constants):
        raise unsupported(node, "both operands are constants; fold the node into a constant before compiling")
    index = 1 if constants[1] is not None else 0
    x, constant = node.input[1 - index], constants[index].astype(np.float32)
    form = CONSTANT_FORMS[op, index]
    if form is None:
        raise unsupported(node, "a constant divided by an activation (c / x) is not supported; only x / c is")
    if op == "div" and not np.all(constant != 0):
        raise unsupported(node, "division by a constant that holds 0")
    op, constant = form(constant)
    affine = CHANNEL_AFFINE.get((op, index))
    vector = per_channel_vector(constant, out_shape) if b.shape(x, node) == out_shape else None
    if affine is not None and vector is not None and len(out_shape) in (2, 4):
        scale, shift = affine(vector)
        channel_affine(b, node, x, scale, shift, node.output[0])
        return
    operands = (x, b.add_constant(f"{node_label(node)}__constant", constant))
    arithmetic(b, node, op, operands if index == 1 else operands[::-1])


# x * gate(x) as one function of x: SiLU (torch writes it as Mul(x, Sigmoid(x)) in every export) and
# HardSwish (Mul(x, HardSigmoid(x)) below opset 14).
GATED = {"sigmoid": ("swish", {}), "hard_sigmoid": ("hard_swish", {"alpha": 1.0 / 6.0, "beta": 0.5})}


def gated_by_itself(b: IrBuilder, first: str, second: str) -> tuple[str, str] | None:
    """(IR op, x) when one factor is a `GATED` gate of the other, x; else None."""
    for x, gate in ((first, second), (second, first)):
        producer = next((node for node in b.nodes if gate in node.outputs), None)
        if producer is None or producer.op not in GATED or producer.inputs[0] != x:
            continue
        op, attrs = GATED[producer.op]
        if all(math.isclose(producer.attrs[k], v, rel_tol=1e-6) for k, v in attrs.items()):
            return op, x
    return None


def add(b: IrBuilder, node: onnx.NodeProto) -> None:
    elementwise_binary(b, node, "add")


def mul(b: IrBuilder, node: onnx.NodeProto) -> None:
    elementwise_binary(b, node, "mul")


def sub(b: IrBuilder, node: onnx.NodeProto) -> None:
    elementwise_binary(b, node, "sub")


def div(b: IrBuilder, node: onnx.NodeProto) -> None:
    elementwise_binary(b, node, "div")


def clamp(b: IrBuilder, node: onnx.NodeProto, low: float, high: float) -> None:
    attrs = {"act_min": float(low), "act_max": float(high)}
    b.emit("clip", node_label(node), (node.input[0],), b.shape(node.output[0], node), attrs, node.output[0])


def relu(b: IrBuilder, node: onnx.NodeProto) -> None:
    clamp(b, node, 0.0, math.inf)


def clip(b: IrBuilder, node: onnx.NodeProto) -> None:
    bounds = []
    for index, default in ((1, -math.inf), (2, math.inf)):
        name = input_name(node, index)
        if name and b.constant(name) is None:
            raise unsupported(node, f"input {index} ({name!r}) must be a constant bound")
        bounds.append(scalar(b.constant(name)) if name else default)
    clamp(b, node, *bounds)


def leaky_relu(b: IrBuilder, node: onnx.NodeProto, *, alpha: float = 0.01) -> None:
    out = node.output[0]
    b.emit("leaky_relu", node_label(node), (node.input[0],), b.shape(out, node), {"alpha": float(alpha)}, out)


def unary(op: str) -> Callable[[IrBuilder, onnx.NodeProto], None]:
    def handler(b: IrBuilder, node: onnx.NodeProto) -> None:
        out = node.output[0]
        b.emit(op, node_label(node), (node.input[0],), b.shape(out, node), {}, out)

    handler.__name__ = op
    return handler


def unary_with(op: str, **defaults) -> Callable[..., None]:
    """A function of one value whose ONNX attributes (``defaults``: names and ONNX defaults) become the
    IR node's attributes, e.g. HardSigmoid's alpha and beta."""

    def handler(b: IrBuilder, node: onnx.NodeProto, **attrs) -> None:
        unknown = sorted(set(attrs) - set(defaults))
        if unknown:
            raise unsupported(node, f"attribute {unknown[0]!r} is not supported")
        out = node.output[0]
        b.emit(op, node_label(node), (node.input[0],), b.shape(out, node), {**defaults, **attrs}, out)

    handler.__name__ = op
    return handler


def gelu(b: IrBuilder, node: onnx.NodeProto, *, approximate: str = "none") -> None:
    if approximate not in ("none", "tanh"):
        raise unsupported(node, f"approximate={approximate!r}; ONNX Gelu takes 'none' or 'tanh'")
    out = node.output[0]
    b.emit("gelu", node_label(node), (node.input[0],), b.shape(out, node), {"approximate": approximate}, out)


def prelu(b: IrBuilder, node: onnx.NodeProto) -> None:
    """One slope for all: LeakyRelu (a table). One slope per channel (axis 1: torch writes [C] for
    [N, C] inputs and [C, 1, 1] for NCHW ones): ``prelu`` over NHWC, one negative-side multiplier per
    channel in the kernel."""
    label, x, out = node_label(node), node.input[0], node.output[0]
    shape = b.shape(x, node)
    require_activation(b, node, x)
    slope = required_constant(b, node, 1, "slope").astype(np.float32)
    if np.all(slope == slope.reshape(-1)[0]):
        b.emit("leaky_relu", label, (x,), shape, {"alpha": scalar(slope)}, out)
        return
    vector = per_channel_vector(slope, shape)
    if vector is None or len(shape) not in (2, 4):
        raise unsupported(node, f"slope of shape {list(slope.shape)} on an input of shape {list(shape)}; mcuq "
                                "supports one slope, or one per channel (axis 1) of a rank-2 or rank-4 input")
    slope_name = b.add_constant(f"{label}__slope", vector)
    if len(shape) == 2:
        b.emit("prelu", label, (x, slope_name), shape, {}, out)
        return
    y = b.emit("prelu", label, (b.transpose(label, x, NCHW_TO_NHWC), slope_name), nhwc(shape), {})
    b.transpose(label, y, NHWC_TO_NCHW, out)


def softmax(b: IrBuilder, node: onnx.NodeProto, *, axis: int = -1) -> None:
    out = node.output[0]
    shape = b.shape(out, node)
    if axis % len(shape) == 0:
        # The float reference runs many samples as one batch: a softmax across it would mix them.
        raise unsupported(node, f"axis={axis} is the batch axis: over a batch of one it outputs 1.0 everywhere; "
                          "take the softmax over a feature axis (e.g. axis=-1)")
    b.emit("softmax", node_label(node), (node.input[0],), shape, {"axis": axis % len(shape)}, out)


def layer_normalization(b: IrBuilder, node: onnx.NodeProto, *, axis: int = -1, epsilon: float = 1e-5,
                        stash_type: int = 1) -> None:
    """LayerNormalization over the last axis with a constant scale (gamma) and bias (beta): one
    ``layer_norm`` node (integer statistics, gamma and beta folded into a per-feature requantization)."""
    x, out = node.input[0], node.output[0]
    shape = b.shape(x, node)
    require_activation(b, node, x)
    require_unused_outputs(node, 1, "Mean or InvStdDev")
    if axis % len(shape) != len(shape) - 1:
        raise unsupported(node, f"axis={axis} normalizes over {len(shape) - axis % len(shape)} axes; only the last "
                                "axis (axis=-1) is supported: reshape the normalized axes into one first")
    features = shape[-1]
    scale = required_constant(b, node, 1, "Scale").astype(np.float32)
    bias = b.constant(input_name(node, 2))
    bias = np.zeros(features, np.float32) if bias is None else bias.astype(np.float32)
    if scale.size not in (1, features) or bias.size not in (1, features):
        raise unsupported(node, f"Scale of {scale.size} and B of {bias.size} values; one per feature "
                                f"({features}) or one for all is supported")
    label = node_label(node)
    inputs = (x, b.add_constant(f"{label}__scale", np.broadcast_to(scale.reshape(-1), (features,))),
              b.add_constant(f"{label}__bias", np.broadcast_to(bias.reshape(-1), (features,))))
    b.emit("layer_norm", label, inputs, b.shape(out, node), {"epsilon": float(epsilon)}, out)


def concat(b: IrBuilder, node: onnx.NodeProto, *, axis: int) -> None:
    out = node.output[0]
    shape = b.shape(out, node)
    if any(b.constant(name) is not None for name in node.input):
        concat_with_constants(b, node, axis % len(shape))
        return
    b.emit("concat", node_label(node), tuple(node.input), shape, {"axis": axis % len(shape)}, out)


def concat_with_constants(b: IrBuilder, node: onnx.NodeProto, axis: int) -> None:
    """One activation concatenated with constants (a transformer's class token before its sequence) is
    exactly the activation padded with zeros where the constants go, plus a constant holding them there
    (zeros elsewhere): Pad and Add, no kernel of its own. A positional embedding added next merges into
    that constant (`mcuq.passes`)."""
    label, out = node_label(node), node.output[0]
    out_shape = b.shape(out, node)
    activations = [name for name in node.input if b.constant(name) is None]
    if len(activations) != 1 or len(out_shape) == 4:
        raise unsupported(node, "constants concatenated with several activations, or rank-4 tensors; mcuq "
                                "concatenates constants with one activation of rank 2 or 3 (a class token)")
    x = activations[0]
    parts = [np.broadcast_to(b.constant(name), out_shape[:axis] + b.constant(name).shape[axis:axis + 1]
                             + out_shape[axis + 1:]) if name != x else np.zeros(b.shape(x, node), np.float32)
             for name in node.input]
    index = list(node.input).index(x)
    pads = [0] * (2 * len(out_shape))
    pads[axis] = sum(part.shape[axis] for part in parts[:index])
    pads[len(out_shape) + axis] = sum(part.shape[axis] for part in parts[index + 1:])
    padded = b.emit("pad", label, (x,), out_shape, {"pads": tuple(pads), "value": 0.0})
    filled = b.add_constant(f"{label}__constants", np.concatenate(parts, axis=axis))
    b.emit("add", label, (padded, filled), out_shape, {"act_min": -math.inf, "act_max": math.inf}, out)


def transpose(b: IrBuilder, node: onnx.NodeProto, *, perm: tuple[int, ...] | None = None) -> None:
    rank = len(b.shape(node.input[0], node))
    perm = tuple(int(p) for p in perm) if perm else tuple(reversed(range(rank)))
    b.transpose(node_label(node), node.input[0], perm, node.output[0])


def to_inferred_shape(b: IrBuilder, node: onnx.NodeProto) -> None:
    """Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout: a reshape to the inferred shape."""
    require_activation(b, node, node.input[0])
    b.reshape(node_label(node), node.input[0], b.shape(node.output[0], node), node.output[0])


def reshape(b: IrBuilder, node: onnx.NodeProto, *, allowzero: int = 0) -> None:
    to_inferred_shape(b, node)


def flatten(b: IrBuilder, node: onnx.NodeProto, *, axis: int = 1) -> None:
    to_inferred_shape(b, node)


def identity(b: IrBuilder, node: onnx.NodeProto) -> None:
    to_inferred_shape(b, node)


def dropout(b: IrBuilder, node: onnx.NodeProto, *, seed: int = 0) -> None:
    require_unused_outputs(node, 1, "mask")
    training = b.constant(input_name(node, 2))
    if training is not None and bool(training):
        raise unsupported(node, "training_mode=true; export the model in inference mode")
    to_inferred_shape(b, node)


def pad(b: IrBuilder, node: onnx.NodeProto, *, mode: str = "constant") -> None:
    if mode != "constant":
        raise unsupported(node, f"mode={mode!r}; only constant padding is supported")
    rank = len(b.shape(node.input[0], node))
    amounts = required_constant(b, node, 1, "pads").astype(int)
    value = b.constant(input_name(node, 2))
    value = 0.0 if value is None or value.size == 0 else scalar(value)
    axes_name = input_name(node, 3)
    axes = b.constant(axes_name) if axes_name else np.arange(rank)
    if axes is None:
        raise unsupported(node, "axes must be a constant")
    pads = [0] * (2 * rank)
    for i, axis in enumerate(int(a) % rank for a in axes):
        pads[axis], pads[rank + axis] = int(amounts[i]), int(amounts[len(axes) + i])
    if any(p < 0 for p in pads):
        raise unsupported(node, "negative pads (cropping)")
    out = node.output[0]
    b.emit(
        "pad",
        node_label(node),
        (node.input[0],),
        b.shape(out, node),
        {"pads": tuple(pads), "value": value},
        out,
    )


def quantize_linear(
    b: IrBuilder, node: onnx.NodeProto, *, axis: int = 1, block_size: int = 0, output_dtype: int = 0,
    saturate: int = 1,
) -> None:
    """In the canonical QDQ form (`mcuq.frontend.qdq`) every QuantizeLinear left is the first half of a
    per-tensor fake quantization of an activation: an IR ``fake_quant`` node."""
    require_activation(b, node, node.input[0])
    scale = required_constant(b, node, 1, "y_scale")
    zero_point = required_constant(b, node, 2, "y_zero_point")
    if scale.size != 1 or block_size:
        raise unsupported(node, "per-channel or blocked quantization of an activation")
    offset = -128 if zero_point.dtype == np.uint8 else 0  # the same grid in the int8 domain
    attrs = {"scale": float(np.float32(scalar(scale))), "zero_point": int(scalar(zero_point)) + offset}
    out = node.output[0]
    b.emit("fake_quant", node_label(node), (node.input[0],), b.shape(out, node), attrs, out)


def dequantize_linear(b: IrBuilder, node: onnx.NodeProto, *, axis: int = 1, block_size: int = 0) -> None:
    """The second half of a fake quantization (its QuantizeLinear already holds the parameters)."""
    to_inferred_shape(b, node)


def resize(
    b: IrBuilder,
    node: onnx.NodeProto,
    *,
    antialias: int = 0,
    axes: tuple[int, ...] | None = None,
    coordinate_transformation_mode: str = "half_pixel",
    cubic_coeff_a: float = -0.75,
    exclude_outside: int = 0,
    extrapolation_value: float = 0.0,
    keep_aspect_ratio_policy: str = "stretch",
    mode: str = "nearest",
    nearest_mode: str = "round_prefer_floor",
) -> None:
    """Resize (and Upsample, which the version converter turns into Resize) over H and W of NCHW:
    nearest (a gather) or linear (bilinear). The source rows and columns (and bilinear weights) are
    computed here once (`resample`) and carried by the IR node."""
    label, x, out = node_label(node), node.input[0], node.output[0]
    shape = require_rank(b, node, x, (4,))
    out_shape = b.shape(out, node)
    transform = coordinate_transformation_mode
    if mode not in ("nearest", "linear"):
        raise unsupported(node, f"mode={mode!r}; mcuq resizes with mode 'nearest' or 'linear' (bilinear): "
                                "re-export with nearest or bilinear interpolation")
    if antialias or exclude_outside:
        raise unsupported(node, "antialias=1 or exclude_outside=1; export with antialias=False (torch's default)")
    if keep_aspect_ratio_policy != "stretch":
        raise unsupported(node, f"keep_aspect_ratio_policy={keep_aspect_ratio_policy!r}; give the output sizes "
                                "(policy 'stretch')")
    if transform not in resample.COORDINATE_TRANSFORMS:  # no reference runtime runs tf_half_pixel_for_nearest
        raise unsupported(node, f"coordinate_transformation_mode={transform!r}; re-export with one of "
                                f"{', '.join(resample.COORDINATE_TRANSFORMS)} (torch writes these)")
    if nearest_mode not in resample.NEAREST_ROUNDING:
        raise unsupported(node, f"nearest_mode={nearest_mode!r}")
    if tuple(out_shape[:2]) != tuple(shape[:2]):
        raise unsupported(node, f"it resizes N or C ({list(shape)} -> {list(out_shape)}); mcuq resizes H and W "
                                "only: give scales [1, 1, sH, sW]")
    scales = _resize_scales(b, node, shape, out_shape, axes)
    tables = {}
    for key, axis in (("rows", 2), ("cols", 3)):
        n_in, n_out = shape[axis], out_shape[axis]
        tables[key] = (resample.nearest_sources(transform, nearest_mode, scales[axis], n_in, n_out)
                       if mode == "nearest" else resample.linear_sources(transform, scales[axis], n_in, n_out))
    op = "resize_nearest" if mode == "nearest" else "resize_bilinear"
    y = b.emit(op, label, (b.transpose(label, x, NCHW_TO_NHWC),), nhwc(out_shape), tables)
    b.transpose(label, y, NHWC_TO_NCHW, out)


def _resize_scales(b: IrBuilder, node: onnx.NodeProto, shape: Shape, out_shape: Shape,
                   axes: tuple[int, ...] | None) -> tuple[float, ...]:
    """The scale of each axis the coordinate transformation divides by: the constant ``scales`` input
    where given, else output length / input length (``sizes``)."""
    for index, what in ((1, "roi"), (2, "scales"), (3, "sizes")):
        if input_name(node, index) and b.constant(input_name(node, index)) is None:
            raise unsupported(node, f"{what} (input {index}) must be a constant")
    given = b.constant(input_name(node, 2))
    ratios = [out_shape[a] / shape[a] for a in range(4)]
    if given is None or given.size == 0:
        return tuple(ratios)
    full = list(ratios)
    for axis, value in zip(axes if axes else range(4), given.reshape(-1)):
        full[int(axis) % 4] = float(value)
    return tuple(full)


def conv_transpose(
    b: IrBuilder,
    node: onnx.NodeProto,
    *,
    auto_pad: str = "NOTSET",
    dilations: tuple[int, ...] | None = None,
    group: int = 1,
    kernel_shape: tuple[int, ...] | None = None,
    output_padding: tuple[int, ...] | None = None,
    output_shape: tuple[int, ...] | None = None,
    pads: tuple[int, ...] | None = None,
    strides: tuple[int, ...] | None = None,
) -> None:
    """2-D ConvTranspose, group 1, dilation 1: an IR ``conv_transpose2d`` with OHWI weights (the
    ONNX weight is [C_in, C_out, KH, KW]); output_padding and the end pads only set the output size,
    which shape inference gives."""
    label, x, out = node_label(node), node.input[0], node.output[0]
    shape = require_rank(b, node, x, (4,))
    require_activation(b, node, x)
    w = required_constant(b, node, 1, "the weights")
    if group != 1:
        raise unsupported(node, f"group={group}; mcuq runs ConvTranspose with group 1 only")
    if dilations and any(d != 1 for d in dilations):
        raise unsupported(node, f"dilations={list(dilations)}; ConvTranspose supports dilation 1 only")
    if auto_pad not in ("NOTSET", "") or output_shape:
        raise unsupported(node, "auto_pad or output_shape; export with explicit pads and output_padding "
                                "(torch's ConvTranspose2d does)")
    _, out_channels, kh, kw = w.shape
    strides = tuple(strides or (1, 1))
    begins = tuple(int(p) for p in (pads or (0, 0, 0, 0))[:2])
    out_nhwc = nhwc(b.shape(out, node))
    why = phases.unsupported_geometry(tuple(shape[2:]), out_nhwc[1:3], (kh, kw), strides, begins)
    if why:
        raise unsupported(node, f"{why}; mcuq runs ConvTranspose as stride phases of a convolution")
    bias = b.constant(input_name(node, 2))
    bias = np.zeros(out_channels, np.float32) if bias is None else bias
    attrs = {"strides": strides, "pads": begins, "output_hw": out_nhwc[1:3], "act_min": -math.inf, "act_max": math.inf,
             **fixed_quant_attrs(b, node, 1, 1, 2)}
    inputs = (b.transpose(label, x, NCHW_TO_NHWC),
              b.add_constant(f"{label}__weights", w.transpose(1, 2, 3, 0)),  # [C_in, C_out, KH, KW] -> OHWI
              b.add_constant(f"{label}__bias", bias))
    y = b.emit("conv_transpose2d", label, inputs, out_nhwc, attrs)
    b.transpose(label, y, NHWC_TO_NCHW, out)


# --------------------------------------------------------------------------------------------
# Selecting bytes: Slice, Split, Gather with constant indices


@dataclass(frozen=True)
class Box:
    """What a Slice keeps along each axis of an ONNX tensor: indices start, start + step, ... (size of them)."""

    starts: tuple[int, ...]
    steps: tuple[int, ...]
    sizes: tuple[int, ...]

    @staticmethod
    def whole(shape: Shape) -> Box:
        return Box((0,) * len(shape), (1,) * len(shape), tuple(shape))

    def along(self, axis: int, start: int, step: int, size: int) -> Box:
        def put(values: tuple[int, ...], value: int) -> tuple[int, ...]:
            return values[:axis] + (value,) + values[axis + 1:]

        return Box(put(self.starts, start), put(self.steps, step), put(self.sizes, size))

    def permuted(self, perm: tuple[int, ...]) -> Box:
        return Box(*(tuple(values[p] for p in perm) for values in (self.starts, self.steps, self.sizes)))


def clamped_bounds(start: int, end: int, dim: int) -> tuple[int, int]:
    """ONNX Slice's start and end for a positive step: negative counts from the end, then clamped to [0, dim]."""
    start, end = (v + dim if v < 0 else v for v in (start, end))
    return min(max(start, 0), dim), min(max(end, 0), dim)


def emit_box(b: IrBuilder, node: onnx.NodeProto, x: str, box: Box, output: str = "") -> str:
    """An IR slice of ``box`` of the ONNX tensor ``x``: in NHWC between transposes for a rank-4 (NCHW)
    tensor (the layout pass cancels them), directly otherwise."""
    label, shape = node_label(node), b.shape(x, node)
    if 0 in box.sizes:
        raise unsupported(node, f"an empty selection (output shape {list(box.sizes)})")
    if box.sizes[0] != shape[0] or box.starts[0] != 0:
        return emit_leading_box(b, node, x, box, output)
    if len(shape) != 4:
        attrs = {"starts": box.starts, "steps": box.steps, "sizes": box.sizes}
        return b.emit("slice", label, (x,), box.sizes, attrs, output)
    inner = box.permuted(NCHW_TO_NHWC)
    attrs = {"starts": inner.starts, "steps": inner.steps, "sizes": inner.sizes}
    y = b.emit("slice", label, (b.transpose(label, x, NCHW_TO_NHWC),), inner.sizes, attrs)
    return b.transpose(label, y, NHWC_TO_NCHW, output)


def emit_leading_box(b: IrBuilder, node: onnx.NodeProto, x: str, box: Box, output: str) -> str:
    """A selection along axis 0 of ``x`` [k, ...]. The IR runs one sample of the model (graph inputs have
    batch 1), so the k rows of a tensor like LSTM's Y_h [directions, N, H] or the packed QKV [3, T, N, D]
    are data, not samples: as [1, k, rest] they are a slice along axis 1, between two zero-copy reshapes."""
    label, shape = node_label(node), b.shape(x, node)
    if box.sizes[1:] != tuple(shape[1:]):
        raise unsupported(node, "it selects along axis 0 and along other axes at once; select along axis 0 "
                                "in a node of its own")
    rest = math.prod(shape[1:])
    rows = b.reshape(label, x, (1, shape[0], rest))
    inner = Box((0, box.starts[0], 0), (1, box.steps[0], 1), (1, box.sizes[0], rest))
    attrs = {"starts": inner.starts, "steps": inner.steps, "sizes": inner.sizes}
    picked = b.emit("slice", label, (rows,), inner.sizes, attrs)
    return b.reshape(label, picked, box.sizes, output)


def optional_constant(b: IrBuilder, node: onnx.NodeProto, index: int, what: str) -> np.ndarray | None:
    """Input ``index`` as a constant, None when the node leaves it out; refused when it is computed."""
    name = input_name(node, index)
    if name and b.constant(name) is None:
        raise unsupported(node, f"{what} (input {index}) must be a constant")
    return b.constant(name) if name else None


def slice_(b: IrBuilder, node: onnx.NodeProto) -> None:
    shape = b.shape(node.input[0], node)
    require_activation(b, node, node.input[0])
    starts = required_constant(b, node, 1, "starts").reshape(-1).astype(np.int64)
    ends = required_constant(b, node, 2, "ends").reshape(-1).astype(np.int64)
    axes = optional_constant(b, node, 3, "axes")
    steps = optional_constant(b, node, 4, "steps")
    axes = np.arange(starts.size) if axes is None else axes.reshape(-1).astype(np.int64)
    steps = np.ones(starts.size, np.int64) if steps is None else steps.reshape(-1).astype(np.int64)
    box = Box.whole(shape)
    for axis, start, end, step in zip(axes, starts, ends, steps):
        axis = int(axis) % len(shape)
        if step < 1:
            raise unsupported(node, f"step {int(step)} on axis {axis}; only positive steps are supported "
                                    "(a reversed selection: flip the weights of the next layer instead)")
        start, end = clamped_bounds(int(start), int(end), shape[axis])  # INT64_MAX: to the end
        box = box.along(axis, start, int(step), len(range(start, end, int(step))))
    emit_box(b, node, node.input[0], box, node.output[0])


def split(b: IrBuilder, node: onnx.NodeProto, *, axis: int = 0, num_outputs: int | None = None,
          split: tuple[int, ...] | None = None) -> None:
    """Each output a slice of the input along ``axis``; their sizes as shape inference gives them
    (from the split sizes, ``num_outputs`` or an equal split)."""
    shape = b.shape(node.input[0], node)
    require_activation(b, node, node.input[0])
    axis %= len(shape)
    start = 0
    for out in node.output:
        size = b.shape(out, node)[axis]
        if out:
            emit_box(b, node, node.input[0], Box.whole(shape).along(axis, start, 1, size), out)
        start += size


def evenly_spaced(indices: np.ndarray) -> int | None:
    """The positive step of an evenly rising list of indices (1 for a single index), else None."""
    steps = np.diff(indices)
    if steps.size == 0:
        return 1
    return int(steps[0]) if steps[0] > 0 and np.all(steps == steps[0]) else None


def emit_gather(b: IrBuilder, node: onnx.NodeProto, x: str, axis: int, indices: np.ndarray) -> None:
    """Gather of an arbitrary list along ``axis``: the axis moved last (NCHW's channels: to NHWC),
    a gather_channels, and back."""
    label = node_label(node)
    perm = ir.axis_last_perm(len(b.shape(x, node)), axis)
    moved = b.transpose(label, x, perm)
    out_shape = b.tensors[moved].shape[:-1] + (len(indices),)
    y = b.emit("gather_channels", label, (moved,), out_shape, {"indices": tuple(int(i) for i in indices)})
    b.transpose(label, y, tuple(int(i) for i in np.argsort(perm)), node.output[0])


def gather(b: IrBuilder, node: onnx.NodeProto, *, axis: int = 0) -> None:
    """Gather with constant indices: one index is a slice that drops the axis (``x[:, -1]``); an evenly
    rising list a slice with a step; any other list a gather of channels along the axis."""
    x = node.input[0]
    shape = b.shape(x, node)
    require_activation(b, node, x)
    axis %= len(shape)
    indices = required_constant(b, node, 1, "indices").astype(np.int64)
    if indices.ndim > 1:
        raise unsupported(node, f"indices of rank {indices.ndim}; a scalar or a 1-D list is supported")
    dim = shape[axis]
    if np.any(indices < -dim) or np.any(indices >= dim):
        raise unsupported(node, f"an index outside [-{dim}, {dim - 1}] on axis {axis}")
    flat = np.where(indices < 0, indices + dim, indices).reshape(-1)
    step = evenly_spaced(flat)
    if step is None and axis == 0:
        raise unsupported(node, "a list of indices along axis 0 that is not evenly spaced; gather one index, "
                                "an evenly spaced list, or along another axis")
    if step is None:
        emit_gather(b, node, x, axis, flat)
        return
    box = Box.whole(shape).along(axis, int(flat[0]), step, flat.size)
    if indices.ndim == 1:
        emit_box(b, node, x, box, node.output[0])
    else:
        b.reshape(node_label(node), emit_box(b, node, x, box), b.shape(node.output[0], node), node.output[0])



def moves_batch_away(b: IrBuilder, x: str) -> bool:
    """Whether ``x`` comes from a transpose that put another axis first (the batch axis is elsewhere)."""
    producer = next((n for n in reversed(b.nodes) if x in n.outputs), None)
    return producer is not None and producer.op == "transpose" and producer.attrs["perm"][0] != 0


def gather_nd(b: IrBuilder, node: onnx.NodeProto, *, batch_dims: int = 0) -> None:
    """GatherND with constant indices of shape [k, 1] takes k slices along axis 0: the dynamo exporter
    writes ``x[:, [3, 0]]`` as Transpose (channels first) -> GatherND -> Transpose, a Gather of channels."""
    x = node.input[0]
    shape = b.shape(x, node)
    require_activation(b, node, x)
    indices = required_constant(b, node, 1, "indices").astype(np.int64)
    if batch_dims != 0 or indices.ndim != 2 or indices.shape[1] != 1:
        raise unsupported(node, f"batch_dims={batch_dims} with indices of shape {list(indices.shape)}; "
                                "only indices of shape [k, 1] (a list along axis 0) are supported")
    if np.any(indices < -shape[0]) or np.any(indices >= shape[0]):
        raise unsupported(node, f"indices {indices.reshape(-1).tolist()} outside [-{shape[0]}, {shape[0] - 1}]")
    if not moves_batch_away(b, x):
        raise unsupported(node, "it gathers along axis 0 of a tensor whose axis 0 is the batch; transpose the "
                                "axis to gather to the front first (as the dynamo exporter does)")
    emit_gather(b, node, x, 0, np.where(indices < 0, indices + shape[0], indices).reshape(-1))


# --------------------------------------------------------------------------------------------
# Recurrent layers: LSTM and GRU, one direction, batch 1


@dataclass(frozen=True)
class Recurrent:
    """What distinguishes LSTM and GRU in the frontend: the IR op, its ONNX default activations, the ONNX
    inputs of its initial states, and its IR outputs (LSTM: the hidden and the cell state of each step)."""

    op: str
    activations: tuple[str, ...]
    initial_states: tuple[int, ...]  # initial_h (and initial_c)
    sequences: int


LSTM = Recurrent("lstm", ("Sigmoid", "Tanh", "Tanh"), (5, 6), 2)
GRU = Recurrent("gru", ("Sigmoid", "Tanh"), (5,), 1)


def recurrent_checks(node: onnx.NodeProto, kind: Recurrent, direction: str, activations, clip,
                     alpha_beta: tuple) -> None:
    """Refuse what the int8 LSTM / GRU kernels do not do, naming the fix."""
    if direction not in ("forward", "reverse"):
        raise unsupported(node, f"direction={direction!r}; forward and reverse are supported (split a bidirectional "
                                "layer into a forward and a reverse one)")
    names = tuple(a.decode() if isinstance(a, bytes) else str(a) for a in (activations or kind.activations))
    if tuple(n.lower() for n in names) != tuple(n.lower() for n in kind.activations) or any(alpha_beta):
        raise unsupported(node, f"activations={list(names)}; only the default {list(kind.activations)} are supported")
    if clip is not None:
        raise unsupported(node, f"clip={clip}; export the layer without a cell clip")


def recurrent_initial_state(b: IrBuilder, node: onnx.NodeProto, index: int, hidden: int) -> str:
    """initial_h / initial_c [1, 1, H] as a constant [H] (zeros where the node leaves it out)."""
    value = optional_constant(b, node, index, "the initial state")
    value = np.zeros(hidden, np.float32) if value is None else np.asarray(value, np.float32)
    if value.size != hidden:
        raise unsupported(node, f"an initial state of shape {list(value.shape)}; batch 1 is supported")
    return b.add_constant(f"{node_label(node)}__initial_{index}", value.reshape(hidden))


def emit_recurrent(b: IrBuilder, node: onnx.NodeProto, kind: Recurrent, hidden_size: int, layout: int,
                   reverse: bool) -> None:
    """One IR ``lstm``/``gru`` node over the sequence [1, T, F] (batch first) whose outputs [1, T, H] are each
    step's hidden state (and the LSTM's cell state, for calibration and Y_c); Y, Y_h and Y_c are reshapes
    and slices of these in the ONNX layout."""
    label, x = node_label(node), node.input[0]
    shape = require_rank(b, node, x, (3,))
    require_activation(b, node, x)
    steps, batch = (shape[1], shape[0]) if layout else (shape[0], shape[1])
    if batch != 1:
        raise unsupported(node, f"batch {batch}; batch 1 is supported")
    lens = optional_constant(b, node, 4, "sequence_lens")
    if lens is not None and np.any(np.asarray(lens) != steps):
        raise unsupported(node, "sequence_lens shorter than the sequence; give every sequence its full length")
    peepholes = optional_constant(b, node, 7, "P") if kind is LSTM else None
    if peepholes is not None and np.any(peepholes):
        raise unsupported(node, "peephole weights P; export the LSTM without peepholes")
    w = required_constant(b, node, 1, "W")[0]
    bias = optional_constant(b, node, 3, "B")
    inputs = (x if layout else b.transpose(label, x, (1, 0, 2)), b.add_constant(f"{label}__W", w),
              b.add_constant(f"{label}__R", required_constant(b, node, 2, "R")[0]),
              b.add_constant(f"{label}__B", np.zeros(2 * w.shape[0], np.float32) if bias is None else bias[0]),
              *(recurrent_initial_state(b, node, i, hidden_size) for i in kind.initial_states))
    sequences = tuple(b.fresh_name(f"{label}__{kind.op}_{what}") for what in ("h", "c")[:kind.sequences])
    for name in sequences:
        b.tensors[name] = ir.Tensor(name, (1, steps, hidden_size))
    b.nodes.append(ir.Node(kind.op, label, inputs, sequences, {"reverse": reverse}))
    if node.output[0]:  # Y: [T, 1, 1, H] (layout 0) or [1, T, 1, H] (layout 1)
        ordered = sequences[0] if layout else b.transpose(label, sequences[0], (1, 0, 2))
        b.reshape(label, ordered, b.shape(node.output[0], node), node.output[0])
    last = {"starts": (0, 0 if reverse else steps - 1, 0), "steps": (1, 1, 1), "sizes": (1, 1, hidden_size)}
    for name, sequence in zip(node.output[1:], sequences):  # Y_h, Y_c: the state after the last step
        if name:
            state = b.emit("slice", label, (sequence,), last["sizes"], last)
            b.reshape(label, state, b.shape(name, node), name)


def lstm(b: IrBuilder, node: onnx.NodeProto, *, hidden_size: int, direction: str = "forward", activations=None,
         activation_alpha=None, activation_beta=None, clip=None, input_forget: int = 0, layout: int = 0) -> None:
    recurrent_checks(node, LSTM, direction, activations, clip, (activation_alpha, activation_beta))
    if input_forget:
        raise unsupported(node, "input_forget=1; export the LSTM without coupled input and forget gates")
    emit_recurrent(b, node, LSTM, hidden_size, layout, direction == "reverse")


def gru(b: IrBuilder, node: onnx.NodeProto, *, hidden_size: int, direction: str = "forward", activations=None,
        activation_alpha=None, activation_beta=None, clip=None, linear_before_reset: int = 0, layout: int = 0) -> None:
    recurrent_checks(node, GRU, direction, activations, clip, (activation_alpha, activation_beta))
    if not linear_before_reset:
        raise unsupported(node, "linear_before_reset=0; only linear_before_reset=1 (PyTorch's GRU) is supported")
    emit_recurrent(b, node, GRU, hidden_size, layout, direction == "reverse")


HANDLERS: dict[str, Callable[..., None]] = {
    "Add": add,
    "AveragePool": on_rank3_as_2d(average_pool),
    "BatchNormalization": on_rank3_as_2d(batch_normalization),
    "Clip": clip,
    "Concat": concat,
    "Conv": on_rank3_as_2d(conv, {1: weights_with_unit_height}),
    "DequantizeLinear": dequantize_linear,
    "Dropout": dropout,
    "Flatten": flatten,
    "Gemm": gemm,
    "GlobalAveragePool": on_rank3_as_2d(global_average_pool),
    "Identity": identity,
    "LeakyRelu": leaky_relu,
    "MatMul": mat_mul,
    "MaxPool": on_rank3_as_2d(max_pool),
    "Mul": mul,
    "Pad": pad,
    "QuantizeLinear": quantize_linear,
    "ReduceMean": on_rank3_as_2d(reduce_mean, {1: axes_with_unit_height}),
    "Relu": relu,
    "Reshape": reshape,
    "Sigmoid": unary("sigmoid"),
    "Softmax": softmax,
    "Squeeze": to_inferred_shape,
    "Tanh": unary("tanh"),
    "Transpose": transpose,
    "Unsqueeze": to_inferred_shape,
    "HardSwish": unary("hard_swish"),
    "HardSigmoid": unary_with("hard_sigmoid", alpha=0.2, beta=0.5),
    "Elu": unary_with("elu", alpha=1.0),
    "Selu": unary_with("selu", alpha=1.67326319217681884765625, gamma=1.05070102214813232421875),
    "Gelu": gelu,
    "Exp": unary("exp"),
    "Softplus": unary("softplus"),
    "PRelu": prelu,
    "Sub": sub,
    "Div": div,
    "Resize": resize,
    "ConvTranspose": conv_transpose,
    "Slice": slice_,
    "Split": split,
    "Gather": gather,
    "GatherND": gather_nd,
    "LayerNormalization": layer_normalization,
    "LSTM": lstm,
    "GRU": gru,
}
