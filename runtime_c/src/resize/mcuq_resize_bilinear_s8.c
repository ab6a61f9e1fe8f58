/*
 * mcuq_resize_bilinear_s8: bilinear resize over H and W of an int8 [N, H, W, C] tensor, in TFLite's
 * int8 fixed point (reference ResizeBilinearInteger, default rounding): with the weights fy, fx of the
 * upper row and column in 1/1024,
 *   acc = x[y0][x0] (1024 - fy)(1024 - fx) + x[y1][x0] fy (1024 - fx) + x[y0][x1] (1024 - fy) fx + x[y1][x1] fy fx
 *   out = (acc + (acc > 0 ? 2^19 : -2^19)) / 2^20   (C division, truncating)
 * |acc| <= 128 * 2^20 fits int32. The quantization is unchanged (the weights sum to one). The code
 * generator computes (y0, y1, fy) per output row and (x0, x1, fx) per column from the ONNX transform.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

#define MCUQ_RESIZE_ONE 1024
#define MCUQ_RESIZE_HALF_OUT (1 << 19)
#define MCUQ_RESIZE_OUT_SHIFT 20

static int mcuq_resize_bilinear_table_ok(const int32_t *table, int32_t count, int32_t size)
{
    int32_t i;
    for (i = 0; i < count; i++)
    {
        const int32_t *t = table + 3 * i;
        if (t[0] < 0 || t[0] >= size || t[1] < 0 || t[1] >= size || t[2] < 0 || t[2] > MCUQ_RESIZE_ONE)
        {
            return 0;
        }
    }
    return 1;
}

/* One output row from input rows top and bottom, blended with weight fy of bottom. */
static void mcuq_resize_bilinear_row(const int32_t *cols, const mcuq_dims *output_dims, const int8_t *top, const int8_t *bottom, int32_t fy, int8_t *out)
{
    const int32_t channels = output_dims->c;
    int32_t j, c;
    for (j = 0; j < output_dims->w; j++)
    {
        const int32_t *t = cols + 3 * j;
        const int8_t *tl = top + (size_t)t[0] * channels;
        const int8_t *tr = top + (size_t)t[1] * channels;
        const int8_t *bl = bottom + (size_t)t[0] * channels;
        const int8_t *br = bottom + (size_t)t[1] * channels;
        const int32_t fx = t[2];
        for (c = 0; c < channels; c++)
        {
            /* Blending the columns first keeps each product exact: the sum is the four-term one above. */
            const int32_t upper = tl[c] * (MCUQ_RESIZE_ONE - fx) + tr[c] * fx;
            const int32_t lower = bl[c] * (MCUQ_RESIZE_ONE - fx) + br[c] * fx;
            const int32_t acc = upper * (MCUQ_RESIZE_ONE - fy) + lower * fy;
            const int32_t rounded = acc > 0 ? acc + MCUQ_RESIZE_HALF_OUT : acc - MCUQ_RESIZE_HALF_OUT;
            out[(size_t)j * channels + c] = (int8_t)(rounded / (1 << MCUQ_RESIZE_OUT_SHIFT));
        }
    }
}

MCUQ_API mcuq_status mcuq_resize_bilinear_s8(const mcuq_resize_params *params,
                                             const mcuq_dims *input_dims,
                                             const int8_t *input,
                                             const mcuq_dims *output_dims,
                                             int8_t *output)
{
    int32_t b, i;
    size_t in_row_bytes, out_row_bytes;
    if (params == NULL || params->rows == NULL || params->cols == NULL || input_dims == NULL || input == NULL ||
        output_dims == NULL || output == NULL || input == output)
    {
        return MCUQ_ARG_ERROR;
    }
    if (mcuq_dims_size(input_dims) < 0 || mcuq_dims_size(output_dims) < 0 || output_dims->n != input_dims->n ||
        output_dims->c != input_dims->c ||
        !mcuq_resize_bilinear_table_ok(params->rows, output_dims->h, input_dims->h) ||
        !mcuq_resize_bilinear_table_ok(params->cols, output_dims->w, input_dims->w))
    {
        return MCUQ_ARG_ERROR;
    }
    in_row_bytes = (size_t)input_dims->w * input_dims->c;
    out_row_bytes = (size_t)output_dims->w * output_dims->c;
    for (b = 0; b < output_dims->n; b++)
    {
        const int8_t *in = input + (size_t)b * input_dims->h * in_row_bytes;
        int8_t *out = output + (size_t)b * output_dims->h * out_row_bytes;
        for (i = 0; i < output_dims->h; i++)
        {
            const int32_t *t = params->rows + 3 * i;
            mcuq_resize_bilinear_row(params->cols, output_dims, in + (size_t)t[0] * in_row_bytes,
                                     in + (size_t)t[1] * in_row_bytes, t[2], out + (size_t)i * out_row_bytes);
        }
    }
    return MCUQ_OK;
}
