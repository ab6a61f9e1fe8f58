/*
 * mcuq_convolve_s8: int8 2-D convolution with groups, dilation and asymmetric padding.
 *
 * Semantics of CMSIS-NN's arm_convolve_s8 (TFLite int8): for every output element
 *   acc = bias[oc] + sum over the receptive field of (input + input_offset) * filter
 * where padded positions contribute 0 (the input zero point), then
 *   out = clamp(requantize(acc, multiplier[oc], shift[oc]) + output_offset, act.min, act.max).
 * `bias` here is mcuq's folded bias, bias[oc] + input_offset * sum(filter[oc]) (see mcuq_nn.h), so
 * the kernel sums raw input * filter products, with padded positions holding the zero point.
 *
 * Method (portable path, the reference; also every grouped conv): for each output pixel and group,
 * the receptive field is copied once into the scratch buffer as int16, padding as the zero point
 * (im2col of one column), so the inner loop over output channels is a branch-free int16 x int8 dot
 * product. The DSP and MVE paths (one group) are described where they start below.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

MCUQ_API int32_t mcuq_convolve_s8_get_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    (void)input_dims;
    return (int32_t)sizeof(int16_t) * filter_dims->h * filter_dims->w * filter_dims->c;
}

MCUQ_API int32_t mcuq_convolve_s8_get_roomy_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    /* The DSP path's widened columns (MCUQ_CONV_S8_WIDE_SCRATCH below), for K a multiple of 4. */
    const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c;
    (void)input_dims;
    return k % 4 == 0 ? 6 * k : mcuq_convolve_s8_get_buffer_size(input_dims, filter_dims);
}

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

#if defined(MCUQ_PATH_MVE) || defined(MCUQ_HAVE_DSP)
/*
 * Fast paths (DSP: Cortex-M4/M7/M33; MVE: Cortex-M55), for one group (any kernel, stride, padding,
 * dilation), bit-exact with the portable path:
 *  - Pairs (DSP always; MVE when K > 64 or K < 16): output pixels two at a time in raster order. The
 *    two receptive fields are copied into the scratch as int8 columns of K = KH*KW*C_in bytes
 *    (padding as the zero point; windows inside the input row by row), the scratch's 2*K bytes; then
 *    each pair of output channels is a 2-pixel x 2-channel dot product over K, so that every loaded
 *    column word serves two filter rows and every filter word two pixels (DSP: SXTB16 + SMLAD, 16
 *    bytes per turn in assembly; MVE: VMLADAVA.S8, four channels per vector requantization).
 *  - Held columns (MVE, 16 <= K <= 64): one pixel at a time, its column in vector registers
 *    (mcuq_conv_s8_pixel_mve); a window that is one run of input bytes (1x1) is read in place.
 * Requantization: the one-step mcuq_requantize_rshift with its per-channel part hoisted when every
 * shift is <= -2 and there is a bias (checked once per call; the models' case), else the exact general
 * helpers; MVE uses mcuq_requantize_mve.
 *
 * In place: a pixel's window (both windows of a pair) is read, into the scratch or into registers,
 * before any of its output is written, and pixels go in raster order, so every input byte is read no
 * later, and every output byte written no earlier, than in the portable loop: the shifts
 * mcuq/plan/inplace.py allows stay safe. (Reading a pixel straight from the input channel by channel,
 * even for 1x1 convs, would not be: the output of a pixel may overlap its own input, which later
 * output channels still need; the held path reads all of it into registers first.)
 */
#define MCUQ_CONV_S8_FAST 1

/* The inner loops in assembly: gcc only (clang cannot allocate their registers), and only when
 * optimizing (at -O0 the frame pointer takes one of the 14 registers the DSP loop needs); the C loops
 * below them give the same results everywhere else. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
#define MCUQ_CONV_S8_GCC_ASM 1
#else
#define MCUQ_CONV_S8_GCC_ASM 0
#endif

/* Keeps the per-pair channel loop out of the pixel loop, so that the compiler gives the dot-product
 * loop all registers instead of spilling the pixel loop's state around it. */
#if defined(__GNUC__) || defined(__clang__)
#define MCUQ_CONV_S8_NOINLINE __attribute__((noinline))
#define MCUQ_CONV_S8_ALWAYS_INLINE __attribute__((always_inline))
#else
#define MCUQ_CONV_S8_NOINLINE
#define MCUQ_CONV_S8_ALWAYS_INLINE
#endif

/* n bytes from src to dst (distinct buffers). */
static inline void mcuq_conv_s8_copy(int8_t *dst, const int8_t *src, int32_t n)
{
#if defined(MCUQ_PATH_MVE)
    for (; n >= 16; n -= 16)
    {
        vstrbq_s8(dst, vldrbq_s8(src));
        src += 16;
        dst += 16;
    }
    if (n > 0)
    {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, p), p);
    }
#else
    for (; n >= 4; n -= 4)
    {
        mcuq_write_s8x4(dst, mcuq_read_s8x4(src));
        src += 4;
        dst += 4;
    }
    for (; n > 0; n--)
    {
        *dst++ = *src++;
    }
#endif
}

static void mcuq_conv_s8_fill(int8_t *dst, int8_t value, int32_t n)
{
    for (; n > 0; n--)
    {
        *dst++ = value;
    }
}

/* The geometry im2col needs, computed once per call. */
typedef struct
{
    int32_t in_h, in_w, in_c;
    int32_t k_h, k_w;
    int32_t dil_h, dil_w;
    int8_t pad_value; /* the input zero point */
} mcuq_conv_s8_window;

/* The receptive field of the output pixel whose window starts at (base_y, base_x) of the image at
 * in_batch, as one int8 column of k_h * k_w * in_c bytes; positions in the padding hold the zero
 * point. */
