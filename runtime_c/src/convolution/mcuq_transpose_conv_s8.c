/*
 * mcuq_transpose_conv_s8: int8 transposed convolution (ConvTranspose), group 1, dilation 1.
 *
 * Semantics: input pixel (i, j), tap (kh, kw) adds (input + input_offset) * filter to output
 * (i * stride.h + kh - pad_top, j * stride.w + kw - pad_left); then bias, per-channel requantization,
 * output offset and clamp as mcuq_convolve_s8.
 *
 * Stride phases instead of inserted zeros: the outputs of one phase (row r, column c of the stride
 * grid) receive only the taps of that phase, so they are an ordinary stride-1 convolution of the input
 * with the phase's sub-kernel (its taps reversed). This kernel runs mcuq_convolve_s8 (and so its DSP
 * and MVE paths) once per phase and output row, writing every stride.w-th output pixel
 * (output_pixel_stride); the rows of the window are clipped to the input, the rest is padding. Every
 * multiply-add done is one of the transposed convolution's: no work on zeros. The code generator
 * prepares the phase tables, the sub-kernels and their folded biases (mcuq_nn_types.h).
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
/* mcuq_convolve_s8: the generated C defines it ahead of this file (KernelSpec calls). */
#include "mcuq_nn.h"

/* One axis phase of the table: first output, count, first input, taps. */
typedef struct {
    int32_t first_out;
    int32_t count;
    int32_t first_in;
    int32_t taps;
} mcuq_tconv_axis;

/* What one phase's rows share: the convolution's params and dims, its sub-kernel and bias. */
typedef struct {
    const mcuq_context *ctx;
    const mcuq_per_channel_quant *quant;
    mcuq_conv_params conv;
    mcuq_dims filter_dims;
    mcuq_dims output_dims;
    const int8_t *filter;
    const int32_t *bias;
} mcuq_tconv_phase;

static mcuq_tconv_axis mcuq_tconv_axis_at(const int32_t *table, int32_t index)
{
    mcuq_tconv_axis a;
    a.first_out = table[4 * index];
    a.count = table[4 * index + 1];
    a.first_in = table[4 * index + 2];
    a.taps = table[4 * index + 3];
    return a;
}

/* filter_dims is the largest phase's sub-kernel, phase (0, 0)'s ([C_out, ceil(KH / stride.h),
 * ceil(KW / stride.w), C_in]): the scratch that serves it serves every phase. */
MCUQ_API int32_t mcuq_transpose_conv_s8_get_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    return mcuq_convolve_s8_get_buffer_size(input_dims, filter_dims);
}

MCUQ_API int32_t mcuq_transpose_conv_s8_get_roomy_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    /* The largest phase's widened columns only (6 K bytes, MCUQ_CONV_S8_WIDE_SCRATCH, K a multiple of 4), not
     * mcuq_convolve_s8's small-K body's: its need depends on the stacked column phases' channel count, which
     * the code generator's scratch mirror (kernels.transpose_conv_s8_roomy_scratch) does not follow. A phase
     * still takes that body where this scratch happens to hold it. */
    const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c;
    return k % 4 == 0 ? 6 * k : mcuq_convolve_s8_get_buffer_size(input_dims, filter_dims);
}

/* Whether a phase table of `entries` phases covers its axis: each phase's outputs (`group` side by side
 * per step of `stride`) inside [0, out_size), at least one tap. */
static int mcuq_tconv_axis_ok(const int32_t *table, int32_t entries, int32_t stride, int32_t group, int32_t out_size)
{
    int32_t r;
    for (r = 0; r < entries; r++)
    {
        const mcuq_tconv_axis a = mcuq_tconv_axis_at(table, r);
        if (a.count < 0 || a.taps < 0 ||
            (a.count > 0 && (a.taps < 1 || a.first_out < 0 || a.first_out + (a.count - 1) * stride + group > out_size)))
        {
            return 0;
        }
    }
    return 1;
}

/* A row whose window lies entirely in the padding (rows an output_padding adds): every tap reads the
 * zero point, so the sum is folded bias + zero_point * (sum of the phase's weights of oc), i.e. the
 * model's bias, computed mod 2^32 as the kernels' accumulators are. */
