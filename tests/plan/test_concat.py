"""Concat without copies: the producers of a Concat's inputs write straight into their slices of its
output (channel slices with a pixel stride, contiguous slices at an offset). Whole models built here
run end to end against ONNX Runtime and bit-exact against the golden model in an arena of random
bytes; the copy is gone from the C and the arena is smaller than with copies."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

import mcuq
from mcuq.plan import lifetimes, plan_arena, slice_writes
from mcuq.qir.model import ConcatParams, CopyParams, Layer, LutParams, QModel, QOp, QTensor
from tests.helpers.arena_checks import check_poisoned_arena, plan_mismatches
from tests.helpers.small_models import conv, make_model


def inception():
    """Channel concat of six branches over a stem, one per producer kind: 1x1 conv, 3x3 conv, 1x1 conv
    then max pool, depthwise conv, Add of two convs, LeakyReLU (a table); then a 3x3 conv."""
    stem, i0 = conv("stem", "x", "s", 3, 4)
    a, ia = conv("a", "s_r", "ya", 4, 4, k=1, pads=[0, 0, 0, 0])
    b, ib = conv("b", "s_r", "yb", 4, 3)
    c, ic = conv("c", "s_r", "c0", 4, 2, k=1, pads=[0, 0, 0, 0])
    d, i_d = conv("d", "s_r", "yd", 4, 4, group=4)
    e1, ie1 = conv("e1", "s_r", "e1", 4, 2, k=1, pads=[0, 0, 0, 0])
    e2, ie2 = conv("e2", "s_r", "e2", 4, 2)
    f, i_f = conv("f", "s_r", "f0", 4, 3, k=1, pads=[0, 0, 0, 0])
    head, ih = conv("head", "cat", "y", 18, 5)
    nodes = [stem, helper.make_node("Relu", ["s"], ["s_r"]), a, b, c,
             helper.make_node("MaxPool", ["c0"], ["yc"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             d, e1, e2, helper.make_node("Add", ["e1", "e2"], ["ye"]),
             f, helper.make_node("LeakyRelu", ["f0"], ["yf"], alpha=0.1),
             helper.make_node("Concat", ["ya", "yb", "yc", "yd", "ye", "yf"], ["cat"], axis=1), head]
    return make_model(nodes, [1, 3, 8, 8], {**i0, **ia, **ib, **ic, **i_d, **ie1, **ie2, **i_f, **ih})


def along_h():
    """Concat along H (the outermost non-unit NHWC axis: contiguous slices) of a 3x3 conv, a conv with
    stride (2, 1), an average pool of a conv and an Add; the concat is the model output."""
    a, ia = conv("a", "x", "ya", 3, 4)
    b, ib = conv("b", "x", "yb", 3, 4, strides=[2, 1])
    c, ic = conv("c", "x", "c0", 3, 4, k=1, pads=[0, 0, 0, 0])
    e1, ie1 = conv("e1", "x", "e1", 3, 4, strides=[2, 1])
    e2, ie2 = conv("e2", "x", "e2", 3, 4, k=1, strides=[2, 1], pads=[0, 0, 0, 0])
    nodes = [a, b, c, helper.make_node("AveragePool", ["c0"], ["yc"], kernel_shape=[2, 1], strides=[2, 1]),
             e1, e2, helper.make_node("Add", ["e1", "e2"], ["ye"]),
             helper.make_node("Concat", ["ya", "yb", "yc", "ye"], ["y"], axis=2)]
    return make_model(nodes, [1, 3, 8, 6], {**ia, **ib, **ic, **ie1, **ie2})


def partial():
    """Concat of the stem itself (read by a conv too: it keeps its copy) and of that conv's output
    (written in place)."""
    stem, i0 = conv("stem", "x", "s", 3, 4)
    a, ia = conv("a", "s", "ya", 4, 6)
    head, ih = conv("head", "cat", "y", 10, 3)
    nodes = [stem, a, helper.make_node("Concat", ["s", "ya"], ["cat"], axis=1), head]
    return make_model(nodes, [1, 3, 6, 6], {**i0, **ia, **ih})


MODELS = {"inception": inception, "along_h": along_h, "partial": partial}


def compile_model(name, tmp_path):
    """Compiled with 64 calibration samples (returned) and 8 more for verification."""
    path = tmp_path / f"{name}.onnx"
    onnx.save(MODELS[name](), path)
    shape = onnx.load(path).graph.input[0].type.tensor_type.shape
    dims = [d.dim_value for d in shape.dim]
    samples = np.random.default_rng(sorted(MODELS).index(name)).normal(0, 1, size=(72, *dims[1:]))
    samples = samples.astype(np.float32)
    compiled = mcuq.compile(path, samples[:64], tmp_path / "out", name=name, verify_data=samples[64:])
    return compiled, path, samples[:64]


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request, tmp_path_factory):
    return (request.param, *compile_model(request.param, tmp_path_factory.mktemp(request.param)))


def _concat(compiled):
    return next(layer for layer in compiled.qmodel.layers if layer.op is QOp.CONCAT)


def test_close_to_onnx_runtime(model):
    # On calibration samples: a held-out one may lie beyond the calibrated ranges and saturate, which
    # says nothing about Concat.
    _, compiled, path, samples = model
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for x in samples[:4]:
        (ref,) = session.run(None, {"x": x[None]})
        got = compiled.run(x[None])
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= 0.1 * np.abs(ref).max() + 1e-3  # as test_ops_end_to_end
    for m in compiled.report["verification"]["float_metrics"]:
        assert m["sqnr_db"] > 20, m


def test_bit_exact_in_a_poisoned_arena(model):
    _, compiled, *_ = model
    t_in = compiled.qmodel.tensors[compiled.qmodel.inputs[0]]
    for seed in range(3):
        q = np.random.default_rng(seed).integers(-128, 128, size=t_in.shape).astype(np.int8)
        check_poisoned_arena(compiled, q)


def test_copies_are_gone_and_the_arena_shrank(model):
    name, compiled, *_ = model
    plan, qmodel = compiled.plan, compiled.qmodel
    cat = _concat(compiled)
    source = compiled.c_path.read_text()
    kept = [n for n in cat.inputs if n not in plan.slices]
    if name == "partial":
        assert kept == [cat.inputs[0]]  # the stem, read by a conv too
        assert source.count("status = mcuq_concat_s8(") == 1
    else:
        assert kept == []
        assert "mcuq_concat_s8" not in source  # neither a call nor the kernel
    assert source.count("No copy for the Concat") == len(cat.inputs) - len(kept)
    assert compiled.report["memory"]["concat_slices"] == len(plan.slices)
    assert "straight into their slice of a Concat's output" in (compiled.c_path.parent / "report.md").read_text()
    # The same layers with the copies: a bigger arena.
    with_copies = plan_arena(qmodel, slice_modes=(False,))
    assert plan.size < with_copies.size
    assert plan.lower_bound <= plan.size


def test_producers_write_slices_and_never_run_in_place(model):
    _, compiled, *_ = model
    plan, qmodel = compiled.plan, compiled.qmodel
    cat = _concat(compiled)
    out = qmodel.tensors[cat.output]
    steps = {layer.output: i for i, layer in enumerate(qmodel.layers)}
    for name, piece in plan.slices.items():
        assert piece.concat == cat.output and name not in plan.inplace
        assert plan.offsets[name] == plan.offsets[cat.output] + piece.offset
    # The concat's output is one buffer, alive from its first slice's producer on; its inputs have none.
    first = min([steps[n] for n in plan.slices] + [steps[cat.output]])
    buffer = next(b for b in plan.buffers if b.name == cat.output)
    assert buffer.first_use == first < lifetimes(qmodel)[cat.output][0]
    assert buffer.size >= out.size
    assert not {b.name for b in plan.buffers} & set(plan.slices)


def test_a_plan_that_ignores_the_early_writes_is_caught(model, tmp_path):
    """The Concat's output must be alive from its first slice on: placed over the input of the first
    slice's producer (alive at that step, free again by the Concat's own step), the C goes wrong."""
    _, compiled, *_ = model
    plan, qmodel = compiled.plan, compiled.qmodel
    cat = _concat(compiled)
    steps = {layer.output: i for i, layer in enumerate(qmodel.layers)}
    target = qmodel.layers[min(steps[n] for n in plan.slices)].inputs[0]
    delta = plan.offsets[target] - plan.offsets[cat.output]
    moved = {n: plan.offsets[n] + delta for n in (cat.output, *plan.slices)}
    size = max(plan.size, moved[cat.output] + qmodel.tensors[cat.output].size)
    assert plan_mismatches(compiled, dataclasses.replace(plan, offsets={**plan.offsets, **moved}, size=size), tmp_path / "c") > 0


def test_concat_inputs_share_the_output_quantization(model):
    name, compiled, *_ = model
    qmodel = compiled.qmodel
    cat = _concat(compiled)
    out = qmodel.tensors[cat.output]
    for i, n in enumerate(cat.inputs):
        same = (qmodel.tensors[n].scale, qmodel.tensors[n].zero_point) == (out.scale, out.zero_point)
        assert same == (cat.params.multipliers[i] == 0)
        assert same == (name != "partial" or i == 1)  # the stem is read by a conv too: its own quantization


# --------------------------------------------------------------------------------------------------
# which inputs get slices
# --------------------------------------------------------------------------------------------------


def _model(in_shapes, out_shape, axis, ops=None, outputs=("z",), scales=None, extra_reader=False):
    """x -> one layer per input (op from `ops`, a LUT by default) -> concat along `axis` -> z."""
    lut = LutParams(table=np.arange(-128, 128, dtype=np.int8))
    scales = scales or [1.0] * len(in_shapes)
    tensors = {"x": QTensor("x", in_shapes[0], 1.0, 0), "z": QTensor("z", out_shape, 1.0, 0)}
    layers = []
    for i, shape in enumerate(in_shapes):
        tensors[f"t{i}"] = QTensor(f"t{i}", shape, scales[i], 0)
        op = (ops or [QOp.LUT] * len(in_shapes))[i]
        layers.append(Layer(op, f"p{i}", ("x",), f"t{i}", CopyParams() if op is QOp.COPY else lut))
    n = len(in_shapes)
    mults = tuple(0 if s == 1.0 else 1 << 30 for s in scales)
    layers.append(Layer(QOp.CONCAT, "cat", tuple(f"t{i}" for i in range(n)), "z",
                        ConcatParams(axis, (0,) * n, mults, (0,) * n, 0)))
    if extra_reader:
        tensors["u"] = QTensor("u", in_shapes[0], 1.0, 0)
        layers.append(Layer(QOp.LUT, "reader", ("t0",), "u", lut))
    return QModel("m", tensors, layers, ["x"], list(outputs))


def test_slice_kinds():
    # Along channels: pixel stride 5, channel offsets 0 and 2.
    got = slice_writes(_model([(1, 3, 4, 2), (1, 3, 4, 3)], (1, 3, 4, 5), 3))
    assert [(s.offset, s.pixel_stride, s.channels, s.strided) for s in got.values()] == [(0, 5, 2, True),
                                                                                         (2, 5, 3, True)]
    # Along H: contiguous blocks at byte offsets 0 and 2*4*3.
    got = slice_writes(_model([(1, 2, 4, 3), (1, 1, 4, 3)], (1, 3, 4, 3), 1))
    assert [(s.offset, s.strided) for s in got.values()] == [(0, False), (24, False)]
    # Along W of several rows: neither one block nor a channel range.
    assert slice_writes(_model([(1, 2, 1, 3), (1, 2, 2, 3)], (1, 2, 3, 3), 2)) == {}


def test_inputs_that_keep_their_copy():
    shapes, out = [(1, 3, 4, 2), (1, 3, 4, 3)], (1, 3, 4, 5)
    assert set(slice_writes(_model(shapes, out, 3, scales=[1.0, 0.5]))) == {"t0"}  # t1 is requantized
    assert set(slice_writes(_model(shapes, out, 3, extra_reader=True))) == {"t1"}  # t0 has a second reader
    assert set(slice_writes(_model(shapes, out, 3, outputs=("z", "t1")))) == {"t0"}  # t1 is a model output
    # A fully connected layer has no pixel stride; a reshape keeps its copy.
    assert set(slice_writes(_model(shapes, out, 3, ops=[QOp.FULLY_CONNECTED, QOp.COPY]))) == set()
    # Contiguous slices take any kernel but reshapes.
    h = [(1, 2, 4, 3), (1, 1, 4, 3)]
    assert set(slice_writes(_model(h, (1, 3, 4, 3), 1, ops=[QOp.FULLY_CONNECTED, QOp.COPY]))) == {"t0"}

