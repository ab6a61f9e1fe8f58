/*
 * What mcuq_convolve_s8's two DSP bodies share (mcuq_convolve_s8_dsp.c, the general one, and
 * mcuq_convolve_s8_dsp_smallk.c, small K with the filter widened once per call): the requantization
 * with the bias as the accumulators' start and the output offset folded into the rounding constant, the
 * check that a call may take it, and the widening of two int8 columns into SXTB16 lanes.
 */
#ifndef MCUQ_CONVOLVE_S8_FAST_DSP_H
#define MCUQ_CONVOLVE_S8_FAST_DSP_H

#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_convolve_s8_args.h"

#if defined(MCUQ_HAVE_DSP) && !defined(MCUQ_PATH_MVE)
/* The output offset and clamp of a call; hbias_base = 1 + 2 * out_offset (see mcuq_conv_s8_out2_dsp). */
typedef struct
{
    uint32_t hbias_base;
    int32_t act_min, act_max;
} mcuq_conv_s8_range;

/* One channel's two values (bias already in them) requantized to *out_a and *out_b:
 * mcuq_requantize_rshift2 with the output offset folded into its rounding constant,
 * 2^(n-2) + out_offset * 2^(n-1) = hbias_base << (n - 2), for 2 <= n = -shift <= 23 (checked once per
 * call, mcuq_conv_s8_folds_dsp); then the clamp, one SSAT when full (the clamp is the whole int8 range):
 * per value AND, ORR, ADD, SMLAL, ASR, SSAT, STRB. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_out2_dsp(int32_t a,
                                                                  int32_t b,
                                                                  int32_t mult,
                                                                  int32_t shift,
                                                                  const mcuq_conv_s8_range *range,
                                                                  int full,
                                                                  int8_t *out_a,
                                                                  int8_t *out_b)
{
    const int32_t nm1 = -shift - 1;
    const int32_t hbias = (int32_t)(range->hbias_base << (nm1 - 1));
    /* mcuq_requantize_rshift2 written out (mcuq_mla_s64_hi is one SMLAL here): at -Os gcc would call
     * mcuq_requantize_rshift2 rather than inline it. */
    const int32_t va = mcuq_mla_s64_hi(a, mult, hbias + (a >> 31), 0x40000000u | ((uint32_t)a & 0x80000000u)) >> nm1;
    const int32_t vb = mcuq_mla_s64_hi(b, mult, hbias + (b >> 31), 0x40000000u | ((uint32_t)b & 0x80000000u)) >> nm1;
    *out_a = (int8_t)(full ? mcuq_ssat8(va) : mcuq_clamp_s32(va, range->act_min, range->act_max));
    *out_b = (int8_t)(full ? mcuq_ssat8(vb) : mcuq_clamp_s32(vb, range->act_min, range->act_max));
}

/* n bytes (n % 4 == 0) of one pixel's column widened into its lanes: lanes[4g], lanes[4g + 1]. */
static inline void mcuq_conv_s8_widen(int32_t *lanes, const int8_t *src, int32_t n)
{
    const int8_t *const end = src + n;
    while (src != end)
    {
        const int32_t x = mcuq_read_s8x4(src);
        lanes[0] = mcuq_sxtb16(x);
        lanes[1] = mcuq_sxtb16_ror8(x);
        lanes += 4;
        src += 4;
    }
}

/* The columns of pixels a and b (len bytes each, len % 4 == 0) widened together into the layout above:
 * for a 1x1 convolution with stride 1 and no padding, whose columns are the input pixels themselves. */
static inline void mcuq_conv_s8_widen_two(int32_t *wide, const int8_t *a, const int8_t *b, int32_t len)
{
    int32_t g;
    for (g = 0; g < len; g += 4)
    {
        const int32_t xa = mcuq_read_s8x4(a + g), xb = mcuq_read_s8x4(b + g);
        wide[0] = mcuq_sxtb16(xa);
        wide[1] = mcuq_sxtb16_ror8(xa);
        wide[2] = mcuq_sxtb16(xb);
        wide[3] = mcuq_sxtb16_ror8(xb);
        wide += 4;
    }
}

/* The small-K body's calls (mcuq_convolve_s8_dsp_smallk.c; its scratch: MCUQ_CONV_S8_SMALLK_SCRATCH). */

/* The small-K body's order of K: a window is k_h rows of row_len = k_w * in_c bytes; first every row's
 * row_len / 4 whole words, widened as they lie in the input (one unaligned LDR each), then the rows'
 * row_len % 4 last bytes gathered, row after row, into words of their own (the last one padded with
 * zeros). K = 27 (3x3 over RGB): 3 rows of 2 words, then 1 word of the 3 last bytes, 7 words, as many
 * as kp / 4. The filter is widened in the same order (mcuq_conv_s8_smallk_widen_filter), so the dot
 * product is unchanged. */
typedef struct
{
    int32_t k_h;
    int32_t row_words; /* row_len / 4 */
    int32_t row_tail;  /* row_len % 4 */
} mcuq_conv_s8_smallk_shape;

