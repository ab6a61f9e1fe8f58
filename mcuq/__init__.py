"""mcuq: a float ONNX model -> calibrated int8 -> one self-contained C file, verified on the host."""

from mcuq.errors import McuqError
from mcuq.version import __version__

__all__ = ["CompiledModel", "McuqError", "__version__", "compile"]


def __getattr__(name: str):
    # The pipeline pulls in every stage; import it only when the API is used, so that a single
    # stage (e.g. `mcuq.plan`) can be imported on its own.
    if name in ("compile", "CompiledModel"):
        from mcuq import pipeline as compiler

        return getattr(compiler, name)
    raise AttributeError(f"module 'mcuq' has no attribute {name!r}")
