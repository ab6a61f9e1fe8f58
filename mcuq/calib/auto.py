"""``auto`` calibration: for each tensor, the range (of minmax, percentile, mse, entropy) whose
quantization hurts the model's output least.

A range's own error (the MSE of the tensor itself) is not what costs accuracy: a clip that saves
resolution on the bulk can lose the few large values later layers depend on, and what follows the
tensor (a conv summing the error over its window, a max pool dropping most of it, a softmax) decides
how much of the error survives. So each candidate range is scored where its error lands:

1. One calibration pass feeds every observer of every candidate method at once (`observe.observe`).
2. For each tensor whose range the lowering uses (``RANGE_OPS`` outputs and the graph input), its
   *probe* is the part of the graph downstream of it. Scope "output" (the default): every node the
   tensor reaches, measured at the graph outputs. Scope "next" (cheaper, for deep models): the
   tensor's consumers, followed through ops that only move or select values (reshape, transpose, pad,
   pools, concat) up to the first op that computes (conv, FC, add, softmax, ...), measured there.
3. A second pass over the calibration data runs, per tensor and per distinct candidate grid, the
   probe with only that tensor fake-quantized (everything else float, as the float model computes
   it), and sums the noise energy at the measured tensors relative to their signal energy.
4. Each tensor gets the candidate with the least relative noise (ties: the order of ``CANDIDATES``).

The choices are independent (each tensor scored with the rest in float): one probe run per tensor
and distinct candidate, instead of a search over combinations. Candidates whose grids coincide (same
scale and zero point) are run once. Measured on the shared models (golden model, evaluation sets of
benchmarks/quant_quality.py), scoring at the output beat scoring at the next layer in output SQNR on
KWS (31.4 vs 29.6 dB), ResNet-8 (20.4 vs 19.8) and the digits example (40.3 vs 38.3), tied on the
MNIST models, at 1.2-1.8x the calibration time (6.6 s instead of 3.6 s for ResNet-8, 200 samples).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mcuq.calib.observe import OBSERVERS, batches, float_runs, observe
from mcuq.calib.range_search import fake_quantize
from mcuq.ir import float_exec
from mcuq.ir.graph import Graph, Node
from mcuq.ir.ops import OutputGrid, ops_where
from mcuq.quant.lower import activation_qparams

CANDIDATES = ("mse", "entropy", "percentile", "minmax")  # ties go to the first
# Work of all "output" probes together (per candidate grid), in float passes over the model: past it the
# probes stop at a depth bound (`probe_bound`), so auto calibration costs O(MACs x samples) on deep models.
# The shared models' probes cost 1.5-5.5 passes (ResNet-8 5.5): they keep their whole-graph probes.
PROBE_BUDGET = 6.0
# ... unless the whole-graph probes are cheap anyway: at most this much work (`node_work`: multiply-accumulates,
# output elements of other ops) per sample and candidate. Small deep models (the keyword transformer, 12 M;
# the tiny ViT, 20 M; ResNet-8, 69 M) keep their whole probes: bounded, the ViT lost 1.3 dB of output SQNR. The
# torchvision models of issue 15 (0.4-3.6 G) are bounded. A constant, so the cost stays O(MACs x samples).
WHOLE_PROBE_WORK = 100_000_000
# Bounded probes (deep models only) also read only the first quarter of each batch's samples: on the
# torchvision models of issue 15 the probes would still cost several times the rest of the compile.
BOUNDED_PROBE_SHARE = 4
# ... but never fewer than this many samples: scored on 4 of 16 samples, squeezenet1_1's choices cost 3.9 dB
# of output SQNR (31.1 dB against ORT's 35.0); on all 16 it is within ORT's best - 1 dB again.
MIN_PROBE_SAMPLES = 16
# Ops whose output the lowering quantizes from its calibrated range (`quant.lower`); the
# others keep their input's quantization (pools, reshape, transpose, pad) or a fixed one (softmax,
# sigmoid, tanh), so their range is not used.
RANGE_OPS = ops_where(lambda op: op.output_grid in (OutputGrid.CALIBRATED, OutputGrid.SHARED))
# Ops that pass values on without computing new ones: the error is followed through them.
VALUE_MOVING_OPS = ops_where(lambda op: op.moves_values)


@dataclass
class MultiObserver:
    """Every candidate method's observer on the same tensor."""

    observers: dict[str, object] = field(default_factory=lambda: {m: OBSERVERS[m]() for m in CANDIDATES})

    def observe(self, values: np.ndarray) -> None:
        for observer in self.observers.values():
            observer.observe(values)

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {method: observer.range() for method, observer in self.observers.items()}


@dataclass(frozen=True)
class Probe:
    tensor: str
    nodes: tuple[Node, ...]  # to re-run, in graph order
    measured: tuple[str, ...]  # tensors whose error is scored