static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_im2col(int8_t *dst,
                                                      const int8_t *in_batch,
                                                      const mcuq_conv_s8_window *win,
                                                      int32_t base_y,
                                                      int32_t base_x)
{
    const int32_t in_w = win->in_w, in_c = win->in_c, k_w = win->k_w, dil_w = win->dil_w;
    const int32_t row_len = k_w * in_c;
    int32_t kx0, kx1, ky, kx;

    mcuq_window_tap_range(base_x, dil_w, k_w, in_w, &kx0, &kx1);
    for (ky = 0; ky < win->k_h; ky++)
    {
        const int32_t in_y = base_y + ky * win->dil_h;
        if (in_y < 0 || in_y >= win->in_h || kx0 >= kx1)
        {
            mcuq_conv_s8_fill(dst, win->pad_value, row_len);
        }
        else
        {
            const int8_t *src = in_batch + ((size_t)in_y * in_w + base_x + kx0 * dil_w) * in_c;
            if (kx0 > 0)
            {
                mcuq_conv_s8_fill(dst, win->pad_value, kx0 * in_c);
            }
            if (dil_w == 1)
            {
                mcuq_conv_s8_copy(dst + kx0 * in_c, src, (kx1 - kx0) * in_c);
            }
            else
            {
                for (kx = kx0; kx < kx1; kx++)
                {
                    mcuq_conv_s8_copy(dst + kx * in_c, src, in_c);
                    src += (size_t)dil_w * in_c;
                }
            }
            if (kx1 < k_w)
            {
                mcuq_conv_s8_fill(dst + kx1 * in_c, win->pad_value, (k_w - kx1) * in_c);
            }
        }
        dst += row_len;
    }
}

