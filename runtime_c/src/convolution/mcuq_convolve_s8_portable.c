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
#include "mcuq_convolve_s8_args.h"

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

/* What the column copy needs, read once into a local: the loops then keep it in registers, since no
 * store through the scratch or the output can change it. */
typedef struct
{
    int32_t in_h, in_w, in_c;
    int32_t k_h, k_w, dil_h, dil_w;
    int32_t group_in_c;
    int16_t pad_value; /* the zero point, -input_offset */
} mcuq_conv_s8_portable_window;

/* The receptive field of one group for the output pixel whose window starts at (base_y, base_x), as
 * int16; src_group is the group's first channel of the image; positions in the padding hold the
 * zero point. */
static inline void mcuq_convolve_s8_column(int16_t *dst,
                                           const mcuq_conv_s8_portable_window *win,
                                           const int8_t *src_group,
                                           int32_t base_y,
                                           int32_t base_x)
{
    const int32_t in_h = win->in_h, in_w = win->in_w, in_c = win->in_c;
    const int32_t k_h = win->k_h, k_w = win->k_w, dil_h = win->dil_h, dil_w = win->dil_w;
    const int32_t group_in_c = win->group_in_c;
    const int16_t pad_value = win->pad_value;
    int32_t ky, kx, c;
    for (ky = 0; ky < k_h; ky++)
    {
        const int32_t in_y = base_y + ky * dil_h;
        for (kx = 0; kx < k_w; kx++)
        {
            const int32_t in_x = base_x + kx * dil_w;
            if (in_y < 0 || in_y >= in_h || in_x < 0 || in_x >= in_w)
            {
                for (c = 0; c < group_in_c; c++)
                {
                    dst[c] = pad_value;
                }
            }
            else
            {
                const int8_t *src = src_group + ((size_t)in_y * in_w + in_x) * in_c;
                for (c = 0; c < group_in_c; c++)
                {
                    dst[c] = src[c];
                }
            }
            dst += group_in_c;
        }
    }
}

/* The output step of every channel, read once into a local (the int8 output may alias anything). */
typedef struct
{
    const int8_t *filter;
    const int32_t *bias;
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t col_len;
    int32_t output_offset, act_min, act_max;
} mcuq_conv_s8_portable_out;

/* Output channels [first, end) of one pixel, from its column. Not inlined: merged into the pixel walk,
 * its constants crowd the registers and gcc spills the dot loop's end pointer (54% slower on M4). */
static MCUQ_MISC_NOINLINE void mcuq_convolve_s8_group(const mcuq_conv_s8_portable_out *step,
                                                  const int16_t *col,
                                                  int32_t first,
                                                  int32_t end,
                                                  int8_t *out_pixel)
{
    const int8_t *const filter = step->filter;
    const int32_t *const bias = step->bias;
    const int32_t *const multiplier = step->multiplier;
    const int32_t *const shift = step->shift;
    const int32_t col_len = step->col_len;
    const int32_t output_offset = step->output_offset, act_min = step->act_min, act_max = step->act_max;
    int32_t oc;
    for (oc = first; oc < end; oc++)
    {
        int32_t acc = mcuq_convolve_s8_dot(col, filter + (size_t)oc * col_len, col_len);
        if (bias != NULL)
        {
            acc += bias[oc];
        }
        acc = mcuq_requantize(acc, multiplier[oc], shift[oc]) + output_offset;
        out_pixel[oc] = (int8_t)mcuq_clamp_s32(acc, act_min, act_max);
    }
}

MCUQ_API void mcuq_convolve_s8_portable(const mcuq_conv_s8_args *args)
{
    const mcuq_conv_params *const params = args->params;
    const mcuq_dims *const in = args->input_dims;
    const mcuq_dims *const filter_dims = args->filter_dims;
    const int32_t batches = in->n, out_h = args->output_dims->h, out_w = args->output_dims->w;
    const int32_t stride_h = params->stride.h, stride_w = params->stride.w;
    const int32_t pad_top = params->padding.top, pad_left = params->padding.left;
    const int32_t groups = params->groups, group_out_c = filter_dims->n / groups;
    const int32_t out_stride = params->output_pixel_stride;
    const int8_t *const input = args->input;
    int8_t *const output = args->output;
    int16_t *const col = (int16_t *)args->ctx->buf;
    mcuq_conv_s8_portable_window win;
    mcuq_conv_s8_portable_out step;
    int32_t batch, out_y, out_x, group;

    win.in_h = in->h;
    win.in_w = in->w;
    win.in_c = in->c;
    win.k_h = filter_dims->h;
    win.k_w = filter_dims->w;
    win.dil_h = params->dilation.h;
    win.dil_w = params->dilation.w;
    win.group_in_c = filter_dims->c;
    win.pad_value = (int16_t)-params->input_offset;
    step.filter = args->filter;
    step.bias = args->bias;
    step.multiplier = args->quant->multiplier;
    step.shift = args->quant->shift;
    step.col_len = filter_dims->h * filter_dims->w * filter_dims->c;
    step.output_offset = params->output_offset;
    step.act_min = params->activation.min;
    step.act_max = params->activation.max;

    for (batch = 0; batch < batches; batch++)
    {
        const int8_t *const in_batch = input + (size_t)batch * win.in_h * win.in_w * win.in_c;
        for (out_y = 0; out_y < out_h; out_y++)
        {
            const int32_t base_y = out_y * stride_h - pad_top;
            for (out_x = 0; out_x < out_w; out_x++)
            {
                const int32_t base_x = out_x * stride_w - pad_left;
                int8_t *const out_pixel = output + (((size_t)batch * out_h + out_y) * out_w + out_x) * out_stride;
                for (group = 0; group < groups; group++)
                {
                    mcuq_convolve_s8_column(col, &win, in_batch + group * win.group_in_c, base_y, base_x);
                    mcuq_convolve_s8_group(&step, col, group * group_out_c, (group + 1) * group_out_c, out_pixel);
                }
            }
        }
    }
}
