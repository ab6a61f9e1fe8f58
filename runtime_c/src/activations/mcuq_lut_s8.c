/*
 * mcuq_lut_s8: any int8 -> int8 elementwise function as a 256-entry table (sigmoid, tanh, hard
 * swish, leaky ReLU, a standalone clip, ...), built in Python from the input and output
 * quantization: out[i] = table[in[i] + 128]. In-place operation is allowed.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_lut_s8(const int8_t *table, const int8_t *input, int8_t *output, int32_t size)
{
    int32_t i;

    if (table == NULL || input == NULL || output == NULL || size < 0)
    {
        return MCUQ_ARG_ERROR;
    }
    for (i = 0; i < size; i++)
    {
        output[i] = table[(int32_t)input[i] + 128];
    }
    return MCUQ_OK;
}
