/*
 * mcuq_depthwise_conv_s8: int8 depthwise 2-D convolution with channel multiplier, dilation and
 * asymmetric padding.
 *
 * Semantics of CMSIS-NN's arm_depthwise_conv_s8 (TFLite int8): output channel oc = c * ch_mult + m
 * reads input channel c; filter layout [1, KH, KW, C_out];
 *   acc = bias[oc] + sum over the in-bounds window of (input + input_offset) * filter
 *   out = clamp(requantize(acc, multiplier[oc], shift[oc]) + output_offset, act.min, act.max).
 * Padded positions contribute 0 (the input zero point). `bias` is mcuq's folded bias,
 * bias[oc] + input_offset * sum(filter[.., oc]) (see mcuq_nn.h): the kernel sums raw input * filter
 * products, and a padded tap adds zero_point * filter = -input_offset * filter.
 *
 * Portable path (the reference, and the fallback of the fast paths): direct loops, the window clipped
 * once per output pixel so that the inner loops test no bounds; only border pixels sum the filter
 * taps that fall in the padding.
 *
 * Fast paths, for 3x3 filters with ch_mult 1, dilation 1 and at most 1 column of padding per side
 * (DS-CNN, MobileNet), given the scratch buffer: the padded input rows a band of output rows reads
 * (2 output rows at stride 1, else 1) are copied into a ring of 4 row slots in scratch, channel major
 * ([slot][channel][column]), with the padding holding the zero point, so that every output pixel is
 * computed the same way:
 *   DSP (Cortex-M4, M7, M33; M55 for strides other than 1): one word of a channel's row gives the
 *     columns (x, x+1, x+2, x+3), SXTB16 gives (x, x+2) and (x+1, x+3): SMLAD takes the outer taps
 *     of one kernel row, SMLABB/SMLATB/... the middle one, and a stride-1 row computes two output
 *     pixels from the same word. Accumulators first (per chunk of channels), then their
 *     requantization, which folds the output offset into the rounding constant.
 *   MVE (Cortex-M55, stride 1): lanes = the 2 x 2 output pixels (y, x), (y, x+1), (y+1, x),
 *     (y+1, x+1) of one channel; each tap is one byte gather (VLDRB.S32 with an offset vector) and
 *     one VMLA by the scalar weight; requantization on the 4 lanes, a scatter store.
 * In place (mcuq/plan/inplace.py, ch_mult 1): both paths copy every input row a band reads (all
 * channels, each row once) before writing any output of the band, and read the input rows only the
 * next bands need after. So a read that precedes a write in the portable order precedes it here too
 * (the order of the writes within a band does not matter: they read only the scratch), and any shift
 * that is safe for the portable loop is safe for them; the kernel tests run them at the largest.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

/* Scratch of the fast paths (the same on every core, as the planner sizes the arena for any): a ring
 * of 4 padded input rows of (in_w + 2) columns (at most 1 column of padding a side) of C channels,
 * and 4 bytes of slack for the word loads past the last row's end. 0 where no fast path applies
 * (mcuq.golden.scratch_bytes computes the same). */
MCUQ_API int32_t mcuq_depthwise_conv_s8_get_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    int64_t size;
    if (input_dims == NULL || filter_dims == NULL || filter_dims->h != 3 || filter_dims->w != 3 ||
        filter_dims->c != input_dims->c || input_dims->c < 1 || input_dims->w < 1)
    {
        return 0;
    }
    size = ((int64_t)4 * input_dims->c * (input_dims->w + 2) + 4 + 3) / 4 * 4;
    return size > MCUQ_Q31_MAX ? 0 : (int32_t)size;
}

