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
    GatherChannelsParams,
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
    SliceParams,
    SoftmaxParams,
    TransposeConvParams,
    TransposeParams,
    contiguous_block_offset,
)

__all__ = [
    "AddParams", "BroadcastParams", "ConcatParams", "ConvParams", "CopyParams", "DTYPE_NUMPY", "DTYPE_RANGE",
    "DepthwiseConvParams", "FullyConnectedParams", "GatherChannelsParams", "Layer", "LutParams", "MulParams",
    "PadParams", "PoolParams", "PreluParams", "QModel", "QOp", "QTensor", "RequantizeParams", "ResizeParams",
    "SliceParams", "SoftmaxParams", "TransposeConvParams", "TransposeParams", "contiguous_block_offset",
]
