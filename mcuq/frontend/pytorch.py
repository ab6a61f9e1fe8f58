"""A `torch.nn.Module` in: exported to an ONNX file with `torch.onnx.export`, which mcuq then compiles.

torch is the optional extra ``torch`` (``pip install mcuq[torch]``) and is imported only here, only when a
module is given: a module object exists only where torch is already imported, so `is_torch_module`
looks in ``sys.modules`` and never imports it.

The exporter: torch's default since 2.9, the dynamo exporter (``dynamo=True``: `torch.export` then
onnxscript), which torch maintains; the TorchScript exporter it replaced is deprecated. A module that
the dynamo exporter cannot trace (data-dependent control flow, an operator it has no translation for)
often still exports with the TorchScript one, so that is tried next, at opset 17; the report says which
one wrote the file. When both fail, the error keeps both exporters' messages.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcuq.errors import McuqError, ModelError

# name -> torch.onnx.export keyword arguments, in the order they are tried
EXPORTERS = {
    "dynamo": {"dynamo": True},
    "torchscript": {"dynamo": False, "opset_version": 17},
}
INPUT_NAME = "input"
MESSAGE_LINES = 12  # of each exporter's error: the end of a traceback-like message says what failed


@dataclass(frozen=True)
class Exported:
    """What the report says about the export."""

    module: str  # the module's class name
    exporter: str  # a key of EXPORTERS
    file: str  # the ONNX file's name in the output folder
    torch_version: str

    def as_report(self) -> dict:
        return dict(module=self.module, exporter=self.exporter, file=self.file, torch=self.torch_version)


def is_torch_module(model) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def module_name(module) -> str:
    return type(module).__name__


def example_tensor(example_input):
    """``example_input`` (a tensor or an array: one input, with its batch dimension of 1) as a tensor;
    McuqError when it is missing or is not one such input."""
    import torch

    if example_input is None:
        raise McuqError("a torch.nn.Module needs example_input: one input as the module takes it, with its batch "
                        "dimension of 1, e.g. example_input=torch.zeros(1, 3, 32, 32); torch.onnx.export traces "
                        "the module on it")
    if isinstance(example_input, (tuple, list)):
        raise McuqError(f"example_input is a {type(example_input).__name__} of {len(example_input)}: mcuq compiles "
                        "single-input models; give the one input tensor")
    tensor = example_input if isinstance(example_input, torch.Tensor) else torch.as_tensor(np.asarray(example_input))
    if tensor.ndim == 0 or tensor.shape[0] != 1:
        raise McuqError(f"example_input has shape {tuple(tensor.shape)}: give one sample with its batch dimension "
                        "of 1, e.g. x[None] or x[:1]")
    return tensor.float() if tensor.is_floating_point() else tensor


def export(module, example_input, path: Path) -> Exported:
    """Write ``module`` traced on ``example_input`` to the ONNX file ``path`` (weights inside it), in eval
    mode (batch norm with its running statistics, no dropout): the mode the microcontroller runs. The
    module's own mode is restored afterwards."""
    import torch

    example = example_tensor(example_input)
    failures = {}
    was_training = module.training
    module.eval()
    try:
        for exporter, options in EXPORTERS.items():
            try:
                _quietly_export(torch, module, example, path, options)
            except Exception as exc:  # noqa: BLE001 - any exporter failure: try the next, report all
                failures[exporter] = _last_lines(f"{type(exc).__name__}: {exc}")
                continue
            return Exported(module_name(module), exporter, path.name, torch.__version__)
    finally:
        module.train(was_training)
    raise ModelError(
        f"torch.onnx.export could not export {module_name(module)}:\n"
        + "\n".join(f"- {name} exporter: {message}" for name, message in failures.items())
        + "\nMake the module traceable (no data-dependent Python control flow in forward, only operators "
        "torch.onnx supports), or export it yourself and pass the .onnx file"
    )


def _quietly_export(torch, module, example, path: Path, options: dict) -> None:
    """torch.onnx.export without its progress lines and warnings on the user's terminal."""
    log = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), input_names=[INPUT_NAME], external_data=False, **options)


def _last_lines(message: str) -> str:
    lines = message.strip().splitlines()
    return "\n  ".join(lines[-MESSAGE_LINES:] if len(lines) > MESSAGE_LINES else lines)
