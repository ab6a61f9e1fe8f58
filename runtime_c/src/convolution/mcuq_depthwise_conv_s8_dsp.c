/*
 * mcuq_depthwise_conv_s8, DSP path (Cortex-M4, M7, M33; on the host with -DMCUQ_EMULATE_DSP): the 3x3
 * layers of mcuq_depthwise_conv_s8_fast.h on planes, 4 channels per copy where the scratch is roomy
 * (one word load gives 4 channels of a pixel; four pixels of them are transposed into one word per
 * plane). A plane row is an input row, or an input column where the output is taller than wide (the
 * long side then runs along the rows). One word of a plane row gives the columns (x, x+1, x+2, x+3),
 * SXTB16 gives (x, x+2) and (x+1, x+3): SMLAD takes the outer taps of one kernel row, SMLABB/SMLATB/...
 * the middle one, and at stride 1 one word serves two output pixels; at stride 2 along the plane rows a
 * word and one byte do (mcuq_dw_dsp_pair_s2, channel functions of their own). Each output is requantized
 * as it is computed, the output offset folded into the rounding constant.
 *
 * Where the instructions go (Cortex-M4, -O2, KWS's 25x5x64 layer, 219,320 in all before the doubled
 * accumulator and the assembly loop of mcuq_depthwise_conv_s8_fast_dsp_pairs.h, 186,360 after): 45 a
 * pair of outputs then (3 loads, 6 SXTB16, 12 multiply-accumulates, 2 x 7 for the requantization and
 * the store, the loop and 6 reloads of values gcc keeps on the stack: the loop needs about 19 live
 * values for 14 registers), 37 now; 36 a plane row (its odd last pixel), about 140 a channel, 3 a pixel
 * for the copy into the planes. At stride 2 (-O2, 32-byte rows, no clamp, before the doubled
 * accumulator) 51 a pair of outputs (3 word and 3 byte loads, 6 SXTB16, 15 multiply-accumulates, 2 x 7,
 * the loop, 7 reloads); VWW's 48x48x16 layer, one plane, spends about 3 a byte on the copy, a quarter
 * of its instructions.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_depthwise_conv_s8_args.h"

#if defined(MCUQ_HAVE_DSP)
#include "mcuq_depthwise_conv_s8_fast.h"
#include "mcuq_depthwise_conv_s8_fast_dsp_pairs.h"

/* Per-channel requantization of the DSP path. For 2 <= n = -shift <= 23 (the usual case) and a bias
 * |b| <= 2^29 the channel runs on doubled weights and bias, so that its accumulator is A = 2v (|A| <
 * 2^31: |v| <= 2^29 + 9 * 128 * 128), and one SMMLAR does mcuq_requantize_rshift2's 64-bit rounding:
 * with h2 = 2^(n-1) + off * 2^n (twice its folded constant hbias),
 *   (SMMLAR(A, mult, h2) + (A < 0 ? -1 : 0)) >> n = mcuq_requantize(v, mult, shift) + off,
 * since SMMLAR = floor((h2 * 2^32 + A * mult + 2^31) / 2^32) is twice rshift2's 64-bit sum (hbias:lo) +
 * v * mult over 2^32 where v >= 0 (lo = 2^30), and one more where v < 0 (lo = 2^31 + 2^30 - 2^32), and
 * floor(floor(x / 2^32) / 2^n) = floor(x / 2^(32 + n)). 5 instructions an output where rshift2 takes 7,
 * and 3 live constants (mult, h2, n) where it takes 4 registers at its peak (its 64-bit pair). Other
 * shifts or biases take mcuq_requantize_fast on the undoubled accumulator. */
typedef struct
{
    int32_t mult, shift, h2, n, off, lo, hi, bias;
} mcuq_dw_requant;

/* The channel set-up's helpers, called from the four channel functions: at -Os gcc keeps them out of
 * line then, which costs KWS 44k instructions on the M4 (4,978,640 inline, 5,022,680 not); forced inline
 * at -O2 they change gcc's register allocation for the worse (VWW +11k), so only at -Os. */
