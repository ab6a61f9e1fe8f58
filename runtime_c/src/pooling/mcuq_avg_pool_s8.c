/*
 * mcuq_avg_pool_s8: int8 average pooling, NHWC, asymmetric padding.
 *
 * Semantics of CMSIS-NN's arm_avgpool_s8 (TFLite int8): the sum of the window elements inside the
 * input divided by their count, rounded half away from zero:
 *   avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count   (C division)
 * then clamped to the activation range. With count_include_pad (ONNX AveragePool's attribute) every
 * window position counts: the divisor is KH*KW and each padded position adds pad_value (the input
 * zero point, i.e. real 0.0). Quantization is unchanged. A window that lies entirely in the padding
 * is an argument error.
 *
 * Fast paths sum several channels of a window at once, in int16 lanes: a lane takes at most 256 int8
 * values ([-32768, 32512]) before it is added to int32 sums, so the sums are exact; the rounding
 * division is the portable code's. DSP: SXTAB16 adds channels 0, 2 and 1, 3 of a word to two pairs
 * of int16 lanes, eight channels per step. MVE: VLDRB.S16 widens eight channels per load, sixteen
 * per step (the last group predicated). Channels c..c+k of a pixel are written after channels c..c+k
 * of its whole window were read, and before any later channel is read: the in-place bound of
 * mcuq/plan/inplace.py (channelwise) still holds.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

/* The window's taps per int16 lane before they go to the int32 sums. */
#define MCUQ_AVG_LANE_TAPS 256

static inline int8_t avg8_div(int32_t sum, int32_t count, const mcuq_activation *act)
{
    sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    return (int8_t)mcuq_clamp_s32(sum, act->min, act->max);
}

#if defined(MCUQ_PATH_MVE)

/* Sums of channels [0, n) (n <= 16) of the window whose first tap is at base: `rows` runs of `width`
 * taps, taps `ch` bytes apart, runs `row_step` bytes apart. Added to sums[], which holds channels
 * 0, 2, 4, 6, then 1, 3, 5, 7, then 8, 10, .., then 9, 11, .. (the order VMOVLB / VMOVLT widen
 * the int16 lanes in; avg8_lane gives a channel's place). */
static void avg8_sum16(const int8_t *base, int32_t rows, int32_t width, int32_t row_step, int32_t ch, int32_t n,
                       int32_t *sums)
{
    const mve_pred16_t p0 = vctp16q((uint32_t)n), p1 = vctp16q((uint32_t)(n > 8 ? n - 8 : 0));
    int16x8_t acc0 = vdupq_n_s16(0), acc1 = vdupq_n_s16(0);
    int32_t taps = 0, r, x;
    for (r = 0; r < rows; r++)
    {
        const int8_t *ptr = base + (size_t)r * row_step;
        int32_t left = width;
        while (left > 0)
        {
            const int32_t run = mcuq_min_s32(left, MCUQ_AVG_LANE_TAPS - taps);
            if (n == 16)
            {
                for (x = 0; x < run; x++)
                {
                    acc0 = vaddq_s16(acc0, vldrbq_s16(ptr));
                    acc1 = vaddq_s16(acc1, vldrbq_s16(ptr + 8));
                    ptr += ch;
                }
            }
            else
            {
                for (x = 0; x < run; x++)
                {
                    acc0 = vaddq_s16(acc0, vldrbq_z_s16(ptr, p0));
                    acc1 = vaddq_s16(acc1, vldrbq_z_s16(ptr + 8, p1));
                    ptr += ch;
                }
            }
            left -= run;
            taps += run;
            if (taps == MCUQ_AVG_LANE_TAPS || (r == rows - 1 && left == 0))
            {
                vst1q_s32(sums, vaddq_s32(vld1q_s32(sums), vmovlbq_s16(acc0)));
                vst1q_s32(sums + 4, vaddq_s32(vld1q_s32(sums + 4), vmovltq_s16(acc0)));
                vst1q_s32(sums + 8, vaddq_s32(vld1q_s32(sums + 8), vmovlbq_s16(acc1)));
                vst1q_s32(sums + 12, vaddq_s32(vld1q_s32(sums + 12), vmovltq_s16(acc1)));
                acc0 = vdupq_n_s16(0);
                acc1 = vdupq_n_s16(0);
                taps = 0;
            }
        }
    }
}

