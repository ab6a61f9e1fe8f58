"""Empirical bias correction of weight quantization (Nagel et al. 2019, "Data-Free Quantization",
section 4.2), on the float IR before lowering.

Rounding the weights to int8 changes each layer's output by (W_q - W) x. Its mean over the data,
per output channel, is a systematic shift that every later layer inherits; Nagel et al. estimate
E[x] from BatchNorm statistics, here it is measured on the calibration data (the "empirical"
variant): for each conv, depthwise conv and fully connected layer, the mean over samples and
positions of (W - W_q) x, with x the layer's float input, is added to the bias. The layer then
has its float mean again once its weights are quantized. W_q is exactly what the lowering will
store (`quant.quantize_weights_per_channel`), and the corrected bias stays a float bias, quantized
to int32 as usual.

Only the weights' error is corrected, not the activations' (their rounding is unbiased to first
order, and the inputs are the float model's, so each layer is corrected on its own).
"""

from __future__ import annotations

import math

import numpy as np

from mcuq.calib.observe import batches
from mcuq.ir import float_exec
from mcuq.ir.graph import Graph, Node
from mcuq.ir.ops import op_info
from mcuq.passes.rewrites import add_constant, remove_unused_tensors, with_nodes_replaced
from mcuq.quant.lower import quantize_weights_per_channel

# Weight axis holding the output channel (conv2d OHWI, depthwise [1, KH, KW, C*m], FC [O, K]).


def weight_error(weights: np.ndarray, axis: int) -> np.ndarray:
    """W - W_q: what per-channel int8 rounding takes away from the weights."""
    q, scales = quantize_weights_per_channel(weights, axis)
    shape = [1] * weights.ndim
    shape[axis] = -1
    return weights.astype(np.float64) - q.astype(np.float64) * scales.reshape(shape)


def correctable(graph: Graph, node: Node) -> bool:
    return op_info(node.op).weights is not None and len(node.inputs) >= 3 and all(
        graph.const(name) is not None for name in node.inputs[1:3]
    )


def output_shift_sums(node: Node, x: np.ndarray, error: np.ndarray) -> tuple[np.ndarray, int]:
    """Sum over samples and positions of (W - W_q) x per output channel, and how many were summed.
    Computed before the fused activation: the bias acts before it. The conv is the faster form
    (`float_exec.FAST_OPS`): its float32 rounding moves the float64 mean shift by ~1e-7 of itself, which
    changes the int32 bias only where it lies that close to a rounding boundary (none of the shared models'
    biases does: benchmarks/c_outputs.py identical); resnet18 64x64's calibration 22 -> 8 s of CPU."""
    linear = {**node.attrs, "act_min": -math.inf, "act_max": math.inf}
    zero_bias = np.zeros(error.shape[op_info(node.op).weights.output], np.float32)
    y = float_exec.FAST_OPS[node.op](linear, x, error.astype(np.float32), zero_bias).astype(np.float64)
    per_channel = y.reshape(-1, y.shape[-1])
    return per_channel.sum(axis=0), per_channel.shape[0]


def correct_biases(graph: Graph, samples: np.ndarray, runs: float_exec.FloatRuns | None = None) -> Graph:
    """A new graph whose weighted layers' biases compensate their mean weight-quantization error
    (``runs``: the graph's activations on ``samples``, shared with calibration)."""
    layers = [node for node in graph.nodes if correctable(graph, node)]
    if not layers:
        return graph
    errors = {id(n): weight_error(graph.const(n.inputs[1]), op_info(n.op).weights.output) for n in layers}
    sums = {id(n): 0.0 for n in layers}
    count = {id(n): 0 for n in layers}
    for values in batches(graph, samples, runs=runs):
        for node in layers:
            total, n = output_shift_sums(node, values[node.inputs[0]], errors[id(node)])
            sums[id(node)] = sums[id(node)] + total
            count[id(node)] += n
    tensors = dict(graph.tensors)
    replacements = {}
    for node in layers:
        bias = graph.const(node.inputs[2]).astype(np.float64) + sums[id(node)] / max(count[id(node)], 1)
        name = add_constant(tensors, f"{node.inputs[2]}__corrected", bias)
        replacements[id(node)] = [node.replace(inputs=(node.inputs[0], node.inputs[1], name, *node.inputs[3:]))]
    corrected = with_nodes_replaced(graph, replacements, tensors)
    return remove_unused_tensors(corrected) or corrected
