"""Small float ONNX models built in code, shared by the end-to-end, arena, concat, quantization and
degenerate-model tests: `make_model` wraps nodes into a model with input "x", `conv` makes a Conv node
and its random initializers.

The weights come from this module's one generator, `RNG`; the root conftest calls `reset_weights`
before each test so that a test's weights (and the margins it asserts) do not depend on which tests
ran before it. Read it as `small_models.RNG` at the time of use: `reset_weights` rebinds it."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

SEED = 1234
RNG = np.random.default_rng(SEED)


def reset_weights() -> None:
    global RNG
    RNG = np.random.default_rng(SEED)


def w(*shape, scale=0.3):
    return RNG.normal(0, scale, size=shape).astype(np.float32)


def make_model(nodes, input_shape, initializers, outputs=("y",), opset=13):
    graph = helper.make_graph(
        nodes, "ops",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_value_info(o, helper.make_tensor_type_proto(TensorProto.FLOAT, shape=None)) for o in outputs],
        initializer=[numpy_helper.from_array(v, k) for k, v in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def conv(name, x, out, c_in, c_out, k=3, **attrs):
    attrs.setdefault("pads", [k // 2] * 4)
    inits = {f"{name}_w": w(c_out, c_in // attrs.get("group", 1), k, k), f"{name}_b": w(c_out, scale=0.1)}
    return helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [out], name=name, kernel_shape=[k, k], **attrs), inits