#if defined(__GNUC__)
__attribute__((noinline)) /* its own registers: inlined into the entry point it spills in the inner loop */
#endif
static void mcuq_dw_portable(const mcuq_dw_conv_params *params,
                             const mcuq_per_channel_quant *quant,
                             const mcuq_dims *input_dims,
                             const int8_t *input,
                             const mcuq_dims *filter_dims,
                             const int8_t *filter,
                             const int32_t *bias,
                             const mcuq_dims *output_dims,
                             int8_t *output)
{
    /* Everything the loops read, as locals: the stores through int8_t *output may alias any object,
     * so fields read through the pointers would be loaded again after every output byte. */
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t dil_h = params->dilation.h, dil_w = params->dilation.w;
    const int32_t stride_h = params->stride.h, stride_w = params->stride.w;
    const int32_t pad_top = params->padding.top, pad_left = params->padding.left;
    const int32_t out_stride = params->output_pixel_stride;
    const int32_t ch_mult = params->ch_mult;
    const int32_t input_offset = params->input_offset, output_offset = params->output_offset;
    const int32_t act_min = params->activation.min, act_max = params->activation.max;
    const int32_t *const multiplier = quant->multiplier, *const shift = quant->shift;
    const int32_t tap_step = dil_w * in_c;       /* input bytes from one kernel column to the next */
    const int32_t row_step = dil_h * in_w * in_c; /* ... and from one kernel row to the next */
    int32_t batch, out_y, out_x, ky, kx, c, m;

    for (batch = 0; batch < input_dims->n; batch++)
    {
        const int8_t *const in_batch = input + (size_t)batch * in_h * in_w * in_c;
        for (out_y = 0; out_y < out_h; out_y++)
        {
            const int32_t base_y = out_y * stride_h - pad_top;
            int32_t ky0, ky1;
            mcuq_window_tap_range(base_y, dil_h, k_h, in_h, &ky0, &ky1);
            for (out_x = 0; out_x < out_w; out_x++)
            {
                const int32_t base_x = out_x * stride_w - pad_left;
                int8_t *out_pixel = output + (((size_t)batch * out_h + out_y) * out_w + out_x) * out_stride;
                const int8_t *in_first; /* the clipped window's top-left tap, channel 0 */
                const int8_t *f_first;  /* its filter tap, output channel 0 */
                int32_t kx0, kx1, border;
                mcuq_window_tap_range(base_x, dil_w, k_w, in_w, &kx0, &kx1);
                border = ky0 > 0 || ky1 < k_h || kx0 > 0 || kx1 < k_w;
                in_first = in_batch + ((size_t)(base_y + ky0 * dil_h) * in_w + (base_x + kx0 * dil_w)) * in_c;
                f_first = filter + ((size_t)ky0 * k_w + kx0) * out_c;

                for (c = 0; c < in_c; c++)
                {
                    for (m = 0; m < ch_mult; m++)
                    {
                        const int32_t oc = c * ch_mult + m;
                        const int8_t *in_row = in_first + c;
                        const int8_t *f_row = f_first + oc;
                        int32_t acc = bias != NULL ? bias[oc] : 0;
                        for (ky = ky0; ky < ky1; ky++)
                        {
                            const int8_t *in_tap = in_row;
                            const int8_t *f_tap = f_row;
                            for (kx = kx0; kx < kx1; kx++)
                            {
                                acc += (int32_t)*in_tap * (int32_t)*f_tap;
                                in_tap += tap_step;
                                f_tap += out_c;
                            }
                            in_row += row_step;
                            f_row += (size_t)k_w * out_c;
                        }
                        if (border)
                        {
                            /* The taps in the padding hold the zero point, -input_offset. */
                            int32_t padded_filter_sum = 0;
                            for (ky = 0; ky < k_h; ky++)
                            {
                                const int8_t *f_tap = filter + (size_t)ky * k_w * out_c + oc;
                                for (kx = 0; kx < k_w; kx++)
                                {
                                    if (ky < ky0 || ky >= ky1 || kx < kx0 || kx >= kx1)
                                    {
                                        padded_filter_sum += *f_tap;
                                    }
                                    f_tap += out_c;
                                }
                            }
                            acc -= input_offset * padded_filter_sum;
                        }
                        acc = mcuq_requantize_fast(acc, multiplier[oc], shift[oc]) + output_offset;
                        out_pixel[oc] = (int8_t)mcuq_clamp_s32(acc, act_min, act_max);
                    }
                }
            }
        }
    }
}

#if defined(MCUQ_HAVE_DSP) || defined(MCUQ_PATH_MVE)
#if defined(__GNUC__)
#define MCUQ_DW_INLINE static inline __attribute__((always_inline))
#else
#define MCUQ_DW_INLINE static inline
#endif

/* Ring of padded input rows: slot s holds a padded row r with r % MCUQ_DW_SLOTS == s, channel major
 * (byte c * wp + col, wp = padding.left + in_w + padding.right). A band of 2 output rows (stride 1)
 * reads 4 rows; one output row (other strides) reads 3. */
#define MCUQ_DW_SLOTS 4

/* Per-channel requantization of the fast paths. For 2 <= n = -shift <= 23 (the usual case) the
 * output offset is folded into the rounding constant of mcuq_requantize_rshift: with
 *   hi = 2^(n-2) + off * 2^(n-1) + (v < 0 ? -1 : 0),  lo = (v & 2^31) | 2^30,
 * ((hi:lo) + v * mult) >> 32 >> (n - 1) = mcuq_requantize(v, mult, shift) + off (adding a multiple
 * of 2^(n-1) before an arithmetic shift by n - 1 adds its quotient exactly; |hi| stays below 2^31
 * since |v * mult| < 2^62 and |off| <= 128, n <= 23). Other shifts take mcuq_requantize_fast. */
