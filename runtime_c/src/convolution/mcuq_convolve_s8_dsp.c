/*
 * mcuq_convolve_s8, DSP path (Cortex-M4, M7, M33; on the host with -DMCUQ_EMULATE_DSP): one group,
 * output pixels two at a time, each pair of output channels a 2-pixel x 2-channel SXTB16 + SMLAD dot
 * product over the two int8 columns (mcuq_convolve_s8_fast.h has the walk and what the MVE path
 * shares). With roomy scratch the columns are widened to int16 once per pair (see
 * MCUQ_CONV_S8_WIDE_SCRATCH below). The accumulators start from the bias and the output offset rides
 * in the rounding constant; a pointwise layer's columns are its input pixels (read in place).
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_convolve_s8_args.h"

#if defined(MCUQ_HAVE_DSP) && !defined(MCUQ_PATH_MVE)
#include "mcuq_convolve_s8_fast.h"
#include "mcuq_convolve_s8_fast_dsp.h"
#include "mcuq_convolve_s8_smallk_walk.h"

/* The inner loops in assembly where gcc optimizes for a core with the DSP extension (see
 * MCUQ_CONV_S8_GCC_ASM); the C loops in their #else give the same results everywhere else. */
#if defined(__ARM_FEATURE_DSP) && !defined(MCUQ_EMULATE_DSP) && MCUQ_CONV_S8_GCC_ASM
#define MCUQ_CONV_S8_DSP_ASM 1
/* The 2x2 DSP loop in assembly: the steps (4 bytes of K each) per turn, until col_ptr reaches end_ptr;
 * a step loads the operands, MCUQ_CONV_S8_SMLAD_2X2 does the products. */
#define MCUQ_CONV_S8_DSP_LOOP(steps, col_ptr, end_ptr)                                                      \
    __asm__("1:\n\t" steps "cmp %[col], %[end]\n\t"                                                      \
            "bne 1b\n\t"                                                                                     \
            : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [col] "+r"(col_ptr), [row] "+r"(row_0), \
              [xa] "=&r"(xa), [xb] "=&r"(xb), [xa_hi] "=&r"(xa_hi), [xb_hi] "=&r"(xb_hi), [w] "=&r"(w),         \
              [w_hi] "=&r"(w_hi)                                                                                \
            : [len] "r"(len), [end] "r"(end_ptr)                                                                \
            : "cc", "memory")
/* With the column words of pixels a and b as int16 pairs in xa, xa_hi, xb, xb_hi and filter row 1's
 * word in w: the 8 SMLAD of rows 1 and 0 (row 0's word loaded here, post-incrementing row). */
#define MCUQ_CONV_S8_SMLAD_2X2                                                                           \
    "sxtb16 %[w_hi], %[w], ror #8\n\t"                                                                         \
    "sxtb16 %[w], %[w]\n\t"                                                                                    \
    "smlad %[a1], %[xa], %[w], %[a1]\n\t"                                                                      \
    "smlad %[a1], %[xa_hi], %[w_hi], %[a1]\n\t"                                                                \
    "smlad %[b1], %[xb], %[w], %[b1]\n\t"                                                                      \
    "smlad %[b1], %[xb_hi], %[w_hi], %[b1]\n\t"                                                                \
    "ldr %[w], [%[row]], #4\n\t"                                                                               \
    "sxtb16 %[w_hi], %[w], ror #8\n\t"                                                                         \
    "sxtb16 %[w], %[w]\n\t"                                                                                    \
    "smlad %[a0], %[xa], %[w], %[a0]\n\t"                                                                      \
    "smlad %[a0], %[xa_hi], %[w_hi], %[a0]\n\t"                                                                \
    "smlad %[b0], %[xb], %[w], %[b0]\n\t"                                                                      \
    "smlad %[b0], %[xb_hi], %[w_hi], %[b0]\n\t"
