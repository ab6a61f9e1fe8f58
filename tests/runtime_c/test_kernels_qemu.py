"""Every int8 kernel path on the real instructions: random layers run on an emulated Cortex-M4 (DSP path)
and Cortex-M55 (MVE path) under QEMU, each equal to the golden model byte for byte, with separate
buffers, in place at the largest overlap the planner allows, and writing a channel slice.

The int8 family files beside this one check the same kernels on the host (portable C, and the DSP
path on C emulations of its instructions); the MVE path runs only here. The shapes lean towards what the fast
paths specialize: channel counts around multiples of 4 and 16 and their tails, 1x1 and 3x3 windows,
strides 1 and 2, padding on every side.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcuq import qir
from mcuq.numerics import fixedpoint as fp
from mcuq.plan import inplace
from mcuq.qir import kernels
from mcuq.qir.model import QOp
from tests.helpers.kernel_qemu import KernelCase, layer_case, run_cases, tools_missing

CORES = {"M4": "mps2-an386", "M55": "mps3-an547", "M3": "mps2-an385"}

missing = tools_missing()
pytestmark = pytest.mark.skipif(
    missing is not None and not os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS"), reason=str(missing)
)


def _layer(op, params, in_shapes, out_shape):
    names = tuple(f"in{i}" for i in range(len(in_shapes)))
    tensors = {n: qir.QTensor(n, tuple(in_shapes[i]), 1.0, 0) for i, n in enumerate(names)}
    tensors["out"] = qir.QTensor("out", tuple(out_shape), 1.0, 0)
    return qir.Layer(op, op.value, names, "out", params), tensors


def _i8(rng, shape):
    return rng.integers(-128, 128, size=shape).astype(np.int8)


def _channels(rng) -> int:
    """Channel counts around the vector widths: 1..3, multiples of 4 and 16, and their tails."""
    return int(rng.choice([1, 2, 3, 4, 5, 7, 8, 12, 15, 16, 17, 20, 24, 31, 32, 33, 48, 64]))


def _requant(rng, channels, terms):
    """Per-channel (multiplier, shift) putting a typical accumulator onto a few dozen LSB; one channel in
    ten gets a scale above 1 (a left shift)."""
    reals = 64.0 / (math.sqrt(terms) * 4000.0) * 2.0 ** rng.uniform(-4, 4, size=channels)
    big = rng.random(channels) < 0.1
    reals[big] = 2.0 ** rng.uniform(0, 3, size=int(big.sum()))
    return fp.quantize_multipliers(reals)


def _act(rng):
    if rng.random() < 0.5:
        return -128, 127
    lo, hi = sorted(int(v) for v in rng.integers(-128, 128, size=2))
    return lo, hi


def _window(rng):
    """(h, w, kh, kw, stride, padding) with at least one output pixel."""
    kh, kw = (int(v) for v in rng.choice([1, 1, 2, 3, 3, 4, 5], size=2))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    pad = tuple(int(v) for v in rng.integers(0, 2, size=4)) if rng.random() < 0.7 else (0, 0, 0, 0)
    h, w = int(rng.integers(kh, kh + 7)), int(rng.integers(kw, kw + 7))
    return h, w, kh, kw, stride, pad


def _out(size, a, b, k, s):
    return (size + a + b - k) // s + 1


def random_conv(rng, depthwise=False):
    h, w, kh, kw, stride, pad = _window(rng)
    c_in = _channels(rng)
    c_out = c_in if depthwise else _channels(rng)
    if not depthwise and rng.random() < 0.3:  # pointwise, the commonest layer of small CNNs
        kh = kw = 1
        stride, pad = (1, 1), (0, 0, 0, 0)
    oh, ow = _out(h, pad[0], pad[2], kh, stride[0]), _out(w, pad[1], pad[3], kw, stride[1])
    zp_in, zp_out = (int(v) for v in rng.integers(-128, 128, size=2))
    mult, shift = _requant(rng, c_out, kh * kw * (1 if depthwise else c_in))
    common = dict(bias=rng.integers(-(2**14), 2**14, size=c_out).astype(np.int32), multiplier=mult, shift=shift,
                  input_offset=-zp_in, output_offset=zp_out, stride=stride, dilation=(1, 1), padding=pad,
                  act_min=_act(rng)[0], act_max=127)
    common["act_min"], common["act_max"] = _act(rng)
    if depthwise:
        params = qir.DepthwiseConvParams(weights=rng.integers(-127, 128, size=(1, kh, kw, c_out)).astype(np.int8),
                                         ch_mult=1, **common)
        op = QOp.DEPTHWISE_CONV
    else:
        params = qir.ConvParams(weights=rng.integers(-127, 128, size=(c_out, kh, kw, c_in)).astype(np.int8),
                                **common)
        op = QOp.CONV
    layer, tensors = _layer(op, params, [(1, h, w, c_in)], (1, oh, ow, c_out))
    return layer, tensors, [_i8(rng, (1, h, w, c_in))]


def random_fc(rng):
    batch, k, o = int(rng.integers(1, 4)), int(rng.integers(1, 80)), int(rng.integers(1, 24))
    mult, shift = _requant(rng, o, k)
    zp_in, zp_out = (int(v) for v in rng.integers(-128, 128, size=2))
    lo, hi = _act(rng)
    params = qir.FullyConnectedParams(weights=rng.integers(-127, 128, size=(o, k)).astype(np.int8),
                                      bias=rng.integers(-(2**14), 2**14, size=o).astype(np.int32), multiplier=mult,
                                      shift=shift, input_offset=-zp_in, output_offset=zp_out, act_min=lo, act_max=hi)
    layer, tensors = _layer(QOp.FULLY_CONNECTED, params, [(batch, k)], (batch, o))
    return layer, tensors, [_i8(rng, (batch, k))]


def random_add(rng):
    shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), _channels(rng))
    s1, s2, so = (float(v) for v in 10.0 ** rng.uniform(-3, 0, size=3))
    z1, z2, zo = (int(v) for v in rng.integers(-128, 128, size=3))
    params = fp.prepare_add(s1, z1, s2, z2, so, zo, *_act(rng))
    layer, tensors = _layer(QOp.ADD, params, [shape, shape], shape)
    return layer, tensors, [_i8(rng, shape), _i8(rng, shape)]


def random_pool(rng, op):
    h, w, kh, kw, stride, _ = _window(rng)
    if rng.random() < 0.3:  # global pooling, as at the end of KWS and ResNet-8
        kh, kw, stride = h, w, (1, 1)
    pad = tuple(int(rng.integers(0, k)) for k in (kh, kw, kh, kw))
    oh, ow = _out(h, pad[0], pad[2], kh, stride[0]), _out(w, pad[1], pad[3], kw, stride[1])
    c = _channels(rng)
    lo, hi = _act(rng)
    params = qir.PoolParams(kernel=(kh, kw), stride=stride, padding=pad, act_min=lo, act_max=hi,
                            count_include_pad=bool(rng.random() < 0.5), pad_value=int(rng.integers(-128, 128)))
    layer, tensors = _layer(op, params, [(1, h, w, c)], (1, oh, ow, c))
    return layer, tensors, [_i8(rng, (1, h, w, c))]


def random_softmax(rng):
    rows, row = int(rng.integers(1, 4)), int(rng.integers(1, 40))
    params = fp.prepare_softmax(float(10.0 ** rng.uniform(-3, -0.3)), 1.0)
    layer, tensors = _layer(QOp.SOFTMAX, params, [(rows, row)], (rows, row))
    return layer, tensors, [_i8(rng, (rows, row))]


GENERATORS = {
    "conv": random_conv,
    "depthwise": lambda rng: random_conv(rng, depthwise=True),
    "fully_connected": random_fc,
    "add": random_add,
    "max_pool": lambda rng: random_pool(rng, QOp.MAX_POOL),
    "avg_pool": lambda rng: random_pool(rng, QOp.AVG_POOL),
    "softmax": random_softmax,
}
SLICED = {QOp.CONV, QOp.DEPTHWISE_CONV, QOp.MAX_POOL, QOp.AVG_POOL}


def cases_for(kind: str, seed: int) -> list[KernelCase]:
    """One random layer of `kind`: with separate buffers, in place where the planner allows it, and as
    a channel slice where the op can write one."""
    rng = np.random.default_rng(seed)
    layer, tensors, inputs = GENERATORS[kind](rng)
    label = f"{kind} seed {seed}: {[tensors[n].shape for n in layer.inputs]} -> {tensors['out'].shape}"
    cases = [layer_case(label, layer, inputs, tensors)]
    roomy = kernels.roomy_scratch_bytes(layer, tensors) > kernels.scratch_bytes(layer, tensors)
    if roomy:
        cases.append(layer_case(f"{label}, roomy scratch", layer, inputs, tensors, roomy=True))
    shift = inplace.max_shift(layer, tensors)
    if shift is not None:
        cases.append(layer_case(f"{label}, in place at {shift}", layer, inputs, tensors, inplace_shift=shift))
        if roomy:
            cases.append(layer_case(f"{label}, in place at {shift}, roomy scratch", layer, inputs, tensors,
                                    inplace_shift=shift, roomy=True))
    if layer.op in SLICED:
        stride = tensors["out"].shape[-1] + 1 + seed % 5
        cases.append(layer_case(f"{label}, pixel stride {stride}", layer, inputs, tensors, pixel_stride=stride))
    return cases


def layer_variants(label: str, layer, x, tensors) -> list[KernelCase]:
    """The layer with separate buffers, with the roomy scratch where it has one, and in place at the
    largest overlap the planner allows (least and roomy scratch)."""
    cases = [layer_case(label, layer, x, tensors)]
    if kernels.roomy_scratch_bytes(layer, tensors) > kernels.scratch_bytes(layer, tensors):
        cases.append(layer_case(f"{label}, roomy scratch", layer, x, tensors, roomy=True))
    shift_in = inplace.max_shift(layer, tensors)
    if shift_in is not None and shift_in < 0:
        cases.append(layer_case(f"{label}, in place at {shift_in}", layer, x, tensors, inplace_shift=shift_in))
        cases.append(layer_case(f"{label}, in place at {shift_in}, roomy", layer, x, tensors,
                                inplace_shift=shift_in, roomy=True))
    return cases


def _model_layers() -> list[KernelCase]:
    """The layer shapes of the benchmark models (KWS DS-CNN, ResNet-8), where the fast paths matter most."""
    rng = np.random.default_rng(4)
    # ResNet-8's 32x32 layers at 16x16: the same paths, in the 512 KiB of the M55 board's code memory.
    shapes = [  # (h, w, c_in, c_out, kh, kw, stride, padding, depthwise)
        (49, 10, 1, 64, 10, 4, (2, 2), (4, 1, 5, 2), False),
        (25, 5, 64, 64, 3, 3, (1, 1), (1, 1, 1, 1), True),
        (25, 5, 64, 64, 1, 1, (1, 1), (0, 0, 0, 0), False),
        (16, 16, 3, 16, 3, 3, (1, 1), (1, 1, 1, 1), False),
        (16, 16, 16, 16, 3, 3, (1, 1), (1, 1, 1, 1), False),
        (16, 16, 16, 32, 3, 3, (2, 2), (0, 0, 1, 1), False),
        (16, 16, 16, 32, 1, 1, (2, 2), (0, 0, 0, 0), False),
        (8, 8, 64, 64, 3, 3, (1, 1), (1, 1, 1, 1), False),
    ]
    cases = []
    for h, w, c_in, c_out, kh, kw, stride, pad, depthwise in shapes:
        oh, ow = _out(h, pad[0], pad[2], kh, stride[0]), _out(w, pad[1], pad[3], kw, stride[1])
        mult, shift = _requant(rng, c_out, kh * kw * (1 if depthwise else c_in))
        common = dict(bias=rng.integers(-(2**14), 2**14, size=c_out).astype(np.int32), multiplier=mult,
                      shift=shift, input_offset=37, output_offset=-128, stride=stride, dilation=(1, 1), padding=pad,
                      act_min=-128, act_max=127)
        if depthwise:
            params = qir.DepthwiseConvParams(weights=rng.integers(-127, 128, size=(1, kh, kw, c_out)).astype(np.int8),
                                             ch_mult=1, **common)
        else:
            params = qir.ConvParams(weights=rng.integers(-127, 128, size=(c_out, kh, kw, c_in)).astype(np.int8),
                                    **common)
        op = QOp.DEPTHWISE_CONV if depthwise else QOp.CONV
        layer, tensors = _layer(op, params, [(1, h, w, c_in)], (1, oh, ow, c_out))
        x = [_i8(rng, (1, h, w, c_in))]
        cases += layer_variants(f"{op.value} {kh}x{kw}/{stride[0]} {c_in}->{c_out} {h}x{w}", layer, x, tensors)
    add = fp.prepare_add(0.05, -3, 0.08, 7, 0.1, -20, -128, 127)
    layer, tensors = _layer(QOp.ADD, add, [(1, 16, 16, 32)] * 2, (1, 16, 16, 32))
    cases.append(layer_case("add 16x16x32", layer, [_i8(rng, (1, 16, 16, 32)), _i8(rng, (1, 16, 16, 32))], tensors))
    return cases


def _assert_all_pass(cases: list[KernelCase], core: str, tmp_path) -> None:
    result = run_cases(cases, CORES[core], tmp_path)
    assert not result.failed, "on {}: {}\n{}".format(
        core, "; ".join(cases[i].label for i in result.failed), result.log[-3000:])


@pytest.mark.parametrize("core", list(CORES))
def test_model_shaped_layers_equal_golden(core, tmp_path):
    cases = _model_layers()
    half = len(cases) // 2  # two firmware images: all of it exceeds the M55 board's 512 KiB of code memory
    _assert_all_pass(cases[:half], core, tmp_path / "first")
    _assert_all_pass(cases[half:], core, tmp_path / "second")


# Each example builds one firmware with several random layers of every kind, so a few examples
# cover many shapes; the whole file takes about a minute.
@pytest.mark.slow
@pytest.mark.parametrize("core", list(CORES))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(seeds=st.lists(st.integers(0, 2**32 - 1), min_size=len(GENERATORS) * 4, max_size=len(GENERATORS) * 4))
def test_random_layers_equal_golden(core, seeds, tmp_path_factory):
    kinds = list(GENERATORS)
    cases = [c for i, seed in enumerate(seeds) for c in cases_for(kinds[i % len(kinds)], seed)]
    _assert_all_pass(cases, core, tmp_path_factory.mktemp(core))


# TFLite Add parameters (scales and zero points of input 1, input 2, output; activation range): input 1
# the larger scale; input 2 the larger (the kernel swaps them) with a ReLU clamp; a Sub (input 2's
# multiplier negated); scales close together with an output scale that saturates often.
EVERY_PAIR_PARAMS = {
    "add": (fp.prepare_add, (0.037, -3, 0.021, 11, 0.05, 4, -128, 127)),
    "add input 2 larger, relu": (fp.prepare_add, (0.0113, 57, 0.0291, -128, 0.0302, -100, -100, 127)),
    "sub": (fp.prepare_sub, (0.052, 0, 0.047, -17, 0.081, 9, -128, 127)),
    "add small output scale": (fp.prepare_add, (0.02, 100, 0.0199, -90, 0.009, -2, -128, 127)),
}


@pytest.mark.parametrize("core", list(CORES))
@pytest.mark.parametrize("which", list(EVERY_PAIR_PARAMS))
def test_add_on_every_input_pair(core, which, tmp_path):
    """All 65,536 pairs of int8 inputs through the add kernel's table, DSP and MVE paths, written in
    place over the first input, for each parameter set above (every rounding step shows)."""
    x = np.arange(-128, 128, dtype=np.int8)
    a, b = (np.ascontiguousarray(m) for m in np.meshgrid(x, x, indexing="ij"))
    prepare, args = EVERY_PAIR_PARAMS[which]
    params = prepare(*args)
    layer, tensors = _layer(QOp.ADD, params, [a.shape, a.shape], a.shape)
    _assert_all_pass([layer_case("add, every input pair, in place", layer, [a, b], tensors, inplace_shift=0)],
                     core, tmp_path)


# Lengths around the loops' widths (eight elements a pass on M4 and M55) and their tails.
TAIL_LENGTHS = (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 23, 31, 33, 100)


@pytest.mark.parametrize("core", list(CORES))
def test_add_tails_in_place_and_sliced(core, tmp_path):
    """The add kernel on lengths that leave every tail of its loops, for each parameter set above: with
    separate buffers, in place over input 1, and writing a channel slice (rows of 3 pixels)."""
    rng = np.random.default_rng(15)
    cases = []
    for i, length in enumerate(TAIL_LENGTHS):
        which = list(EVERY_PAIR_PARAMS)[i % len(EVERY_PAIR_PARAMS)]
        prepare, args = EVERY_PAIR_PARAMS[which]
        dense = (1, 1, 1, length)
        layer, tensors = _layer(QOp.ADD, prepare(*args), [dense, dense], dense)
        inputs = [_i8(rng, dense), _i8(rng, dense)]
        cases.append(layer_case(f"{which}, {length}", layer, inputs, tensors))
        cases.append(layer_case(f"{which}, {length}, in place", layer, inputs, tensors, inplace_shift=0))
        rows = (1, 1, 3, length)
        layer, tensors = _layer(QOp.ADD, prepare(*args), [rows, rows], rows)
        inputs = [_i8(rng, rows), _i8(rng, rows)]
        cases.append(layer_case(f"{which}, 3 x {length}, slice", layer, inputs, tensors, pixel_stride=length + 3))
    _assert_all_pass(cases, core, tmp_path)
