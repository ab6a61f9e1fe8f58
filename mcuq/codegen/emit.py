"""Code generation: int8 IR + arena plan -> NAME.c and NAME.h through the Jinja2 templates.

Python hands the templates data only (numbers, names, shapes); all C text is in `templates/` and, for
the kernels, in `runtime_c/`, whose sources are copied verbatim into the generated file. Every name that
came from the model file is handed over as a `ModelString`, which a template can print only through a
sanitizer (see `names`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mcuq.codegen import views
from mcuq.codegen.names import ModelString, c_identifier
from mcuq.codegen.templating import template_environment
from mcuq.plan import ArenaPlan
from mcuq.qir.kernels import CKernel, all_c_kernels
from mcuq.qir.model import Layer, QModel, QOp
from mcuq.resources import resource_dir
from mcuq.version import __version__

INCLUDE_LINE = re.compile(r'^\s*#\s*include\s+"[^"]+"\s*$', re.MULTILINE)


def _runtime_text(path: Path) -> str:
    return INCLUDE_LINE.sub("", path.read_text()).strip() + "\n"


def kernel_source(kernel: CKernel) -> Path:
    """The runtime_c file that defines a kernel's entry point."""
    return resource_dir("runtime_c") / "src" / kernel.source


def kernel_files(entry: Path) -> list[Path]:
    """A kernel's files in the order the generated C needs them: its own headers, the bodies of its
    paths, then its entry (e.g. mcuq_convolve_s8_args.h, mcuq_convolve_s8_fast.h, mcuq_convolve_s8_dsp.c,
    ..., mcuq_convolve_s8.c): every file beside the entry named after it."""
    def own(path: Path) -> bool:
        return path != entry and (path.stem == entry.stem or path.stem.startswith(entry.stem + "_"))

    siblings = sorted(p for p in entry.parent.iterdir() if own(p) and p.suffix in (".h", ".c"))
    return [p for p in siblings if p.suffix == ".h"] + [p for p in siblings if p.suffix == ".c"] + [entry]


def kernel_text(entry: Path) -> str:
    return "".join(_runtime_text(path) for path in kernel_files(entry))


@dataclass
class LayerView:
    """What the templates need to emit one layer: its op's view (`views`), where its tensors are, and
    the text of its comments."""

    index: int
    prefix: str  # of the model's C names
    template: str  # templates/ops/<name>.c.j2 that renders the view
    name: ModelString
    summary: ModelString  # op, node name, shapes and scales, for the layer's comment
    inputs: list[dict]
    output: dict
    view: views.OpView
    context: views.Context | None  # the kernel's scratch
    inplace: dict | None  # input (name, 1-based number) and shift (bytes) when the output is written over it
    write: dict  # the Concat the output is a slice of (for the comment)
    written: list[dict]  # a Concat's inputs that their producers wrote in place (for the comment)

    def sym(self, name: str) -> str:
        """The C name of one of this layer's declarations."""
        return f"{self.prefix}_l{self.index}_{name}"

    @property
    def aligned(self) -> str:
        return f"{self.prefix.upper()}_ALIGNED"


def _tensor_view(model: QModel, plan: ArenaPlan, name: str) -> dict:
    t = model.tensors[name]
    return dict(name=ModelString(name), offset=plan.offsets[name], size=t.size, nbytes=t.nbytes, shape=list(t.shape),
                dims=list(views.dims4(t.shape)), scale=t.scale, zero_point=t.zero_point, dtype=t.dtype,
                ctype="int16_t" if t.dtype == "int16" else "int8_t")


def layout_text(perm: tuple[int, ...] | None, to_onnx: bool = False) -> str:
    """How a graph input's or output's buffer orders the ONNX tensor's axes, for the header. ``perm`` takes
    ONNX to the buffer for an input (`Graph.input_perms`), the buffer to ONNX for an output."""
    if perm is None or tuple(perm) == tuple(range(len(perm))):
        return "the ONNX layout"
    onnx_axes = tuple(sorted(range(len(perm)), key=perm.__getitem__)) if to_onnx else tuple(perm)
    return f"channels-last: the ONNX tensor's axes in the order {onnx_axes}"


def _layer_summary(layer: Layer, model: QModel) -> str:
    ins = ", ".join(f"{list(model.tensors[n].shape)}" for n in layer.inputs)
    out = model.tensors[layer.output]
    precision = "" if out.dtype == "int8" and layer.op is not QOp.REQUANTIZE else f" ({out.dtype} output)"
    return (f"{layer.op.value}{precision} '{layer.name}': {ins} -> {list(out.shape)}, "
            f"out scale {out.scale:.6g} zp {out.zero_point}")


