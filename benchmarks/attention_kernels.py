"""Instructions of the attention kernels (issue 14) on the emulated cores, fast paths against the portable C:
one attention core softmax(x x^T / sqrt(d)) x (two batch matmuls, a softmax, one transpose) and one
LayerNormalization, compiled by mcuq and run as firmware under QEMU.

    python benchmarks/attention_kernels.py [--heads 4] [--tokens 32] [--dim 16] [--opt O2]

Per layer: `mcuq run`'s instructions (QEMU -icount shift=0, SysTick after each layer; exact to one tick,
40 instructions). Per inference: the same, and where ../shared/tools/qemu-icount exists the exact count
of that TCG plugin (from entering <model>_invoke to the outputs line). The portable column is the same
firmware built with -DMCUQ_PORTABLE_KERNELS. Prints Markdown.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
from firmware import build_plugin, measure, one_sample
from onnx import TensorProto, helper, numpy_helper

import mcuq
from mcuq.firmware.boards import get_board

BOARDS = ("mps2-an386", "mps3-an547")  # Cortex-M4 (DSP), Cortex-M55 (MVE)


def attention_model(heads: int, tokens: int, dim: int) -> onnx.ModelProto:
    nodes = [helper.make_node("Transpose", ["x"], ["kt"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["x", "kt"], ["s"]),
             helper.make_node("Mul", ["s", "scale"], ["scaled"]),
             helper.make_node("Softmax", ["scaled"], ["a"], axis=-1),
             helper.make_node("MatMul", ["a", "x"], ["y"])]
    return _model(nodes, [1, heads, tokens, dim], [numpy_helper.from_array(np.array(dim ** -0.5, np.float32), "scale")])


def layer_norm_model(tokens: int, features: int) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((1 + 0.2 * rng.normal(size=features)).astype(np.float32), "g"),
             numpy_helper.from_array((0.2 * rng.normal(size=features)).astype(np.float32), "b")]
    return _model([helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1)], [1, tokens, features],
                  inits)


def _model(nodes, shape, inits) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "attention", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--opt", default="O2", choices=["O2", "Os", "O3"])
    args = parser.parse_args()
    width = args.heads * args.dim
    models = {"attention": (attention_model(args.heads, args.tokens, args.dim), (args.heads, args.tokens, args.dim)),
              "layer_norm": (layer_norm_model(args.tokens, width), (args.tokens, width))}
    print(f"Firmware -{args.opt}; instructions per layer (SysTick, 40-instruction ticks) and per inference\n")
    print("| model | layer | core | fast path | portable C | fast / portable |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plugin = build_plugin(tmp)
        for name, (model, shape) in models.items():
            path = tmp / f"{name}.onnx"
            onnx.save(model, path)
            calib = np.random.default_rng(1).normal(size=(32, *shape)).astype(np.float32)
            compiled = mcuq.compile(path, calib, tmp / name, name=name)
            sample = one_sample(compiled, calib)
            for board_name in BOARDS:
                board = get_board(board_name)
                fast = measure(compiled, sample, board, tmp / f"{name}_{board_name}", f"-{args.opt}", plugin)
                portable = measure(compiled, sample, board, tmp / f"{name}_{board_name}_portable", f"-{args.opt}",
                                   plugin, "-DMCUQ_PORTABLE_KERNELS")
                for layer, f, p in zip(compiled.qmodel.layers, fast["layers"], portable["layers"]):
                    print(f"| {name} {shape} | {layer.op.value} | {board.core} | {f:,} | {p:,} | {f / p:.2f} |")
                f, p = fast["exact"] or fast["instructions"], portable["exact"] or portable["instructions"]
                exact = " (exact)" if fast["exact"] else ""
                print(f"| {name} {shape} | whole inference{exact} | {board.core} | {f:,} | {p:,} | {f / p:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
