"""The int8 IR (`model`) and what each of its ops' C kernel is (`kernels`)."""

from mcuq.qir.model import (
    DTYPE_NUMPY,
    DTYPE_RANGE,
    AddParams,
    BroadcastParams,
    ConcatParams,
    ConvParams,
    CopyParams,
    DepthwiseConvParams,
    FullyConnectedParams,
    Layer,
    LutParams,
    MulParams,
    PadParams,
    PoolParams,
    PreluParams,
    QModel,
    QOp,
    QTensor,
    RequantizeParams,
    ResizeParams,
    SoftmaxParams,
    TransposeConvParams,
    TransposeParams,
)

__all__ = [
    "AddParams", "BroadcastParams", "ConcatParams", "ConvParams", "CopyParams", "DTYPE_NUMPY", "DTYPE_RANGE",
    "DepthwiseConvParams", "FullyConnectedParams", "Layer", "LutParams", "MulParams", "PadParams", "PoolParams",
    "PreluParams", "QModel", "QOp", "QTensor", "RequantizeParams", "ResizeParams", "SoftmaxParams",
    "TransposeConvParams", "TransposeParams",
]