/* Where avg8_sum16 keeps channel i's sum. */
static inline int32_t avg8_lane(int32_t i) { return (i & 8) | ((i & 1) << 2) | ((i >> 1) & 3); }

#elif defined(MCUQ_HAVE_DSP)

/* Sums of channels [0, 8) (eight == 1) or [0, 4) of the window whose first tap is at base: `rows`
 * runs of `width` taps, taps `ch` bytes apart, runs `row_step` bytes apart. Added to sums[]. */
static void avg8_sum8(const int8_t *base, int32_t rows, int32_t width, int32_t row_step, int32_t ch, int eight,
                     int32_t *sums)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0; /* int16 lanes: channels 0, 2 / 1, 3 / 4, 6 / 5, 7 */
    int32_t taps = 0, r;
    for (r = 0; r < rows; r++)
    {
        const int8_t *ptr = base + (size_t)r * row_step;
        int32_t left = width;
        while (left > 0)
        {
            const int32_t run = mcuq_min_s32(left, MCUQ_AVG_LANE_TAPS - taps);
            const int8_t *const end = ptr + (size_t)run * ch;
            if (eight)
            {
                for (; ptr != end; ptr += ch)
                {
                    const int32_t w0 = mcuq_read_s8x4(ptr), w1 = mcuq_read_s8x4(ptr + 4);
                    a0 = mcuq_sxtab16(a0, w0);
                    a1 = mcuq_sxtab16_ror8(a1, w0);
                    a2 = mcuq_sxtab16(a2, w1);
                    a3 = mcuq_sxtab16_ror8(a3, w1);
                }
            }
            else
            {
                for (; ptr != end; ptr += ch)
                {
                    const int32_t w0 = mcuq_read_s8x4(ptr);
                    a0 = mcuq_sxtab16(a0, w0);
                    a1 = mcuq_sxtab16_ror8(a1, w0);
                }
            }
            left -= run;
            taps += run;
            if (taps == MCUQ_AVG_LANE_TAPS || (r == rows - 1 && left == 0))
            {
                sums[0] += (int16_t)a0;
                sums[1] += (int16_t)a1;
                sums[2] += a0 >> 16;
                sums[3] += a1 >> 16;
                sums[4] += (int16_t)a2;
                sums[5] += (int16_t)a3;
                sums[6] += a2 >> 16;
                sums[7] += a3 >> 16;
                a0 = a1 = a2 = a3 = 0;
                taps = 0;
            }
        }
    }
}

#endif

#if defined(MCUQ_PATH_MVE) || defined(MCUQ_HAVE_DSP)
/* One output pixel's window, clipped to the input. */
typedef struct
{
    const int8_t *base; /* its first tap inside the input, channel 0 */
    int32_t rows, width; /* the taps inside: rows x width */
    int32_t pad_sum;     /* what the padded taps add to every channel's sum */
    int32_t count;       /* the divisor */
} avg8_window;

/* The channels of one output pixel that the fast path takes (all but a DSP tail of up to 3); returns
 * how many. in_w, ch: the input's width and channels. */
