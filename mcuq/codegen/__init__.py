"""Code generation: `views` (one per op), `emit` (the model C and header), `names` (sanitizers), `templating`."""

from mcuq.codegen.emit import GeneratedCode, generate
from mcuq.codegen.names import c_identifier

__all__ = ["GeneratedCode", "c_identifier", "generate"]
