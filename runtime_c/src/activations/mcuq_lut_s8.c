/*
 * mcuq_lut_s8: any int8 -> int8 elementwise function as a 256-entry table (sigmoid, tanh, hard
 * swish, leaky ReLU, a standalone clip, ...), built in Python from the input and output
 * quantization: out[i] = table[in[i] + 128]. The output may be a channel slice of a wider tensor
 * (dims->output_row_stride > dims->row_size). In-place operation (a dense output) is allowed.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_lut_s8(const int8_t *table,
                                 const mcuq_elementwise_dims *dims,
                                 const int8_t *input,
                                 int8_t *output)
{
    int32_t r, i;

    if (table == NULL || dims == NULL || input == NULL || output == NULL || !mcuq_elementwise_dims_ok(dims))
    {
        return MCUQ_ARG_ERROR;
    }
    for (r = 0; r < dims->rows; r++)
    {
        const int8_t *const in = input + (size_t)r * dims->row_size;
        int8_t *const out = output + (size_t)r * dims->output_row_stride;
        for (i = 0; i < dims->row_size; i++)
        {
            out[i] = table[(int32_t)in[i] + 128];
        }
    }
    return MCUQ_OK;
}
