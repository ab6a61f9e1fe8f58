"""Quantization: the lowering of the float IR to the int8 IR (`lower`), the precision of each layer
(`precision`, `auto_precision`), the quantization a QDQ file fixes (`fixed`)."""

from mcuq.quant.lower import (
    activation_qparams,
    bias_safe_weight_scales,
    dequantize,
    quantize,
    quantize_bias,
    quantize_input,
    quantize_weights_per_channel,
    ranges_holding_constants,
    shared_concat_quantization,
    weight_scales_per_channel,
)

__all__ = [
    "activation_qparams", "bias_safe_weight_scales", "dequantize", "quantize", "quantize_bias",
    "quantize_input", "quantize_weights_per_channel", "ranges_holding_constants", "shared_concat_quantization",
    "weight_scales_per_channel",
]
