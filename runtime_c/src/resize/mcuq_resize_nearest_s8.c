/*
 * mcuq_resize_nearest_s8: nearest-neighbour resize over H and W of an int8 [N, H, W, C] tensor.
 * Output pixel (i, j) is input pixel (rows[i], cols[j]): no arithmetic, the quantization is unchanged.
 * The code generator computes the tables from the ONNX coordinate transformation and rounding mode.
 *
 * Fast paths, as block copies: a run of output pixels that repeat one input pixel (an integer scale
 * along W) is filled by doubling the bytes already written; an output row whose source row equals the
 * previous one (an integer scale along H) is one copy of that row.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

static int mcuq_resize_nearest_tables_ok(const int32_t *table, int32_t count, int32_t size)
{
    int32_t i;
    for (i = 0; i < count; i++)
    {
        if (table[i] < 0 || table[i] >= size)
        {
            return 0;
        }
    }
    return 1;
}

/* One output row: each run of equal source columns is one pixel copy, then doubled in place. */
static void mcuq_resize_nearest_row(const int32_t *cols, int32_t out_w, int32_t channels, const int8_t *in_row,
                                    int8_t *out_row)
{
    int32_t j = 0;
    while (j < out_w)
    {
        int32_t run = 1;
        int32_t done = 1;
        int8_t *start = out_row + (size_t)j * channels;
        while (j + run < out_w && cols[j + run] == cols[j])
        {
            run++;
        }
        memcpy(start, in_row + (size_t)cols[j] * channels, (size_t)channels);
        while (done < run)
        {
            const int32_t n = done < run - done ? done : run - done;
            memcpy(start + (size_t)done * channels, start, (size_t)n * channels);
            done += n;
        }
        j += run;
    }
}

MCUQ_API mcuq_status mcuq_resize_nearest_s8(const mcuq_resize_params *params,
                                            const mcuq_dims *input_dims,
                                            const int8_t *input,
                                            const mcuq_dims *output_dims,
                                            int8_t *output)
{
    int32_t b, i;
    size_t out_row_bytes, in_image_bytes, out_image_bytes;
    if (params == NULL || params->rows == NULL || params->cols == NULL || input_dims == NULL || input == NULL ||
        output_dims == NULL || output == NULL || input == output)
    {
        return MCUQ_ARG_ERROR;
    }
    if (mcuq_dims_size(input_dims) < 0 || mcuq_dims_size(output_dims) < 0 || output_dims->n != input_dims->n ||
        output_dims->c != input_dims->c ||
        !mcuq_resize_nearest_tables_ok(params->rows, output_dims->h, input_dims->h) ||
        !mcuq_resize_nearest_tables_ok(params->cols, output_dims->w, input_dims->w))
    {
        return MCUQ_ARG_ERROR;
    }
    out_row_bytes = (size_t)output_dims->w * output_dims->c;
    in_image_bytes = (size_t)input_dims->h * input_dims->w * input_dims->c;
    out_image_bytes = (size_t)output_dims->h * out_row_bytes;
    for (b = 0; b < output_dims->n; b++)
    {
        const int8_t *in = input + b * in_image_bytes;
        int8_t *out = output + b * out_image_bytes;
        for (i = 0; i < output_dims->h; i++)
        {
            int8_t *out_row = out + (size_t)i * out_row_bytes;
            if (i > 0 && params->rows[i] == params->rows[i - 1])
            {
                memcpy(out_row, out_row - out_row_bytes, out_row_bytes);
                continue;
            }
            mcuq_resize_nearest_row(params->cols, output_dims->w, output_dims->c,
                                    in + (size_t)params->rows[i] * input_dims->w * input_dims->c, out_row);
        }
    }
    return MCUQ_OK;
}