typedef struct
{
    int32_t mult, shift, hbias, nm1, off, lo, hi;
} mcuq_dw_requant;

static inline int mcuq_dw_folded_shift(int32_t shift) { return shift <= -2 && shift >= -23; }

static inline void mcuq_dw_requant_init(mcuq_dw_requant *q, int32_t mult, int32_t shift,
                                        const mcuq_dw_conv_params *params)
{
    q->mult = mult;
    q->shift = shift;
    q->off = params->output_offset;
    q->lo = params->activation.min;
    q->hi = params->activation.max;
    if (mcuq_dw_folded_shift(shift))
    {
        const int32_t n = -shift;
        q->nm1 = n - 1;
        q->hbias = (int32_t)(1u << (n - 2)) + (int32_t)((uint32_t)q->off << (n - 1));
    }
    else
    {
        q->nm1 = 0;
        q->hbias = 0;
    }
}

static inline int mcuq_dw_mode(const mcuq_dw_requant *q)
{
    if (!mcuq_dw_folded_shift(q->shift))
    {
        return 2;
    }
    return q->lo == -128 && q->hi == 127 ? 0 : 1;
}
#endif

#if defined(MCUQ_HAVE_DSP)
#if !defined(MCUQ_PATH_MVE)
/* Copy input row in_row (or the zero point, for a padding row) into a ring slot, channel major:
 * slot[c * wp + pad_left + x] = input(in_row, x, c). The padding columns were filled with the zero
 * point once and are never written. */
static void mcuq_dw_fill_row(int8_t *slot, const int8_t *in_batch, int32_t in_row, const mcuq_dims *input_dims,
                             int32_t pad_left, int32_t wp, int8_t zero_point)
{
    const int32_t in_w = input_dims->w, in_c = input_dims->c;
    int32_t x, c;
    if (in_row < 0 || in_row >= input_dims->h)
    {
        for (c = 0; c < in_c; c++)
        {
            for (x = 0; x < in_w; x++)
            {
                slot[(size_t)c * wp + pad_left + x] = zero_point;
            }
        }
        return;
    }
    for (x = 0; x < in_w; x++)
    {
        const int8_t *px = in_batch + ((size_t)in_row * in_w + x) * in_c;
        int8_t *dst = slot + pad_left + x;
        for (c = 0; c + 3 < in_c; c += 4)
        {
            const uint32_t v = (uint32_t)mcuq_read_s8x4(px + c);
            dst[0] = (int8_t)v;
            dst[wp] = (int8_t)(v >> 8);
            dst[2 * wp] = (int8_t)(v >> 16);
            dst[3 * wp] = (int8_t)(v >> 24);
            dst += 4 * wp;
        }
        for (; c < in_c; c++)
        {
            *dst = px[c];
            dst += wp;
        }
    }
}

#endif /* the MVE path has its own fill */

/* Two int8 weights as the int16 lanes (lo, hi) of one word. */
static inline int32_t mcuq_dw_pack(int8_t lo, int8_t hi)
{
    return (int32_t)(((uint32_t)(uint16_t)(int16_t)lo) | ((uint32_t)(uint16_t)(int16_t)hi << 16));
}

#define MCUQ_DW_CHUNK 16 /* output pixels of a row per pass (even) */

/* A band of output rows for the DSP path: where its input rows are, and its geometry. */
typedef struct
{
    const int8_t *top[2]; /* per output row of the band: its top padded row (channel 0, column 0) */
    int32_t d1[2], d2[2]; /* the next two padded rows, relative to top */
    int32_t rows, stride_w;
} mcuq_dw_band;