static void mcuq_tconv_padding_row(const mcuq_tconv_phase *ph, int8_t *out)
{
    const int32_t channels = ph->output_dims.c;
    const int32_t k = ph->filter_dims.h * ph->filter_dims.w * ph->filter_dims.c;
    const int32_t zero_point = -ph->conv.input_offset;
    int32_t oc, i, j;
    for (oc = 0; oc < channels; oc++)
    {
        int32_t sum = 0;
        uint32_t acc;
        int32_t value;
        for (i = 0; i < k; i++)
        {
            sum += ph->filter[(size_t)oc * k + i];
        }
        acc = (uint32_t)ph->bias[oc] + (uint32_t)(zero_point * sum);
        value = mcuq_requantize((int32_t)acc, ph->quant->multiplier[oc], ph->quant->shift[oc]) +
                ph->conv.output_offset;
        value = value < ph->conv.activation.min ? ph->conv.activation.min : value;
        value = value > ph->conv.activation.max ? ph->conv.activation.max : value;
        for (j = 0; j < ph->output_dims.w; j++)
        {
            out[(size_t)j * ph->conv.output_pixel_stride + oc] = (int8_t)value;
        }
    }
}

/* The phase's output row whose window starts at input row `start`: mcuq_convolve_s8 over the input
 * rows it covers, the rest as padding. */
static mcuq_status mcuq_tconv_row(const mcuq_tconv_phase *ph, const mcuq_dims *input_dims, const int8_t *input,
                                  int32_t start, int8_t *out)
{
    const int32_t end = start + ph->filter_dims.h - 1;
    const int32_t lo = start > 0 ? start : 0;
    const int32_t hi = end < input_dims->h - 1 ? end : input_dims->h - 1;
    mcuq_conv_params conv = ph->conv;
    mcuq_dims rows = *input_dims;
    if (lo > hi)
    {
        mcuq_tconv_padding_row(ph, out);
        return MCUQ_OK;
    }
    rows.n = 1;
    rows.h = hi - lo + 1;
    conv.padding.top = lo - start;
    conv.padding.bottom = end - hi;
    return mcuq_convolve_s8(ph->ctx, &conv, ph->quant, &rows, input + (size_t)lo * input_dims->w * input_dims->c,
                            &ph->filter_dims, ph->filter, ph->bias, &ph->output_dims, out);
}

/* All output rows of phase (row axis a, column axis b) of one image; output rows stride_h apart. */
static mcuq_status mcuq_tconv_phase_rows(const mcuq_tconv_phase *ph, const mcuq_tconv_axis *a, const mcuq_tconv_axis *b,
                                         int32_t stride_h, const mcuq_dims *input_dims, const int8_t *input,
                                         const mcuq_dims *output_dims, int8_t *output)
{
    int32_t i;
    for (i = 0; i < a->count; i++)
    {
        const int32_t oy = a->first_out + i * stride_h;
        int8_t *out = output + ((size_t)oy * output_dims->w + b->first_out) * output_dims->c;
        const mcuq_status status = mcuq_tconv_row(ph, input_dims, input, a->first_in + i, out);
        if (status != MCUQ_OK)
        {
            return status;
        }
    }
    return MCUQ_OK;
}

/* The convolution of phase (a, b): stride 1, the column padding the phase needs, one output row of
 * b->count pixels written stride.w output pixels apart, each of the filter's col_group * C_out channels
 * (col_group output pixels side by side). */
static void mcuq_tconv_phase_setup(const mcuq_transpose_conv_params *params, const mcuq_tconv_axis *a,
                                   const mcuq_tconv_axis *b, const mcuq_dims *input_dims, const mcuq_dims *filter_dims,
                                   mcuq_tconv_phase *ph)
{
    ph->conv.input_offset = params->input_offset;
    ph->conv.output_offset = params->output_offset;
    ph->conv.stride.h = 1;
    ph->conv.stride.w = 1;
    ph->conv.dilation.h = 1;
    ph->conv.dilation.w = 1;
    ph->conv.padding.top = 0;
    ph->conv.padding.bottom = 0;
    ph->conv.padding.left = -b->first_in;
    ph->conv.padding.right = b->first_in + b->count + b->taps - 2 - (input_dims->w - 1);
    ph->conv.activation = params->activation;
    ph->conv.groups = 1;
    ph->conv.output_pixel_stride = params->stride.w * (filter_dims->n / params->col_group);
    ph->filter_dims.n = filter_dims->n;
    ph->filter_dims.h = a->taps;
    ph->filter_dims.w = b->taps;
    ph->filter_dims.c = filter_dims->c;
    ph->output_dims.n = 1;
    ph->output_dims.h = 1;
    ph->output_dims.w = b->count;
    ph->output_dims.c = filter_dims->n;
}