@dataclass
class AutoResult:
    ranges: dict[str, tuple[float, float]]
    choices: dict[str, str]  # tensor -> the method chosen for it
    scores: dict[str, dict[str, float]]  # tensor -> method -> noise / signal energy downstream


def probe(graph: Graph, tensor: str, scope: str = "next") -> Probe:
    """The nodes that carry ``tensor``'s error to what is measured: with scope "next", the first
    computing ops (through value-moving ones); with scope "output", the graph outputs."""
    order = {id(node): i for i, node in enumerate(graph.nodes)}
    nodes, measured, frontier = {}, [], [tensor]
    while frontier:
        name = frontier.pop()
        if name in graph.outputs and name != tensor:
            measured.append(name)
        for consumer in graph.consumers(name):
            if id(consumer) in nodes:
                continue
            nodes[id(consumer)] = consumer
            if scope == "output" or consumer.op in VALUE_MOVING_OPS:
                frontier.append(consumer.outputs[0])
            else:
                measured.append(consumer.outputs[0])
    if not measured:  # a graph output that nothing reads: score the tensor itself
        measured.append(tensor)
    ordered = tuple(sorted(nodes.values(), key=lambda n: order[id(n)]))
    return Probe(tensor, ordered, tuple(dict.fromkeys(measured)))


def downstream_depths(graph: Graph, tensor: str) -> dict[int, int]:
    """Each node ``tensor`` reaches (by id): the fewest computing ops on a path from ``tensor`` to it,
    the node included (ops in ``VALUE_MOVING_OPS`` count 0). Nodes are in graph (topological) order."""
    depths, nodes = {tensor: 0}, {}
    for node in graph.nodes:
        reached = [depths[name] for name in node.inputs if name in depths]
        if reached:
            nodes[id(node)] = min(reached) + (node.op not in VALUE_MOVING_OPS)
            depths.update(dict.fromkeys(node.outputs, nodes[id(node)]))
    return nodes


def bounded_probe(graph: Graph, tensor: str, bound: int | None) -> Probe:
    """The "output" probe of ``tensor`` cut at ``bound`` computing ops: nodes deeper than that are left
    out (they read float values), and the outputs of the computing ops at the bound are measured with
    the graph outputs reached before it. Without a bound, or when nothing lies deeper, the whole probe."""
    whole = probe(graph, tensor, "output")
    depths = downstream_depths(graph, tensor)
    if bound is None or max(depths.values(), default=0) <= bound:
        return whole
    nodes = tuple(node for node in whole.nodes if depths[id(node)] <= bound)
    at_bound = [node.outputs[0] for node in nodes if depths[id(node)] == bound and node.op not in VALUE_MOVING_OPS]
    computed = {name for node in nodes for name in node.outputs}
    outputs = [name for name in whole.measured if name in computed]
    return Probe(tensor, nodes, tuple(dict.fromkeys(at_bound + outputs)))


def node_work(graph: Graph, node: Node) -> int:
    """Multiply-accumulates of a conv, depthwise conv or FC node (batch 1), output elements otherwise."""
    elements = math.prod(graph.tensors[node.outputs[0]].shape)
    if node.op in ("conv2d", "fully_connected"):
        return elements * math.prod(graph.tensors[node.inputs[1]].shape[1:])
    if node.op == "depthwise_conv2d":
        return elements * math.prod(graph.tensors[node.inputs[1]].shape[1:3])
    return elements


def probe_bound(graph: Graph, tensors: list[str], budget: float | None = None,
                whole_work: int | None = None) -> int | None:
    """The deepest bound at which the probes of ``tensors`` together cost at most ``budget`` float passes
    (default `PROBE_BUDGET`; at least 1); None when their whole-graph probes already do, or cost at most
    ``whole_work`` (default `WHOLE_PROBE_WORK`) per sample."""
    budget = PROBE_BUDGET if budget is None else budget
    whole_work = WHOLE_PROBE_WORK if whole_work is None else whole_work
    work = {id(node): node_work(graph, node) for node in graph.nodes}
    depths = [downstream_depths(graph, tensor) for tensor in tensors]

    def cost(bound: float) -> int:
        return sum(work[node] for per_tensor in depths for node, depth in per_tensor.items() if depth <= bound)

    limit = budget * sum(work.values())
    if cost(math.inf) <= max(limit, whole_work):
        return None
    bound = 1
    while cost(bound + 1) <= limit:
        bound += 1
    return bound


def range_tensors(graph: Graph) -> list[str]:
    return list(graph.inputs) + [node.outputs[0] for node in graph.nodes if node.op in RANGE_OPS]


