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
 * Fast paths, for 3x3 filters with ch_mult 1, dilation 1 and at most 1 row or column of padding per
 * side (DS-CNN, MobileNet), given the scratch buffer: channel by channel, the whole input channel is
 * copied into a plane in scratch with a border holding the zero point, so that every output pixel is
 * computed the same way, and the channel's weights and requantization constants are set up once:
 *   DSP (Cortex-M4, M7, M33; M55 for strides other than 1): row-major planes, 4 channels per copy
 *     (one word load gives 4 channels of a pixel). One word of a plane row gives the columns
 *     (x, x+1, x+2, x+3), SXTB16 gives (x, x+2) and (x+1, x+3): SMLAD takes the outer taps of one
 *     kernel row, SMLABB/SMLATB/... the middle one, and a stride-1 row computes two output pixels from
 *     the same word. Accumulators of a few rows first, then their requantization, which folds the
 *     output offset into the rounding constant.
 *   MVE (Cortex-M55, stride 1): a column-major plane (columns 32 bytes apart when they fit, so that
 *     the 9 taps are immediate offsets from one register); lanes = 4 consecutive output rows of one
 *     column: each tap is one VLDRB.S32 and one VMLA by the scalar weight; requantization on the 4
 *     lanes, a scatter store.
 * In place: a fast path reads all of a group of channels (every pixel) before writing those channels'
 * outputs, and never reads them again. That is safe when the output does not overlap the input, or
 * starts a whole number of input pixels before it (output channel c then lands on input channel c,
 * read already); mcuq/plan/inplace.py's shifts for ch_mult 1 are such (first(p) - p * C is a multiple
 * of C, and the planner rounds it to 4 bytes, a multiple of C when C % 4 == 0). The kernel checks the
 * pointers and takes the portable loop for any other overlap.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

/* The fast paths' planes: room for one channel with at most one row or column of padding a side,
 * (in_h + 2) x (in_w + 2) bytes, its columns at least 32 bytes apart (see mcuq_dw_geom.cs). */
static int32_t mcuq_dw_plane_bytes(const mcuq_dims *input_dims)
{
    return (input_dims->h + 2 > 32 ? input_dims->h + 2 : 32) * (input_dims->w + 2);
}

/* Planes the fast paths can use: 4 (four channels per copy) when the channels come in fours and a plane
 * is at most 1 KiB, else 1; 0 where no fast path applies. */
static int32_t mcuq_dw_max_planes(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    if (input_dims == NULL || filter_dims == NULL || filter_dims->h != 3 || filter_dims->w != 3 ||
        filter_dims->c != input_dims->c || input_dims->c < 1 || input_dims->h < 1 || input_dims->w < 1 ||
        (int64_t)(input_dims->h + 34) * (input_dims->w + 2) > (MCUQ_Q31_MAX - 8) / 4)
    {
        return 0;
    }
    return input_dims->c % 4 == 0 && mcuq_dw_plane_bytes(input_dims) <= 1024 ? 4 : 1;
}

static int32_t mcuq_dw_scratch_bytes(const mcuq_dims *input_dims, int32_t planes)
{
    return planes == 0 ? 0 : (planes * mcuq_dw_plane_bytes(input_dims) + 4 + 3) / 4 * 4;
}

/* Scratch of the fast paths (the same on every core, as the planner sizes the arena for any): one plane
 * and 4 bytes of slack for the loads past a plane's end; 0 where no fast path applies (the portable
 * path needs none). mcuq.golden.scratch_bytes computes the same. */
MCUQ_API int32_t mcuq_depthwise_conv_s8_get_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    return mcuq_dw_scratch_bytes(input_dims, mcuq_dw_max_planes(input_dims, filter_dims) > 0 ? 1 : 0);
}

/* Scratch with which the DSP path copies four channels at a time (4 planes), where that applies; the
 * code generator gives it where it does not enlarge the arena (mcuq.golden.roomy_scratch_bytes). */
