"""The float IR (`graph`), what each op is (`ops`), and the float executor (`float_exec`)."""

from mcuq.ir.graph import NO_ACTIVATION, Graph, Node, Tensor, axis_last_perm

__all__ = ["Graph", "NO_ACTIVATION", "Node", "Tensor", "axis_last_perm"]