/* acc[2 * pixel + channel] = dot(column of pixel a or b, filter row 0 or 1) over len bytes, where
 * column b follows column a and row 1 follows row 0 (both len bytes long). */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_dot_2x2_inline(const int8_t *col_a,
                                                                        const int8_t *row_0,
                                                                        int32_t len,
                                                                        int32_t *acc)
{
    const int8_t *col_b = col_a + len;
    const int8_t *row_1 = row_0 + len;
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
#if defined(MCUQ_PATH_MVE)
    /* 16 products per VMLADAVA; the last partial block with zeroing predicated loads. */
    int32_t n;
#if MCUQ_CONV_S8_GCC_ASM
    /* The loop below as one low-overhead loop in assembly: gcc derives its trip count from the
     * pointers at every call (five instructions) and moves the accumulators around it, a good part
     * of the loop itself for a short K. "Te": the even registers VMLADAVA accumulates in. */
    n = len >> 4;
    __asm__("wls lr, %[n], 2f\n\t"
            "1:\n\t"
            "vldrb.u8 q0, [%[ca]], #16\n\t"
            "vldrb.u8 q1, [%[cb]], #16\n\t"
            "vldrb.u8 q2, [%[r0]], #16\n\t"
            "vmladava.s8 %[a0], q0, q2\n\t"
            "vmladava.s8 %[b0], q1, q2\n\t"
            "vldrb.u8 q2, [%[r1]], #16\n\t"
            "vmladava.s8 %[a1], q0, q2\n\t"
            "vmladava.s8 %[b1], q1, q2\n\t"
            "le lr, 1b\n\t"
            "2:\n\t"
            : [a0] "+Te"(a0), [a1] "+Te"(a1), [b0] "+Te"(b0), [b1] "+Te"(b1), [ca] "+r"(col_a), [cb] "+r"(col_b),
              [r0] "+r"(row_0), [r1] "+r"(row_1)
            : [n] "r"(n)
            : "q0", "q1", "q2", "lr", "memory");
#else
    for (n = len >> 4; n > 0; n--)
    {
        const int8x16_t xa = vldrbq_s8(col_a);
        const int8x16_t xb = vldrbq_s8(col_b);
        const int8x16_t w0 = vldrbq_s8(row_0);
        const int8x16_t w1 = vldrbq_s8(row_1);
        a0 = vmladavaq_s8(a0, xa, w0);
        b0 = vmladavaq_s8(b0, xb, w0);
        a1 = vmladavaq_s8(a1, xa, w1);
        b1 = vmladavaq_s8(b1, xb, w1);
        col_a += 16;
        col_b += 16;
        row_0 += 16;
        row_1 += 16;
    }
#endif
    if ((len & 15) != 0)
    {
        const mve_pred16_t p = vctp8q((uint32_t)(len & 15));
        const int8x16_t xa = vldrbq_z_s8(col_a, p);
        const int8x16_t xb = vldrbq_z_s8(col_b, p);
        const int8x16_t w0 = vldrbq_z_s8(row_0, p);
        const int8x16_t w1 = vldrbq_z_s8(row_1, p);
        a0 = vmladavaq_s8(a0, xa, w0);
        b0 = vmladavaq_s8(b0, xb, w0);
        a1 = vmladavaq_s8(a1, xa, w1);
        b1 = vmladavaq_s8(b1, xb, w1);
    }
#else
    const int8_t *const end = col_a + (len & ~3);
    int32_t n;
    /* Per 4 bytes: SXTB16 gives the int16 pairs of bytes (0, 2), SXTB16 ROR 8 those of bytes (1, 3),
     * on the column and on the filter alike, so the pairs line up for SMLAD without reordering.
     * Column b and filter row 1 lie len bytes after column a and row 0 (the caller's layout), so
     * the loop needs two pointers and one offset: with 4 accumulators and 6 operands that is 14
     * registers, all a Cortex-M has, where four pointers made the compiler spill. */
#if defined(__ARM_FEATURE_DSP) && !defined(MCUQ_EMULATE_DSP) && MCUQ_CONV_S8_GCC_ASM
/* The 2x2 DSP loop in assembly, four steps (16 bytes of K) per turn, until col_ptr reaches end_ptr; the
 * step loads the operands, MCUQ_CONV_S8_SMLAD_2X2 does the products. */
#define MCUQ_CONV_S8_DSP_LOOP(step, col_ptr, end_ptr)                                                       \
    __asm__("1:\n\t" step step step step "cmp %[col], %[end]\n\t"                                         \
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
    /* The loop below in assembly, 16 bytes per turn, for gcc, which spills two registers of the C loop
     * to the stack (clang cannot allocate the 14 registers of the assembly: it compiles the C loop). */
    {
        const int8_t *const end16 = col_a + (len & ~15);
        int32_t xa, xb, xa_hi, xb_hi, w, w_hi;
        if (col_a != end16)
        {
            MCUQ_CONV_S8_DSP_LOOP(MCUQ_CONV_S8_STEP4, col_a, end16);
        }
#undef MCUQ_CONV_S8_STEP4
    }
#endif
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
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

static void mcuq_conv_s8_dot_2x2(const int8_t *col_a, const int8_t *row_0, int32_t len, int32_t *acc)
{
    mcuq_conv_s8_dot_2x2_inline(col_a, row_0, len, acc);
}

/* The last channel of an odd count: acc[pixel] = dot(column of pixel a or b, row) (no row after it). */
static void mcuq_conv_s8_dot_2x1(const int8_t *col_a, const int8_t *row, int32_t len, int32_t *acc)
{
    int32_t a = 0, b = 0, i;
    for (i = 0; i < len; i++)
    {
        a += (int32_t)col_a[i] * row[i];
        b += (int32_t)col_a[len + i] * row[i];
    }
    acc[0] = a;
    acc[2] = b;
}

/* The output step of one channel: requantization (mcuq_requantize exactly), output offset, clamp. */
typedef struct
{
    int32_t multiplier;
    int32_t shift;
    int32_t round_hi; /* shift <= -2: 2^(-shift - 2), the high word of the rounding constant */
    int32_t out_offset;
    int32_t act_min;
    int32_t act_max;
} mcuq_conv_s8_out_step;

static inline void mcuq_conv_s8_out_step_init(mcuq_conv_s8_out_step *step, int32_t multiplier, int32_t shift,
                                              const mcuq_conv_params *params)
{
    step->multiplier = multiplier;
    step->shift = shift;
    step->round_hi = shift <= -2 ? (int32_t)(1u << (-shift - 2)) : 0;
    step->out_offset = params->output_offset;
    step->act_min = params->activation.min;
    step->act_max = params->activation.max;
}

/* mcuq_requantize_rshift for n = -shift >= 2 with its per-channel part precomputed: one SMLAL and four
 * ALU instructions per value. Other shifts (n = 1, left shifts): mcuq_requantize. */
static inline int8_t mcuq_conv_s8_out(int32_t acc, const mcuq_conv_s8_out_step *step)
{
    int32_t v;
    if (step->shift <= -2)
    {
        const uint32_t lo = 0x40000000u | ((uint32_t)acc & 0x80000000u);
        const int32_t hi = step->round_hi + (acc >> 31);
        const int64_t sum = (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo) + (int64_t)acc * step->multiplier;
        v = (int32_t)(sum >> 32) >> (-step->shift - 1);
    }
    else
    {
        v = mcuq_requantize(acc, step->multiplier, step->shift);
    }
    return (int8_t)mcuq_clamp_s32(v + step->out_offset, step->act_min, step->act_max);
}

/* Output channels [oc, out_c) of the pixel pair whose columns are in col, two at a time (scalar output
 * step); out_b may equal out_a (an odd last pixel, whose column col then holds twice). */
static void mcuq_conv_s8_pair_scalar(const int8_t *col,
                                     int32_t len,
                                     const mcuq_conv_params *params,
                                     const mcuq_per_channel_quant *quant,
                                     const int8_t *filter,
                                     const int32_t *bias,
                                     int32_t oc,
                                     int32_t out_c,
                                     int8_t *out_a,
                                     int8_t *out_b)
{
    for (; oc < out_c; oc += 2)
    {
        const int8_t *const row = filter + (size_t)oc * len;
        mcuq_conv_s8_out_step step;
        int32_t acc[4];
        int32_t b;

        if (oc + 1 == out_c)
        {
            mcuq_conv_s8_dot_2x1(col, row, len, acc);
        }
        else
        {
            mcuq_conv_s8_dot_2x2(col, row, len, acc);
            b = bias != NULL ? bias[oc + 1] : 0;
            mcuq_conv_s8_out_step_init(&step, quant->multiplier[oc + 1], quant->shift[oc + 1], params);
            out_a[oc + 1] = mcuq_conv_s8_out(acc[1] + b, &step);
            out_b[oc + 1] = mcuq_conv_s8_out(acc[3] + b, &step);
        }
        b = bias != NULL ? bias[oc] : 0;
        mcuq_conv_s8_out_step_init(&step, quant->multiplier[oc], quant->shift[oc], params);
        out_a[oc] = mcuq_conv_s8_out(acc[0] + b, &step);
        out_b[oc] = mcuq_conv_s8_out(acc[2] + b, &step);
    }
}

#if !defined(MCUQ_PATH_MVE)
/* mcuq_requantize_rshift (shift <= -2) of one channel's two values, with the per-channel part hoisted;
 * then the output offset and the clamp (SSAT when full: the clamp is the whole int8 range). */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_out2_dsp(int32_t a,
                                                                  int32_t b,
                                                                  int32_t bias,
                                                                  int32_t mult,
                                                                  int32_t shift,
                                                                  int32_t out_offset,
                                                                  int32_t act_min,
                                                                  int32_t act_max,
                                                                  int full,
                                                                  int8_t *out_a,
                                                                  int8_t *out_b)
{
    const int32_t n = -shift;
    const int32_t round_hi = (int32_t)(1u << (n - 2));
    int32_t i;
    for (i = 0; i < 2; i++)
    {
        const int32_t x = (i == 0 ? a : b) + bias;
        const uint32_t lo = 0x40000000u | ((uint32_t)x & 0x80000000u);
        const int32_t hi = round_hi + (x >> 31);
        const int64_t sum = (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo) + (int64_t)x * mult;
        int32_t v = ((int32_t)(sum >> 32) >> (n - 1)) + out_offset;
        if (full)
        {
            v = mcuq_ssat8(v);
        }
        else
        {
            v = mcuq_clamp_s32(v, act_min, act_max);
        }
        *(i == 0 ? out_a : out_b) = (int8_t)v;
    }
}

#endif


#if !defined(MCUQ_PATH_MVE)
/*
 * Roomy scratch (DSP): when the caller's scratch holds MCUQ_CONV_S8_WIDE_SCRATCH(K) bytes (the code
 * generator gives that much wherever it does not enlarge the arena) and K is a multiple of 4, the two
 * columns are widened to int16 once per pixel pair, in the SXTB16 lane order, interleaved per 4 bytes:
 *   words 4g..4g+3 = a(4g, 4g+2), a(4g+1, 4g+3), b(4g, 4g+2), b(4g+1, 4g+3)   (int16 pairs)
 * The 2x2 inner loop then loads each column word pair with one LDRD and only the filter bytes are
 * extended: 16 instructions per 16 MACs instead of 20. The int8 columns (the im2col, or the input
 * itself for a window that is one run of input bytes) stage in the last 2K bytes.
 */
#define MCUQ_CONV_S8_WIDE_SCRATCH(k) (6 * (k))

/* The two int8 columns a and b (len bytes each, len % 4 == 0) widened into the layout above. */
static void mcuq_conv_s8_widen(int32_t *wide, const int8_t *a, const int8_t *b, int32_t len)
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

/* acc[2 * pixel + channel] = dot(widened column of pixel a or b, filter row 0 or 1), row 1 = row 0 + len. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_dot_2x2_wide(const int32_t *wide,
                                                                      const int8_t *row_0,
                                                                      int32_t len,
                                                                      int32_t *acc)
{
    const int32_t *const end = wide + len; /* 4 words per 4 bytes of K */
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
#if defined(__ARM_FEATURE_DSP) && !defined(MCUQ_EMULATE_DSP) && MCUQ_CONV_S8_GCC_ASM
#define MCUQ_CONV_S8_WIDE_STEP4                                                                            \
    "ldr %[w], [%[row], %[len]]\n\t"                                                                         \
    "ldrd %[xb], %[xb_hi], [%[col], #8]\n\t"                                                                 \
    "ldrd %[xa], %[xa_hi], [%[col]], #16\n\t" MCUQ_CONV_S8_SMLAD_2X2
    /* 16 bytes of K per turn, in assembly for the same reason as mcuq_conv_s8_dot_2x2_inline's. */
    {
        const int32_t *const end16 = wide + (len & ~15);
        int32_t xa, xb, xa_hi, xb_hi, w, w_hi;
        if (wide != end16)
        {
            MCUQ_CONV_S8_DSP_LOOP(MCUQ_CONV_S8_WIDE_STEP4, wide, end16);
        }
#undef MCUQ_CONV_S8_WIDE_STEP4
    }
#endif
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
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

/* acc[0], acc[2] = dot(widened column of pixel a, b; row) for a last channel of an odd count. */
static void mcuq_conv_s8_dot_2x1_wide(const int32_t *wide, const int8_t *row, int32_t len, int32_t *acc)
{
    int32_t a = 0, b = 0, g;
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

/* The DSP channel loop for the usual case, checked once per call: a bias, and every shift <= -2. The
 * columns are the int8 ones at col, or (widened) the widened ones at wide; full: the clamp is the whole
 * int8 range. Both flags are constants where it is inlined. Returns the channels done (with int8
 * columns an odd last one is left to the caller). */
static inline MCUQ_CONV_S8_ALWAYS_INLINE int32_t mcuq_conv_s8_pairs_dsp(const int8_t *col,
                                                                      const int32_t *wide,
                                                                      int32_t len,
                                                                      const mcuq_conv_params *params,
                                                                      const mcuq_per_channel_quant *quant,
                                                                      const int8_t *filter,
                                                                      const int32_t *bias,
                                                                      int32_t out_c,
                                                                      int8_t *out_a,
                                                                      int8_t *out_b,
                                                                      int widened,
                                                                      int full)
{
    /* Locals, not loads through params in the loop: the int8 stores could alias them. */
    const int32_t *const mult = quant->multiplier;
    const int32_t *const shift = quant->shift;
    const int32_t out_offset = params->output_offset;
    const int32_t act_min = params->activation.min, act_max = params->activation.max;
    int32_t oc;
    int32_t acc[4];
    for (oc = 0; oc + 1 < out_c; oc += 2)
    {
        int32_t b1, m1, s1;
        if (widened)
        {
            mcuq_conv_s8_dot_2x2_wide(wide, filter + (size_t)oc * len, len, acc);
        }
        else
        {
            mcuq_conv_s8_dot_2x2_inline(col, filter + (size_t)oc * len, len, acc);
        }
        b1 = bias[oc + 1];
        m1 = mult[oc + 1];
        s1 = shift[oc + 1];
        mcuq_conv_s8_out2_dsp(acc[0], acc[2], bias[oc], mult[oc], shift[oc], out_offset, act_min, act_max, full,
                              out_a + oc, out_b + oc);
        mcuq_conv_s8_out2_dsp(acc[1], acc[3], b1, m1, s1, out_offset, act_min, act_max, full, out_a + oc + 1,
                              out_b + oc + 1);
    }
    if (widened && oc < out_c)
    {
        mcuq_conv_s8_dot_2x1_wide(wide, filter + (size_t)oc * len, len, acc);
        mcuq_conv_s8_out2_dsp(acc[0], acc[2], bias[oc], mult[oc], shift[oc], out_offset, act_min, act_max, full,
                              out_a + oc, out_b + oc);
        oc++;
    }
    return oc;
}

static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_pair_wide_full(const int32_t *wide, int32_t len,
                                                              const mcuq_conv_params *params,
                                                              const mcuq_per_channel_quant *quant,
                                                              const int8_t *filter, const int32_t *bias,
                                                              int32_t out_c, int8_t *out_a, int8_t *out_b)
{
    (void)mcuq_conv_s8_pairs_dsp(NULL, wide, len, params, quant, filter, bias, out_c, out_a, out_b, 1, 1);
}

static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_pair_wide_clamp(const int32_t *wide, int32_t len,
                                                               const mcuq_conv_params *params,
                                                               const mcuq_per_channel_quant *quant,
                                                               const int8_t *filter, const int32_t *bias,
                                                               int32_t out_c, int8_t *out_a, int8_t *out_b)
{
    (void)mcuq_conv_s8_pairs_dsp(NULL, wide, len, params, quant, filter, bias, out_c, out_a, out_b, 1, 0);
}
#endif

#if defined(MCUQ_PATH_MVE)
/* Four channels at a time: two 2x2 dot products, then the four values of each pixel requantized as one
 * vector and stored with one narrowing VSTRB; returns the number of channels done. rshift_only (a
 * bias and no left shift, checked once per call): mcuq_requantize_mve without its left-shift steps. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE int32_t mcuq_conv_s8_groups_mve(const int8_t *col,
                                                                       int32_t len,
                                                                       const mcuq_conv_params *params,
                                                                       const mcuq_per_channel_quant *quant,
                                                                       const int8_t *filter,
                                                                       const int32_t *bias,
                                                                       int32_t out_c,
                                                                       int8_t *out_a,
                                                                       int8_t *out_b,
                                                                       int rshift_only)
{
    const int32x4_t out_offset = vdupq_n_s32(params->output_offset);
    const int32x4_t act_min = vdupq_n_s32(params->activation.min);
    const int32x4_t act_max = vdupq_n_s32(params->activation.max);
    int32_t oc;
    for (oc = 0; oc + 4 <= out_c; oc += 4)
    {
        const int8_t *const row = filter + (size_t)oc * len;
        int32x4_t b, mult, shift, va, vb;
        int32_t acc[8];
        mcuq_conv_s8_dot_2x2_inline(col, row, len, acc);
        mcuq_conv_s8_dot_2x2_inline(col, row + 2 * len, len, acc + 4);
        b = rshift_only || bias != NULL ? vldrwq_s32(bias + oc) : vdupq_n_s32(0);
        mult = vldrwq_s32(quant->multiplier + oc);
        shift = vldrwq_s32(quant->shift + oc);
        va = vdupq_n_s32(acc[0]);
        va = vsetq_lane_s32(acc[1], va, 1);
        va = vsetq_lane_s32(acc[4], va, 2);
        va = vsetq_lane_s32(acc[5], va, 3);
        vb = vdupq_n_s32(acc[2]);
        vb = vsetq_lane_s32(acc[3], vb, 1);
        vb = vsetq_lane_s32(acc[6], vb, 2);
        vb = vsetq_lane_s32(acc[7], vb, 3);
        va = vaddq_s32(va, b);
        vb = vaddq_s32(vb, b);
        if (rshift_only)
        {
            /* mcuq_requantize_mve with a zero left shift: shift is the (non-positive) right one. */
            va = vqrdmulhq_s32(va, mult);
            vb = vqrdmulhq_s32(vb, mult);
            va = vrshlq_s32(vqaddq_s32(va, vshrq_n_s32(vandq_s32(va, shift), 31)), shift);
            vb = vrshlq_s32(vqaddq_s32(vb, vshrq_n_s32(vandq_s32(vb, shift), 31)), shift);
        }
        else
        {
            va = mcuq_requantize_mve(va, mult, shift);
            vb = mcuq_requantize_mve(vb, mult, shift);
        }
        va = vaddq_s32(va, out_offset);
        vb = vaddq_s32(vb, out_offset);
        vstrbq_s32(out_a + oc, vminq_s32(vmaxq_s32(va, act_min), act_max));
        vstrbq_s32(out_b + oc, vminq_s32(vmaxq_s32(vb, act_min), act_max));
    }
    return oc;
}
#endif