MCUQ_API int32_t mcuq_depthwise_conv_s8_get_roomy_buffer_size(const mcuq_dims *input_dims,
                                                              const mcuq_dims *filter_dims)
{
    return mcuq_dw_scratch_bytes(input_dims, mcuq_dw_max_planes(input_dims, filter_dims));
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
                            /* The taps in the padding hold the zero point, -input_offset: whole kernel
                             * rows above and below the clipped window, and the columns beside it. */
                            int32_t padded_filter_sum = 0;
                            for (ky = 0; ky < k_h; ky++)
                            {
                                const int8_t *const f_taps = filter + (size_t)ky * k_w * out_c + oc;
                                if (ky < ky0 || ky >= ky1)
                                {
                                    for (kx = 0; kx < k_w; kx++)
                                    {
                                        padded_filter_sum += f_taps[(size_t)kx * out_c];
                                    }
                                }
                                else
                                {
                                    /* (kx0 may exceed k_w when the whole window lies left of the input) */
                                    for (kx = 0; kx < kx0 && kx < k_w; kx++)
                                    {
                                        padded_filter_sum += f_taps[(size_t)kx * out_c];
                                    }
                                    for (kx = kx1; kx < k_w; kx++)
                                    {
                                        padded_filter_sum += f_taps[(size_t)kx * out_c];
                                    }
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
#define MCUQ_DW_NOINLINE __attribute__((noinline))
#else
#define MCUQ_DW_INLINE static inline
#define MCUQ_DW_NOINLINE
#endif

/* The fast paths' scratch: planes of (pad_top + in_h + pad_bottom) x (pad_left + in_w + pad_right)
 * bytes, one input channel each, its padding holding the zero point. */
typedef struct
{
    int32_t hp, wp, plane_bytes, planes; /* padded rows, columns; bytes per plane; planes */
    int32_t cs; /* MVE: bytes per column of the column-major plane (32 when they fit: one base register) */
    int32_t pad_top, pad_left;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, stride_h, stride_w, os;
} mcuq_dw_geom;

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
/* Two int8 weights as the int16 lanes (lo, hi) of one word. */
static inline int32_t mcuq_dw_pack(int8_t lo, int8_t hi)
{
    return (int32_t)(((uint32_t)(uint16_t)(int16_t)lo) | ((uint32_t)(uint16_t)(int16_t)hi << 16));
}

/* Copy input channels c .. c + g->planes - 1 into the planes, row major: plane k byte
 * (pad_top + y) * wp + pad_left + x = input(y, x, c + k). Four channels per word load when there are
 * four planes. */
static void mcuq_dw_dsp_fill(int8_t *scratch, const int8_t *in_batch, int32_t c, const mcuq_dw_geom *g)
{
    const int32_t in_w = g->in_w, in_c = g->in_c, wp = g->wp, pb = g->plane_bytes;
    int32_t y, x;
    for (y = 0; y < g->in_h; y++)
    {
        const int8_t *src = in_batch + (size_t)y * in_w * in_c + c;
        int8_t *dst = scratch + (size_t)(g->pad_top + y) * wp + g->pad_left;
        if (g->planes == 4)
        {
            for (x = 0; x < in_w; x++)
            {
                const uint32_t v = (uint32_t)mcuq_read_s8x4(src);
                dst[0] = (int8_t)v;
                dst[pb] = (int8_t)(v >> 8);
                dst[2 * pb] = (int8_t)(v >> 16);
                dst[3 * pb] = (int8_t)(v >> 24);
                dst++;
                src += in_c;
            }
        }
        else
        {
            for (x = 0; x < in_w; x++)
            {
                dst[x] = *src;
                src += in_c;
            }
        }
    }
}

/* Requantize n accumulators into output pixels os bytes apart. mode 0: folded shift, no clamp beyond
 * int8; 1: folded shift and the activation clamp; 2: any shift. */
MCUQ_DW_INLINE void mcuq_dw_dsp_store(const int32_t *acc, int32_t n, int8_t *out, int32_t os, const mcuq_dw_requant *q,
                                      const int mode)
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

#define MCUQ_DW_ACC 32 /* accumulators on the stack: one pass of rows x pixels */

/* Accumulators of `rows` output rows of n pixels of one channel (rows in_step bytes apart in the plane,
 * p: the first row's first pixel's window), n apart in acc. At stride 1 the word of columns
 * (x, x+1, x+2, x+3) of a padded row gives two output pixels: e = (x, x+2) takes the outer taps of x
 * (w02 = (w[k][0], w[k][2]), SMLAD), o = (x+1, x+3) those of x + 1; the middle taps take one half of
 * w1_01 = (w[0][1], w[1][1]) or of w1_2 = w[2][1]. An odd n computes one more pixel, which reads the
 * row's padding and the next row (in the scratch) and which the next row overwrites (acc has room
 * for it). */
MCUQ_DW_INLINE void mcuq_dw_dsp_acc(const int8_t *p, int32_t wp, int32_t in_step, int32_t rows, int32_t n,
                                    int32_t stride_w, const int32_t *w, int32_t *acc)
{
    const int32_t w02_0 = w[0], w02_1 = w[1], w02_2 = w[2], w1_01 = w[3], w1_2 = w[4], b = w[5];
    const int32_t wp2 = 2 * wp;
    int32_t j;
    for (j = 0; j < rows; j++)
    {
        const int8_t *pp = p;
        int32_t *a = acc + (size_t)j * n;
        int32_t v, e, o, a0, a1;
        if (stride_w == 1)
        {
            int32_t *const end = a + ((n + 1) & ~1);
            const int8_t *q;
            while (a != end)
            {
                v = mcuq_read_s8x4(pp);
                e = mcuq_sxtb16(v);
                o = mcuq_sxtb16_ror8(v);
                a0 = mcuq_smlad(e, w02_0, b);
                a0 = mcuq_smlabb(o, w1_01, a0);
                a1 = mcuq_smlad(o, w02_0, b);
                a1 = mcuq_smlatb(e, w1_01, a1);
                q = pp + wp;
                v = mcuq_read_s8x4(q);
                e = mcuq_sxtb16(v);
                o = mcuq_sxtb16_ror8(v);
                a0 = mcuq_smlad(e, w02_1, a0);
                a0 = mcuq_smlabt(o, w1_01, a0);
                a1 = mcuq_smlad(o, w02_1, a1);
                a1 = mcuq_smlatt(e, w1_01, a1);
                v = mcuq_read_s8x4(q + wp);
                e = mcuq_sxtb16(v);
                o = mcuq_sxtb16_ror8(v);
                a0 = mcuq_smlad(e, w02_2, a0);
                a0 = mcuq_smlabb(o, w1_2, a0);
                a1 = mcuq_smlad(o, w02_2, a1);
                a1 = mcuq_smlatb(e, w1_2, a1);
                a[0] = a0;
                a[1] = a1;
                a += 2;
                pp += 2;
            }
        }
        else
        {
            int32_t *const end = a + n;
            while (a != end)
            {
                v = mcuq_read_s8x4(pp);
                a0 = mcuq_smlad(mcuq_sxtb16(v), w02_0, b);
                a0 = mcuq_smlabb(mcuq_sxtb16_ror8(v), w1_01, a0);
                v = mcuq_read_s8x4(pp + wp);
                a0 = mcuq_smlad(mcuq_sxtb16(v), w02_1, a0);
                a0 = mcuq_smlabt(mcuq_sxtb16_ror8(v), w1_01, a0);
                v = mcuq_read_s8x4(pp + wp2);
                a0 = mcuq_smlad(mcuq_sxtb16(v), w02_2, a0);
                a0 = mcuq_smlabb(mcuq_sxtb16_ror8(v), w1_2, a0);
                *a++ = a0;
                pp += stride_w;
            }
        }
        p += in_step;
    }
}

/* One channel on its plane: several whole output rows per pass when a row fits the accumulators,
 * else chunks of a row. */
MCUQ_DW_INLINE void mcuq_dw_dsp_channel_mode(const int8_t *plane, const mcuq_dw_geom *g, const int32_t *w,
                                             const mcuq_dw_requant *q, int8_t *out, const int mode)
{
    int32_t acc[MCUQ_DW_ACC + 1];
    const int32_t out_w = g->out_w, os = g->os, wp = g->wp, stride_w = g->stride_w;
    const int32_t in_step = g->stride_h * wp;
    int32_t y, x0;
    if (out_w <= MCUQ_DW_ACC)
    {
        const int32_t per_pass = MCUQ_DW_ACC / out_w;
        for (y = 0; y < g->out_h; y += per_pass)
        {
            const int32_t rows = g->out_h - y < per_pass ? g->out_h - y : per_pass;
            mcuq_dw_dsp_acc(plane + (size_t)y * in_step, wp, in_step, rows, out_w, stride_w, w, acc);
            mcuq_dw_dsp_store(acc, rows * out_w, out + (size_t)y * out_w * os, os, q, mode);
        }
    }
    else
    {
        for (y = 0; y < g->out_h; y++)
        {
            for (x0 = 0; x0 < out_w; x0 += MCUQ_DW_ACC)
            {
                const int32_t n = out_w - x0 < MCUQ_DW_ACC ? out_w - x0 : MCUQ_DW_ACC;
                mcuq_dw_dsp_acc(plane + (size_t)y * in_step + (size_t)x0 * stride_w, wp, in_step, 1, n, stride_w, w,
                                acc);
                mcuq_dw_dsp_store(acc, n, out + ((size_t)y * out_w + x0) * os, os, q, mode);
            }
        }
    }
}

/* One channel c (plane at `plane`) of the DSP path. */
static MCUQ_DW_NOINLINE void mcuq_dw_dsp_channel(const int8_t *plane, const mcuq_dw_geom *g, const int8_t *filter,
                                                 const int32_t *bias, const mcuq_per_channel_quant *quant,
                                                 const mcuq_dw_conv_params *params, int32_t c, int8_t *out)
{
    const int8_t *f = filter + c;
    const int32_t in_c = g->in_c;
    int32_t w[6];
    mcuq_dw_requant q;
    /* Per kernel row k, (w[k][0], w[k][2]) for SMLAD; the middle taps w[0][1], w[1][1] share a word. */
    w[0] = mcuq_dw_pack(f[0], f[2 * in_c]);
    w[1] = mcuq_dw_pack(f[3 * in_c], f[5 * in_c]);
    w[2] = mcuq_dw_pack(f[6 * in_c], f[8 * in_c]);
    w[3] = mcuq_dw_pack(f[in_c], f[4 * in_c]);
    w[4] = f[7 * in_c];
    w[5] = bias != NULL ? bias[c] : 0;
    mcuq_dw_requant_init(&q, quant->multiplier[c], quant->shift[c], params);
    switch (mcuq_dw_mode(&q))
    {
    case 0:
        mcuq_dw_dsp_channel_mode(plane, g, w, &q, out, 0);
        break;
    case 1:
        mcuq_dw_dsp_channel_mode(plane, g, w, &q, out, 1);
        break;
    default:
        mcuq_dw_dsp_channel_mode(plane, g, w, &q, out, 2);
        break;
    }
}
#endif /* MCUQ_HAVE_DSP */

#if defined(MCUQ_PATH_MVE)
/* Copy input channel c into plane 0, column major: byte (pad_left + x) * cs + pad_top + y =
 * input(y, x, c); 4 rows of a column per gather. */
static void mcuq_dw_mve_fill(int8_t *scratch, const int8_t *in_batch, int32_t c, const mcuq_dw_geom *g)
{
    const int32_t in_h = g->in_h, in_w = g->in_w, row_bytes = g->in_w * g->in_c;
    const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)row_bytes);
    const int32_t full = in_h & ~3;
    int32_t x, y;
    for (x = 0; x < in_w; x++)
    {
        const int8_t *src = in_batch + (size_t)x * g->in_c + c;
        int8_t *dst = scratch + (size_t)(g->pad_left + x) * g->cs + g->pad_top;
        for (y = 0; y < full; y += 4)
        {
            vstrbq_s32(dst, vldrbq_gather_offset_s32(src, offsets));
            dst += 4;
            src += (size_t)4 * row_bytes;
        }
        if (y < in_h)
        {
            const mve_pred16_t pred = vctp32q((uint32_t)(in_h - y));
            vstrbq_p_s32(dst, vldrbq_gather_offset_z_s32(src, offsets, pred), pred);
        }
    }
}

/* mcuq_requantize_mve with one multiplier and shift for the 4 lanes, then the offset and the clamp;
 * mode as mcuq_dw_mve_channel_mode. */
MCUQ_DW_INLINE int32x4_t mcuq_dw_mve_out(int32x4_t acc, int32_t mult, int32_t shift, int32_t off, int32_t lo, int32_t hi,
                                         const int mode)
{
    if (mode != 2)
    {
        acc = vqrdmulhq_n_s32(acc, mult);
        acc = vqaddq_s32(acc, vshrq_n_s32(acc, 31)); /* -1 on negative lanes: round half away from zero */
        acc = vrshlq_n_s32(acc, shift);
    }
    else
    {
        const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : shift;
        acc = vqrdmulhq_n_s32(vshlq_r_s32(acc, left), mult);
        acc = vqaddq_s32(acc, vshrq_n_s32(vandq_s32(acc, vdupq_n_s32(right)), 31));
        acc = vrshlq_n_s32(acc, right);
    }
    acc = vaddq_n_s32(acc, off);
    if (mode == 0)
    {
        return vshrq_n_s32(vqshlq_n_s32(acc, 24), 24); /* saturate to [-128, 127] */
    }
    return vminq_s32(vmaxq_s32(acc, vdupq_n_s32(lo)), vdupq_n_s32(hi));
}

/* One channel on its column-major plane (stride 1): lanes = 4 consecutive output rows of one column,
 * each tap one VLDRB.S32 of the column and one VMLA by the scalar weight; requantization on the 4
 * lanes, a scatter store. mode 0: right shift, no clamp beyond int8; 1: right shift and the
 * activation clamp; 2: any shift and clamp. */
MCUQ_DW_INLINE void mcuq_dw_mve_channel_mode(const int8_t *plane, const mcuq_dw_geom *g, const int8_t *f, int32_t b,
                                             int32_t mult, int32_t shift, const mcuq_dw_conv_params *params,
                                             int8_t *out, const int mode, const int cs32)
{
    /* cs32: columns 32 bytes apart, so that the 9 taps are immediate offsets from one register. */
    const int32_t in_c = g->in_c, cs = cs32 ? 32 : g->cs, out_h = g->out_h, out_w = g->out_w, os = g->os;
    const int32_t w00 = f[0], w01 = f[in_c], w02 = f[2 * in_c];
    const int32_t w10 = f[3 * in_c], w11 = f[4 * in_c], w12 = f[5 * in_c];
    const int32_t w20 = f[6 * in_c], w21 = f[7 * in_c], w22 = f[8 * in_c];
    const int32_t off = params->output_offset, lo = params->activation.min, hi = params->activation.max;
    const int32x4_t bias_v = vdupq_n_s32(b);
    const uint32x4_t out_offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)(out_w * os));
    int32_t x, y;
    const int32_t out_step = 4 * out_w * os;
    for (x = 0; x < out_w; x++)
    {
        /* One pointer: the other two columns are cs and 2 * cs bytes on (immediate offsets when cs32),
         * which leaves the scalar registers to the nine weights. */
        const int8_t *c0 = plane + (size_t)x * cs;
        int8_t *o = out + (size_t)x * os;
        for (y = out_h; y > 0; y -= 4)
        {
            int32x4_t acc = vmlaq_n_s32(bias_v, vldrbq_s32(c0), w00);
            acc = vmlaq_n_s32(acc, vldrbq_s32(c0 + 1), w10);
            acc = vmlaq_n_s32(acc, vldrbq_s32(c0 + 2), w20);
            acc = vmlaq_n_s32(acc, vldrbq_s32(c0 + cs), w01);
            acc = vmlaq_n_s32(acc, vldrbq_s32(c0 + cs + 1), w11);
            acc = vmlaq_n_s32(acc, vldrbq_s32(c0 + cs + 2), w21);
            acc = vmlaq_n_s32(acc, vldrbq_s32(c0 + 2 * cs), w02);
            acc = vmlaq_n_s32(acc, vldrbq_s32(c0 + 2 * cs + 1), w12);
            acc = vmlaq_n_s32(acc, vldrbq_s32(c0 + 2 * cs + 2), w22);
            acc = mcuq_dw_mve_out(acc, mult, shift, off, lo, hi, mode);
            if (y >= 4)
            {
                vstrbq_scatter_offset_s32(o, out_offsets, acc);
            }
            else
            {
                /* The last rows of a column: the lanes past the output's end read the next column (or
                 * the scratch's slack) and are not stored. */
                vstrbq_scatter_offset_p_s32(o, out_offsets, acc, vctp32q((uint32_t)y));
            }
            c0 += 4;
            o += out_step;
        }
    }
}