#if defined(__OPTIMIZE_SIZE__)
#define MCUQ_DW_SETUP_INLINE MCUQ_DW_INLINE
#else
#define MCUQ_DW_SETUP_INLINE static inline
#endif

#define MCUQ_DW_DOUBLED_BIAS_MAX (1 << 29)

static inline int mcuq_dw_doubled(int32_t shift, int32_t bias)
{
    return shift <= -2 && shift >= -23 && bias <= MCUQ_DW_DOUBLED_BIAS_MAX && bias >= -MCUQ_DW_DOUBLED_BIAS_MAX;
}

MCUQ_DW_SETUP_INLINE void mcuq_dw_requant_init(mcuq_dw_requant *q, int32_t mult, int32_t shift, int32_t bias,
                                        const mcuq_dw_conv_params *params)
{
    q->mult = mult;
    q->shift = shift;
    q->bias = bias;
    q->off = params->output_offset;
    q->lo = params->activation.min;
    q->hi = params->activation.max;
    if (mcuq_dw_doubled(shift, bias))
    {
        const int32_t n = -shift;
        q->n = n;
        q->h2 = (int32_t)(1u << (n - 1)) + (int32_t)((uint32_t)q->off << n);
    }
    else
    {
        q->n = 0;
        q->h2 = 0;
    }
}

/* 0: doubled accumulator, no clamp beyond int8; 1: doubled, the activation clamp; 2: any shift. */
MCUQ_DW_SETUP_INLINE int mcuq_dw_mode(const mcuq_dw_requant *q)
{
    if (!mcuq_dw_doubled(q->shift, q->bias))
    {
        return 2;
    }
    return q->lo == -128 && q->hi == 127 ? 0 : 1;
}

/* SMMLAR: the top word of acc * 2^32 + x * y, rounded (+ 2^31). No ACLE intrinsic exists for it. */
#if defined(__ARM_FEATURE_DSP) && !defined(MCUQ_EMULATE_DSP) && defined(__GNUC__)
static inline int32_t mcuq_dw_smmlar(int32_t x, int32_t y, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
    return r;
}
#else
static inline int32_t mcuq_dw_smmlar(int32_t x, int32_t y, int32_t acc)
{
    const uint64_t sum = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)x * y) + 0x80000000u;
    return (int32_t)(uint32_t)(sum >> 32);
}
#endif

/* x >> (s & 255): an ASR by register takes the bottom byte of s only, so the doubled channels keep n in
 * the bottom byte of w[4] (its tap in the top half), a register fewer in the pair loop. */
#if defined(__ARM_FEATURE_DSP) && !defined(MCUQ_EMULATE_DSP) && defined(__GNUC__)
static inline int32_t mcuq_dw_asr_low_byte(int32_t x, int32_t s)
{
    int32_t r;
    __asm__("asr %0, %1, %2" : "=r"(r) : "r"(x), "r"(s));
    return r;
}
#else
static inline int32_t mcuq_dw_asr_low_byte(int32_t x, int32_t s) { return x >> (s & 255); }
#endif

/* Two int8 weights times scale (1 or 2) as the int16 lanes (lo, hi) of one word. */
static inline int32_t mcuq_dw_pack(int8_t lo, int8_t hi, int scale)
{
    return (int32_t)(((uint32_t)(uint16_t)(int16_t)(scale * lo)) | ((uint32_t)(uint16_t)(int16_t)(scale * hi) << 16));
}

/* Whether the planes hold the input transposed (plane row = input column): when the output is taller
 * than wide (KWS's 25x5), so that the walk along a plane row, which takes two output pixels per word
 * load, runs over the longer side, and the per-row costs (loop set-up, the odd pixel) come fewer times. */
static inline int mcuq_dw_dsp_transposed(const mcuq_dw_geom *g) { return g->out_w < g->out_h; }

