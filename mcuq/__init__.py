"""mcuq: a float ONNX model -> calibrated int8 -> one self-contained C file, verified on the host."""

from .errors import McuqError
from .version import __version__

__all__ = ["CompiledModel", "McuqError", "__version__", "compile"]


def __getattr__(name: str):
    # The pipeline pulls in every stage; import it only when the API is used, so that a single
    # stage (e.g. `mcuq.plan`) can be imported on its own.
    if name in ("compile", "CompiledModel"):
        from . import compiler

        return getattr(compiler, name)
    raise AttributeError(f"module 'mcuq' has no attribute {name!r}")