static MCUQ_DW_NOINLINE void mcuq_dw_mve_channel(const int8_t *plane, const mcuq_dw_geom *g, const int8_t *filter,
                                                 const int32_t *bias, const mcuq_per_channel_quant *quant,
                                                 const mcuq_dw_conv_params *params, int32_t c, int8_t *out)
{
    const int32_t b = bias != NULL ? bias[c] : 0;
    const int32_t mult = quant->multiplier[c], shift = quant->shift[c];
    const int mode = shift >= 0 ? 2 : (params->activation.min == -128 && params->activation.max == 127 ? 0 : 1);
    if (mode == 0 && g->cs == 32)
    {
        mcuq_dw_mve_channel_mode(plane, g, filter + c, b, mult, shift, params, out, 0, 1);
    }
    else if (mode == 0)
    {
        mcuq_dw_mve_channel_mode(plane, g, filter + c, b, mult, shift, params, out, 0, 0);
    }
    else if (mode == 1)
    {
        mcuq_dw_mve_channel_mode(plane, g, filter + c, b, mult, shift, params, out, 1, 0);
    }
    else
    {
        mcuq_dw_mve_channel_mode(plane, g, filter + c, b, mult, shift, params, out, 2, 0);
    }
}
#endif /* MCUQ_PATH_MVE */