/* Plane bytes from one plane row to the next. 32 wherever a plane has room for rows that far apart (a
 * plane is max(in_h + 2, 32) x (in_w + 2) bytes, mcuq_dw_plane_bytes: transposed, inputs up to 30 rows;
 * else up to 30 columns and no taller than wide): the channel loop then reads the three kernel rows at
 * fixed offsets, and the registers a variable pitch takes are free (gcc reloads two fewer values from
 * the stack per pair of outputs). */
#define MCUQ_DW_PITCH 32
static inline int32_t mcuq_dw_dsp_pitch(const mcuq_dw_geom *g)
{
    if (mcuq_dw_dsp_transposed(g))
    {
        return g->cs;
    }
    return g->wp <= MCUQ_DW_PITCH && g->hp * MCUQ_DW_PITCH <= g->plane_bytes ? MCUQ_DW_PITCH : g->wp;
}

/* Four pixels' words of four channels (a = pixel 0: bytes (c0, c1, c2, c3)) as four words of four
 * pixels, one per channel, written to the planes pb bytes apart: a 4x4 byte transpose in halfword
 * packs (PKHBT/PKHTB) and byte masks, 16 ALU instructions for what takes 12 byte stores and shifts. */
MCUQ_DW_INLINE void mcuq_dw_dsp_put4x4(int8_t *dst, int32_t pb, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    const uint32_t ac_lo = (a & 0xFFFFu) | (c << 16), bd_lo = (b & 0xFFFFu) | (d << 16); /* (a0 a1 c0 c1) */
    const uint32_t ac_hi = (a >> 16) | (c & 0xFFFF0000u), bd_hi = (b >> 16) | (d & 0xFFFF0000u); /* (a2 a3 c2 c3) */
    mcuq_write_s8x4(dst, (int32_t)((ac_lo & 0x00FF00FFu) | ((bd_lo & 0x00FF00FFu) << 8)));
    mcuq_write_s8x4(dst + pb, (int32_t)(((ac_lo >> 8) & 0x00FF00FFu) | (bd_lo & 0xFF00FF00u)));
    mcuq_write_s8x4(dst + 2 * pb, (int32_t)((ac_hi & 0x00FF00FFu) | ((bd_hi & 0x00FF00FFu) << 8)));
    mcuq_write_s8x4(dst + 3 * pb, (int32_t)(((ac_hi >> 8) & 0x00FF00FFu) | (bd_hi & 0xFF00FF00u)));
}

/* Copy input channels c .. c + g->planes - 1 into the planes, one plane row at a time: plane k byte
 * (pad_top + y) * wp + pad_left + x = input(y, x, c + k), or (pad_left + x) * hp + pad_top + y where
 * transposed (a plane row is then an input column). Four channels per word load when there are four
 * planes, four pixels at a time. */
static void mcuq_dw_dsp_fill(int8_t *scratch, const int8_t *in_batch, int32_t c, const mcuq_dw_geom *g)
{
    const int32_t in_c = g->in_c, pb = g->plane_bytes;
    const int transposed = mcuq_dw_dsp_transposed(g);
    /* The plane rows: how many, their pixels, the input bytes between rows and between pixels, plane bytes
     * between rows. */
    const int32_t lines = transposed ? g->in_w : g->in_h, n = transposed ? g->in_h : g->in_w;
    const int32_t line_src = transposed ? in_c : g->in_w * in_c, src_step = transposed ? g->in_w * in_c : in_c;
    const int32_t line_dst = mcuq_dw_dsp_pitch(g);
    const int32_t src2 = 2 * src_step, src3 = 3 * src_step, src4 = 4 * src_step;
    const int8_t *src_line = in_batch + c;
    int8_t *dst_line = scratch + (size_t)(transposed ? g->pad_left : g->pad_top) * line_dst +
                       (transposed ? g->pad_top : g->pad_left);
    int32_t line, i;
    for (line = 0; line < lines; line++)
    {
        const int8_t *src = src_line;
        int8_t *dst = dst_line;
        if (g->planes == 4)
        {
            for (i = 0; i + 4 <= n; i += 4)
            {
                mcuq_dw_dsp_put4x4(dst, pb, (uint32_t)mcuq_read_s8x4(src), (uint32_t)mcuq_read_s8x4(src + src_step),
                                   (uint32_t)mcuq_read_s8x4(src + src2), (uint32_t)mcuq_read_s8x4(src + src3));
                src += src4;
                dst += 4;
            }
            for (; i < n; i++)
            {
                const uint32_t v = (uint32_t)mcuq_read_s8x4(src);
                dst[0] = (int8_t)v;
                dst[pb] = (int8_t)(v >> 8);
                dst[2 * pb] = (int8_t)(v >> 16);
                dst[3 * pb] = (int8_t)(v >> 24);
                dst++;
                src += src_step;
            }
        }
        else
        {
            /* Four pixels a step (a quarter of the loop's increments and branches). */
            for (i = 0; i + 4 <= n; i += 4)
            {
                dst[0] = src[0];
                dst[1] = src[src_step];
                dst[2] = src[src2];
                dst[3] = src[src3];
                src += src4;
                dst += 4;
            }
            for (; i < n; i++)
            {
                *dst++ = *src;
                src += src_step;
            }
        }
        src_line += line_src;
        dst_line += line_dst;
    }
}