#if defined(MCUQ_PATH_MVE)
/* For 16 <= K <= 64: one pixel at a time, its column held in nv = ceil(K / 16) vector registers, so
 * that an output channel costs nv VLDRB of filter and nv VMLADAVA, with no loop over K and no second
 * pixel. The last vector holds the column's last 16 bytes with the lanes the previous vector already
 * covers zeroed, and is multiplied by the filter row's last 16 bytes: every load stays inside its
 * row and unpredicated. */
#define MCUQ_CONV_S8_HELD_MIN 16
#define MCUQ_CONV_S8_HELD_MAX 64

#if MCUQ_CONV_S8_GCC_ASM
/* In assembly: gcc otherwise hoists every filter load of a group of channels ahead of the multiplies
 * and spills vectors to the stack. x3 is the last vector for nv = 4, x2 for 3, and so on. */
#define MCUQ_CONV_S8_HELD_ASM(body, ...)                                                                   \
    __asm__(body : [acc] "=&Te"(acc), [t] "=&w"(t), [p] "+r"(p) : __VA_ARGS__, [len] "r"(len) : "memory")
#define MCUQ_CONV_S8_LD(j) "vldrb.u8 %q[t], [%[p], #" #j "]\n\t"
#define MCUQ_CONV_S8_LAST "add %[p], %[p], %[len]\n\tvldrb.u8 %q[t], [%[p], #-16]\n\t"
static inline MCUQ_CONV_S8_ALWAYS_INLINE int32_t mcuq_conv_s8_dot_held(int8x16_t x0,
                                                                     int8x16_t x1,
                                                                     int8x16_t x2,
                                                                     int8x16_t x3,
                                                                     const int8_t **row,
                                                                     int32_t len,
                                                                     int nv)
{
    const int8_t *p = *row;
    int32_t acc;
    int8x16_t t;
    if (nv == 1)
    {
        MCUQ_CONV_S8_HELD_ASM(MCUQ_CONV_S8_LAST "vmladav.s8 %[acc], %q[x0], %q[t]\n\t", [x0] "w"(x0));
    }
    else if (nv == 2)
    {
        MCUQ_CONV_S8_HELD_ASM(MCUQ_CONV_S8_LD(0) "vmladav.s8 %[acc], %q[x0], %q[t]\n\t" MCUQ_CONV_S8_LAST
                              "vmladava.s8 %[acc], %q[x1], %q[t]\n\t",
                              [x0] "w"(x0), [x1] "w"(x1));
    }
    else if (nv == 3)
    {
        MCUQ_CONV_S8_HELD_ASM(MCUQ_CONV_S8_LD(0) "vmladav.s8 %[acc], %q[x0], %q[t]\n\t" MCUQ_CONV_S8_LD(16)
                              "vmladava.s8 %[acc], %q[x1], %q[t]\n\t" MCUQ_CONV_S8_LAST
                              "vmladava.s8 %[acc], %q[x2], %q[t]\n\t",
                              [x0] "w"(x0), [x1] "w"(x1), [x2] "w"(x2));
    }
    else
    {
        MCUQ_CONV_S8_HELD_ASM(MCUQ_CONV_S8_LD(0) "vmladav.s8 %[acc], %q[x0], %q[t]\n\t" MCUQ_CONV_S8_LD(16)
                              "vmladava.s8 %[acc], %q[x1], %q[t]\n\t" MCUQ_CONV_S8_LD(32)
                              "vmladava.s8 %[acc], %q[x2], %q[t]\n\t" MCUQ_CONV_S8_LAST
                              "vmladava.s8 %[acc], %q[x3], %q[t]\n\t",
                              [x0] "w"(x0), [x1] "w"(x1), [x2] "w"(x2), [x3] "w"(x3));
    }
    *row = p;
    return acc;
}
#undef MCUQ_CONV_S8_LD
#undef MCUQ_CONV_S8_LAST
#else
static inline MCUQ_CONV_S8_ALWAYS_INLINE int32_t mcuq_conv_s8_dot_held(int8x16_t x0,
                                                                     int8x16_t x1,
                                                                     int8x16_t x2,
                                                                     int8x16_t x3,
                                                                     const int8_t **row,
                                                                     int32_t len,
                                                                     int nv)
{
    const int8_t *const w = *row;
    const int8x16_t x[4] = {x0, x1, x2, x3};
    int32_t acc = 0;
    int j;
    for (j = 0; j < nv - 1; j++)
    {
        acc = vmladavaq_s8(acc, x[j], vldrbq_s8(w + 16 * j));
    }
    *row = w + len;
    return vmladavaq_s8(acc, x[nv - 1], vldrbq_s8(w + len - 16));
}
#endif

