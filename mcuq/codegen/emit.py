"""Code generation: int8 IR + arena plan -> NAME.c and NAME.h through the Jinja2 templates.

Python hands the templates data only (numbers, names, shapes); all C text is in `templates/` and, for
the kernels, in `runtime_c/`, whose sources are copied verbatim into the generated file. Every name that
came from the model file is handed over as a `ModelString`, which a template can print only through a
sanitizer (see `names`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from mcuq.codegen.names import ModelString, c_identifier
from mcuq.codegen.templating import template_environment
from mcuq.plan import ArenaPlan
from mcuq.qir.model import Layer, QModel, QOp
from mcuq.resources import resource_dir
from mcuq.version import __version__

# The kernel entry point each op calls; the code generator copies the file that defines it.
KERNEL_FUNCTION = {
    QOp.CONV: "mcuq_convolve_s8",
    QOp.DEPTHWISE_CONV: "mcuq_depthwise_conv_s8",
    QOp.FULLY_CONNECTED: "mcuq_fully_connected_s8",
    QOp.ADD: "mcuq_elementwise_add_s8",
    QOp.MUL: "mcuq_elementwise_mul_s8",
    QOp.MAX_POOL: "mcuq_max_pool_s8",
    QOp.AVG_POOL: "mcuq_avg_pool_s8",
    QOp.LUT: "mcuq_lut_s8",
    QOp.SOFTMAX: "mcuq_softmax_s8",
    QOp.CONCAT: "mcuq_concat_s8",
    QOp.TRANSPOSE: "mcuq_transpose_s8",
    QOp.PAD: "mcuq_pad_s8",
}

# Layers with int16 outputs call the 16x8 kernel of their op; requantize layers one per direction.
KERNEL_FUNCTION_S16 = {
    QOp.CONV: "mcuq_convolve_s16",
    QOp.DEPTHWISE_CONV: "mcuq_depthwise_conv_s16",
    QOp.FULLY_CONNECTED: "mcuq_fully_connected_s16",
    QOp.ADD: "mcuq_elementwise_add_s16",
    QOp.MAX_POOL: "mcuq_max_pool_s16",
    QOp.AVG_POOL: "mcuq_avg_pool_s16",
}
REQUANTIZE_FUNCTION = {"int16": "mcuq_requantize_s8_s16", "int8": "mcuq_requantize_s16_s8"}
ALL_KERNELS = (*KERNEL_FUNCTION.values(), *KERNEL_FUNCTION_S16.values(), *REQUANTIZE_FUNCTION.values())


def kernel_function(layer: Layer, model: QModel) -> str | None:
    """The runtime kernel a layer calls (None for a copy), by op and output dtype."""
    dtype = model.tensors[layer.output].dtype
    if layer.op is QOp.REQUANTIZE:
        return REQUANTIZE_FUNCTION[dtype]
    if dtype == "int16":
        return KERNEL_FUNCTION_S16.get(layer.op)
    return KERNEL_FUNCTION.get(layer.op)


INCLUDE_LINE = re.compile(r'^\s*#\s*include\s+"[^"]+"\s*$', re.MULTILINE)


def _runtime_text(path: Path) -> str:
    return INCLUDE_LINE.sub("", path.read_text()).strip() + "\n"


@cache
def kernel_sources() -> dict[str, Path]:
    """Kernel function name -> the runtime_c source file that defines it (its entry)."""
    found = {}
    for path in sorted((resource_dir("runtime_c") / "src").rglob("*.c")):
        text = path.read_text()
        for fn in ALL_KERNELS:
            if re.search(rf"^MCUQ_API\s+[\w ]+\b{fn}\s*\(", text, re.MULTILINE):
                found[fn] = path
    return found


def kernel_files(entry: Path) -> list[Path]:
    """A kernel's files in the order the generated C needs them: its own headers, the bodies of its
    paths, then its entry (e.g. mcuq_convolve_s8.h, mcuq_convolve_s8_fast.h, mcuq_convolve_s8_dsp.c,
    ..., mcuq_convolve_s8.c): every file beside the entry named after it."""
    def own(path: Path) -> bool:
        return path != entry and (path.stem == entry.stem or path.stem.startswith(entry.stem + "_"))

    siblings = sorted(p for p in entry.parent.iterdir() if own(p) and p.suffix in (".h", ".c"))
    return [p for p in siblings if p.suffix == ".h"] + [p for p in siblings if p.suffix == ".c"] + [entry]


def kernel_text(entry: Path) -> str:
    return "".join(_runtime_text(path) for path in kernel_files(entry))


def _dims4(shape: tuple[int, ...]) -> list[int]:
    """NHWC dims of a tensor of rank <= 4, leading dims 1."""
    return [1] * (4 - len(shape)) + list(shape)


def _perm4(perm: tuple[int, ...]) -> list[int]:
    lead = 4 - len(perm)
    return list(range(lead)) + [p + lead for p in perm]


@dataclass
class LayerView:
    """What the template needs to emit one layer: op, offsets, dims and the op's parameters."""

    index: int
    op: str
    dtype: str  # of the output: "int8", or "int16" for the 16x8 kernels
    kernel: str | None
    name: ModelString
    summary: ModelString  # op, node name, shapes and scales, for the layer's comment
    inputs: list[dict]
    output: dict
    params: object
    scratch: tuple[int, int] | None
    inplace: dict | None  # input (name, 1-based number) and shift (bytes) when the output is written over it
    write: dict  # how the output is written: pixel stride, elementwise rows, and the Concat it is a slice of
    extra: dict