/* Accumulators of n output pixels of each row of the band, for channels c0 .. c0 + n_ch - 1, into
 * acc[channel][row][n]. At stride 1, n_acc = n rounded up to even are computed: the extra one reads
 * at most the row's padding and the next row, in the scratch, and the next run overwrites it (acc has
 * room for one more). off: the offset of the first pixel's
 * window in a padded row, for channel 0. At stride 1 the word of columns (x, x+1, x+2, x+3) of a
 * padded row gives two output pixels: e = (x, x+2) takes the outer taps of x (w02 = (w[k][0],
 * w[k][2]), SMLAD), o = (x+1, x+3) those of x + 1; the middle taps take one half of w1_01 =
 * (w[0][1], w[1][1]) or of w1_2 = w[2][1]. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void mcuq_dw_dsp_acc(const mcuq_dw_band *band, const int8_t *filter, const int32_t *bias, int32_t c0,
                            int32_t n_ch, int32_t in_c, int32_t wp, int32_t off, int32_t n, int32_t n_acc,
                            int32_t *acc)
{
    const int32_t stride_w = band->stride_w, rows = band->rows;
    int32_t c, j;
    for (c = c0; c < c0 + n_ch; c++)
    {
        const int8_t *f = filter + c;
        const int32_t w02_0 = mcuq_dw_pack(f[0], f[2 * in_c]);
        const int32_t w02_1 = mcuq_dw_pack(f[3 * in_c], f[5 * in_c]);
        const int32_t w02_2 = mcuq_dw_pack(f[6 * in_c], f[8 * in_c]);
        const int32_t w1_01 = mcuq_dw_pack(f[in_c], f[4 * in_c]);
        const int32_t w1_2 = f[7 * in_c];
        const int32_t b = bias != NULL ? bias[c] : 0;
        for (j = 0; j < rows; j++)
        {
            const int8_t *p = band->top[j] + c * wp + off;
            const int32_t d1 = band->d1[j], d2 = band->d2[j];
            int32_t *const end = acc + n_acc;
            int32_t *const next = acc + n;
            int32_t v, e, o, a0, a1;
            if (stride_w == 1)
            {
                while (acc != end)
                {
                    v = mcuq_read_s8x4(p);
                    e = mcuq_sxtb16(v);
                    o = mcuq_sxtb16_ror8(v);
                    a0 = mcuq_smlad(e, w02_0, b);
                    a0 = mcuq_smlabb(o, w1_01, a0);
                    a1 = mcuq_smlad(o, w02_0, b);
                    a1 = mcuq_smlatb(e, w1_01, a1);
                    v = mcuq_read_s8x4(p + d1);
                    e = mcuq_sxtb16(v);
                    o = mcuq_sxtb16_ror8(v);
                    a0 = mcuq_smlad(e, w02_1, a0);
                    a0 = mcuq_smlabt(o, w1_01, a0);
                    a1 = mcuq_smlad(o, w02_1, a1);
                    a1 = mcuq_smlatt(e, w1_01, a1);
                    v = mcuq_read_s8x4(p + d2);
                    e = mcuq_sxtb16(v);
                    o = mcuq_sxtb16_ror8(v);
                    a0 = mcuq_smlad(e, w02_2, a0);
                    a0 = mcuq_smlabb(o, w1_2, a0);
                    a1 = mcuq_smlad(o, w02_2, a1);
                    a1 = mcuq_smlatb(e, w1_2, a1);
                    acc[0] = a0;
                    acc[1] = a1;
                    acc += 2;
                    p += 2;
                }
            }
            else
            {
                (void)n;
                while (acc != end)
                {
                    v = mcuq_read_s8x4(p);
                    a0 = mcuq_smlad(mcuq_sxtb16(v), w02_0, b);
                    a0 = mcuq_smlabb(mcuq_sxtb16_ror8(v), w1_01, a0);
                    v = mcuq_read_s8x4(p + d1);
                    a0 = mcuq_smlad(mcuq_sxtb16(v), w02_1, a0);
                    a0 = mcuq_smlabt(mcuq_sxtb16_ror8(v), w1_01, a0);
                    v = mcuq_read_s8x4(p + d2);
                    a0 = mcuq_smlad(mcuq_sxtb16(v), w02_2, a0);
                    a0 = mcuq_smlabb(mcuq_sxtb16_ror8(v), w1_2, a0);
                    *acc++ = a0;
                    p += stride_w;
                }
            }
            acc = next; /* the next run overwrites the extra accumulator */
        }
    }
}

/* Requantize n accumulators into output pixels os bytes apart. mode 0: folded shift, no clamp beyond
 * int8; 1: folded shift and the activation clamp; 2: any shift. */
MCUQ_DW_INLINE void mcuq_dw_dsp_store_mode(const int32_t *acc, int32_t n, int8_t *out, int32_t os,
                                           const mcuq_dw_requant *q, const int mode)
{
    const int32_t *const end = acc + n;
    const int32_t mult = q->mult, shift = q->shift, hbias = q->hbias, nm1 = q->nm1, off = q->off;
    const int32_t lo = q->lo, hi = q->hi;
    while (acc != end)
    {
        const int32_t v = *acc++;
        int32_t r;
        if (mode == 2)
        {
            r = mcuq_clamp_s32(mcuq_requantize_fast(v, mult, shift) + off, lo, hi);
        }
        else
        {
            const uint32_t l = ((uint32_t)v & 0x80000000u) | 0x40000000u;
            const int32_t h = hbias + (v >> 31);
            const int64_t a = (int64_t)(((uint64_t)(uint32_t)h << 32) | l) + (int64_t)v * (int64_t)mult;
            r = (int32_t)(a >> 32) >> nm1;
            r = mode == 0 ? mcuq_ssat8(r) : mcuq_clamp_s32(r, lo, hi);
        }
        *out = (int8_t)r;
        out += os;
    }
}

