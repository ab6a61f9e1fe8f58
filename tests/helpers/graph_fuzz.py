"""Random valid ONNX graphs over every op and attribute mcuq supports, and one fuzz run of such a graph.

`generate(seed)` builds a small float NCHW model as PyTorch or Keras exporters write them: chains of
layers and blocks (Conv/BatchNormalization/activation, pools, a classifier head with Flatten and Gemm)
and branches (residual Adds, Add/Mul/Concat of two branches), with attributes drawn over their valid
ranges: kernel sizes, strides, pads (asymmetric too), dilations, groups and depthwise multipliers,
auto_pad, Gemm transB/alpha/beta, Clip bounds, Pad modes and values, Softmax axes, pooling
count_include_pad and ceil_mode, opsets 11 to 21. Shapes are small and weights random; each graph is
valid by construction, passes `onnx.checker` (full check) and runs once in ONNX Runtime with the
output shapes the generator computed. The same seed gives the same model bytes.

`run_case(case, folder)` compiles one graph with `mcuq.compile` on random normal calibration data (a
fixed seed per graph), and classifies what happened: ok (C equals the golden model; SQNR of the C
against ONNX Runtime's float outputs), refused (an McuqError), crash (any other exception),
c_mismatch, qemu_mismatch (with a board), build_failed (the generated C did not compile).

Used by tests/end_to_end/test_fuzz.py (a fixed set of seeds) and benchmarks/soak.py (thousands of seeds).
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSETS = (11, 13, 17, 18, 21)
CALIB_SAMPLES = 32
VERIFY_SAMPLES = 16
LOW_SQNR_DB = 20.0
MAX_SPATIAL = 12
MAX_CHANNELS = 8


@dataclass(frozen=True)
class Value:
    """A tensor of the graph being built: its name and (static) shape."""

    name: str
    shape: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)


@dataclass
class FuzzCase:
    """One generated model and what is needed to run it again."""

    seed: int
    model: onnx.ModelProto
    input_shape: tuple[int, ...]
    steps: list[str]  # what each step of the chain did, in order, with its attributes

    @property
    def chain(self) -> str:
        """The steps in order; a branch reads ``Join[a -> b | c](attrs)``."""
        text = ""
        for step in self.steps:
            if step == "|":
                text += " | "
            elif not text or text.endswith(("[", " | ")) or step.startswith("]"):
                text += step
            else:
                text += " -> " + step
        return text

    def samples(self, count: int, stream: int) -> np.ndarray:
        """Random normal inputs (ONNX layout, no batch axis), the same for the same seed and stream."""
        rng = np.random.default_rng([self.seed, stream])
        return rng.normal(0.0, 1.0, size=(count, *self.input_shape[1:])).astype(np.float32)

    def calibration(self) -> np.ndarray:
        return self.samples(CALIB_SAMPLES, 1)

    def verification(self) -> np.ndarray:
        return self.samples(VERIFY_SAMPLES, 2)


class GraphBuilder:
    """Nodes, initializers and shapes of the model being generated."""

    def __init__(self, rng: np.random.Generator, opset: int):
        self.rng = rng
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.steps: list[str] = []
        self.counter = 0

    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def constant(self, hint: str, array: np.ndarray) -> str:
        """An initializer, or (a third of the time, as PyTorch exports shapes and pads) a Constant node."""
        name = self.fresh(hint)
        tensor = numpy_helper.from_array(np.asarray(array), name)
        if array.dtype == np.int64 and self.rng.random() < 0.33:
            self.nodes.append(helper.make_node("Constant", [], [name], value=tensor))
        else:
            self.initializers.append(tensor)
        return name

    def node(self, op: str, inputs: list[str], shape: tuple[int, ...], **attrs) -> Value:
        name = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [name], name=f"n{self.counter}_{op}", **attrs))
        return Value(name, tuple(int(d) for d in shape))

    def weights(self, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        """He-scaled normal weights with a random gain per output channel (axis 0), so channels differ."""
        gains = np.exp(self.rng.normal(0.0, 0.5, size=(shape[0],) + (1,) * (len(shape) - 1)))
        w = self.rng.normal(0.0, math.sqrt(2.0 / max(fan_in, 1)), size=shape) * gains
        return w.astype(np.float32)

    def small(self, *shape: int, scale: float = 0.2) -> np.ndarray:
        return self.rng.normal(0.0, scale, size=shape).astype(np.float32)

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)


# --------------------------------------------------------------------------------------------------
# Geometry


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, begin: int, end: int) -> int:
    return (size + begin + end - ((kernel - 1) * dilation + 1)) // stride + 1


def pool_ceil_output_size(size: int, kernel: int, stride: int, begin: int, end: int) -> int:
    return -(-(size + begin + end - kernel) // stride) + 1


def draw_padding(g: GraphBuilder, spatial, kernels, strides, dilations, pool: bool) -> tuple[dict, list[int]]:
    """ONNX padding attributes (explicit pads, possibly asymmetric, or auto_pad) and the output size."""
    modes = ["pads", "pads", "pads", "VALID", "none"]
    # ONNX Runtime refuses SAME with dilations, and pads a pool negatively where a stride exceeds the kernel.
    if all(d == 1 for d in dilations) and all(s <= k for s, k in zip(strides, kernels)):
        modes += ["SAME_UPPER", "SAME_LOWER"]
    mode = g.pick(modes)
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        return {"auto_pad": mode}, [-(-size // s) for size, s in zip(spatial, strides)]
    if mode in ("VALID", "none"):
        pads = [0, 0, 0, 0]
        attrs = {"auto_pad": "VALID"} if mode == "VALID" else {}
    else:
        # Runtimes refuse a pool's pad as large as its kernel.
        limits = [k - 1 if pool else (k - 1) * d + 1 for k, d in zip(kernels, dilations)]
        pads = [int(g.rng.integers(0, limits[axis % 2] + 1)) for axis in range(4)]
        attrs = {"pads": pads}
    out = [conv_output_size(size, k, s, d, pads[axis], pads[axis + 2])
           for axis, (size, k, s, d) in enumerate(zip(spatial, kernels, strides, dilations))]
    return attrs, out


def draw_kernel(g: GraphBuilder, spatial, largest: int) -> list[int]:
    if g.chance(0.7):
        k = int(g.rng.integers(1, largest + 1))
        return [min(k, size) for size in spatial]
    return [int(g.rng.integers(1, min(largest, size) + 1)) for size in spatial]


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


# --------------------------------------------------------------------------------------------------
# Steps on a 4-D NCHW activation


def conv(g: GraphBuilder, x: Value, out_channels: int | None = None, same: bool = False) -> Value:
    """Conv with random geometry: dense, grouped or depthwise (multiplier 1-2), optional bias.
    ``same``: stride 1 and SAME padding, so the output keeps the spatial size (branches, residuals)."""
    _, c, h, w = x.shape
    kind = g.pick(["dense", "dense", "depthwise", "grouped"]) if out_channels is None else "dense"
    group = 1
    if kind == "depthwise":
        group, out_channels = c, c * int(g.rng.integers(1, 3))
    elif kind == "grouped" and len(divisors(c)) > 2:
        group = g.pick(divisors(c)[1:-1])
        out_channels = group * int(g.rng.integers(1, 3))
    out_channels = out_channels or int(g.rng.integers(1, MAX_CHANNELS + 1))
    for _ in range(20):
        kernels = draw_kernel(g, (h, w), 5 if g.chance(0.15) else 3)
        strides = [1, 1] if same else [int(g.rng.integers(1, 3)) for _ in range(2)]
        dilations = [1, 1] if same or not g.chance(0.25) else [int(g.rng.integers(1, 3)) for _ in range(2)]
        if same:
            pad_attrs, out = {"auto_pad": g.pick(["SAME_UPPER", "SAME_LOWER"])}, [h, w]
        else:
            pad_attrs, out = draw_padding(g, (h, w), kernels, strides, dilations, pool=False)
        if min(out) >= 1:
            break
    else:
        kernels, strides, dilations, pad_attrs, out = [1, 1], [1, 1], [1, 1], {}, [h, w]
    weights = g.weights((out_channels, c // group, *kernels), (c // group) * kernels[0] * kernels[1])
    inputs = [x.name, g.constant("w", weights)]
    if g.chance(0.8):
        inputs.append(g.constant("b", g.small(out_channels)))
    attrs = dict(kernel_shape=kernels, strides=strides, **pad_attrs)
    if dilations != [1, 1] or g.chance(0.2):
        attrs["dilations"] = dilations
    if group != 1 or g.chance(0.2):
        attrs["group"] = group
    g.steps.append(f"Conv(co={out_channels} k={kernels} s={strides} d={dilations} g={group} "
                   f"{_pads_text(pad_attrs)}{'' if len(inputs) == 3 else ' nobias'})")
    return g.node("Conv", inputs, (1, out_channels, *out), **attrs)


def _pads_text(attrs: dict) -> str:
    return attrs.get("auto_pad") or f"p={attrs.get('pads', [0, 0, 0, 0])}"


def batch_norm(g: GraphBuilder, x: Value) -> Value:
    c = x.shape[1]
    params = [g.rng.uniform(0.5, 1.5, c), g.small(c), g.small(c), g.rng.uniform(0.5, 2.0, c)]
    inputs = [x.name] + [g.constant(n, p.astype(np.float32)) for n, p in zip(("gamma", "beta", "mean", "var"), params)]
    epsilon = float(g.pick([1e-5, 1e-3]))
    g.steps.append(f"BatchNormalization(eps={epsilon:g})")
    return g.node("BatchNormalization", inputs, x.shape, epsilon=epsilon)


def activation(g: GraphBuilder, x: Value) -> Value:
    op = g.pick(["Relu", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh"])
    if op == "Clip":
        return clip(g, x)
    if op == "LeakyRelu":
        alpha = round(float(g.rng.uniform(0.01, 0.3)), 3)
        g.steps.append(f"LeakyRelu(alpha={alpha})")
        return g.node(op, [x.name], x.shape, alpha=alpha)
    g.steps.append(op)
    return g.node(op, [x.name], x.shape)


def clip(g: GraphBuilder, x: Value) -> Value:
    """Clip with both bounds (ReLU6 most often), one of them, or random ones."""
    bounds = g.pick([(0.0, 6.0), (0.0, 6.0), (0.0, None), (None, 1.0), (-1.0, 1.0), None])
    if bounds is None:
        low, high = sorted(float(v) for v in g.rng.uniform(-2.0, 3.0, 2))
        bounds = (round(low, 2), round(high + 0.1, 2))
    inputs = [x.name, g.constant("lo", np.array(bounds[0], np.float32)) if bounds[0] is not None else ""]
    if bounds[1] is not None:
        inputs.append(g.constant("hi", np.array(bounds[1], np.float32)))
    g.steps.append(f"Clip({bounds[0]}, {bounds[1]})")
    return g.node("Clip", inputs, x.shape)


def conv_block(g: GraphBuilder, x: Value) -> Value:
    """Conv → [BatchNormalization] → activation, as PyTorch exports a conv layer."""
    y = conv(g, x)
    if g.chance(0.4):
        y = batch_norm(g, y)
    return activation(g, y) if g.chance(0.8) else y


def pool(g: GraphBuilder, x: Value) -> Value:
    """MaxPool or AveragePool: kernel, strides, pads or auto_pad, ceil_mode, count_include_pad."""
    _, c, h, w = x.shape
    op = g.pick(["MaxPool", "AveragePool"])
    for _ in range(20):
        kernels = draw_kernel(g, (h, w), 3)
        strides = [int(g.rng.integers(1, 3)) for _ in range(2)]
        pad_attrs, out = draw_padding(g, (h, w), kernels, strides, (1, 1), pool=True)
        if min(out) >= 1:
            break
    else:
        kernels, strides, pad_attrs, out = [1, 1], [1, 1], {}, [h, w]
    attrs = dict(kernel_shape=kernels, strides=strides, **pad_attrs)
    pads = pad_attrs.get("pads", [0, 0, 0, 0])
    if "auto_pad" not in pad_attrs and g.chance(0.3):
        ceil_out = [pool_ceil_output_size(s, k, st, pads[a], pads[a + 2])
                    for a, (s, k, st) in enumerate(zip((h, w), kernels, strides))]
        # Only where no window would start in the end padding: there ONNX and the runtimes disagree on
        # the output size, and mcuq refuses.
        if all((o - 1) * st < s + pads[a] for a, (o, st, s) in enumerate(zip(ceil_out, strides, (h, w)))):
            attrs["ceil_mode"], out = 1, ceil_out
    if op == "AveragePool" and g.chance(0.5) and not (attrs.get("ceil_mode") and any(pads)):
        attrs["count_include_pad"] = 1  # (mcuq refuses it with ceil_mode and pads)
    g.steps.append(f"{op}(k={kernels} s={strides} {_pads_text(pad_attrs)} ceil={attrs.get('ceil_mode', 0)}"
                   + (f" cip={attrs.get('count_include_pad', 0)})" if op == "AveragePool" else ")"))
    return g.node(op, [x.name], (1, c, *out), **attrs)


def pad(g: GraphBuilder, x: Value) -> Value:
    """Pad: constant (zero or another value; rarely reflect or edge, which mcuq refuses), H/W pads
    (asymmetric), sometimes channels too; opset 18+ sometimes with an axes input."""
    rank = x.rank
    mode = "constant" if g.chance(0.85) else g.pick(["reflect", "edge"])
    amounts = [0] * (2 * rank)
    for axis in range(2, rank):
        amounts[axis], amounts[rank + axis] = (int(v) for v in g.rng.integers(0, 3, 2))
    if mode == "constant" and g.chance(0.15):
        amounts[1], amounts[rank + 1] = (int(v) for v in g.rng.integers(0, 2, 2))
    if mode == "reflect":  # reflect needs pads smaller than the axis
        amounts = [min(a, x.shape[i % rank] - 1) for i, a in enumerate(amounts)]
    inputs = [x.name]
    if g.opset >= 18 and g.chance(0.5):
        axes = [a for a in range(rank) if amounts[a] or amounts[rank + a]] or [rank - 1]
        pads_values = [amounts[a] for a in axes] + [amounts[rank + a] for a in axes]
        pads_input = g.constant("pads", np.array(pads_values, np.int64))
        axes_input = g.constant("axes", np.array(axes, np.int64))
    else:
        pads_input, axes_input = g.constant("pads", np.array(amounts, np.int64)), None
    inputs.append(pads_input)
    value = 0.0
    if mode == "constant" and g.chance(0.5):
        value = round(float(g.rng.uniform(-1.0, 1.0)), 2)
        inputs.append(g.constant("value", np.array(value, np.float32)))
    elif axes_input is not None:
        inputs.append("")
    if axes_input is not None:
        inputs.append(axes_input)
    shape = tuple(d + amounts[a] + amounts[rank + a] for a, d in enumerate(x.shape))
    g.steps.append(f"Pad({mode} {amounts} value={value})")
    return g.node("Pad", inputs, shape, mode=mode)


def channel_constant(g: GraphBuilder, x: Value) -> Value:
    """Add or Mul by a per-channel constant (shapes [C,1,1], [1,C,1,1], [C] for 2-D) or a scalar."""
    op = g.pick(["Add", "Mul"])
    c = x.shape[1]
    shape = g.pick([(c,) + (1,) * (x.rank - 2), (1, c) + (1,) * (x.rank - 2), (), (1,)])
    values = g.rng.uniform(0.5, 1.5, shape) * g.pick([1.0, -1.0]) if op == "Mul" else g.small(*shape, scale=0.5)
    constant = g.constant("k", np.asarray(values, np.float32))
    inputs = [x.name, constant] if g.chance(0.7) else [constant, x.name]
    g.steps.append(f"{op}(const {list(shape)})")
    return g.node(op, inputs, x.shape)


def softmax(g: GraphBuilder, x: Value) -> Value:
    # Rarely the batch axis (mcuq refuses it); before opset 13 Softmax flattens from the axis.
    axis = 0 if g.chance(0.03) else int(g.rng.integers(1, x.rank)) - (x.rank if g.chance(0.3) else 0)
    g.steps.append(f"Softmax(axis={axis})")
    return g.node("Softmax", [x.name], x.shape, axis=axis)


def transpose(g: GraphBuilder, x: Value) -> Value:
    """A permutation that keeps the batch axis first; later steps read the result as NCHW."""
    perm = [0] + [int(p) + 1 for p in g.rng.permutation(x.rank - 1)]
    g.steps.append(f"Transpose({perm})")
    return g.node("Transpose", [x.name], tuple(x.shape[p] for p in perm), perm=perm)


def reshape_4d(g: GraphBuilder, x: Value) -> Value:
    """Reshape to another 4-D shape of the same size (with a 0 or -1 as PyTorch writes them)."""
    _, c, h, w = x.shape
    target = g.pick([(1, c, h * w, 1), (1, c * h, w, 1), (1, c, w, h), (1, 1, c * h, w)])
    written = list(target)
    if g.chance(0.5):
        written[int(g.rng.integers(1, 4))] = -1
    if g.chance(0.3) and target[1] == c:
        written[1] = 0
    g.steps.append(f"Reshape({written})")
    return g.node("Reshape", [x.name, g.constant("shape", np.array(written, np.int64))], target)


def pass_through(g: GraphBuilder, x: Value) -> Value:
    op = g.pick(["Identity", "Dropout"])
    g.steps.append(op)
    return g.node(op, [x.name], x.shape)


def global_pool(g: GraphBuilder, x: Value) -> Value:
    """GlobalAveragePool, or ReduceMean over H and W as torch's dynamo exporter writes it (axes an
    attribute before opset 18, an input from then on)."""
    how = g.pick(["GlobalAveragePool", "ReduceMean"])
    g.steps.append(how)
    shape = (*x.shape[:2], 1, 1)
    if how == "GlobalAveragePool":
        return g.node("GlobalAveragePool", [x.name], shape)
    axes = g.pick([[2, 3], [-1, -2]])
    if g.opset >= 18:
        return g.node("ReduceMean", [x.name, g.constant("axes", np.array(axes, np.int64))], shape, keepdims=1)
    return g.node("ReduceMean", [x.name], shape, axes=axes, keepdims=1)


def classifier_head(g: GraphBuilder, x: Value) -> Value:
    """GlobalAveragePool → Flatten/Reshape → Gemm, as a CNN classifier ends."""
    return flatten(g, global_pool(g, x))


def flatten(g: GraphBuilder, x: Value) -> Value:
    size = int(np.prod(x.shape))
    how = g.pick(["Flatten", "Reshape"] + (["Squeeze"] if x.shape[2:] == (1, 1) else []))
    g.steps.append(how)
    if how == "Flatten":
        return g.node("Flatten", [x.name], (1, size), axis=1)
    if how == "Reshape":
        return g.node("Reshape", [x.name, g.constant("shape", np.array(g.pick([[1, -1], [1, size]]), np.int64))],
                      (1, size))
    return axes_op(g, "Squeeze", x, [2, 3], (1, size))


def axes_op(g: GraphBuilder, op: str, x: Value, axes: list[int], shape: tuple[int, ...]) -> Value:
    """Squeeze/Unsqueeze: axes an attribute before opset 13, an input from then on."""
    if g.opset < 13:
        return g.node(op, [x.name], shape, axes=axes)
    return g.node(op, [x.name, g.constant("axes", np.array(axes, np.int64))], shape)


def residual(g: GraphBuilder, x: Value) -> Value:
    """x + f(x), f one or two shape-keeping convs (ResNet's basic block)."""
    g.steps.append("Residual[")
    y = conv(g, x, x.shape[1], same=True)
    if g.chance(0.5):
        y = conv(g, activation(g, y), x.shape[1], same=True)
    g.steps.append("]+x")
    out = g.node("Add", [x.name, y.name] if g.chance(0.5) else [y.name, x.name], x.shape)
    return activation(g, out) if g.chance(0.5) else out


def identity_branch(g: GraphBuilder, x: Value) -> Value:
    g.steps.append("x")
    return x


def two_branches(g: GraphBuilder, x: Value) -> Value:
    """Two branches from x joined by Add, Mul or Concat (channels, or another axis)."""
    join = g.pick(["Add", "Mul", "Concat", "Concat"])
    g.steps.append(f"{join}[")
    if join == "Concat" and g.chance(0.3):
        axis = int(g.rng.integers(1, 4)) * g.pick([1, -1])
        a = activation(g, x) if g.chance(0.5) else identity_branch(g, x)
        g.steps.append("|")
        b = activation(g, x)
        out_shape = list(x.shape)
        out_shape[axis % 4] *= 2
        g.steps.append(f"](axis={axis})")
        return g.node("Concat", [a.name, b.name], tuple(out_shape), axis=axis)
    channels = None if join == "Concat" else int(g.rng.integers(1, MAX_CHANNELS + 1))
    a = conv(g, x, channels or int(g.rng.integers(1, MAX_CHANNELS + 1)), same=True)
    if g.chance(0.5):
        a = activation(g, a)
    g.steps.append("|")
    b = identity_branch(g, x) if join == "Concat" and g.chance(0.3) else conv(g, x, channels or int(g.rng.integers(1, MAX_CHANNELS + 1)),
                                                           same=True)
    if g.chance(0.3):
        b = activation(g, b)
    if join == "Concat":
        g.steps.append("](axis=1)")
        return g.node("Concat", [a.name, b.name], (1, a.shape[1] + b.shape[1], *x.shape[2:]), axis=1)
    g.steps.append("]")
    return g.node(join, [a.name, b.name], a.shape)


# --------------------------------------------------------------------------------------------------
# Steps on a 2-D [1, K] activation


def gemm(g: GraphBuilder, x: Value) -> Value:
    """Gemm with transB, alpha, beta and C ([M], [1, M], a scalar or absent)."""
    k = x.shape[1]
    m = int(g.rng.integers(1, 17))
    trans_b = int(g.chance(0.6))
    w = g.weights((m, k), k)
    inputs = [x.name, g.constant("w", w if trans_b else w.T.copy())]
    attrs = {"transB": trans_b} if trans_b or g.chance(0.3) else {}
    if g.chance(0.3):
        attrs["alpha"] = round(float(g.rng.uniform(0.5, 1.5)), 2)
    bias_shape = g.pick([(m,), (m,), (1, m), (), None])
    if bias_shape is not None:
        inputs.append(g.constant("c", g.small(*bias_shape)))
        if g.chance(0.3):
            attrs["beta"] = round(float(g.rng.uniform(0.5, 1.5)), 2)
    g.steps.append(f"Gemm(m={m} transB={trans_b} alpha={attrs.get('alpha', 1.0)} beta={attrs.get('beta', 1.0)} "
                   f"C={list(bias_shape) if bias_shape is not None else None})")
    return g.node("Gemm", inputs, (1, m), **attrs)


def matmul(g: GraphBuilder, x: Value) -> Value:
    """MatMul by a constant, with an Add of a bias as PyTorch exports nn.Linear at times."""
    k = x.shape[1]
    m = int(g.rng.integers(1, 17))
    y = g.node("MatMul", [x.name, g.constant("w", g.weights((m, k), k).T.copy())], (1, m))
    if g.chance(0.6):
        g.steps.append(f"MatMul(m={m})+bias")
        return g.node("Add", [y.name, g.constant("b", g.small(m))], (1, m))
    g.steps.append(f"MatMul(m={m})")
    return y


def unsqueeze_to_4d(g: GraphBuilder, x: Value) -> Value:
    g.steps.append("Unsqueeze([2, 3])")
    return axes_op(g, "Unsqueeze", x, [2, 3], (*x.shape, 1, 1))


def curve_activation(g: GraphBuilder, x: Value) -> Value:
    """An activation of issue 13 in the form exporters write at the model's opset: HardSwish and Gelu as
    ops where the opset has them, else x * HardSigmoid(x) and GELU's Erf form; SiLU as x * Sigmoid(x);
    PRelu with a slope per channel or one slope; HardSigmoid, Elu, Selu, Exp, Softplus."""
    op = g.pick(["HardSwish", "Gelu", "Gelu", "SiLU", "PRelu", "PRelu", "HardSigmoid", "Elu", "Selu", "Exp", "Softplus"])
    g.steps.append(op)
    if op == "SiLU" or (op == "HardSwish" and g.opset < 14):
        gate = g.node("Sigmoid", [x.name], x.shape) if op == "SiLU" else g.node("HardSigmoid", [x.name], x.shape,
                                                                                 alpha=1.0 / 6.0)
        return g.node("Mul", [x.name, gate.name], x.shape)
    if op == "Gelu":
        return gelu(g, x)
    if op == "PRelu":
        channels = x.shape[1] if g.chance(0.7) else 1
        slope = g.rng.uniform(-0.5, 0.5, channels).astype(np.float32)
        shape = (channels,) if x.rank == 2 else (channels, 1, 1)
        return g.node("PRelu", [x.name, g.constant("slope", slope.reshape(shape))], x.shape)
    attrs = {"HardSigmoid": dict(alpha=round(float(g.rng.uniform(0.1, 0.5)), 2), beta=0.5),
             "Elu": dict(alpha=round(float(g.rng.uniform(0.2, 1.5)), 2))}.get(op, {})
    return g.node(op, [x.name], x.shape, **attrs)


def gelu(g: GraphBuilder, x: Value) -> Value:
    """Gelu (opset 20: exact or tanh), or x * 0.5 * (1 + Erf(x / sqrt 2)) as torch writes it below."""
    if g.opset >= 20:
        return g.node("Gelu", [x.name], x.shape, approximate=g.pick(["none", "tanh"]))
    scalar = {k: g.constant(k, np.array(v, np.float32)) for k, v in (("r2", math.sqrt(2.0)), ("one", 1.0),
                                                                      ("half", 0.5))}
    d = g.node("Div", [x.name, scalar["r2"]], x.shape)
    e = g.node("Erf", [d.name], x.shape)
    a = g.node("Add", [e.name, scalar["one"]], x.shape)
    m = g.node("Mul", [x.name, a.name], x.shape)
    return g.node("Mul", [m.name, scalar["half"]], x.shape)


def dense_block(g: GraphBuilder, x: Value) -> Value:
    y = gemm(g, x) if g.chance(0.6) else matmul(g, x)
    return activation(g, y) if g.chance(0.6) else y


def upsample(g: GraphBuilder, x: Value) -> Value:
    """A decoder step: Resize (nearest or bilinear, with a transform torch writes, to given sizes) or
    ConvTranspose (k3 s2 p1 output_padding 1, or k2 s2; k3 s1 p1 where doubling would be too large)."""
    _, c, h, w = x.shape
    double = 2 * max(h, w) <= MAX_SPATIAL
    out = (1, c, 2 * h, 2 * w) if double else (1, c, h + 1, w)
    if g.chance(0.5):
        mode = g.pick(["nearest", "linear"])
        transform = g.pick(["asymmetric", "half_pixel", "align_corners", "pytorch_half_pixel"])
        g.steps.append(f"Resize({mode}, {transform}, {out[2:]})")
        inputs = [x.name, g.constant("roi", np.zeros(0, np.float32)), g.constant("scales", np.zeros(0, np.float32)),
                  g.constant("sizes", np.array(out, np.int64))]
        return g.node("Resize", inputs, out, mode=mode, coordinate_transformation_mode=transform)
    c_out = int(g.rng.integers(1, 7))
    k, stride, pads, extra = g.pick([(3, 2, 1, 1), (2, 2, 0, 0)]) if double else (3, 1, 1, 0)
    size = tuple((d - 1) * stride + k - 2 * pads + extra for d in (h, w))
    g.steps.append(f"ConvTranspose(k={k} s={stride} p={pads} op={extra} -> {c_out})")
    inputs = [x.name, g.constant("w", g.weights((c, c_out, k, k), c * k * k)), g.constant("b", g.small(c_out))]
    return g.node("ConvTranspose", inputs, (1, c_out, *size), kernel_shape=[k, k], strides=[stride, stride],
                  pads=[pads] * 4, output_padding=[extra, extra])


def select(g: GraphBuilder, x: Value) -> Value:
    """Ops that select bytes, as the exporters write them: Slice (channels or a crop, negative indices,
    steps), Split (sizes as an attribute before opset 13, an input after; num_outputs from 18) joined back
    in another order, Gather of one row (then Unsqueeze) or of a channel list, GatherND between transposes
    (dynamo's ``x[:, [3, 0]]``), and ShuffleNet's Reshape -> Transpose -> Reshape channel shuffle."""
    _, c, h, w = x.shape
    how = g.pick(["Slice", "Split", "Gather", "GatherList", "GatherND", "Shuffle"])
    if how == "Slice":
        axis = int(g.rng.integers(1, 4))
        dim, step = x.shape[axis], int(g.pick([1, 1, 2]))
        start = int(g.rng.integers(0, dim))
        end = int(g.rng.integers(start + 1, dim + 1))
        shape = list(x.shape)
        shape[axis] = len(range(start, end, step))
        g.steps.append(f"Slice(axis={axis} {start}:{end}:{step})")
        written = [start - dim if g.chance(0.3) else start, np.iinfo(np.int64).max if end == dim else end]
        inputs = [x.name] + [g.constant(n, np.array(v, np.int64)) for n, v in
                             (("starts", [written[0]]), ("ends", [written[1]]), ("axes", [axis]), ("steps", [step]))]
        return g.node("Slice", inputs, tuple(shape))
    if how == "Split" and c > 1:
        first = int(g.rng.integers(1, c))
        names = [g.fresh("split"), g.fresh("split")]
        if g.opset >= 18 and c % 2 == 0 and g.chance(0.5):
            first, attrs, inputs = c // 2, {"num_outputs": 2}, [x.name]
        elif g.opset >= 13:
            attrs, inputs = {}, [x.name, g.constant("split", np.array([first, c - first], np.int64))]
        else:
            attrs, inputs = {"split": [first, c - first]}, [x.name]
        g.nodes.append(helper.make_node("Split", inputs, names, name=f"n{g.counter}_Split", axis=1, **attrs))
        g.steps.append(f"Split([{first}, {c - first}])->Concat(reversed)")
        return g.node("Concat", names[::-1], x.shape, axis=1)
    if how == "Gather":
        row = int(g.rng.integers(-h, h))
        g.steps.append(f"Gather(axis=2 {row})->Unsqueeze")
        y = g.node("Gather", [x.name, g.constant("index", np.array(row, np.int64))], (1, c, w), axis=2)
        return axes_op(g, "Unsqueeze", y, [2], (1, c, 1, w))
    indices = [int(i) for i in g.rng.integers(0, c, size=int(g.rng.integers(1, c + 2)))]
    if how == "GatherList":
        g.steps.append(f"Gather(axis=1 {indices})")
        return g.node("Gather", [x.name, g.constant("indices", np.array(indices, np.int64))], (1, len(indices), h, w),
                      axis=1)
    if how == "GatherND":
        g.steps.append(f"GatherND({indices})")
        t = g.node("Transpose", [x.name], (c, 1, h, w), perm=[1, 0, 2, 3])
        y = g.node("GatherND", [t.name, g.constant("indices", np.array(indices, np.int64).reshape(-1, 1))],
                   (len(indices), 1, h, w))
        return g.node("Transpose", [y.name], (1, len(indices), h, w), perm=[1, 0, 2, 3])
    groups = next((d for d in divisors(c) if 1 < d < c), c)
    g.steps.append(f"ChannelShuffle(groups={groups})")
    r = g.node("Reshape", [x.name, g.constant("shape", np.array([1, groups, c // groups, h, w], np.int64))],
               (1, groups, c // groups, h, w))
    t = g.node("Transpose", [r.name], (1, c // groups, groups, h, w), perm=[0, 2, 1, 3, 4])
    return g.node("Reshape", [t.name, g.constant("shape", np.array([1, c, h, w], np.int64))], x.shape)


Step = Callable[[GraphBuilder, Value], Value]

#: (step, weight) for 4-D activations; steps that shrink to 2-D are weighted low so chains stay long.
def arithmetic_constant(g: GraphBuilder, x: Value) -> Value:
    """Sub, Div, Add or Mul with a constant: per channel, a scalar, or any shape broadcastable to x
    ([1,C,H,W] offsets, [H,W] maps on 4-D); a constant minus x for Sub; x divided by c for Div."""
    op = g.pick(["Sub", "Div", "Add", "Mul"])
    c = x.shape[1]
    shapes = [(1, c) + (1,) * (x.rank - 2), ()]
    if x.rank == 4:
        shapes += [(1, *x.shape[1:]), x.shape[2:], (1, 1, 1, x.shape[3])]
    shape = g.pick(shapes)
    if op == "Div":
        values = g.rng.uniform(0.5, 2.0, shape) * g.pick([1.0, -1.0])
    else:
        values = g.small(*shape, scale=0.5)
    constant = g.constant("k", np.asarray(values, np.float32))
    first = op == "Sub" and g.chance(0.4)
    g.steps.append(f"{op}({'const ' + str(list(shape)) + ', x' if first else 'x, const ' + str(list(shape))})")
    return g.node(op, [constant, x.name] if first else [x.name, constant], x.shape)


def broadcast_branches(g: GraphBuilder, x: Value) -> Value:
    """x op gate, operands in either order: a squeeze-excitation gate [1,C,1,1] (GAP -> 1x1 conv ->
    ReLU -> 1x1 conv -> Sigmoid) with Mul, or a one-channel map [1,1,H,W] (a conv) with Add, Sub, Mul."""
    c = x.shape[1]
    if g.chance(0.5):
        op = "Mul"
        g.steps.append("SE[")
        pooled = g.node("GlobalAveragePool", [x.name], (1, c, 1, 1))
        squeezed = g.node("Relu", [conv_1x1(g, pooled, max(1, c // 2)).name], (1, max(1, c // 2), 1, 1))
        gate = g.node("Sigmoid", [conv_1x1(g, squeezed, c).name], (1, c, 1, 1))
    else:
        op = g.pick(["Add", "Sub", "Mul"])
        g.steps.append(f"{op}-map[")
        gate = conv(g, x, 1, same=True)
    g.steps.append("]")
    return g.node(op, [x.name, gate.name] if g.chance(0.5) else [gate.name, x.name], x.shape)


def conv_1x1(g: GraphBuilder, x: Value, out_channels: int) -> Value:
    weights = g.constant("w", g.weights((out_channels, x.shape[1], 1, 1), x.shape[1]))
    bias = g.constant("b", g.small(out_channels))
    return g.node("Conv", [x.name, weights, bias], (1, out_channels, *x.shape[2:]), kernel_shape=[1, 1])


def attention(g: GraphBuilder, x: Value) -> Value:
    """softmax(x x^T [* 1/sqrt(d)]) x over the last two axes: MatMuls of two activations, K^T a Transpose."""
    n, c, t, d = x.shape
    keys = g.node("Transpose", [x.name], (n, c, d, t), perm=[0, 1, 3, 2])
    scores = g.node("MatMul", [x.name, keys.name], (n, c, t, t))
    scaled = g.chance(0.5)
    if scaled:
        scores = g.node("Mul", [scores.name, g.constant("scale", np.array(d ** -0.5, np.float32))], scores.shape)
    weights = g.node("Softmax", [scores.name], scores.shape, axis=-1)
    g.steps.append(f"Attention(scaled={scaled})")
    return g.node("MatMul", [weights.name, x.name], x.shape)


def layer_norm(g: GraphBuilder, x: Value) -> Value:
    """LayerNormalization over the last axis (opset 17 on), or below opset 17 the chain torch writes for it."""
    features = x.shape[-1]
    gamma = g.constant("gamma", 1.0 + g.small(features))
    beta = g.constant("beta", g.small(features))
    eps = float(g.pick([1e-5, 1e-3]))
    if g.opset >= 17:
        g.steps.append(f"LayerNormalization(eps={eps})")
        return g.node("LayerNormalization", [x.name, gamma, beta], x.shape, axis=-1, epsilon=eps)
    g.steps.append(f"LayerNorm chain(eps={eps})")
    reduced = (*x.shape[:-1], 1)
    mean = g.node("ReduceMean", [x.name], reduced, axes=[-1])
    centered = g.node("Sub", [x.name, mean.name], x.shape)
    square = g.node("Pow", [centered.name, g.constant("two", np.array(2.0, np.float32))], x.shape)
    variance = g.node("ReduceMean", [square.name], reduced, axes=[-1])
    shifted = g.node("Add", [variance.name, g.constant("eps", np.array(eps, np.float32))], reduced)
    root = g.node("Sqrt", [shifted.name], reduced)
    normalized = g.node("Div", [centered.name, root.name], x.shape)
    scaled = g.node("Mul", [normalized.name, gamma], x.shape)
    return g.node("Add", [scaled.name, beta], x.shape)


def recurrent(g: GraphBuilder, x: Value) -> Value:
    """A GRU (PyTorch's linear_before_reset=1) or an LSTM over the features [1, K] cut into T steps of F
    (Reshape to [1, T, F] and Transpose to [T, 1, F], as PyTorch exports batch_first), forward or reverse,
    from a zero or a constant initial state; its last hidden state Y_h reshaped back to [1, H]."""
    k = x.shape[1]
    steps = g.pick([d for d in divisors(k) if d <= 24])
    features, hidden = k // steps, int(g.rng.integers(1, 9))
    op = g.pick(["GRU", "LSTM"])
    gates = 3 if op == "GRU" else 4
    batch_first = g.node("Reshape", [x.name, g.constant("shape", np.array([1, steps, features], np.int64))],
                         (1, steps, features))
    sequence = g.node("Transpose", [batch_first.name], (steps, 1, features), perm=[1, 0, 2])
    inputs = [sequence.name, g.constant("w", g.weights((1, gates * hidden, features), features)),
              g.constant("r", g.weights((1, gates * hidden, hidden), hidden)),
              g.constant("b", g.small(1, 2 * gates * hidden))]
    initial = g.chance(0.4)
    if initial:
        inputs += ["", g.constant("h0", g.small(1, 1, hidden, scale=0.3))]
    attrs = {"hidden_size": hidden, "direction": g.pick(["forward", "reverse"])}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    y, last = g.fresh("y"), g.fresh("y_h")
    g.nodes.append(helper.make_node(op, inputs, [y, last], name=f"n{g.counter}_{op}", **attrs))
    g.steps.append(f"{op}(T={steps} F={features} H={hidden} {attrs['direction']} initial={initial})")
    return g.node("Reshape", [last, g.constant("shape", np.array([1, hidden], np.int64))], (1, hidden))


STEPS_4D: list[tuple[Step, float]] = [
    (conv_block, 6), (conv, 2), (pool, 3), (pad, 2), (activation, 2), (batch_norm, 1), (channel_constant, 2),
    (softmax, 1), (transpose, 1), (reshape_4d, 1), (pass_through, 1), (residual, 2), (two_branches, 3),
    (global_pool, 1), (classifier_head, 1.5), (flatten, 0.5), (curve_activation, 2), (arithmetic_constant, 1),
    (broadcast_branches, 1), (upsample, 2), (select, 2), (attention, 1), (layer_norm, 1),
]
STEPS_2D: list[tuple[Step, float]] = [
    (dense_block, 5), (activation, 2), (channel_constant, 1), (softmax, 1), (pass_through, 0.5),
    (unsqueeze_to_4d, 0.5), (curve_activation, 1), (arithmetic_constant, 0.5), (layer_norm, 0.5),
    (recurrent, 0.5),
]


def draw_step(g: GraphBuilder, x: Value) -> Step:
    table = STEPS_4D if x.rank == 4 else STEPS_2D
    weights = np.array([w for _, w in table])
    return table[int(g.rng.choice(len(table), p=weights / weights.sum()))][0]


def input_shape(g: GraphBuilder) -> tuple[int, ...]:
    if g.chance(0.1):
        return (1, int(g.rng.integers(2, 33)))  # an MLP on feature vectors
    h = int(g.rng.integers(3, MAX_SPATIAL + 1))
    w = h if g.chance(0.6) else int(g.rng.integers(3, MAX_SPATIAL + 1))
    return (1, int(g.rng.integers(1, 5)), h, w)


def fits(x: Value) -> bool:
    """Keep activations small: weights and runs stay quick."""
    return int(np.prod(x.shape)) <= 4096 and (x.rank != 4 or max(x.shape[2:]) <= 2 * MAX_SPATIAL)


def step_that_fits(g: GraphBuilder, x: Value, tries: int = 5) -> Value | None:
    """A random step whose result `fits`; a step that grows too much is undone and another drawn."""
    for _ in range(tries):
        marks = len(g.nodes), len(g.initializers), len(g.steps)
        y = draw_step(g, x)(g, x)
        if fits(y):
            return y
        del g.nodes[marks[0]:], g.initializers[marks[1]:], g.steps[marks[2]:]
    return None


def generate(seed: int) -> FuzzCase:
    """The model for ``seed``: checked with onnx.checker and run once in ONNX Runtime."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder(rng, int(rng.choice(OPSETS)))
    shape = input_shape(g)
    x = Value("input", shape)
    outputs = []
    for _ in range(int(rng.integers(1, 8))):
        y = step_that_fits(g, x)
        if y is None:
            break
        x = y
        if g.chance(0.08):
            outputs.append(x)  # an intermediate tensor as a second graph output
    if x.name == "input":
        x = activation(g, x)
    outputs.append(x)
    model = assemble(g, shape, [o for i, o in enumerate(outputs) if o not in outputs[i + 1:]])
    case = FuzzCase(seed, model, shape, g.steps)
    check_with_onnxruntime(case, outputs)
    return case


def assemble(g: GraphBuilder, shape: tuple[int, ...], outputs: list[Value]) -> onnx.ModelProto:
    graph = helper.make_graph(
        g.nodes, f"fuzz_{g.counter}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(o.name, TensorProto.FLOAT, list(o.shape)) for o in outputs],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", g.opset)], producer_name="graph_fuzz")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def check_with_onnxruntime(case: FuzzCase, outputs: list[Value]) -> None:
    """The generator's own check: ONNX Runtime runs the model and agrees on every output shape."""
    results = float_outputs(case.model, case.samples(1, 0))
    expected = {o.name: o.shape for o in outputs}
    for name, value in zip([o.name for o in case.model.graph.output], results):
        if tuple(value.shape) != (1, *expected[name][1:]) or not np.all(np.isfinite(value)):
            raise AssertionError(f"seed {case.seed}: output {name} has shape {value.shape}, expected "
                                 f"{expected[name]} (generator bug); chain {case.chain}")


def float_outputs(model: onnx.ModelProto, samples: np.ndarray) -> list[np.ndarray]:
    """ONNX Runtime's float outputs for samples (N, ...) run one by one (the models have batch 1)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    runs = [session.run(None, {name: sample[None]}) for sample in samples]
    return [np.concatenate([run[i] for run in runs]) for i in range(len(runs[0]))]


# --------------------------------------------------------------------------------------------------
# One fuzz run


@dataclass
class Outcome:
    """What compiling one generated graph gave."""

    seed: int
    chain: str
    kind: str  # ok, refused, crash, c_mismatch, qemu_mismatch, build_failed
    sqnr_db: float | None = None  # the C's outputs against ONNX Runtime's (worst output)
    blamed_layer: str | None = None  # the per-layer diagnosis' worst offender
    message: str = ""
    qemu: bool = False  # the firmware ran under QEMU and matched the host build
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    @property
    def low_sqnr(self) -> bool:
        return self.kind == "ok" and self.sqnr_db is not None and self.sqnr_db < LOW_SQNR_DB

    def to_json(self) -> dict:
        return dict(seed=self.seed, chain=self.chain, kind=self.kind, sqnr_db=self.sqnr_db,
                    blamed_layer=self.blamed_layer, message=self.message, qemu=self.qemu,
                    seconds=round(self.seconds, 2), **self.details)


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    signal = float(np.sum(reference.astype(np.float64) ** 2))
    noise = float(np.sum((reference.astype(np.float64) - test) ** 2))
    if noise == 0.0:
        return math.inf
    return -math.inf if signal == 0.0 else 10.0 * math.log10(signal / noise)


def blamed_layer(report: dict) -> str | None:
    offenders = report.get("diagnosis", {}).get("offenders") or []
    if not offenders:
        return None
    worst = offenders[0]
    added = worst["added_sqnr_db"]  # None when the layer's own noise does not exceed its inputs'
    added_text = "no noise of its own" if added is None else f"added {added:.1f} dB"
    below = worst.get("falls_below_db")
    falls = "" if below is None else f", output falls below {below:g} dB here"
    return f"{worst['name']} ({worst['op']}, {added_text}{falls})"


def run_case(case: FuzzCase, folder: Path, firmware_options=None) -> Outcome:
    """Compile ``case`` into ``folder`` and classify the result (see the module's docstring)."""
    import time

    import mcuq
    from mcuq.errors import McuqError, ToolchainError, VerificationError

    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / "model.onnx"
    onnx.save(case.model, model_path)
    outcome = Outcome(case.seed, case.chain, "ok")
    try:
        compiled = mcuq.compile(model_path, case.calibration(), folder / "out", verify_data=case.verification(),
                                force=True, firmware_options=firmware_options)
    except VerificationError as exc:
        outcome.kind, outcome.message = mismatch_kind(folder / "out" / "report.json"), str(exc)
    except ToolchainError as exc:
        outcome.kind, outcome.message = "build_failed", str(exc)
    except McuqError as exc:
        outcome.kind, outcome.message = "refused", str(exc)
    except Exception:  # noqa: BLE001 - any other exception is what the fuzzer looks for
        outcome.kind, outcome.message = "crash", traceback.format_exc()
    else:
        reference = float_outputs(case.model, case.verification())
        got = compiled.run(case.verification())
        got = got if isinstance(got, list) else [got]
        outcome.sqnr_db = min(sqnr_db(r, g) for r, g in zip(reference, got))
        outcome.blamed_layer = blamed_layer(compiled.report)
        outcome.qemu = compiled.firmware_run is not None
        outcome.details["mcuq_sqnr_db"] = [m["sqnr_db"] for m in compiled.report["verification"]["float_metrics"]]
    outcome.seconds = time.perf_counter() - start
    return outcome


def mismatch_kind(report_path: Path) -> str:
    """c_mismatch or qemu_mismatch, from the report `compile` wrote before raising."""
    report = json.loads(report_path.read_text())
    if report["verification"]["c_vs_golden"]["mismatches"]:
        return "c_mismatch"
    return "qemu_mismatch"