/* All output channels of one pixel whose column (len bytes, 16 * (nv - 1) < len <= 16 * nv) is at col:
 * four channels per vector requantization and narrowing store, the rest through the scalar step. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_pixel_held(const int8_t *col,
                                                                    int32_t len,
                                                                    const mcuq_conv_params *params,
                                                                    const mcuq_per_channel_quant *quant,
                                                                    const int8_t *filter,
                                                                    const int32_t *bias,
                                                                    int32_t out_c,
                                                                    int8_t *out,
                                                                    int rshift_only,
                                                                    int nv)
{
    /* The last vector: the column's last 16 bytes, its first 16 * nv - len lanes zeroed. */
    const mve_pred16_t last = (mve_pred16_t)~vctp8q((uint32_t)(16 * nv - len));
    const int8x16_t xl = vldrbq_z_s8(col + len - 16, last);
    const int8x16_t x0 = nv == 1 ? xl : vldrbq_s8(col);
    const int8x16_t x1 = nv == 2 ? xl : (nv > 2 ? vldrbq_s8(col + 16) : vdupq_n_s8(0));
    const int8x16_t x2 = nv == 3 ? xl : (nv > 3 ? vldrbq_s8(col + 32) : vdupq_n_s8(0));
    const int8x16_t x3 = nv == 4 ? xl : vdupq_n_s8(0);
    const int32x4_t out_offset = vdupq_n_s32(params->output_offset);
    const int32x4_t act_min = vdupq_n_s32(params->activation.min);
    const int32x4_t act_max = vdupq_n_s32(params->activation.max);
    const int8_t *w = filter;
    int32_t oc;
    /* The column is in registers from here on: the output may overwrite it (in place). */
    for (oc = 0; oc + 4 <= out_c; oc += 4)
    {
        int32x4_t v, mult, shift;
        const int32_t a0 = mcuq_conv_s8_dot_held(x0, x1, x2, x3, &w, len, nv);
        const int32_t a1 = mcuq_conv_s8_dot_held(x0, x1, x2, x3, &w, len, nv);
        const int32_t a2 = mcuq_conv_s8_dot_held(x0, x1, x2, x3, &w, len, nv);
        const int32_t a3 = mcuq_conv_s8_dot_held(x0, x1, x2, x3, &w, len, nv);
        v = vdupq_n_s32(a0);
        v = vsetq_lane_s32(a1, v, 1);
        v = vsetq_lane_s32(a2, v, 2);
        v = vsetq_lane_s32(a3, v, 3);
        v = vaddq_s32(v, rshift_only || bias != NULL ? vldrwq_s32(bias + oc) : vdupq_n_s32(0));
        mult = vldrwq_s32(quant->multiplier + oc);
        shift = vldrwq_s32(quant->shift + oc);
        if (rshift_only)
        {
            v = vqrdmulhq_s32(v, mult); /* mcuq_requantize_mve with a zero left shift */
            v = vrshlq_s32(vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, shift), 31)), shift);
        }
        else
        {
            v = mcuq_requantize_mve(v, mult, shift);
        }
        v = vaddq_s32(v, out_offset);
        vstrbq_s32(out + oc, vminq_s32(vmaxq_s32(v, act_min), act_max));
    }
    for (; oc < out_c; oc++)
    {
        mcuq_conv_s8_out_step step;
        const int32_t acc = mcuq_conv_s8_dot_held(x0, x1, x2, x3, &w, len, nv) + (bias != NULL ? bias[oc] : 0);
        mcuq_conv_s8_out_step_init(&step, quant->multiplier[oc], quant->shift[oc], params);
        out[oc] = mcuq_conv_s8_out(acc, &step);
    }
}

