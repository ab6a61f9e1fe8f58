"""Errors a user can act on. Each message names the problem and what to do about it.

The CLI prints ``error: <message>`` for any McuqError and exits with status 2 (1 for a failed
verification), never a traceback. Any other exception is a bug in mcuq: the CLI prints one
``internal error:`` line naming the file that holds the traceback and exits with status 3.
"""

from __future__ import annotations


class McuqError(Exception):
    """Base class: a problem with the user's input or environment, explained in the message."""

    exit_code = 2
    # True for a verdict on complete output files (e.g. a failed verification): the files stay in the
    # output folder. Otherwise a failed job leaves the folder as it was (`mcuq.output_folder`).
    keeps_output = False


class ModelError(McuqError):
    """The ONNX file cannot be read or is not a valid model."""


class UnsupportedOpError(McuqError):
    """The model uses an op (or an attribute value) mcuq cannot compile."""

    def __init__(self, op: str, node: str, detail: str = "", supported: list[str] | None = None):
        self.op, self.node, self.detail, self.supported = op, node, detail, supported
        super().__init__(". ".join([self.problem(), *supported_ops_text(supported)]))

    def problem(self, where: str = "") -> str:
        """One line: the node (and ``where`` it is), the op and why it cannot be compiled."""
        text = f"node {self.node!r}{where}: op {self.op!r} is not supported"
        return f"{text} ({self.detail})" if self.detail else text


def supported_ops_text(supported: list[str] | None) -> list[str]:
    return ["supported ops: " + ", ".join(sorted(supported))] if supported else []


class UnsupportedModelError(UnsupportedOpError):
    """Every node the frontend refused, found in one pass over the model: each with where it is (see
    `mcuq.frontend.onnx_loader.node_location`). ``op`` and ``node`` are the first one's."""

    def __init__(self, refusals: list[tuple[UnsupportedOpError, str]]):
        first = refusals[0][0]
        self.op, self.node, self.detail, self.supported = first.op, first.node, first.detail, first.supported
        self.refusals = refusals
        lines = [error.problem(f" ({where})" if where else "") for error, where in refusals]
        supported = next((error.supported for error, _ in refusals if error.supported), None)
        if len(lines) == 1:
            message = ". ".join(lines + supported_ops_text(supported))
        else:
            message = "\n".join([f"{len(lines)} nodes of the model cannot be compiled:"]
                                 + [f"  {line}" for line in lines] + supported_ops_text(supported))
        McuqError.__init__(self, message)


class ShapeError(McuqError):
    """A shape is unknown (dynamic) or inconsistent."""


class CalibrationError(McuqError):
    """Calibration or verification data does not fit the model."""


class OutputExistsError(McuqError):
    """The output folder exists and would be overwritten."""


class OutputError(McuqError):
    """The output folder cannot be created or written, or a file name is too long for it."""


class ToolchainError(McuqError):
    """A compiler or other external tool is missing or failed."""


class VerificationError(McuqError):
    """The generated C does not compute what the golden model computes."""

    exit_code = 1
    keeps_output = True