/* Requantize the accumulators of mcuq_dw_dsp_acc: per channel, `rows` runs of n into output rows
 * row_step bytes apart (one run of rows * n when the rows are whole: row_step == n * os). out: channel
 * c0 of the band's first pixel. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void mcuq_dw_dsp_store(const int32_t *acc, int32_t c0, int32_t n_ch, int32_t rows, int32_t n, int8_t *out,
                              int32_t row_step, int32_t os, const mcuq_per_channel_quant *quant,
                              const mcuq_dw_conv_params *params)
{
    const int32_t runs = row_step == n * os ? 1 : rows;
    const int32_t run = rows * n / runs;
    int32_t c, j;
    for (c = c0; c < c0 + n_ch; c++)
    {
        mcuq_dw_requant q;
        int8_t *o = out;
        int mode;
        mcuq_dw_requant_init(&q, quant->multiplier[c], quant->shift[c], params);
        mode = mcuq_dw_mode(&q);
        for (j = 0; j < runs; j++)
        {
            if (mode == 0)
            {
                mcuq_dw_dsp_store_mode(acc, run, o, os, &q, 0);
            }
            else if (mode == 1)
            {
                mcuq_dw_dsp_store_mode(acc, run, o, os, &q, 1);
            }
            else
            {
                mcuq_dw_dsp_store_mode(acc, run, o, os, &q, 2);
            }
            acc += run;
            o += row_step;
        }
        out++;
    }
}

#define MCUQ_DW_ACC 96 /* accumulators on the stack: channels x rows x pixels of one pass */

/* The output rows y .. y + rows - 1 of the band, every channel; top[k]: the slot of the band's padded
 * row k. Per chunk of pixels and of channels: the accumulators of every row of the band, then their
 * requantization. */
static void mcuq_dw_dsp_band(const int8_t *const top[MCUQ_DW_SLOTS], int32_t rows, int32_t stride_h, int32_t stride_w,
                             int32_t wp, int32_t in_c, const int8_t *filter, const int32_t *bias,
                             const mcuq_per_channel_quant *quant, const mcuq_dw_conv_params *params,
                             int8_t *out_band, int32_t out_w, int32_t os)
{
    int32_t acc[MCUQ_DW_ACC];
    mcuq_dw_band band;
    int32_t c, j, x0;
    for (j = 0; j < rows; j++)
    {
        const int8_t *t = top[j * stride_h];
        band.top[j] = t;
        band.d1[j] = (int32_t)(top[j * stride_h + 1] - t);
        band.d2[j] = (int32_t)(top[j * stride_h + 2] - t);
    }
    band.rows = rows;
    band.stride_w = stride_w;
    for (x0 = 0; x0 < out_w; x0 += MCUQ_DW_CHUNK)
    {
        const int32_t n = out_w - x0 < MCUQ_DW_CHUNK ? out_w - x0 : MCUQ_DW_CHUNK;
        const int32_t n_acc = stride_w == 1 ? (n + 1) & ~1 : n;
        const int32_t per_pass = (MCUQ_DW_ACC - 1) / (rows * n); /* >= 2: rows <= 2, n <= 16 */
        for (c = 0; c < in_c; c += per_pass)
        {
            const int32_t n_ch = in_c - c < per_pass ? in_c - c : per_pass;
            mcuq_dw_dsp_acc(&band, filter, bias, c, n_ch, in_c, wp, x0 * stride_w, n, n_acc, acc);
            mcuq_dw_dsp_store(acc, c, n_ch, rows, n, out_band + (size_t)x0 * os + c, out_w * os, os, quant, params);
        }
    }
}
#endif /* MCUQ_HAVE_DSP */

#if defined(MCUQ_PATH_MVE)
/* The MVE fill: 16 channels of one pixel per load, scattered to their channel rows (byte offsets up to
 * 15 * wp fit the 8-bit offsets when wp <= 17; 4 channels per store otherwise). */