static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_pixel_mve(const int8_t *col,
                                                         int32_t len,
                                                         const mcuq_conv_params *params,
                                                         const mcuq_per_channel_quant *quant,
                                                         const int8_t *filter,
                                                         const int32_t *bias,
                                                         int32_t out_c,
                                                         int8_t *out,
                                                         int rshift_only)
{
    /* One instance per vector count; the requantization branch is taken per four channels. */
    switch ((len + 15) >> 4)
    {
    case 1:
        mcuq_conv_s8_pixel_held(col, len, params, quant, filter, bias, out_c, out, rshift_only, 1);
        break;
    case 2:
        mcuq_conv_s8_pixel_held(col, len, params, quant, filter, bias, out_c, out, rshift_only, 2);
        break;
    case 3:
        mcuq_conv_s8_pixel_held(col, len, params, quant, filter, bias, out_c, out, rshift_only, 3);
        break;
    default:
        mcuq_conv_s8_pixel_held(col, len, params, quant, filter, bias, out_c, out, rshift_only, 4);
        break;
    }
}
#endif

/* All output channels of the pixel pair whose columns are in col (2 * len bytes), written to out_a and
 * out_b (the same pointer for an odd last pixel: col holds its column twice, both results are equal). */
static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_pair(const int8_t *col,
                                                    int32_t len,
                                                    const mcuq_conv_params *params,
                                                    const mcuq_per_channel_quant *quant,
                                                    const int8_t *filter,
                                                    const int32_t *bias,
                                                    int32_t out_c,
                                                    int8_t *out_a,
                                                    int8_t *out_b,
                                                    int rshifts)
{
    int32_t oc = 0;
#if defined(MCUQ_PATH_MVE)
    if (rshifts)
    {
        oc = mcuq_conv_s8_groups_mve(col, len, params, quant, filter, bias, out_c, out_a, out_b, 1);
    }
    else
    {
        oc = mcuq_conv_s8_groups_mve(col, len, params, quant, filter, bias, out_c, out_a, out_b, 0);
    }
#else
    if (rshifts)
    {
        if (params->activation.min == -128 && params->activation.max == 127)
        {
            oc = mcuq_conv_s8_pairs_dsp(col, NULL, len, params, quant, filter, bias, out_c, out_a, out_b, 0, 1);
        }
        else
        {
            oc = mcuq_conv_s8_pairs_dsp(col, NULL, len, params, quant, filter, bias, out_c, out_a, out_b, 0, 0);
        }
    }
#endif
    mcuq_conv_s8_pair_scalar(col, len, params, quant, filter, bias, oc, out_c, out_a, out_b);
}