static MCUQ_MISC_NOINLINE int32_t avg8_pixel_fast(const avg8_window *win, int32_t in_w, int32_t ch,
                                                  const mcuq_activation *act, int8_t *out_pixel)
{
    const int8_t *const base = win->base;
    const int32_t rows = win->rows, width = win->width, pad_sum = win->pad_sum, count = win->count;
    /* One run per window row, or one for the whole window when it spans full rows. */
    const int32_t full = width == in_w;
    const int32_t runs = full ? 1 : rows;
    const int32_t run_taps = full ? rows * width : width;
    int32_t c = 0, i;
#if defined(MCUQ_PATH_MVE)
    int32_t sums[16];
    for (; c < ch; c += 16)
    {
        const int32_t n = mcuq_min_s32(ch - c, 16);
        for (i = 0; i < 16; i += 4)
        {
            vst1q_s32(sums + i, vdupq_n_s32(pad_sum));
        }
        avg8_sum16(base + c, runs, run_taps, in_w * ch, ch, n, sums);
        for (i = 0; i < n; i++)
        {
            out_pixel[c + i] = avg8_div(sums[avg8_lane(i)], count, act);
        }
    }
#else
    int32_t sums[8];
    while (c + 4 <= ch)
    {
        const int eight = c + 8 <= ch;
        for (i = 0; i < 8; i++)
        {
            sums[i] = pad_sum;
        }
        avg8_sum8(base + c, runs, run_taps, in_w * ch, ch, eight, sums);
        for (i = 0; i < (eight ? 8 : 4); i++)
        {
            out_pixel[c + i] = avg8_div(sums[i], count, act);
        }
        c += eight ? 8 : 4;
    }
#endif
    return c;
}
#endif

MCUQ_API mcuq_status mcuq_avg_pool_s8(const mcuq_pool_params *params,
                                      const mcuq_dims *input_dims,
                                      const int8_t *input,
                                      const mcuq_dims *output_dims,
                                      int8_t *output)
{
    int32_t batch, out_y, out_x, y, x, c;

    if (params == NULL || input_dims == NULL || input == NULL || output_dims == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (!mcuq_pool_args_ok(params, input_dims, output_dims) || params->pad_value < -128 || params->pad_value > 127)
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
        const int32_t out_stride = params->output_pixel_stride;
        const int32_t window = params->kernel.h * params->kernel.w;
        for (batch = 0; batch < input_dims->n; batch++)
        {
            const int8_t *const in_batch = input + (size_t)batch * in_h * in_w * ch;
            for (out_y = 0; out_y < output_dims->h; out_y++)
            {
                const int32_t base_y = out_y * params->stride.h - params->padding.top;
                const int32_t y0 = mcuq_max_s32(base_y, 0);
                const int32_t y1 = mcuq_min_s32(base_y + params->kernel.h, in_h);
                for (out_x = 0; out_x < output_dims->w; out_x++)
                {
                    const int32_t base_x = out_x * params->stride.w - params->padding.left;
                    const int32_t x0 = mcuq_max_s32(base_x, 0);
                    const int32_t x1 = mcuq_min_s32(base_x + params->kernel.w, in_w);
                    int8_t *const out_pixel =
                        output + (((size_t)batch * output_dims->h + out_y) * output_dims->w + out_x) * out_stride;
                    const int32_t inside = (y1 - y0) * (x1 - x0);
                    const int32_t count = params->count_include_pad ? window : inside;
                    const int32_t pad_sum = params->count_include_pad ? (window - inside) * params->pad_value : 0;
                    if (y0 >= y1 || x0 >= x1)
                    {
                        return MCUQ_ARG_ERROR;
                    }
#if defined(MCUQ_PATH_MVE) || defined(MCUQ_HAVE_DSP)
                    {
                        const avg8_window win = {
                            in_batch + ((size_t)y0 * in_w + x0) * ch, y1 - y0, x1 - x0, pad_sum, count};
                        c = avg8_pixel_fast(&win, in_w, ch, &params->activation, out_pixel);
                    }
#else
                    c = 0;
#endif
                    for (; c < ch; c++)
                    {
                        int32_t sum = pad_sum;
                        for (y = y0; y < y1; y++)
                        {
                            for (x = x0; x < x1; x++)
                            {
                                sum += in_batch[((size_t)y * in_w + x) * ch + c];
                            }
                        }
                        out_pixel[c] = avg8_div(sum, count, &params->activation);
                    }
                }
            }
        }
    }
    return MCUQ_OK;
}