static void mcuq_dw_fill_row(int8_t *slot, const int8_t *in_batch, int32_t in_row, const mcuq_dims *input_dims,
                             int32_t pad_left, int32_t wp, int8_t zero_point)
{
    const int32_t in_w = input_dims->w, in_c = input_dims->c;
    const int valid = in_row >= 0 && in_row < input_dims->h;
    int32_t x, c;
    if (wp <= 17)
    {
        const uint8x16_t offsets = vmulq_n_u8(vidupq_n_u8(0, 1), (uint8_t)wp);
        const uint8x16_t zp = vdupq_n_u8((uint8_t)zero_point);
        for (x = 0; x < in_w; x++)
        {
            const uint8_t *px = (const uint8_t *)in_batch + ((size_t)(valid ? in_row : 0) * in_w + x) * in_c;
            uint8_t *dst = (uint8_t *)slot + pad_left + x;
            for (c = 0; c < in_c; c += 16)
            {
                const mve_pred16_t pred = vctp8q((uint32_t)(in_c - c));
                const uint8x16_t v = valid ? vldrbq_z_u8(px + c, pred) : zp;
                vstrbq_scatter_offset_p_u8(dst + (size_t)c * wp, offsets, v, pred);
            }
        }
    }
    else
    {
        const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)wp);
        const uint32x4_t zp = vdupq_n_u32((uint32_t)(uint8_t)zero_point);
        for (x = 0; x < in_w; x++)
        {
            const uint8_t *px = (const uint8_t *)in_batch + ((size_t)(valid ? in_row : 0) * in_w + x) * in_c;
            uint8_t *dst = (uint8_t *)slot + pad_left + x;
            for (c = 0; c < in_c; c += 4)
            {
                const mve_pred16_t pred = vctp32q((uint32_t)(in_c - c));
                const uint32x4_t v = valid ? vldrbq_z_u32(px + c, pred) : zp;
                vstrbq_scatter_offset_p_u32(dst + (size_t)c * wp, offsets, v, pred);
            }
        }
    }
}

/* One channel of a band of 1 or 2 output rows (stride 1); lanes = the 2 x 2 output pixels
 * (y, x), (y, x+1), (y+1, x), (y+1, x+1): tap (ky, kx) is one byte gather from p + kx at
 * offsets[ky]; the weight is the scalar of VMLA. mode 0: right shift, no clamp beyond int8; 1: right
 * shift and the activation clamp; 2: any shift and clamp. */
MCUQ_DW_INLINE void mcuq_dw_mve_channel_mode(const int8_t *p, const uint32x4_t *offsets, const int8_t *f, int32_t in_c,
                                             const int32_t *b_mult_shift, const mcuq_dw_conv_params *params,
                                             int8_t *out, uint32x4_t out_offsets, int32_t out_w, int32_t os,
                                             mve_pred16_t rows_pred, const int mode)
{
    const int32_t w00 = f[0], w01 = f[in_c], w02 = f[2 * in_c];
    const int32_t w10 = f[3 * in_c], w11 = f[4 * in_c], w12 = f[5 * in_c];
    const int32_t w20 = f[6 * in_c], w21 = f[7 * in_c], w22 = f[8 * in_c];
    const int32x4_t b = vdupq_n_s32(b_mult_shift[0]);
    const int32_t mult = b_mult_shift[1], shift = b_mult_shift[2];
    const int32_t off = params->output_offset, lo = params->activation.min, hi = params->activation.max;
    const uint32x4_t o0 = offsets[0], o1 = offsets[1], o2 = offsets[2];
    const int8_t *const end = p + ((out_w + 1) & ~1);
    while (p != end)
    {
        /* The last pair of an odd row has only its first column. */
        const mve_pred16_t pred = p + 2 != end || (out_w & 1) == 0 ? rows_pred : (mve_pred16_t)(rows_pred & 0x0F0Fu);
        int32x4_t acc = vmlaq_n_s32(b, vldrbq_gather_offset_s32(p, o0), w00);
        acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(p + 1, o0), w01);
        acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(p + 2, o0), w02);
        acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(p, o1), w10);
        acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(p + 1, o1), w11);
        acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(p + 2, o1), w12);
        acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(p, o2), w20);
        acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(p + 1, o2), w21);
        acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(p + 2, o2), w22);
        /* mcuq_requantize_mve with one multiplier and shift for the 4 lanes, then offset and clamp. */
        if (mode != 2)
        {
            acc = vqrdmulhq_n_s32(acc, mult);
            acc = vqaddq_s32(acc, vshrq_n_s32(acc, 31)); /* -1 on negative lanes: round half away from zero */
            acc = vrshlq_n_s32(acc, shift);
        }
        else
        {
            acc = vqrdmulhq_n_s32(vshlq_r_s32(acc, shift), mult);
        }
        acc = vaddq_n_s32(acc, off);
        if (mode == 0)
        {
            acc = vshrq_n_s32(vqshlq_n_s32(acc, 24), 24); /* saturate to [-128, 127] */
        }
        else
        {
            acc = vminq_s32(vmaxq_s32(acc, vdupq_n_s32(lo)), vdupq_n_s32(hi));
        }
        vstrbq_scatter_offset_p_s32(out, out_offsets, acc, pred);
        p += 2;
        out += 2 * os;
    }
}