def _tensor_view(model: QModel, plan: ArenaPlan, name: str) -> dict:
    t = model.tensors[name]
    return dict(name=ModelString(name), offset=plan.offsets[name], size=t.size, nbytes=t.nbytes, shape=list(t.shape),
                dims=_dims4(t.shape), scale=t.scale, zero_point=t.zero_point, dtype=t.dtype,
                ctype="int16_t" if t.dtype == "int16" else "int8_t")


def _layer_summary(layer: Layer, model: QModel) -> str:
    ins = ", ".join(f"{list(model.tensors[n].shape)}" for n in layer.inputs)
    out = model.tensors[layer.output]
    precision = "" if out.dtype == "int8" and layer.op is not QOp.REQUANTIZE else f" ({out.dtype} output)"
    return (f"{layer.op.value}{precision} '{layer.name}': {ins} -> {list(out.shape)}, "
            f"out scale {out.scale:.6g} zp {out.zero_point}")


# Axes of the weights that one output channel sums over: conv OHWI, depthwise 1HWC, FC [O, K].
_REDUCED_AXES = {QOp.CONV: (1, 2, 3), QOp.DEPTHWISE_CONV: (0, 1, 2), QOp.FULLY_CONNECTED: (1,)}


def folded_bias(op: QOp, params) -> np.ndarray:
    """The bias the int8 conv, depthwise and FC kernels take: the input offset folded in,
    bias[c] + input_offset * sum(weights of c), so that their inner loops multiply raw int8 inputs.
    Padded positions then hold the input zero point (-input_offset) and contribute
    -input_offset * w, which the folded term cancels: the same sum as the golden model's. The
    addition wraps to int32 like the kernels' accumulators (only the final sum matters, mod 2^32)."""
    w = np.asarray(params.weights, dtype=np.int64)
    total = np.asarray(params.bias, dtype=np.int64) + params.input_offset * w.sum(axis=_REDUCED_AXES[op])
    return total.astype(np.uint64).astype(np.uint32).view(np.int32)  # two's-complement wrap


