/*
 * mcuq_convolve_s8's own header: the call its paths take, and their prototypes.
 *
 * The kernel is one entry (mcuq_convolve_s8.c: argument checks, the choice of path) and one body per
 * path, each in its own file: mcuq_convolve_s8_portable.c (the reference, and every grouped conv),
 * mcuq_convolve_s8_dsp.c (Cortex-M4/M7/M33) and mcuq_convolve_s8_mve.c (Cortex-M55); the DSP and MVE
 * bodies share the im2col and the output step of mcuq_convolve_s8_fast.h. The code generator copies
 * this header, the bodies and then the entry into the generated file, where MCUQ_API makes them all
 * static; in a library build (the tests) the bodies have external linkage, declared here.
 */
#ifndef MCUQ_CONVOLVE_S8_ARGS_H
#define MCUQ_CONVOLVE_S8_ARGS_H

#include "mcuq_nn_types.h"
#include "mcuq_nn_simd.h"

/* Keeps the per-pair channel loop out of the pixel loop, so that the compiler gives the dot-product
 * loop all registers instead of spilling the pixel loop's state around it. */
#if defined(__GNUC__) || defined(__clang__)
#define MCUQ_CONV_S8_NOINLINE __attribute__((noinline))
#else
#define MCUQ_CONV_S8_NOINLINE
#endif
/* Forced inlining only when optimizing: at -O0 gcc gives every forced copy its own stack slots (the M4 small-K
 * walk took a 2,824-byte frame, most of the firmware's 4 KiB stack). */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__OPTIMIZE__)
#define MCUQ_CONV_S8_ALWAYS_INLINE __attribute__((always_inline))
#else
#define MCUQ_CONV_S8_ALWAYS_INLINE
#endif

/* The kernel's arguments, checked by the entry, as one value for the paths. */
typedef struct
{
    const mcuq_context *ctx;
    const mcuq_conv_params *params;
    const mcuq_per_channel_quant *quant;
    const mcuq_dims *input_dims;
    const int8_t *input;
    const mcuq_dims *filter_dims;
    const int8_t *filter;
    const int32_t *bias;
    const mcuq_dims *output_dims;
    int8_t *output;
} mcuq_conv_s8_args;

/* The DSP path's roomy scratch for K = KH * KW * C_in a multiple of 4: two columns widened to int16
 * (4K bytes) and the two int8 columns they are widened from (2K). See mcuq_convolve_s8_dsp.c. */
#define MCUQ_CONV_S8_WIDE_SCRATCH(k) (6 * (k))

/*
 * The small-K body (mcuq_convolve_s8_dsp_smallk.c): K = KH * KW * C_in <= 64, the filter widened to
 * int16 once per call. Its scratch: the widened filter (two rows per output channel pair, an odd last
 * channel paired with a row of zeros), the two widened columns, then the two int8 columns they are
 * widened from; every row and column padded with zeros to kp = K rounded up to 4, so that no K % 4
 * tail remains. Bytes: 2 kp (out_c rounded up to 2) + 4 kp + 2 kp.
 */
#define MCUQ_CONV_S8_SMALLK_MAX_K 64
#define MCUQ_CONV_S8_SMALLK_SCRATCH(k, out_c) (2 * (((k) + 3) & ~3) * ((((out_c) + 1) & ~1) + 3))
/* The code generator grants it (mcuq_convolve_s8_get_roomy_buffer_size) where the widened filter takes
 * at most this many bytes: an image model's first layer, a few small pointwise ones. */
#define MCUQ_CONV_S8_SMALLK_FILTER_BYTES 1024

/* Any number of groups. */
MCUQ_API void mcuq_convolve_s8_portable(const mcuq_conv_s8_args *args);

/* One group; the DSP path without MVE, as mcuq_convolve_s8.c picks it. */
#if defined(MCUQ_HAVE_DSP) && !defined(MCUQ_PATH_MVE)
MCUQ_API void mcuq_convolve_s8_dsp(const mcuq_conv_s8_args *args);
#endif

/* One group; cores without the DSP extension (Cortex-M3, M0, M0+). */
#if defined(MCUQ_PATH_NODSP)
MCUQ_API void mcuq_convolve_s8_nodsp(const mcuq_conv_s8_args *args);
#endif

/* One group. */
#if defined(MCUQ_PATH_MVE)
MCUQ_API void mcuq_convolve_s8_mve(const mcuq_conv_s8_args *args);
#endif

#endif /* MCUQ_CONVOLVE_S8_ARGS_H */
