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
        parts = [f"node {node!r}: op {op!r} is not supported"]
        if detail:
            parts[0] += f" ({detail})"
        if supported:
            parts.append("supported ops: " + ", ".join(sorted(supported)))
        super().__init__(". ".join(parts))
        self.op = op
        self.node = node


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
