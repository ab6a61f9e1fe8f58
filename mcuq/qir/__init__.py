"""The int8 IR (`model`) and what each of its ops' C kernel is (`kernels`)."""

from mcuq.qir.model import (
    DTYPE_NUMPY,
    DTYPE_RANGE,
    AddParams,
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
    QModel,
    QOp,
    QTensor,
    RequantizeParams,
    SliceParams,
    SoftmaxParams,
    TransposeParams,
    contiguous_block_offset,
)

__all__ = [
    "AddParams", "ConcatParams", "ConvParams", "CopyParams", "DTYPE_NUMPY", "DTYPE_RANGE",
    "DepthwiseConvParams", "FullyConnectedParams", "Layer", "LutParams", "MulParams", "PadParams", "PoolParams",
    "QModel", "QOp", "QTensor", "RequantizeParams", "SoftmaxParams", "TransposeParams",
    "GatherChannelsParams", "SliceParams", "contiguous_block_offset",
]