#if defined(MCUQ_HAVE_DSP) || defined(MCUQ_PATH_MVE)
/* Planes of the scratch: 4 (four channels per fill) when the channels come in fours and a plane is
 * small, else 1. */
static int32_t mcuq_dw_planes(int32_t in_c, int32_t plane_bytes)
{
    return in_c % 4 == 0 && plane_bytes <= 1024 ? 4 : 1;
}

/* Whether the fast paths' order is safe: they read all of a group of channels (every pixel) before
 * writing those channels' outputs. That holds when the output does not overlap the input, or when it
 * starts a whole number of pixels before it (or at it) with pixels as wide as the input's: output
 * channel c then lands on input channel c of the same or an earlier pixel, all read already. The
 * planner's in-place shifts are such (mcuq/plan/inplace.py: first(p) - p * C is a multiple of C);
 * any other overlap takes the portable loop. */
static int mcuq_dw_channel_order_ok(const mcuq_dims *input_dims, const int8_t *input, const mcuq_dims *output_dims,
                                    const int8_t *output, int32_t os)
{
    const uintptr_t in0 = (uintptr_t)input, out0 = (uintptr_t)output;
    const uintptr_t in_bytes = (uintptr_t)mcuq_dims_size(input_dims);
    const uintptr_t out_bytes =
        ((uintptr_t)output_dims->n * (uintptr_t)output_dims->h * (uintptr_t)output_dims->w - 1u) * (uintptr_t)os +
        (uintptr_t)output_dims->c;
    if (out0 + out_bytes <= in0 || in0 + in_bytes <= out0)
    {
        return 1;
    }
    return os == input_dims->c && out0 <= in0 && (in0 - out0) % (uintptr_t)input_dims->c == 0u;
}