static int mcuq_transpose_conv_s8_args_ok(const mcuq_context *ctx, const mcuq_transpose_conv_params *params,
                                          const mcuq_dims *input_dims, const mcuq_dims *filter_dims,
                                          const mcuq_dims *output_dims)
{
    return params->row_phases != NULL && params->col_phases != NULL && params->stride.h >= 1 &&
           params->stride.w >= 1 && mcuq_dims_size(input_dims) >= 0 && mcuq_dims_size(output_dims) >= 0 &&
           mcuq_dims_size(filter_dims) >= 0 && input_dims->n == output_dims->n && input_dims->c == filter_dims->c &&
           params->col_group >= 1 && params->stride.w % params->col_group == 0 &&
           output_dims->c * params->col_group == filter_dims->n && filter_dims->c >= 1 &&
           mcuq_tconv_axis_ok(params->row_phases, params->stride.h, params->stride.h, 1, output_dims->h) &&
           mcuq_tconv_axis_ok(params->col_phases, params->stride.w / params->col_group, params->stride.w,
                              params->col_group, output_dims->w) &&
           filter_dims->h == mcuq_tconv_axis_at(params->row_phases, 0).taps &&
           filter_dims->w == mcuq_tconv_axis_at(params->col_phases, 0).taps &&
           ctx->size >= mcuq_transpose_conv_s8_get_buffer_size(input_dims, filter_dims);
}

MCUQ_API mcuq_status mcuq_transpose_conv_s8(const mcuq_context *ctx,
                                            const mcuq_transpose_conv_params *params,
                                            const mcuq_per_channel_quant *quant,
                                            const mcuq_dims *input_dims,
                                            const int8_t *input,
                                            const mcuq_dims *filter_dims,
                                            const int8_t *filter,
                                            const int32_t *bias,
                                            const mcuq_dims *output_dims,
                                            int8_t *output)
{
    int32_t n, r, c;
    mcuq_tconv_phase ph;
    if (ctx == NULL || params == NULL || quant == NULL || input_dims == NULL || input == NULL || filter_dims == NULL ||
        filter == NULL || bias == NULL || output_dims == NULL || output == NULL || input == output ||
        !mcuq_transpose_conv_s8_args_ok(ctx, params, input_dims, filter_dims, output_dims))
    {
        return MCUQ_ARG_ERROR;
    }
    ph.ctx = ctx;
    ph.quant = quant;
    for (n = 0; n < input_dims->n; n++)
    {
        const int8_t *image = input + (size_t)n * input_dims->h * input_dims->w * input_dims->c;
        int8_t *out_image = output + (size_t)n * output_dims->h * output_dims->w * output_dims->c;
        ph.filter = filter;
        ph.bias = bias;
        for (r = 0; r < params->stride.h; r++)
        {
            const mcuq_tconv_axis a = mcuq_tconv_axis_at(params->row_phases, r);
            for (c = 0; c < params->stride.w / params->col_group; c++)
            {
                const mcuq_tconv_axis b = mcuq_tconv_axis_at(params->col_phases, c);
                mcuq_tconv_phase_setup(params, &a, &b, input_dims, filter_dims, &ph);
                if (a.count > 0 && b.count > 0)
                {
                    const mcuq_status status =
                        mcuq_tconv_phase_rows(&ph, &a, &b, params->stride.h, input_dims, image, output_dims, out_image);
                    if (status != MCUQ_OK)
                    {
                        return status;
                    }
                }
                ph.filter += (size_t)filter_dims->n * a.taps * b.taps * filter_dims->c;
                ph.bias += filter_dims->n;
            }
        }
    }
    return MCUQ_OK;
}