/* One accumulator requantized, offset and clamped. mode 0: doubled accumulator (see mcuq_dw_requant),
 * no clamp beyond int8; 1: doubled and the activation clamp; 2: any shift, undoubled. */
MCUQ_DW_INLINE int32_t mcuq_dw_dsp_out(int32_t v, const mcuq_dw_requant *q, int32_t w4, const int mode)
{
    if (mode == 2)
    {
        return mcuq_clamp_s32(mcuq_requantize_fast(v, q->mult, q->shift) + q->off, q->lo, q->hi);
    }
    {
        const int32_t r = mcuq_dw_asr_low_byte(mcuq_dw_smmlar(v, q->mult, q->h2) + (v >> 31), w4);
        return mode == 0 ? mcuq_ssat8(r) : mcuq_clamp_s32(r, q->lo, q->hi);
    }
}

/* The accumulator of one output pixel whose window starts at p (rows wp bytes apart), at any stride:
 * per kernel row, e = (x, x+2) takes the outer taps (w02 = (w[k][0], w[k][2]), SMLAD) and the low half
 * of o = (x+1, x+3) the middle one (a half of w1_01 = (w[0][1], w[1][1]) or of w1_2 = w[2][1]). */
MCUQ_DW_INLINE int32_t mcuq_dw_dsp_pixel(const int8_t *p, int32_t wp, const int32_t *w)
{
    int32_t v = mcuq_read_s8x4(p);
    int32_t a = mcuq_smlad(mcuq_sxtb16(v), w[0], w[5]);
    a = mcuq_smlabb(mcuq_sxtb16_ror8(v), w[3], a);
    v = mcuq_read_s8x4(p + wp);
    a = mcuq_smlad(mcuq_sxtb16(v), w[1], a);
    a = mcuq_smlabt(mcuq_sxtb16_ror8(v), w[3], a);
    v = mcuq_read_s8x4(p + 2 * wp);
    a = mcuq_smlad(mcuq_sxtb16(v), w[2], a);
    return mcuq_smlabt(mcuq_sxtb16_ror8(v), w[4], a);
}

/* The two accumulators of output pixels x, x + 1 at stride 1 (p: x's window, rows wp bytes apart). The
 * word of columns (x, x+1, x+2, x+3) of a padded row serves both: e = (x, x+2) takes the outer taps of x
 * (SMLAD with w02 = (w[k][0], w[k][2])), o = (x+1, x+3) those of x + 1, and the middle taps take one
 * half of the other (w1_01 = (w[0][1], w[1][1]), w1_2 = w[2][1]). */
