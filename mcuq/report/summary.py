"""The compile report: a row per layer (op, shape, MACs, weight bytes, scales, SQNR against the float
layer) and the model's totals and verification results, as JSON and Markdown."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable

import numpy as np

from mcuq.codegen.names import untrusted
from mcuq.codegen.templating import template_environment
from mcuq.codegen.views import generated_tables
from mcuq.plan import ArenaPlan, scratch_name
from mcuq.plan.buffers import union_length
from mcuq.qir.model import Layer, QModel, QOp, QTensor


def _conv_macs(layer: Layer, model: QModel) -> int:
    _, kh, kw, i = layer.params.weights.shape
    return model.tensors[layer.output].size * kh * kw * i


def _depthwise_macs(layer: Layer, model: QModel) -> int:
    _, kh, kw, _ = layer.params.weights.shape
    return model.tensors[layer.output].size * kh * kw


def _fully_connected_macs(layer: Layer, model: QModel) -> int:
    return model.tensors[layer.output].size * layer.params.weights.shape[1]


def _batch_matmul_macs(layer: Layer, model: QModel) -> int:
    """Each output is one dot product over the left operand's last axis."""
    return model.tensors[layer.output].size * model.tensors[layer.inputs[0]].shape[-1]


def _recurrent_macs(layer: Layer, model: QModel) -> int:
    """Every step multiplies the input [F] and the previous hidden state [H] by all gates' rows."""
    gates = layer.params.gates
    steps = model.tensors[layer.output].shape[1]
    return steps * (gates.input_weights.size + gates.hidden_weights.size)


# Multiply-accumulates per layer, by op; ops without weights or dot products count none.
MACS: dict[QOp, Callable[[Layer, QModel], int]] = {
    QOp.CONV: _conv_macs,
    QOp.DEPTHWISE_CONV: _depthwise_macs,
    QOp.FULLY_CONNECTED: _fully_connected_macs,
    QOp.BATCH_MATMUL: _batch_matmul_macs,
    QOp.LSTM: _recurrent_macs,
    QOp.GRU: _recurrent_macs,
}


def layer_macs(layer: Layer, model: QModel) -> int:
    count = MACS.get(layer.op)
    return count(layer, model) if count else 0


def _constant_arrays(value) -> list[np.ndarray]:
    """The numpy arrays of a params dataclass, also inside nested ones (a recurrent layer's gates)."""
    if isinstance(value, np.ndarray):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [a for f in dataclasses.fields(value) for a in _constant_arrays(getattr(value, f.name))]
    return []


def layer_weight_bytes(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """Flash taken by the layer's constant arrays (weights, bias, multipliers, shifts, tables, constant
    operands, initial states), with the tables the generated C derives from them (`generated_tables`)."""
    arrays = _constant_arrays(layer.params) + generated_tables(layer, tensors)
    return int(sum(a.nbytes for a in arrays))


def _finite(value):
    """JSON has no inf/nan: write them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def layer_rows(model: QModel, layer_sqnr: dict[str, float]) -> list[dict]:
    rows = []
    for i, layer in enumerate(model.layers):
        out = model.tensors[layer.output]
        ins = [model.tensors[n] for n in layer.inputs]
        rows.append(dict(
            index=i,
            name=layer.name,
            op=layer.op.value,
            output_shape=list(out.shape),
            macs=layer_macs(layer, model),
            weight_bytes=layer_weight_bytes(layer, model.tensors),
            input_scales=[t.scale for t in ins],
            output_scale=out.scale,
            output_zero_point=out.zero_point,
            sqnr_db=layer_sqnr.get(layer.output),
        ))
    return rows


def _buffer_entry(model: QModel, plan: ArenaPlan, name: str, producer: dict[str, int]) -> dict:
    if name in model.inputs:
        kind, label = "input", "input"
    else:
        step = producer[name]
        kind = "output" if name in model.outputs else "activation"
        label = f"L{step} {model.layers[step].op.value}"
    source, shift = plan.inplace.get(name, (None, 0))
    return dict(name=name, label=label, kind=kind, inplace_of=source, shift=shift)


def memory_section(model: QModel, plan: ArenaPlan) -> dict:
    """The arena plan as data: every buffer's offset, size and lifetime (steps -1 .. layers: the
    input copy, each layer, the output copy) and the bytes alive at each step."""
    producer = {layer.output: i for i, layer in enumerate(model.layers)}
    scratch_steps = {scratch_name(step): step for step in plan.scratch}
    buffers = []
    for b in plan.buffers:
        if b.name in scratch_steps:
            step = scratch_steps[b.name]
            entry = dict(name=f"scratch of layer {step}", label=f"L{step} scratch", kind="scratch",
                         inplace_of=None, shift=0)
        else:
            entry = _buffer_entry(model, plan, b.name, producer)
        buffers.append(dict(entry, offset=plan.buffer_offsets[b.name], size=b.size, first_use=b.first_use,
                            last_use=b.last_use))
    live = []
    for step in range(-1, len(model.layers) + 1):
        live.append(union_length([(x["offset"], x["offset"] + x["size"]) for x in buffers
                                  if x["first_use"] <= step <= x["last_use"]]))
    return dict(arena_bytes=plan.size, lower_bound=plan.lower_bound, strategy=plan.strategy,
                least_arena_bytes=plan.size - plan.scratch_growth_bytes, scratch_growth_bytes=plan.scratch_growth_bytes,
                steps=len(model.layers), inplace_layers=len(plan.inplace), concat_slices=len(plan.slices),
                buffers=buffers, live_bytes=live)


def to_json(report: dict) -> str:
    def clean(obj):
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return _finite(obj)

    return json.dumps(clean(report), indent=2) + "\n"


def to_markdown(report: dict) -> str:
    """The report as Markdown. Every string in it may carry a model's names (layer names, hints that
    quote them), so each reaches the template as a `ModelString` and prints only through md_text/md_code."""
    return template_environment().get_template("report.md.j2").render(report=untrusted(report))