def _extra(layer: Layer, model: QModel, plan: ArenaPlan) -> dict:
    """Op-specific derived numbers (the template does no arithmetic)."""
    p = layer.params
    out = model.tensors[layer.output]
    int8 = out.dtype == "int8"
    if layer.op in (QOp.CONV, QOp.DEPTHWISE_CONV):
        return dict(filter_dims=list(p.weights.shape), bias=folded_bias(layer.op, p) if int8 else p.bias)
    if layer.op is QOp.FULLY_CONNECTED:
        k = model.tensors[layer.inputs[0]].shape[-1]
        batch = out.size // out.shape[-1]
        return dict(batch=batch, k=k, o=out.shape[-1], bias=folded_bias(layer.op, p) if int8 else p.bias)
    if layer.op is QOp.SOFTMAX:
        return dict(rows=out.size // out.shape[-1], row_size=out.shape[-1])
    if layer.op is QOp.CONCAT:
        axis = p.axis % len(out.shape)
        outer = int(np.prod(out.shape[:axis], dtype=np.int64))
        inner = int(np.prod(out.shape[axis + 1 :], dtype=np.int64))
        producer = {other.output: i for i, other in enumerate(model.layers)}
        parts, written, start = [], [], 0
        for i, name in enumerate(layer.inputs):
            extent = model.tensors[name].shape[axis]
            if name in plan.slices:  # its producer wrote it in place: nothing to copy
                written.append(dict(number=i + 1, name=ModelString(name), layer=producer[name]))
            else:
                parts.append(dict(input=_tensor_view(model, plan, name), outer=outer, inner=inner,
                                  axis_offset=start, axis_size=extent, out_axis_size=out.shape[axis],
                                  input_offset=p.input_offsets[i], multiplier=p.multipliers[i],
                                  shift=p.shifts[i]))
            start += extent
        return dict(parts=parts, written=written)
    if layer.op is QOp.TRANSPOSE:
        return dict(dims=_dims4(model.tensors[layer.inputs[0]].shape), perm=_perm4(p.perm))
    if layer.op is QOp.PAD:
        rank = len(out.shape)
        before, after = list(p.pads[:rank]), list(p.pads[rank:])
        return dict(dims=_dims4(model.tensors[layer.inputs[0]].shape),
                    before=[0] * (4 - rank) + before, after=[0] * (4 - rank) + after)
    return {}


def _write_view(model: QModel, plan: ArenaPlan, layer: Layer) -> dict:
    """The output's pixel stride (bytes between pixels, for conv, depthwise and pooling) and, for the
    elementwise kernels, its rows: one dense row, or one row per pixel when writing a channel slice."""
    out = model.tensors[layer.output]
    piece = plan.slices.get(layer.output)
    if piece is None or not piece.strided:
        return dict(pixel_stride=_dims4(out.shape)[3], rows=1, row_size=out.size, row_stride=out.size,
                    slice_of=ModelString(piece.concat) if piece else None, first=piece.offset if piece else 0,
                    last=piece.offset + out.size - 1 if piece else 0, strided=False)
    return dict(pixel_stride=piece.pixel_stride, rows=out.size // piece.channels, row_size=piece.channels,
                row_stride=piece.pixel_stride, slice_of=ModelString(piece.concat), first=piece.offset,
                last=piece.offset + piece.channels - 1, strided=True)


def _inplace_view(plan: ArenaPlan, layer: Layer) -> dict | None:
    if layer.output not in plan.inplace:
        return None
    source, shift = plan.inplace[layer.output]
    return dict(input=ModelString(source), number=layer.inputs.index(source) + 1, shift=shift)


def layer_views(model: QModel, plan: ArenaPlan) -> list[LayerView]:
    views = []
    for i, layer in enumerate(model.layers):
        views.append(LayerView(
            index=i,
            op=layer.op.value,
            dtype=model.tensors[layer.output].dtype,
            kernel=kernel_function(layer, model),
            name=ModelString(layer.name),
            summary=ModelString(_layer_summary(layer, model)),
            inputs=[_tensor_view(model, plan, n) for n in layer.inputs],
            output=_tensor_view(model, plan, layer.output),
            params=layer.params,
            scratch=plan.scratch.get(i),
            inplace=_inplace_view(plan, layer),
            write=_write_view(model, plan, layer),
            extra=_extra(layer, model, plan),
        ))
    return views


@dataclass
class GeneratedCode:
    c_source: str
    header: str
    prefix: str


def _calls_kernel(layer: Layer, plan: ArenaPlan) -> bool:
    """A Concat whose inputs were all written in place by their producers calls nothing."""
    if layer.op is QOp.CONCAT:
        return not all(name in plan.slices for name in layer.inputs)
    return True  # the rest call a kernel unless `kernel_function` has none for them (copies)


def generate(model: QModel, plan: ArenaPlan, prefix: str, source_name: str) -> GeneratedCode:
    prefix = c_identifier(prefix)
    used = sorted({fn for layer in model.layers
                   if _calls_kernel(layer, plan) and (fn := kernel_function(layer, model))})
    sources = kernel_sources()
    missing = [fn for fn in used if fn not in sources]
    if missing:
        raise FileNotFoundError(f"runtime_c has no definition of {missing}")
    include = resource_dir("runtime_c") / "include"
    data = dict(
        version=__version__,
        prefix=prefix,
        PREFIX=prefix.upper(),
        source_name=ModelString(source_name),
        inputs=[_tensor_view(model, plan, n) for n in model.inputs],
        outputs=[_tensor_view(model, plan, n) for n in model.outputs],
        layers=layer_views(model, plan),
        arena_size=plan.size,
        runtime_types=_runtime_text(include / "mcuq_nn_types.h"),
        runtime_support=_runtime_text(include / "mcuq_nn_support.h"),
        runtime_simd=_runtime_text(include / "mcuq_nn_simd.h"),
        kernels=[dict(function=fn, text=kernel_text(sources[fn])) for fn in used],
        uses_memcpy=any(layer.op is QOp.COPY for layer in model.layers),
    )
    env = template_environment()
    return GeneratedCode(
        c_source=env.get_template("model.c.j2").render(data),
        header=env.get_template("model.h.j2").render(data),
        prefix=prefix,
    )