def placement(model: QModel, plan: ArenaPlan, index: int) -> views.Placement:
    """Where the plan put layer ``index``'s tensors and scratch, and how it writes its output."""
    layer = model.layers[index]
    piece = plan.slices.get(layer.output)
    return views.Placement(
        inputs=tuple(plan.offsets[n] for n in layer.inputs), output=plan.offsets[layer.output],
        scratch=plan.scratch.get(index), pixel_stride=piece.pixel_stride if piece and piece.strided else None,
        in_place_inputs=frozenset(i for i, n in enumerate(layer.inputs) if n in plan.slices))


def _write_comment(model: QModel, plan: ArenaPlan, layer: Layer) -> dict:
    """The Concat slice the output is written as, for the layer's comment."""
    out = model.tensors[layer.output]
    piece = plan.slices.get(layer.output)
    if piece is None:
        return dict(slice_of=None, strided=False)
    last = piece.offset + (piece.channels if piece.strided else out.size) - 1
    return dict(slice_of=ModelString(piece.concat), first=piece.offset, last=last, strided=piece.strided,
                pixel_stride=piece.pixel_stride)


def _written_in_place(model: QModel, plan: ArenaPlan, layer: Layer) -> list[dict]:
    if layer.op is not QOp.CONCAT:
        return []
    producer = {other.output: i for i, other in enumerate(model.layers)}
    return [dict(number=i + 1, name=ModelString(n), layer=producer[n])
            for i, n in enumerate(layer.inputs) if n in plan.slices]


def _inplace_view(plan: ArenaPlan, layer: Layer) -> dict | None:
    if layer.output not in plan.inplace:
        return None
    source, shift = plan.inplace[layer.output]
    return dict(input=ModelString(source), number=layer.inputs.index(source) + 1, shift=shift)


def layer_views(model: QModel, plan: ArenaPlan, prefix: str) -> list[LayerView]:
    result = []
    for i, layer in enumerate(model.layers):
        view = views.op_view(layer, model.tensors, placement(model, plan, i))
        result.append(LayerView(
            index=i,
            prefix=prefix,
            template=views.template_name(layer.op),
            name=ModelString(layer.name),
            summary=ModelString(_layer_summary(layer, model)),
            inputs=[_tensor_view(model, plan, n) for n in layer.inputs],
            output=_tensor_view(model, plan, layer.output),
            view=view,
            context=views.context_of(view),
            inplace=_inplace_view(plan, layer),
            write=_write_comment(model, plan, layer),
            written=_written_in_place(model, plan, layer),
        ))
    return result


def kernels_used(called: set[str]) -> list:
    """The kernels the calls name, with the kernels they run themselves (`CKernel.calls`) ahead of them."""
    by_function = {k.function: k for k in all_c_kernels()}
    ordered: list = []

    def add(function: str) -> None:
        kernel = by_function[function]
        if kernel not in ordered:
            for dependency in kernel.calls:
                add(dependency)
            ordered.append(kernel)

    for function in sorted(called):
        add(function)
    return ordered


@dataclass
class GeneratedCode:
    c_source: str
    header: str
    prefix: str


def generate(model: QModel, plan: ArenaPlan, prefix: str, source_name: str) -> GeneratedCode:
    prefix = c_identifier(prefix)
    layers = layer_views(model, plan, prefix)
    used = kernels_used({call.function for layer in layers for call in layer.view.calls})
    include = resource_dir("runtime_c") / "include"
    data = dict(
        version=__version__,
        prefix=prefix,
        PREFIX=prefix.upper(),
        source_name=ModelString(source_name),
        inputs=[{**_tensor_view(model, plan, n), "layout": layout_text(model.input_perms.get(n))}
                for n in model.inputs],
        outputs=[{**_tensor_view(model, plan, n), "layout": layout_text(model.output_perms.get(n), to_onnx=True)}
                 for n in model.outputs],
        layers=layers,
        arena_size=plan.size,
        runtime_types=_runtime_text(include / "mcuq_nn_types.h"),
        runtime_support=_runtime_text(include / "mcuq_nn_support.h"),
        runtime_simd=_runtime_text(include / "mcuq_nn_simd.h"),
        kernels=[dict(function=k.function, text=kernel_text(kernel_source(k))) for k in used],
    )
    env = template_environment()
    return GeneratedCode(
        c_source=env.get_template("model.c.j2").render(data),
        header=env.get_template("model.h.j2").render(data),
        prefix=prefix,
    )