def distinct_grids(candidates: dict[str, tuple[float, float]]) -> dict[tuple[float, int], str]:
    """One method per distinct (scale, zero point), the first in ``CANDIDATES`` order."""
    grids: dict[tuple[float, int], str] = {}
    for method in CANDIDATES:
        grids.setdefault(activation_qparams(*candidates[method]), method)
    return grids


def calibrate_auto(graph: Graph, samples: np.ndarray, progress: Callable[[int, int], None] | None = None,
                   scope: str = "output", runs: float_exec.FloatRuns | None = None) -> AutoResult:
    """``runs``: the graph's activations on ``samples`` (`observe.float_runs`); both passes read them.
    Deep models' probes are bounded: see `PROBE_BUDGET` and `BOUNDED_PROBE_SHARE`."""
    runs = runs or float_runs(graph, samples)
    observers = observe(graph, samples, MultiObserver, progress, runs)
    candidates = {name: observer.ranges() for name, observer in observers.items()}
    ranges = {name: by_method["minmax"] for name, by_method in candidates.items()}  # unused ones: any
    tensors = range_tensors(graph)
    bound = probe_bound(graph, tensors) if scope == "output" else None
    if scope == "output":
        probes = [bounded_probe(graph, name, bound) for name in tensors]
    else:
        probes = [probe(graph, name, scope) for name in tensors]
    share = 1 if bound is None else bounded_share(len(samples))
    grids = {p.tensor: distinct_grids(candidates[p.tensor]) for p in probes}
    # Energies summed over all samples, per probe, candidate and measured tensor.
    signal = {p.tensor: dict.fromkeys(p.measured, 0.0) for p in probes}
    noise = {p.tensor: {m: dict.fromkeys(p.measured, 0.0) for m in grids[p.tensor].values()} for p in probes}
    for batch in batches(graph, samples, progress, runs):
        values = first_samples(graph, batch, share)
        for p in probes:
            for m in p.measured:
                signal[p.tensor][m] += float(np.sum(values[m].astype(np.float64) ** 2))
            for method in grids[p.tensor].values():
                for m, energy in probe_noise(graph, p, values, candidates[p.tensor][method]).items():
                    noise[p.tensor][method][m] += energy
    choices, scores = {}, {}
    for p in probes:
        scores[p.tensor] = {method: relative_noise(per_tensor, signal[p.tensor])
                            for method, per_tensor in noise[p.tensor].items()}
        choices[p.tensor] = min(scores[p.tensor], key=lambda m: (scores[p.tensor][m], CANDIDATES.index(m)))
        ranges[p.tensor] = candidates[p.tensor][choices[p.tensor]]
    return AutoResult(ranges, choices, scores)


def bounded_share(samples: int) -> int:
    """The part (1/share) of the calibration samples that bounded probes read: `BOUNDED_PROBE_SHARE`, or
    less where that would leave fewer than `MIN_PROBE_SAMPLES`."""
    return max(1, min(BOUNDED_PROBE_SHARE, samples // MIN_PROBE_SAMPLES))


def first_samples(graph: Graph, values: dict[str, np.ndarray], share: int) -> dict[str, np.ndarray]:
    """The activations of the first 1/``share`` of a batch's samples (at least one): each tensor folds the
    samples, in order, into its first axis."""
    if share == 1:
        return values
    first_input = graph.inputs[0]
    samples = len(values[first_input]) // max(1, graph.tensors[first_input].shape[0])
    keep = max(1, samples // share)
    return {name: value[: len(value) // samples * keep] for name, value in values.items()}


def relative_noise(noise: dict[str, float], signal: dict[str, float]) -> float:
    """Sum over the measured tensors of noise energy / signal energy (each tensor counts alike,
    whatever its scale)."""
    return sum(energy / signal[m] if signal[m] > 0 else energy for m, energy in noise.items())


def probe_noise(graph: Graph, p: Probe, values: dict[str, np.ndarray], rng: tuple[float, float]) -> dict[str, float]:
    """Noise energy at each of the probe's measured tensors when only ``p.tensor`` goes through the
    int8 grid of ``rng``."""
    trial = dict(values)
    trial[p.tensor] = fake_quantize(values[p.tensor], *rng)
    # The faster conv's float32 rounding differs from the reference pass (``values``) by ~1e-7 of each value,
    # far below any candidate's quantization noise (~1e-2): the zoo models' choices are the same with either.
    # CPU seconds of all probes (one BLAS thread): ResNet-8 2.2-2.4 with the reference conv, 1.7-1.9 with the
    # faster one; KWS 1.5 and 0.9.
    float_exec.run_nodes(graph, list(p.nodes), trial, float_exec.FAST_OPS)
    return {m: float(np.sum((trial[m].astype(np.float64) - values[m]) ** 2)) for m in p.measured}