/* mcuq_dw_mve_channel_mode for the channel's mode (not inlined: its loop needs every register). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void mcuq_dw_mve_channel(const int8_t *p, const uint32x4_t *offsets, const int8_t *f, int32_t in_c,
                                const int32_t *b_mult_shift, const mcuq_dw_conv_params *params, int8_t *out,
                                uint32x4_t out_offsets, int32_t out_w, int32_t os, mve_pred16_t rows_pred)
{
    if (b_mult_shift[2] >= 0)
    {
        mcuq_dw_mve_channel_mode(p, offsets, f, in_c, b_mult_shift, params, out, out_offsets, out_w, os, rows_pred, 2);
    }
    else if (params->activation.min == -128 && params->activation.max == 127)
    {
        mcuq_dw_mve_channel_mode(p, offsets, f, in_c, b_mult_shift, params, out, out_offsets, out_w, os, rows_pred, 0);
    }
    else
    {
        mcuq_dw_mve_channel_mode(p, offsets, f, in_c, b_mult_shift, params, out, out_offsets, out_w, os, rows_pred, 1);
    }
}

static void mcuq_dw_mve_band(const int8_t *scratch, const int8_t *const top[MCUQ_DW_SLOTS], int32_t rows, int32_t wp,
                             int32_t in_c,
                             const int8_t *filter, const int32_t *bias, const mcuq_per_channel_quant *quant,
                             const mcuq_dw_conv_params *params, int8_t *out_band, int32_t out_w, int32_t os)
{
    uint32x4_t offsets[3];
    uint32_t lanes[4];
    int32_t k, c;
    /* Row ky of output row y and of y + 1 (for a band of one row, read but not stored). */
    for (k = 0; k < 3; k++)
    {
        const uint32_t a = (uint32_t)(top[k] - scratch);
        const uint32_t b = (uint32_t)(top[k + 1] - scratch);
        lanes[0] = a;
        lanes[1] = a + 1u;
        lanes[2] = b;
        lanes[3] = b + 1u;
        offsets[k] = vldrwq_u32(lanes);
    }
    lanes[0] = 0u;
    lanes[1] = (uint32_t)os;
    lanes[2] = (uint32_t)(out_w * os);
    lanes[3] = (uint32_t)(out_w * os + os);
    {
        const uint32x4_t out_offsets = vldrwq_u32(lanes);
        const mve_pred16_t rows_pred = rows == 2 ? (mve_pred16_t)0xFFFFu : (mve_pred16_t)0x00FFu;
        for (c = 0; c < in_c; c++)
        {
            int32_t b_mult_shift[3];
            b_mult_shift[0] = bias != NULL ? bias[c] : 0;
            b_mult_shift[1] = quant->multiplier[c];
            b_mult_shift[2] = quant->shift[c];
            mcuq_dw_mve_channel(scratch + (size_t)c * wp, offsets, filter + c, in_c, b_mult_shift, params, out_band + c,
                                out_offsets, out_w, os, rows_pred);
        }
    }
}
#endif /* MCUQ_PATH_MVE */

#if defined(MCUQ_HAVE_DSP) || defined(MCUQ_PATH_MVE)
/* The fast paths' driver: bands of output rows (2 at stride 1, else 1), their input rows copied into
 * the ring first (see the top of the file for why that keeps the in-place contract). */