MCUQ_DW_INLINE void mcuq_dw_dsp_pair(const int8_t *p, int32_t wp, const int32_t *w, int32_t *acc0, int32_t *acc1)
{
    const int32_t w02_0 = w[0], w02_1 = w[1], w02_2 = w[2], w1_01 = w[3], w1_2 = w[4], b = w[5];
    int32_t v, e, o, a0, a1;
    v = mcuq_read_s8x4(p);
    e = mcuq_sxtb16(v);
    o = mcuq_sxtb16_ror8(v);
    a0 = mcuq_smlad(e, w02_0, b);
    a0 = mcuq_smlabb(o, w1_01, a0);
    a1 = mcuq_smlad(o, w02_0, b);
    a1 = mcuq_smlatb(e, w1_01, a1);
    v = mcuq_read_s8x4(p + wp);
    e = mcuq_sxtb16(v);
    o = mcuq_sxtb16_ror8(v);
    a0 = mcuq_smlad(e, w02_1, a0);
    a0 = mcuq_smlabt(o, w1_01, a0);
    a1 = mcuq_smlad(o, w02_1, a1);
    a1 = mcuq_smlatt(e, w1_01, a1);
    v = mcuq_read_s8x4(p + 2 * wp);
    e = mcuq_sxtb16(v);
    o = mcuq_sxtb16_ror8(v);
    a0 = mcuq_smlad(e, w02_2, a0);
    a0 = mcuq_smlabt(o, w1_2, a0);
    a1 = mcuq_smlad(o, w02_2, a1);
    *acc0 = a0;
    *acc1 = mcuq_smlatt(e, w1_2, a1);
}

/* One kernel row of output pixels x, x + 1 at stride 2 along the plane row (r: x's window row): the word
 * of columns (2x .. 2x+3) gives e = (2x, 2x+2) and o = (2x+1, 2x+3), so x takes SMLAD(e, w02) and o's
 * low half, x + 1 e's and o's high halves and column 2x+4 (one LDRSB) for its last tap: 9 instructions
 * for 6 MACs, where two calls of mcuq_dw_dsp_pixel take 10. The middle tap is w1's low half, or its high
 * half where top. */
MCUQ_DW_INLINE void mcuq_dw_dsp_row_s2(const int8_t *r, int32_t w02, int32_t w1, const int top, int32_t *a0,
                                       int32_t *a1)
{
    const int32_t v = mcuq_read_s8x4(r), e = mcuq_sxtb16(v), o = mcuq_sxtb16_ror8(v);
    *a0 = mcuq_smlad(e, w02, *a0);
    *a0 = top ? mcuq_smlabt(o, w1, *a0) : mcuq_smlabb(o, w1, *a0);
    *a1 = mcuq_smlatb(e, w02, *a1);
    *a1 = top ? mcuq_smlatt(o, w1, *a1) : mcuq_smlatb(o, w1, *a1);
    *a1 = mcuq_smlabt(r[4], w02, *a1);
}

/* The two accumulators of output pixels x, x + 1 at stride 2 along the plane row (p: x's window, rows wp
 * bytes apart), the middle taps as in mcuq_dw_dsp_pair. */
MCUQ_DW_INLINE void mcuq_dw_dsp_pair_s2(const int8_t *p, int32_t wp, const int32_t *w, int32_t *acc0, int32_t *acc1)
{
    int32_t a0 = w[5], a1 = w[5];
    mcuq_dw_dsp_row_s2(p, w[0], w[3], 0, &a0, &a1);
    mcuq_dw_dsp_row_s2(p + wp, w[1], w[3], 1, &a0, &a1);
    mcuq_dw_dsp_row_s2(p + 2 * wp, w[2], w[4], 1, &a0, &a1);
    *acc0 = a0;
    *acc1 = a1;
}

/* One channel on its plane, plane row by plane row: output rows, or output columns where transposed;
 * each output requantized as it is computed (no accumulator buffer, no second pass). Where the stride
 * along a plane row is 1 (s2 == 0) or 2 (s2 == 1, a copy of its own: the pairs of either stride need
 * all the registers) one loop takes the pairs of every row (a row's odd pixel and the step to the next
 * row come when its pairs end), so that a row costs a few instructions rather than the set-up of a
 * loop; other strides take pixels one by one. */
