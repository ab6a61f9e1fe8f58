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