static void mcuq_dw_3x3(const mcuq_context *ctx,
                        const mcuq_dw_conv_params *params,
                        const mcuq_per_channel_quant *quant,
                        const mcuq_dims *input_dims,
                        const int8_t *input,
                        const int8_t *filter,
                        const int32_t *bias,
                        const mcuq_dims *output_dims,
                        int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t stride_h = params->stride.h;
    const int32_t pad_top = params->padding.top, pad_left = params->padding.left;
    const int32_t wp = pad_left + in_w + params->padding.right;
    const int32_t slot_bytes = in_c * wp;
    const int32_t os = params->output_pixel_stride;
    const int32_t band = stride_h == 1 ? 2 : 1;
    const int8_t zero_point = (int8_t)(-params->input_offset);
    int8_t *const scratch = (int8_t *)ctx->buf;
    int32_t batch, y, k;

    for (batch = 0; batch < input_dims->n; batch++)
    {
        const int8_t *const in_batch = input + (size_t)batch * in_h * in_w * in_c;
        int32_t slot_row[MCUQ_DW_SLOTS] = {-1, -1, -1, -1}; /* the padded row each slot holds */
        if (batch == 0)
        {
            /* The padding columns hold the zero point for good (no libc memset: newlib-nano's is a
             * byte loop, and these are few bytes). */
            for (k = 0; k < MCUQ_DW_SLOTS * in_c; k++)
            {
                int8_t *row = scratch + (size_t)k * wp;
                int32_t col;
                for (col = 0; col < pad_left; col++)
                {
                    row[col] = zero_point;
                }
                for (col = pad_left + in_w; col < wp; col++)
                {
                    row[col] = zero_point;
                }
            }
        }
        for (y = 0; y < out_h; y += band)
        {
            const int32_t rows = out_h - y < band ? out_h - y : band;
            const int32_t first = y * stride_h; /* first padded row of the band */
            const int32_t n_rows = (rows - 1) * stride_h + 3;
            const int8_t *top[MCUQ_DW_SLOTS];
            int8_t *out_band = output + ((size_t)batch * out_h + y) * out_w * os;
            for (k = 0; k < n_rows; k++)
            {
                const int32_t r = first + k;
                const int32_t slot = r % MCUQ_DW_SLOTS;
                if (slot_row[slot] != r)
                {
                    mcuq_dw_fill_row(scratch + (size_t)slot * slot_bytes, in_batch, r - pad_top, input_dims, pad_left,
                                     wp, zero_point);
                    slot_row[slot] = r;
                }
                top[k] = scratch + (size_t)slot * slot_bytes;
            }
            for (; k < MCUQ_DW_SLOTS; k++)
            {
                top[k] = top[k - 1];
            }
#if defined(MCUQ_PATH_MVE)
            if (params->stride.h == 1 && params->stride.w == 1)
            {
                mcuq_dw_mve_band(scratch, top, rows, wp, in_c, filter, bias, quant, params, out_band, out_w, os);
                continue;
            }
#endif
#if defined(MCUQ_HAVE_DSP)
            mcuq_dw_dsp_band(top, rows, stride_h, params->stride.w, wp, in_c, filter, bias, quant, params, out_band,
                             out_w, os);
#endif
        }
    }
}
#endif

MCUQ_API mcuq_status mcuq_depthwise_conv_s8(const mcuq_context *ctx,
                                            const mcuq_dw_conv_params *params,
                                            const mcuq_per_channel_quant *quant,
                                            const mcuq_dims *input_dims,
                                            const int8_t *input,
                                            const mcuq_dims *filter_dims,
                                            const int8_t *filter,
                                            const int32_t *bias,
                                            const mcuq_dims *output_dims,
                                            int8_t *output)
{
    (void)ctx; /* only the fast paths use scratch */
    if (params == NULL || quant == NULL || input_dims == NULL || input == NULL || filter_dims == NULL ||
        filter == NULL || output_dims == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (params->input_offset < -127 || params->input_offset > 128 || params->ch_mult < 1 || !mcuq_activation_ok(&params->activation) || mcuq_dims_size(filter_dims) < 0 ||
        output_dims->c != input_dims->c * params->ch_mult || filter_dims->c != output_dims->c ||
        params->output_pixel_stride < output_dims->c ||
        !mcuq_conv_window_ok(&params->stride, &params->dilation, &params->padding, input_dims, filter_dims->h,
                             filter_dims->w, output_dims))
    {
        return MCUQ_ARG_ERROR;
    }

#if defined(MCUQ_HAVE_DSP) || defined(MCUQ_PATH_MVE)
    {
        const int32_t need = mcuq_depthwise_conv_s8_get_buffer_size(input_dims, filter_dims);
        if (need > 0 && params->ch_mult == 1 && params->dilation.h == 1 && params->dilation.w == 1 &&
            params->padding.left <= 1 && params->padding.right <= 1 && ctx != NULL && ctx->buf != NULL &&
            ctx->size >= need && output_dims->h > 0 && output_dims->w > 0
#if !defined(MCUQ_HAVE_DSP)
            && params->stride.h == 1 && params->stride.w == 1 /* the MVE path alone */
#endif
        )
        {
            mcuq_dw_3x3(ctx, params, quant, input_dims, input, filter, bias, output_dims, output);
            return MCUQ_OK;
        }
    }
#endif
    mcuq_dw_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
    return MCUQ_OK;
}