#define MCUQ_CONV_S8_STEP4                                                                                   \
    "ldr %[xb], [%[col], %[len]]\n\t"                                                                          \
    "ldr %[xa], [%[col]], #4\n\t"                                                                              \
    "ldr %[w], [%[row], %[len]]\n\t"                                                                          \
    "sxtb16 %[xa_hi], %[xa], ror #8\n\t"                                                                       \
    "sxtb16 %[xa], %[xa]\n\t"                                                                                  \
    "sxtb16 %[xb_hi], %[xb], ror #8\n\t"                                                                       \
    "sxtb16 %[xb], %[xb]\n\t" MCUQ_CONV_S8_SMLAD_2X2
/* The same with the columns widened (mcuq_conv_s8_dot_2x2_wide): one LDRD per column word pair. */
#define MCUQ_CONV_S8_WIDE_STEP4                                                                            \
    "ldr %[w], [%[row], %[len]]\n\t"                                                                         \
    "ldrd %[xb], %[xb_hi], [%[col], #8]\n\t"                                                                 \
    "ldrd %[xa], %[xa_hi], [%[col]], #16\n\t" MCUQ_CONV_S8_SMLAD_2X2
#else
#define MCUQ_CONV_S8_DSP_ASM 0
#endif

static inline void mcuq_conv_s8_copy(int8_t *dst, const int8_t *src, int32_t n) { mcuq_copy_s8(dst, src, n); }