static inline mcuq_conv_s8_smallk_shape mcuq_conv_s8_smallk_shape_of(int32_t k_h, int32_t row_len)
{
    mcuq_conv_s8_smallk_shape shape;
    shape.k_h = k_h;
    shape.row_words = row_len / 4;
    shape.row_tail = row_len % 4;
    return shape;
}

/* One 4-byte word widened into a pixel's lanes of one step: wide[0] bytes (0, 2), wide[1] bytes (1, 3). */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_smallk_put(int32_t *wide, int32_t x)
{
    wide[0] = mcuq_sxtb16(x);
    wide[1] = mcuq_sxtb16_ror8(x);
}

/* The window whose rows start at src, src + src_row, ... widened in the order above into one pixel's
 * lanes (wide: words 0 and 1 of every 4, the other pixel's or channel's take words 2 and 3). */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_smallk_widen_window(int32_t *wide,
                                                                             const int8_t *src,
                                                                             int32_t src_row,
                                                                             const mcuq_conv_s8_smallk_shape *shape)
{
    const int32_t k_h = shape->k_h, row_words = shape->row_words, row_tail = shape->row_tail;
    const int32_t tail_bytes = k_h * row_tail;
    int32_t ky, g, t, j;
    for (ky = 0; ky < k_h; ky++)
    {
            for (g = 0; g < row_words; g++)
        {
            mcuq_conv_s8_smallk_put(wide, mcuq_read_s8x4(src + (size_t)ky * src_row + 4 * g));
            wide += 4;
        }
    }
    for (t = 0; t < tail_bytes; t += 4)
    {
        uint32_t word = 0; /* tail bytes t .. t + 3, the first in the low byte */
            for (j = 0; j < 4; j++)
        {
            const int32_t ty = (t + j) / row_tail, tx = 4 * row_words + (t + j) % row_tail;
            if (t + j < tail_bytes)
            {
                word |= (uint32_t)(uint8_t)src[(size_t)ty * src_row + tx] << (8 * j);
            }
        }
        mcuq_conv_s8_smallk_put(wide, (int32_t)word);
        wide += 4;
    }
}

/* mcuq_conv_s8_smallk_widen_window for 3x3 over RGB (rows of 9 bytes: 2 words and 1 tail byte each),
 * the image models' first layers, in straight-line code: gcc keeps the general one's loops over rows,
 * words and tail bytes even with the shape a constant (~90 instructions a window, ~40 here). */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_smallk_widen_rgb3x3(int32_t *wide,
                                                                             const int8_t *src,
                                                                             int32_t src_row)
{
    const int8_t *const r1 = src + src_row, *const r2 = r1 + src_row;
    const uint32_t tail = (uint32_t)(uint8_t)src[8] | (uint32_t)(uint8_t)r1[8] << 8 | (uint32_t)(uint8_t)r2[8] << 16;
    mcuq_conv_s8_smallk_put(wide, mcuq_read_s8x4(src));
    mcuq_conv_s8_smallk_put(wide + 4, mcuq_read_s8x4(src + 4));
    mcuq_conv_s8_smallk_put(wide + 8, mcuq_read_s8x4(r1));
    mcuq_conv_s8_smallk_put(wide + 12, mcuq_read_s8x4(r1 + 4));
    mcuq_conv_s8_smallk_put(wide + 16, mcuq_read_s8x4(r2));
    mcuq_conv_s8_smallk_put(wide + 20, mcuq_read_s8x4(r2 + 4));
    mcuq_conv_s8_smallk_put(wide + 24, (int32_t)tail);
}

/* The constants of a call on the small-K body. */
typedef struct
{
    const int32_t *filter; /* widened: per channel pair and 4 bytes of K, words r0(0,2) r0(1,3) r1(0,2) r1(1,3) */
    int32_t steps;         /* kp / 4 */
    int32_t out_c;
    const int32_t *bias;
    const int32_t *mult;
    const int32_t *shift;
    mcuq_conv_s8_range range;
} mcuq_conv_s8_smallk;

/* Widens the filter (out_c rows of K bytes) into wide (the layout of mcuq_conv_s8_smallk.filter, K in
 * the order of mcuq_conv_s8_smallk_widen_window). */
MCUQ_API void mcuq_conv_s8_smallk_widen_filter(int32_t *wide,
                                               const int8_t *filter,
                                               const mcuq_conv_s8_smallk_shape *shape,
                                               int32_t out_c);

/* All output channels of a pixel pair whose columns are widened at cols (mcuq_conv_s8_smallk_widen_window,
 * kp bytes each), written to out_a and out_b; full: the clamp is the whole int8 range. */
MCUQ_API void mcuq_conv_s8_smallk_pair(const int32_t *cols, const mcuq_conv_s8_smallk *sk, int8_t *out_a,
                                       int8_t *out_b, int full);

#endif /* MCUQ_HAVE_DSP && !MCUQ_PATH_MVE */
#endif /* MCUQ_CONVOLVE_S8_FAST_DSP_H */