/* The fast paths' driver: per batch and per group of channels (one plane each), copy the channels
 * into the planes, then compute their outputs. */
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
    int8_t *const scratch = (int8_t *)ctx->buf;
    const int8_t zero_point = (int8_t)(-params->input_offset);
    mcuq_dw_geom g;
    int32_t batch, c, k, i;
    g.pad_top = params->padding.top;
    g.pad_left = params->padding.left;
    g.in_h = input_dims->h;
    g.in_w = input_dims->w;
    g.in_c = input_dims->c;
    g.hp = g.pad_top + g.in_h + params->padding.bottom;
    g.cs = g.hp <= 32 ? 32 : g.hp;
    g.wp = g.pad_left + g.in_w + params->padding.right;
    g.plane_bytes = mcuq_dw_plane_bytes(input_dims);
    g.planes = ctx->size >= mcuq_dw_scratch_bytes(input_dims, 4) ? mcuq_dw_planes(g.in_c, g.plane_bytes) : 1;
    g.out_h = output_dims->h;
    g.out_w = output_dims->w;
    g.stride_h = params->stride.h;
    g.stride_w = params->stride.w;
    g.os = params->output_pixel_stride;
    /* The padding holds the zero point for good; the channels only overwrite the inside. (A word loop:
     * newlib-nano's memset is a byte loop.) */
    {
        const uint32_t zp4 = 0x01010101u * (uint8_t)zero_point;
        for (i = 0; i + 3 < g.planes * g.plane_bytes; i += 4)
        {
            mcuq_write_s8x4(scratch + i, (int32_t)zp4);
        }
        for (; i < g.planes * g.plane_bytes; i++)
        {
            scratch[i] = zero_point;
        }
    }
    for (batch = 0; batch < input_dims->n; batch++)
    {
        const int8_t *const in_batch = input + (size_t)batch * g.in_h * g.in_w * g.in_c;
        int8_t *const out_batch = output + (size_t)batch * g.out_h * g.out_w * g.os;
#if defined(MCUQ_PATH_MVE)
        if (g.stride_h == 1 && g.stride_w == 1)
        {
            for (c = 0; c < g.in_c; c++)
            {
                mcuq_dw_mve_fill(scratch, in_batch, c, &g);
                mcuq_dw_mve_channel(scratch, &g, filter, bias, quant, params, c, out_batch + c);
            }
            continue;
        }
#endif
#if defined(MCUQ_HAVE_DSP)
        for (c = 0; c < g.in_c; c += g.planes)
        {
            mcuq_dw_dsp_fill(scratch, in_batch, c, &g);
            for (k = 0; k < g.planes; k++)
            {
                mcuq_dw_dsp_channel(scratch + (size_t)k * g.plane_bytes, &g, filter, bias, quant, params, c + k,
                                    out_batch + c + k);
            }
        }
#endif
        (void)k;
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
            params->padding.top <= 1 && params->padding.left <= 1 && params->padding.bottom <= 1 &&
            params->padding.right <= 1 && ctx != NULL && ctx->buf != NULL && ctx->size >= need &&
            mcuq_dims_size(output_dims) > 0 && mcuq_dw_channel_order_ok(input_dims, input, output_dims, output,
                                                                       params->output_pixel_stride))
        {
            mcuq_dw_3x3(ctx, params, quant, input_dims, input, filter, bias, output_dims, output);
            return MCUQ_OK;
        }
    }
#endif
    mcuq_dw_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
    return MCUQ_OK;
}
