"""`--int16 auto`: choose the layers to run with int16 activations from the diagnosis of the all-int8
model on the calibration data (never the verification data, so the choice does not see the test set).

The rule: every layer with an int16 form whose added SQNR (the noise it adds by its own quantization,
see `diagnose`) is below the threshold, and then the layers with an int16 form that read those layers'
outputs (through reshapes). The second step matters: an int16 output read by an int8 layer is rounded
to int8 at the boundary again, so a lone int16 layer gains little; its readers must take it in int16.
On KWS (calibration 200 samples, test 300): all int8 26.7 dB; the two layers below 30 dB alone 29.1 dB,
with their readers 30.9 dB; below 33 dB alone 33.8 dB, with their readers 35.5 dB.
"""

from __future__ import annotations

import numpy as np

from mcuq import quant
from mcuq.errors import McuqError
from mcuq.ir.float_exec import FloatRuns
from mcuq.ir.graph import Graph
from mcuq.qir.kernels import has_int16_form
from mcuq.qir.model import QOp
from mcuq.quant import precision
from mcuq.verify import diagnose

DEFAULT_THRESHOLD_DB = 33.0


def parse(spec) -> tuple[tuple[str, ...], float | None]:
    """``--int16``/``int16_layers``: names (a comma-separated string or an iterable), or ``auto`` /
    ``auto:DB``. Returns (names, None) or ((), threshold in dB)."""
    if spec is None:
        return (), None
    if isinstance(spec, str):
        if spec == "auto" or spec.startswith("auto:"):
            _, _, value = spec.partition(":")
            try:
                return (), float(value) if value else DEFAULT_THRESHOLD_DB
            except ValueError:
                raise McuqError(f"--int16 {spec!r}: expected auto or auto:DB with DB a number, e.g. auto:30") from None
        spec = spec.split(",")
    return tuple(name.strip() for name in spec if name.strip()), None


def readers(graph: Graph, name: str) -> list[str]:
    """Nodes with an int16 form that read the output of node ``name`` (the one with an int16 form, where a
    transpose the passes moved shares its name), looking through reshapes."""
    node = next(n for n in graph.nodes if n.name == name and n.op in precision.INT16_OPS)
    found, frontier = [], list(graph.consumers(node.outputs[0]))
    while frontier:
        consumer = frontier.pop()
        if consumer.op in precision.FOLLOWS_INPUT:
            frontier.extend(graph.consumers(consumer.outputs[0]))
        elif precision.has_int16_form(graph, consumer):
            found.append(consumer.name)
    return found


def choose(graph: Graph, ranges: dict, calib_ir: np.ndarray, calib_method: str,
           threshold_db: float, runs: FloatRuns | None = None) -> tuple[frozenset[str], list[dict]]:
    """The int16 layers for ``auto``, and why each was chosen (for the report). ``runs``: ``graph``'s
    activations on ``calib_ir`` where calibration has them."""
    model = quant.quantize(graph, ranges)
    rows = diagnose.diagnose(graph, model, ranges, calib_ir, {}, calib_method, runs=runs)["layers"]
    int16_ops = {op.value for op in QOp if has_int16_form(op)}
    chosen: dict[str, str] = {}
    for row in rows:
        added = row["added_sqnr_db"]
        if row["op"] in int16_ops and added is not None and added < threshold_db:
            chosen[row["name"]] = f"adds noise at {added:.1f} dB (< {threshold_db:g} dB)"
    for name in list(chosen):
        for reader in readers(graph, name):
            chosen.setdefault(reader, f"reads {name} in int16")
    return frozenset(chosen), [dict(name=n, reason=r) for n, r in chosen.items()]