MCUQ_DW_INLINE void mcuq_dw_dsp_channel_mode(const int8_t *plane, const mcuq_dw_geom *g, const int32_t *w,
                                             const mcuq_dw_requant *q, int8_t *out, const int mode,
                                             const int32_t pitch, const int s2)
{
    const int transposed = mcuq_dw_dsp_transposed(g);
    const int32_t os = g->os;
    /* Plane row bytes, the windows' steps down and along a plane row, output pixels per plane row and
     * plane rows, and the output bytes between neighbours along a plane row and across. */
    const int32_t wp = pitch != 0 ? pitch : mcuq_dw_dsp_pitch(g);
    const int32_t in_step = (transposed ? g->stride_w : g->stride_h) * wp;
    const int32_t stride = transposed ? g->stride_h : g->stride_w;
    const int32_t n = transposed ? g->out_h : g->out_w, rows = transposed ? g->out_w : g->out_h;
    const int32_t along = transposed ? g->out_w * os : os, across = transposed ? os : g->out_w * os;
    int32_t r, x;
    if ((s2 || stride == 1) && n >= 2)
    {
        const int32_t pair_bytes = (n & ~1) * along;
        int8_t *row_out = out, *row_end = out + pair_bytes;
        const int8_t *p = plane;
#if defined(MCUQ_DW_DSP_PAIRS_ASM)
        if (!s2 && mode == 0 && wp == MCUQ_DW_PITCH)
        {
            int32_t k[7]; /* the assembly loop's constants, row end and row count */
            k[0] = w[5];
            k[1] = along;
            k[2] = (int32_t)(intptr_t)(out + pair_bytes);
            k[3] = across;
            k[4] = in_step - (n & ~1);
            k[5] = across - pair_bytes;
            k[6] = rows;
            if (n & 1)
            {
                mcuq_dw_dsp_rows_asm(plane, out, w, k, q->mult, q->h2, 1);
            }
            else
            {
                mcuq_dw_dsp_rows_asm(plane, out, w, k, q->mult, q->h2, 0);
            }
            return;
        }
#endif
        r = rows;
        for (;;)
        {
            int32_t a0, a1;
            if (s2)
            {
                mcuq_dw_dsp_pair_s2(p, wp, w, &a0, &a1);
            }
            else
            {
                mcuq_dw_dsp_pair(p, wp, w, &a0, &a1);
            }
            /* One output step in a register rather than two (a spill fewer in this loop). */
            *out = (int8_t)mcuq_dw_dsp_out(a0, q, w[4], mode);
            out += along;
            *out = (int8_t)mcuq_dw_dsp_out(a1, q, w[4], mode);
            out += along;
            p += s2 ? 4 : 2;
            if (out == row_end)
            {
                if (n & 1)
                {
                    *out = (int8_t)mcuq_dw_dsp_out(mcuq_dw_dsp_pixel(p, wp, w), q, w[4], mode);
                }
                if (--r == 0)
                {
                    break;
                }
                plane += in_step;
                p = plane;
                row_out += across;
                out = row_out;
                row_end = row_out + pair_bytes;
            }
        }
        return;
    }
    for (r = 0; r < rows; r++)
    {
        int8_t *o = out + (size_t)r * across;
        const int8_t *p = plane + (size_t)r * in_step;
        for (x = 0; x < n; x++)
        {
            *o = (int8_t)mcuq_dw_dsp_out(mcuq_dw_dsp_pixel(p, wp, w), q, w[4], mode);
            o += along;
            p += stride;
        }
    }
}

/* One channel c (plane at `plane`) of the DSP path, its plane rows pitch bytes apart (a constant, each
 * pitch its own copy of the loops; 0: any, g's). */