static void mcuq_convolve_s8_fast(const mcuq_context *ctx,
                                  const mcuq_conv_params *params,
                                  const mcuq_per_channel_quant *quant,
                                  const mcuq_dims *input_dims,
                                  const int8_t *input,
                                  const mcuq_dims *filter_dims,
                                  const int8_t *filter,
                                  const int32_t *bias,
                                  const mcuq_dims *output_dims,
                                  int8_t *output)
{
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t col_len = filter_dims->h * filter_dims->w * filter_dims->c;
    const int32_t out_stride = params->output_pixel_stride;
    mcuq_conv_s8_window win;
    const int32_t in_image = input_dims->h * input_dims->w * input_dims->c;
    const int32_t pixels = input_dims->n * out_h * out_w;
    int8_t *const col = (int8_t *)ctx->buf; /* pixel a's column, then pixel b's */
    int8_t *stage = col;                    /* where the int8 columns are built */
#if !defined(MCUQ_PATH_MVE)
    int32_t *wide = NULL; /* the widened columns, with roomy scratch */
#endif
    int32_t pixel = 0, batch = 0, out_y = 0, out_x = 0;
    /* The DSP channel loop's case: a bias and only right shifts of 2 or more. */
    int rshifts = bias != NULL;
    int dense;
    int32_t last_y, last_x, row_len, in_row;
    win.in_h = input_dims->h;
    win.in_w = input_dims->w;
    win.in_c = input_dims->c;
    win.k_h = filter_dims->h;
    win.k_w = filter_dims->w;
    win.dil_h = params->dilation.h;
    win.dil_w = params->dilation.w;
    win.pad_value = (int8_t)-params->input_offset;
    /* Windows without dilation that lie inside the input (the usual case) are copied row by row. */
    dense = win.dil_h == 1 && win.dil_w == 1;
    last_y = win.in_h - win.k_h;
    last_x = win.in_w - win.k_w;
    row_len = win.k_w * win.in_c;
    in_row = win.in_w * win.in_c;
    for (pixel = 0; pixel < out_c; pixel++)
    {
        rshifts &= quant->shift[pixel] <= -2;
    }
    pixel = 0;
#if !defined(MCUQ_PATH_MVE)
    /* Roomy scratch: widened columns first, the int8 ones staged after them. */
    if (rshifts && col_len % 4 == 0 && ctx->size >= MCUQ_CONV_S8_WIDE_SCRATCH(col_len) &&
        ((uintptr_t)ctx->buf & 3u) == 0u)
    {
        wide = (int32_t *)ctx->buf;
        stage = col + 4 * col_len;
    }
#endif

#if defined(MCUQ_PATH_MVE)
    if (col_len >= MCUQ_CONV_S8_HELD_MIN && col_len <= MCUQ_CONV_S8_HELD_MAX)
    {
        /* One pixel at a time (in place: its window is in registers before its output is written).
         * A window that is one run of input bytes (a single row of taps, inside the input: 1x1
         * convs) is read where it is; others are copied into the scratch first. */
        for (; pixel < pixels; pixel++)
        {
            const int32_t base_y = out_y * params->stride.h - params->padding.top;
            const int32_t base_x = out_x * params->stride.w - params->padding.left;
            const int8_t *const in_batch = input + (size_t)batch * in_image;
            const int8_t *src = col;
            if (dense && base_y >= 0 && base_x >= 0 && base_y <= last_y && base_x <= last_x)
            {
                src = in_batch + ((size_t)base_y * win.in_w + base_x) * win.in_c;
                if (win.k_h > 1)
                {
                    int8_t *dst = col;
                    int32_t ky;
                    for (ky = 0; ky < win.k_h; ky++)
                    {
                        mcuq_conv_s8_copy(dst, src, row_len);
                        dst += row_len;
                        src += in_row;
                    }
                    src = col;
                }
            }
            else
            {
                mcuq_conv_s8_im2col(col, in_batch, &win, base_y, base_x);
            }
            mcuq_conv_s8_pixel_mve(src, col_len, params, quant, filter, bias, out_c,
                                   output + (size_t)pixel * out_stride, rshifts);
            if (++out_x == out_w)
            {
                out_x = 0;
                if (++out_y == out_h)
                {
                    out_y = 0;
                    batch++;
                }
            }
        }
        return;
    }
#endif

    while (pixel < pixels)
    {
        /* The pair: pixel and pixel + 1; the last pixel of an odd count is taken twice (its second
         * result is not written). */
        const int32_t two = pixel + 1 < pixels;
        int8_t *const out_a = output + (size_t)pixel * out_stride;
        int8_t *const out_b = two ? out_a + out_stride : out_a;
        const int8_t *src_col[2];
        int32_t i;
        src_col[0] = stage;
        src_col[1] = stage + col_len;
        (void)src_col; /* read by the DSP path's widening only */

        for (i = 0; i < 2; i++)
        {
            const int32_t base_y = out_y * params->stride.h - params->padding.top;
            const int32_t base_x = out_x * params->stride.w - params->padding.left;
            const int8_t *const in_batch = input + (size_t)batch * in_image;
            if (dense && base_y >= 0 && base_x >= 0 && base_y <= last_y && base_x <= last_x)
            {
                /* The window lies inside the input: k_h rows of k_w * in_c contiguous bytes. */
                const int8_t *src = in_batch + ((size_t)base_y * win.in_w + base_x) * win.in_c;
                int8_t *dst = stage + i * col_len;
                int32_t ky = 0;
#if !defined(MCUQ_PATH_MVE)
                if (wide != NULL && win.k_h == 1)
                {
                    src_col[i] = src; /* one run of input bytes: widened from where it is */
                    ky = win.k_h;     /* nothing to copy */
                }
#endif
                for (; ky < win.k_h; ky++)
                {
                    mcuq_conv_s8_copy(dst, src, row_len);
                    dst += row_len;
                    src += in_row;
                }
            }
            else
            {
                mcuq_conv_s8_im2col(stage + i * col_len, in_batch, &win, base_y, base_x);
            }
            if (i == 0 && !two)
            {
                continue; /* the same pixel again */
            }
            if (++out_x == out_w)
            {
                out_x = 0;
                if (++out_y == out_h)
                {
                    out_y = 0;
                    batch++;
                }
            }
        }

#if !defined(MCUQ_PATH_MVE)
        if (wide != NULL)
        {
            mcuq_conv_s8_widen(wide, src_col[0], src_col[1], col_len);
            if (params->activation.min == -128 && params->activation.max == 127)
            {
                mcuq_conv_s8_pair_wide_full(wide, col_len, params, quant, filter, bias, out_c, out_a, out_b);
            }
            else
            {
                mcuq_conv_s8_pair_wide_clamp(wide, col_len, params, quant, filter, bias, out_c, out_a, out_b);
            }
            pixel += 1 + two;
            continue;
        }
#endif
        mcuq_conv_s8_pair(col, col_len, params, quant, filter, bias, out_c, out_a, out_b, rshifts);
        pixel += 1 + two;
    }
}
#endif /* fast paths */

