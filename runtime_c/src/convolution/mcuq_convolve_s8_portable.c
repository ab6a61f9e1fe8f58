/*
 * mcuq_convolve_s8, portable path: the reference for the faster ones, and the path of every grouped
 * convolution on any core.
 *
 * For each output pixel and group, the receptive field is copied once into the scratch buffer as
 * int16, padding as the zero point (im2col of one column), so the inner loop over output channels is
 * a branch-free int16 x int8 dot product. In place: a pixel's window (of one group) is in the scratch
 * before any of that group's outputs of the pixel is written.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_convolve_s8.h"

static int32_t mcuq_convolve_s8_dot(const int16_t *col, const int8_t *filter, int32_t len)
{
    int32_t acc = 0;
    int32_t i;
    for (i = 0; i < len; i++)
    {
        acc += (int32_t)col[i] * (int32_t)filter[i];
    }
    return acc;
}

/* The receptive field of one group for the output pixel whose window starts at (base_y, base_x) of
 * the image at in_batch, as int16; positions in the padding hold the zero point. */
static void mcuq_convolve_s8_column(int16_t *dst,
                                    const mcuq_conv_s8_args *args,
                                    const int8_t *in_batch,
                                    int32_t base_y,
                                    int32_t base_x,
                                    int32_t group)
{
    const mcuq_conv_params *const params = args->params;
    const int32_t in_h = args->input_dims->h, in_w = args->input_dims->w, in_c = args->input_dims->c;
    const int32_t group_in_c = args->filter_dims->c;
    int32_t ky, kx, c;
    for (ky = 0; ky < args->filter_dims->h; ky++)
    {
        const int32_t in_y = base_y + ky * params->dilation.h;
        for (kx = 0; kx < args->filter_dims->w; kx++)
        {
            const int32_t in_x = base_x + kx * params->dilation.w;
            if (in_y < 0 || in_y >= in_h || in_x < 0 || in_x >= in_w)
            {
                for (c = 0; c < group_in_c; c++)
                {
                    dst[c] = (int16_t)-params->input_offset; /* the zero point */
                }
            }
            else
            {
                const int8_t *src = in_batch + ((size_t)in_y * in_w + in_x) * in_c + group * group_in_c;
                for (c = 0; c < group_in_c; c++)
                {
                    dst[c] = src[c];
                }
            }
            dst += group_in_c;
        }
    }
}

/* The output channels of one group of one pixel, from its column. */
static void mcuq_convolve_s8_group(const mcuq_conv_s8_args *args, const int16_t *col, int32_t group, int8_t *out_pixel)
{
    const mcuq_conv_params *const params = args->params;
    const int32_t group_out_c = args->filter_dims->n / params->groups;
    const int32_t col_len = args->filter_dims->h * args->filter_dims->w * args->filter_dims->c;
    int32_t oc;
    for (oc = group * group_out_c; oc < (group + 1) * group_out_c; oc++)
    {
        int32_t acc = mcuq_convolve_s8_dot(col, args->filter + (size_t)oc * col_len, col_len);
        if (args->bias != NULL)
        {
            acc += args->bias[oc];
        }
        acc = mcuq_requantize(acc, args->quant->multiplier[oc], args->quant->shift[oc]) + params->output_offset;
        out_pixel[oc] = (int8_t)mcuq_clamp_s32(acc, params->activation.min, params->activation.max);
    }
}

MCUQ_API void mcuq_convolve_s8_portable(const mcuq_conv_s8_args *args)
{
    const mcuq_conv_params *const params = args->params;
    const mcuq_dims *const in = args->input_dims;
    const mcuq_dims *const out = args->output_dims;
    int16_t *const col = (int16_t *)args->ctx->buf;
    int32_t batch, out_y, out_x, group;

    for (batch = 0; batch < in->n; batch++)
    {
        const int8_t *const in_batch = args->input + (size_t)batch * in->h * in->w * in->c;
        for (out_y = 0; out_y < out->h; out_y++)
        {
            const int32_t base_y = out_y * params->stride.h - params->padding.top;
            for (out_x = 0; out_x < out->w; out_x++)
            {
                const int32_t base_x = out_x * params->stride.w - params->padding.left;
                int8_t *const out_pixel =
                    args->output + (((size_t)batch * out->h + out_y) * out->w + out_x) * params->output_pixel_stride;
                for (group = 0; group < params->groups; group++)
                {
                    mcuq_convolve_s8_column(col, args, in_batch, base_y, base_x, group);
                    mcuq_convolve_s8_group(args, col, group, out_pixel);
                }
            }
        }
    }
}