/* acc[2 * pixel + channel] += dot(column of pixel a or b, filter row 0 or 1) over len bytes, where
 * column b follows column a and row 1 follows row 0 (both len bytes long). */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_dot_2x2_inline(const int8_t *col_a,
                                                                        const int8_t *row_0,
                                                                        int32_t len,
                                                                        int32_t *acc)
{
    const int8_t *col_b;
    const int8_t *row_1;
    int32_t a0 = acc[0], a1 = acc[1], b0 = acc[2], b1 = acc[3];
    const int8_t *const end = col_a + (len & ~3);
    int32_t n;
    /* Per 4 bytes: SXTB16 gives the int16 pairs of bytes (0, 2), SXTB16 ROR 8 those of bytes (1, 3),
     * on the column and on the filter alike, so the pairs line up for SMLAD without reordering.
     * Column b and filter row 1 lie len bytes after column a and row 0 (the caller's layout), so
     * the loop needs two pointers and one offset: with 4 accumulators and 6 operands that is 14
     * registers, all a Cortex-M has, where four pointers made the compiler spill. */
#if MCUQ_CONV_S8_DSP_ASM
    /* The loop below in assembly, 16 bytes per turn, then 4 per turn for the rest, for gcc, which
     * spills two registers of the C loop to the stack (clang cannot allocate the 14 registers of the
     * assembly: it compiles the C loop). */
    {
        const int8_t *const end16 = col_a + (len & ~15);
        int32_t xa, xb, xa_hi, xb_hi, w, w_hi;
        if (col_a != end16)
        {
            MCUQ_CONV_S8_DSP_LOOP(MCUQ_CONV_S8_STEP4 MCUQ_CONV_S8_STEP4 MCUQ_CONV_S8_STEP4 MCUQ_CONV_S8_STEP4, col_a,
                                  end16);
        }
        if (col_a != end)
        {
            MCUQ_CONV_S8_DSP_LOOP(MCUQ_CONV_S8_STEP4, col_a, end);
        }
    }
#else
    while (col_a != end)
    {
        const int32_t xb = mcuq_read_s8x4(col_a + len);
        const int32_t xa = mcuq_read_s8x4(col_a);
        const int32_t xa_lo = mcuq_sxtb16(xa), xa_hi = mcuq_sxtb16_ror8(xa);
        const int32_t xb_lo = mcuq_sxtb16(xb), xb_hi = mcuq_sxtb16_ror8(xb);
        int32_t w = mcuq_read_s8x4(row_0 + len);
        int32_t w_lo = mcuq_sxtb16(w), w_hi = mcuq_sxtb16_ror8(w);
        a1 = mcuq_smlad(xa_lo, w_lo, a1);
        a1 = mcuq_smlad(xa_hi, w_hi, a1);
        b1 = mcuq_smlad(xb_lo, w_lo, b1);
        b1 = mcuq_smlad(xb_hi, w_hi, b1);
        w = mcuq_read_s8x4(row_0);
        w_lo = mcuq_sxtb16(w);
        w_hi = mcuq_sxtb16_ror8(w);
        a0 = mcuq_smlad(xa_lo, w_lo, a0);
        a0 = mcuq_smlad(xa_hi, w_hi, a0);
        b0 = mcuq_smlad(xb_lo, w_lo, b0);
        b0 = mcuq_smlad(xb_hi, w_hi, b0);
        col_a += 4;
        row_0 += 4;
    }
#endif
    col_b = col_a + len;
    row_1 = row_0 + len;
    for (n = len & 3; n > 0; n--)
    {
        const int32_t xa = *col_a++, xb = *col_b++, w0 = *row_0++, w1 = *row_1++;
        a0 += xa * w0;
        b0 += xb * w0;
        a1 += xa * w1;
        b1 += xb * w1;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

static void mcuq_conv_s8_dot_2x2(const int8_t *col_a, const int8_t *row_0, int32_t len, int32_t *acc)
{
    acc[0] = acc[1] = acc[2] = acc[3] = 0;
    mcuq_conv_s8_dot_2x2_inline(col_a, row_0, len, acc);
}

/* Whether the channel loops may take their usual case: a bias and every shift in [-23, -2]. */
static int mcuq_conv_s8_folds_dsp(const mcuq_conv_s8_channels *ch)
{
    int folds = mcuq_conv_s8_rshifts(ch);
    int32_t oc;
    for (oc = 0; oc < ch->out_c && folds; oc++)
    {
        folds = ch->quant->shift[oc] >= -23;
    }
    return folds;
}

/*
 * Roomy scratch: when the caller's scratch holds MCUQ_CONV_S8_WIDE_SCRATCH(K) bytes (the code
 * generator gives that much wherever it does not enlarge the arena) and K is a multiple of 4, the two
 * columns are widened to int16 once per pixel pair, in the SXTB16 lane order, interleaved per 4 bytes:
 *   words 4g..4g+3 = a(4g, 4g+2), a(4g+1, 4g+3), b(4g, 4g+2), b(4g+1, 4g+3)   (int16 pairs)
 * The 2x2 inner loop then loads each column word pair with one LDRD and only the filter bytes are
 * extended: 16 instructions per 16 MACs instead of 20. A window inside the input whose rows are whole
 * words (k_w * C_in a multiple of 4) is widened straight from the input, row by row; other windows
 * are built as int8 columns (im2col) in the last 2K bytes first.
 */
/* The current pixel's column widened into lanes (words 0, 1 of each 4; pixel b's lanes start 2 words
 * later), from the input where its window lies inside it in whole-word rows, else via stage. */
static void mcuq_conv_s8_widen_pixel(int32_t *lanes,
                                     const mcuq_conv_s8_cursor *cur,
                                     const mcuq_conv_s8_window *win,
                                     int8_t *stage,
                                     int32_t len)
{
    const int8_t *src = mcuq_conv_s8_window_in_input(cur, win);
    if (src != NULL && cur->row_len % 4 == 0)
    {
        int32_t ky;
        for (ky = 0; ky < win->k_h; ky++)
        {
            mcuq_conv_s8_widen(lanes, src, cur->row_len);
            lanes += cur->row_len; /* 4 words per 4 bytes */
            src += cur->in_row;
        }
    }
    else
    {
        mcuq_conv_s8_widen(lanes, mcuq_conv_s8_column(cur, win, stage, 1), len);
    }
}

/* acc[2 * pixel + channel] += dot(widened column of pixel a or b, filter row 0 or 1), row 1 = row 0 + len. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_dot_2x2_wide(const int32_t *wide,
                                                                      const int8_t *row_0,
                                                                      int32_t len,
                                                                      int32_t *acc)
{
    const int32_t *const end = wide + len; /* 4 words per 4 bytes of K */
    int32_t a0 = acc[0], a1 = acc[1], b0 = acc[2], b1 = acc[3];
#if MCUQ_CONV_S8_DSP_ASM
    /* 16 bytes of K per turn, then 4 per turn, in assembly for the same reason as
     * mcuq_conv_s8_dot_2x2_inline's. */
    {
        const int32_t *const end16 = wide + (len & ~15);
        int32_t xa, xb, xa_hi, xb_hi, w, w_hi;
        if (wide != end16)
        {
            MCUQ_CONV_S8_DSP_LOOP(MCUQ_CONV_S8_WIDE_STEP4 MCUQ_CONV_S8_WIDE_STEP4 MCUQ_CONV_S8_WIDE_STEP4
                                      MCUQ_CONV_S8_WIDE_STEP4,
                                  wide, end16);
        }
        if (wide != end)
        {
            MCUQ_CONV_S8_DSP_LOOP(MCUQ_CONV_S8_WIDE_STEP4, wide, end);
        }
    }
#else
    while (wide != end)
    {
        int32_t w = mcuq_read_s8x4(row_0 + len);
        int32_t w_lo = mcuq_sxtb16(w), w_hi = mcuq_sxtb16_ror8(w);
        a1 = mcuq_smlad(wide[0], w_lo, a1);
        a1 = mcuq_smlad(wide[1], w_hi, a1);
        b1 = mcuq_smlad(wide[2], w_lo, b1);
        b1 = mcuq_smlad(wide[3], w_hi, b1);
        w = mcuq_read_s8x4(row_0);
        w_lo = mcuq_sxtb16(w);
        w_hi = mcuq_sxtb16_ror8(w);
        a0 = mcuq_smlad(wide[0], w_lo, a0);
        a0 = mcuq_smlad(wide[1], w_hi, a0);
        b0 = mcuq_smlad(wide[2], w_lo, b0);
        b0 = mcuq_smlad(wide[3], w_hi, b0);
        wide += 4;
        row_0 += 4;
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

/* acc[0], acc[2] += dot(widened column of pixel a, b; row) for a last channel of an odd count. */
static void mcuq_conv_s8_dot_2x1_wide(const int32_t *wide, const int8_t *row, int32_t len, int32_t *acc)
{
    int32_t a = acc[0], b = acc[2], g;
    for (g = 0; g < len; g += 4)
    {
        const int32_t w = mcuq_read_s8x4(row + g);
        const int32_t w_lo = mcuq_sxtb16(w), w_hi = mcuq_sxtb16_ror8(w);
        a = mcuq_smlad(wide[1], w_hi, mcuq_smlad(wide[0], w_lo, a));
        b = mcuq_smlad(wide[3], w_hi, mcuq_smlad(wide[2], w_lo, b));
        wide += 4;
    }
    acc[0] = a;
    acc[2] = b;
}

/* The DSP channel loop for the usual case (mcuq_conv_s8_folds_dsp). The columns are the int8 ones at
 * col, or (widened) the widened ones at wide; full: the clamp is the whole int8 range. Both flags are
 * constants where it is inlined. The accumulators start from the bias. Returns the channels done (with
 * int8 columns an odd last one is left to the caller). */
static inline MCUQ_CONV_S8_ALWAYS_INLINE int32_t mcuq_conv_s8_pairs_dsp(const int8_t *col,
                                                                      const int32_t *wide,
                                                                      const mcuq_conv_s8_channels *ch,
                                                                      int8_t *out_a,
                                                                      int8_t *out_b,
                                                                      int widened,
                                                                      int full)
{
    /* Locals, not loads through ch or params in the loop: the int8 stores could alias them. */
    const int32_t len = ch->len, out_c = ch->out_c;
    const int8_t *row = ch->filter;
    const int32_t *const bias = ch->bias;
    const int32_t *const mult = ch->quant->multiplier;
    const int32_t *const shift = ch->quant->shift;
    const mcuq_conv_s8_range range = {1u + 2u * (uint32_t)ch->params->output_offset, ch->params->activation.min,
                                      ch->params->activation.max};
    int32_t oc;
    int32_t acc[4];
    for (oc = 0; oc + 1 < out_c; oc += 2)
    {
        acc[0] = acc[2] = bias[oc];
        acc[1] = acc[3] = bias[oc + 1];
        if (widened)
        {
            mcuq_conv_s8_dot_2x2_wide(wide, row, len, acc);
        }
        else
        {
            mcuq_conv_s8_dot_2x2_inline(col, row, len, acc);
        }
        mcuq_conv_s8_out2_dsp(acc[0], acc[2], mult[oc], shift[oc], &range, full, out_a + oc, out_b + oc);
        mcuq_conv_s8_out2_dsp(acc[1], acc[3], mult[oc + 1], shift[oc + 1], &range, full, out_a + oc + 1,
                              out_b + oc + 1);
        row += 2 * len;
    }
    if (widened && oc < out_c)
    {
        acc[0] = acc[2] = bias[oc];
        mcuq_conv_s8_dot_2x1_wide(wide, row, len, acc);
        mcuq_conv_s8_out2_dsp(acc[0], acc[2], mult[oc], shift[oc], &range, full, out_a + oc, out_b + oc);
        oc++;
    }
    return oc;
}

static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_pair_wide_full(const int32_t *wide,
                                                              const mcuq_conv_s8_channels *ch,
                                                              int8_t *out_a,
                                                              int8_t *out_b)
{
    (void)mcuq_conv_s8_pairs_dsp(NULL, wide, ch, out_a, out_b, 1, 1);
}

static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_pair_wide_clamp(const int32_t *wide,
                                                               const mcuq_conv_s8_channels *ch,
                                                               int8_t *out_a,
                                                               int8_t *out_b)
{
    (void)mcuq_conv_s8_pairs_dsp(NULL, wide, ch, out_a, out_b, 1, 0);
}

/* All output channels of the pixel pair whose columns are in col (2 * len bytes), written to out_a and
 * out_b (the same pointer for an odd last pixel: col holds its column twice, both results are equal). */
static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_pair(const int8_t *col,
                                                    const mcuq_conv_s8_channels *ch,
                                                    int8_t *out_a,
                                                    int8_t *out_b,
                                                    int folds)
{
    int32_t oc = 0;
    if (folds)
    {
        if (ch->params->activation.min == -128 && ch->params->activation.max == 127)
        {
            oc = mcuq_conv_s8_pairs_dsp(col, NULL, ch, out_a, out_b, 0, 1);
        }
        else
        {
            oc = mcuq_conv_s8_pairs_dsp(col, NULL, ch, out_a, out_b, 0, 0);
        }
    }
    mcuq_conv_s8_pair_scalar(col, ch, oc, out_a, out_b);
}

MCUQ_API void mcuq_convolve_s8_dsp(const mcuq_conv_s8_args *args)
{
    const mcuq_context *const ctx = args->ctx;
    const int32_t pixels = args->input_dims->n * args->output_dims->h * args->output_dims->w;
    const int32_t out_stride = args->params->output_pixel_stride;
    int8_t *const col = (int8_t *)ctx->buf; /* pixel a's column, then pixel b's */
    int8_t *stage = col;                    /* where the int8 columns are built */
    int32_t *wide = NULL;                   /* the widened columns, with roomy scratch */
    const int full = args->params->activation.min == -128 && args->params->activation.max == 127;
    mcuq_conv_s8_window win;
    mcuq_conv_s8_cursor cur;
    mcuq_conv_s8_channels ch;
    int32_t pixel = 0;
    int folds, pointwise, direct;
    mcuq_conv_s8_fast_init(args, &win, &cur, &ch);
    folds = mcuq_conv_s8_folds_dsp(&ch);
    /* Roomy scratch: widened columns first, the int8 ones staged after them. */
    if (folds && ch.len % 4 == 0 && ctx->size >= MCUQ_CONV_S8_WIDE_SCRATCH(ch.len) &&
        ((uintptr_t)ctx->buf & 3u) == 0u)
    {
        wide = (int32_t *)ctx->buf;
        stage = col + 4 * ch.len;
    }
    /* Output pixel p's column is input pixel p (the window walk is not needed). */
    pointwise = win.k_h == 1 && win.k_w == 1 && cur.stride_h == 1 && cur.stride_w == 1 && cur.pad_top == 0 &&
                cur.pad_left == 0 && cur.out_h == win.in_h && cur.out_w == win.in_w;
    if (mcuq_conv_s8_smallk_fits(ctx, &ch, folds))
    {
        mcuq_conv_s8_smallk_walk(args, &cur, &win, &ch, pointwise, full);
        return;
    }
    /* With int8 columns, a pointwise pair's two columns are then two adjacent input pixels, len bytes
     * apart as the dot product wants them: read in place, unless the output overlaps the input (the
     * channel loop writes a pixel's outputs while later channels still read its input). */
    direct = pointwise && wide == NULL && mcuq_conv_s8_output_apart(args, pixels, out_stride);
    if (direct)
    {
        for (; pixel + 1 < pixels; pixel += 2)
        {
            int8_t *const out_a = args->output + (size_t)pixel * out_stride;
            mcuq_conv_s8_pair(args->input + (size_t)pixel * win.in_c, &ch, out_a, out_a + out_stride, folds);
        }
        /* A last odd pixel goes the usual way below: the walk starts there. */
        cur.out_x = pixel % cur.out_w;
        cur.out_y = (pixel / cur.out_w) % cur.out_h;
        cur.batch = pixel / (cur.out_w * cur.out_h);
    }
    while (pixel < pixels)
    {
        /* The pair: pixel and pixel + 1; the last pixel of an odd count is taken twice (its second
         * result is not written). Both columns are read before any output of the pair is written. */
        const int two = pixel + 1 < pixels;
        int8_t *const out_a = args->output + (size_t)pixel * out_stride;
        int8_t *const out_b = two ? out_a + out_stride : out_a;
        if (wide == NULL)
        {
            const int8_t *cols[2];
            mcuq_conv_s8_next_pair(&cur, &win, stage, ch.len, two, 0, cols);
            mcuq_conv_s8_pair(col, &ch, out_a, out_b, folds);
        }
        else
        {
            if (pointwise)
            {
                const int8_t *const src = args->input + (size_t)pixel * win.in_c;
                mcuq_conv_s8_widen_two(wide, src, two ? src + win.in_c : src, ch.len);
            }
            else
            {
                mcuq_conv_s8_widen_pixel(wide, &cur, &win, stage, ch.len);
                if (two)
                {
                    mcuq_conv_s8_advance(&cur);
                }
                mcuq_conv_s8_widen_pixel(wide + 2, &cur, &win, stage, ch.len);
                mcuq_conv_s8_advance(&cur);
            }
            if (full)
            {
                mcuq_conv_s8_pair_wide_full(wide, &ch, out_a, out_b);
            }
            else
            {
                mcuq_conv_s8_pair_wide_clamp(wide, &ch, out_a, out_b);
            }
        }
        pixel += 1 + two;
    }
}
#endif /* MCUQ_HAVE_DSP && !MCUQ_PATH_MVE */