MCUQ_DW_INLINE void mcuq_dw_dsp_channel(const int8_t *plane, const mcuq_dw_geom *g, const mcuq_dw_conv_s8_args *args,
                                        int32_t c, int8_t *out, const int32_t pitch, const int s2)
{
    const int transposed = mcuq_dw_dsp_transposed(g);
    const int8_t *f = args->filter + c;
    const int32_t in_c = g->in_c;
    int32_t w[6];
    mcuq_dw_requant q;
    /* Filter bytes between taps along a plane row and across plane rows: the filter's columns and rows,
     * or its rows and columns where the planes are transposed. */
    const int32_t along = transposed ? 3 * in_c : in_c;
    const int32_t across = transposed ? in_c : 3 * in_c;
    const int32_t bias = args->bias != NULL ? args->bias[c] : 0;
    int scale;
    mcuq_dw_requant_init(&q, args->quant->multiplier[c], args->quant->shift[c], bias, args->params);
    /* Doubled weights and bias where the requantization takes the doubled accumulator. */
    scale = mcuq_dw_mode(&q) == 2 ? 1 : 2;
    /* Per kernel row k, (w[k][0], w[k][2]) for SMLAD; the middle taps w[0][1], w[1][1] share a word. */
    w[0] = mcuq_dw_pack(f[0], f[2 * along], scale);
    w[1] = mcuq_dw_pack(f[across], f[across + 2 * along], scale);
    w[2] = mcuq_dw_pack(f[2 * across], f[2 * across + 2 * along], scale);
    w[3] = mcuq_dw_pack(f[along], f[across + along], scale);
    w[4] = (int32_t)((uint32_t)(uint16_t)(int16_t)(scale * f[2 * across + along]) << 16) | q.n;
    w[5] = scale * bias;
    switch (mcuq_dw_mode(&q))
    {
    case 0:
        mcuq_dw_dsp_channel_mode(plane, g, w, &q, out, 0, pitch, s2);
        break;
    case 1:
        mcuq_dw_dsp_channel_mode(plane, g, w, &q, out, 1, pitch, s2);
        break;
    default:
        mcuq_dw_dsp_channel_mode(plane, g, w, &q, out, 2, pitch, s2);
        break;
    }
}

/* The channel functions mcuq_dw_fast_run calls: plane rows 32 bytes apart, or any pitch (0); stride 2
 * along the plane rows (s2 = 1) in functions of their own, so that each loop has gcc's register
 * allocation to itself. */
#define MCUQ_DW_DSP_CHANNEL_FN(name, pitch, s2)                                                               \
    static MCUQ_DW_NOINLINE void name(const int8_t *plane, const mcuq_dw_geom *g,                             \
                                      const mcuq_dw_conv_s8_args *args, int32_t c, int8_t *out)               \
    {                                                                                                         \
        mcuq_dw_dsp_channel(plane, g, args, c, out, pitch, s2);                                               \
    }
MCUQ_DW_DSP_CHANNEL_FN(mcuq_dw_dsp_channel_pitch32, MCUQ_DW_PITCH, 0)
MCUQ_DW_DSP_CHANNEL_FN(mcuq_dw_dsp_channel_any_pitch, 0, 0)
MCUQ_DW_DSP_CHANNEL_FN(mcuq_dw_dsp_channel_s2_pitch32, MCUQ_DW_PITCH, 1)
MCUQ_DW_DSP_CHANNEL_FN(mcuq_dw_dsp_channel_s2_any_pitch, 0, 1)

/* The channel function for this layer's pitch and stride along the plane rows. */
static mcuq_dw_channel_fn mcuq_dw_dsp_channel_fn(const mcuq_dw_geom *g)
{
    const int pitch32 = mcuq_dw_dsp_pitch(g) == MCUQ_DW_PITCH;
    if ((mcuq_dw_dsp_transposed(g) ? g->stride_h : g->stride_w) == 2)
    {
        return pitch32 ? mcuq_dw_dsp_channel_s2_pitch32 : mcuq_dw_dsp_channel_s2_any_pitch;
    }
    return pitch32 ? mcuq_dw_dsp_channel_pitch32 : mcuq_dw_dsp_channel_any_pitch;
}

MCUQ_API void mcuq_depthwise_conv_s8_dsp(const mcuq_dw_conv_s8_args *args)
{
    mcuq_dw_geom g;
    mcuq_dw_fast_measure(args, &g);
    mcuq_dw_fast_run(args, mcuq_dw_dsp_fill, mcuq_dw_dsp_channel_fn(&g));
}
#endif /* MCUQ_HAVE_DSP */