static int mcuq_convolve_s8_args_ok(const mcuq_context *ctx,
                                    const mcuq_conv_params *params,
                                    const mcuq_dims *input_dims,
                                    const mcuq_dims *filter_dims,
                                    const mcuq_dims *output_dims)
{
    const int32_t groups = params->groups;
    if (groups < 1 || !mcuq_activation_ok(&params->activation))
    {
        return 0;
    }
    /* The padding value, the zero point -input_offset, must be an int8. */
    if (params->input_offset < -127 || params->input_offset > 128)
    {
        return 0;
    }
    if (mcuq_dims_size(filter_dims) < 0 || filter_dims->c < 1 || input_dims->c != filter_dims->c * groups ||
        output_dims->c != filter_dims->n || filter_dims->n % groups != 0 ||
        params->output_pixel_stride < output_dims->c ||
        !mcuq_conv_window_ok(&params->stride, &params->dilation, &params->padding, input_dims, filter_dims->h,
                             filter_dims->w, output_dims))
    {
        return 0;
    }
    if (ctx->size < mcuq_convolve_s8_get_buffer_size(input_dims, filter_dims) || ctx->buf == NULL ||
        ((uintptr_t)ctx->buf & 1u) != 0u)
    {
        return 0;
    }
    return 1;
}

MCUQ_API mcuq_status mcuq_convolve_s8(const mcuq_context *ctx,
                                      const mcuq_conv_params *params,
                                      const mcuq_per_channel_quant *quant,
                                      const mcuq_dims *input_dims,
                                      const int8_t *input,
                                      const mcuq_dims *filter_dims,
                                      const int8_t *filter,
                                      const int32_t *bias,
                                      const mcuq_dims *output_dims,
                                      int8_t *output)
{
    int32_t batch, out_y, out_x, group, ky, kx, c, oc;

    if (ctx == NULL || params == NULL || quant == NULL || input_dims == NULL || input == NULL ||
        filter_dims == NULL || filter == NULL || output_dims == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (!mcuq_convolve_s8_args_ok(ctx, params, input_dims, filter_dims, output_dims))
    {
        return MCUQ_ARG_ERROR;
    }
#if defined(MCUQ_CONV_S8_FAST)
    if (params->groups == 1)
    {
        mcuq_convolve_s8_fast(ctx, params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
        return MCUQ_OK;
    }
#endif

    {
        const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
        const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
        const int32_t group_in_c = filter_dims->c;
        const int32_t group_out_c = filter_dims->n / params->groups;
        const int32_t col_len = k_h * k_w * group_in_c;
        const int32_t out_stride = params->output_pixel_stride;
        int16_t *const col = (int16_t *)ctx->buf;

        for (batch = 0; batch < input_dims->n; batch++)
        {
            const int8_t *const in_batch = input + (size_t)batch * in_h * in_w * in_c;
            for (out_y = 0; out_y < output_dims->h; out_y++)
            {
                const int32_t base_y = out_y * params->stride.h - params->padding.top;
                for (out_x = 0; out_x < output_dims->w; out_x++)
                {
                    const int32_t base_x = out_x * params->stride.w - params->padding.left;
                    int8_t *const out_pixel =
                        output + (((size_t)batch * output_dims->h + out_y) * output_dims->w + out_x) * out_stride;

                    for (group = 0; group < params->groups; group++)
                    {
                        int16_t *dst = col;
                        for (ky = 0; ky < k_h; ky++)
                        {
                            const int32_t in_y = base_y + ky * params->dilation.h;
                            for (kx = 0; kx < k_w; kx++)
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

                        for (oc = group * group_out_c; oc < (group + 1) * group_out_c; oc++)
                        {
                            int32_t acc = mcuq_convolve_s8_dot(col, filter + (size_t)oc * col_len, col_len);
                            if (bias != NULL)
                            {
                                acc += bias[oc];
                            }
                            acc = mcuq_requantize(acc, quant->multiplier[oc], quant->shift[oc]) + params->output_offset;
                            out_pixel[oc] = (int8_t)mcuq_clamp_s32(acc, params->activation.min, params->activation.max);
                        }
                    }
                }
            }
        }
    }
    return MCUQ_OK;
}
