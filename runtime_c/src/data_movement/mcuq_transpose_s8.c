/*
 * mcuq_transpose_s8: permute the axes of an int8 tensor of up to 4 dims (unused leading dims 1), as
 * CMSIS-NN's arm_transpose_s8; no requantization. output dim i = input dim perm[i].
 *
 * The permutation is first reduced to the fewest output axes that move: unit axes are dropped, and
 * output axes that are neighbours in the input too (in the same order) are merged, since together
 * they are one contiguous block. Attention's [N, T, H, d] -> [N, H, T, d] becomes [T, H, d] -> [H, T, d]
 * with runs of d bytes; where the innermost output axis is the innermost input axis, each run is one
 * block copy (a word at a time; 16 bytes per vector on Helium), otherwise the bytes are gathered one
 * by one. Not in place.
 */
#include <string.h>

#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

/* The output axes that remain after dropping unit axes and merging neighbours, outermost first, padded
 * at the front with axes of size 1 to four: size[i] elements, input stride[i] bytes apart. */
typedef struct
{
    int32_t size[4];
    int32_t stride[4];
} mcuq_permute_axes;

static void merged_axes(const mcuq_transpose_params *params, mcuq_permute_axes *axes)
{
    int32_t in_stride[4];
    int32_t size[4], stride[4], in_axis[4];
    int32_t i, count = 0;

    in_stride[3] = 1;
    for (i = 2; i >= 0; i--)
    {
        in_stride[i] = in_stride[i + 1] * params->dims[i + 1];
    }
    for (i = 0; i < 4; i++)
    {
        const int32_t axis = params->perm[i];
        if (params->dims[axis] == 1)
        {
            continue;
        }
        if (count > 0 && in_stride[in_axis[count - 1]] == in_stride[axis] * params->dims[axis])
        {
            /* the previous output axis steps over exactly this one in the input: one block */
            size[count - 1] *= params->dims[axis];
            stride[count - 1] = in_stride[axis];
            in_axis[count - 1] = axis;
            continue;
        }
        size[count] = params->dims[axis];
        stride[count] = in_stride[axis];
        in_axis[count] = axis;
        count++;
    }
    for (i = 0; i < 4; i++)
    {
        const int32_t from = i - (4 - count);
        axes->size[i] = from >= 0 ? size[from] : 1;
        axes->stride[i] = from >= 0 ? stride[from] : 0;
    }
}

/* One contiguous run: attention's runs are a head's d bytes (8, 16), too short for a memcpy call to pay
 * off. Helium copies 16 bytes per vector load and store (the tail predicated); the DSP and no-DSP paths a
 * word at a time with the runtime's own copy (no library call under -ffreestanding -fno-builtin); the
 * portable C with memcpy of 4 bytes (one unaligned-safe load and store where builtins are on). */
static inline void copy_run(int8_t *dst, const int8_t *src, size_t n)
{
#if defined(MCUQ_PATH_MVE)
    mcuq_copy_s8_mve(dst, src, (int32_t)n);
#elif defined(MCUQ_HAVE_DSP) || defined(MCUQ_PATH_NODSP)
    mcuq_copy_s8(dst, src, (int32_t)n);
#else
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
    {
        uint32_t word;
        memcpy(&word, src + i, 4);
        memcpy(dst + i, &word, 4);
    }
    for (; i < n; i++)
    {
        dst[i] = src[i];
    }
#endif
}

/* The innermost axis is contiguous in the input: each output row is one block copy. */
static void copy_runs(const mcuq_permute_axes *a, const int8_t *input, int8_t *output)
{
    const size_t run = (size_t)a->size[3];
    int32_t o0, o1, o2;
    for (o0 = 0; o0 < a->size[0]; o0++)
    {
        for (o1 = 0; o1 < a->size[1]; o1++)
        {
            const int8_t *row = input + (size_t)o0 * a->stride[0] + (size_t)o1 * a->stride[1];
            for (o2 = 0; o2 < a->size[2]; o2++)
            {
                copy_run(output, row + (size_t)o2 * a->stride[2], run);
                output += run;
            }
        }
    }
}

/* The innermost output axis strides through the input (K^T): the bytes one by one. */
static void gather_elements(const mcuq_permute_axes *a, const int8_t *input, int8_t *output)
{
    int32_t o0, o1, o2, o3;
    for (o0 = 0; o0 < a->size[0]; o0++)
    {
        for (o1 = 0; o1 < a->size[1]; o1++)
        {
            for (o2 = 0; o2 < a->size[2]; o2++)
            {
                const int8_t *src =
                    input + (size_t)o0 * a->stride[0] + (size_t)o1 * a->stride[1] + (size_t)o2 * a->stride[2];
                for (o3 = 0; o3 < a->size[3]; o3++)
                {
                    *output++ = src[(size_t)o3 * a->stride[3]];
                }
            }
        }
    }
}

MCUQ_API mcuq_status mcuq_transpose_s8(const mcuq_transpose_params *params, const int8_t *input, int8_t *output)
{
    mcuq_permute_axes axes;
    int32_t i, seen = 0;

    if (params == NULL || input == NULL || output == NULL || input == output)
    {
        return MCUQ_ARG_ERROR;
    }
    for (i = 0; i < 4; i++)
    {
        if (params->dims[i] < 0 || params->perm[i] < 0 || params->perm[i] > 3 || (seen & (1 << params->perm[i])))
        {
            return MCUQ_ARG_ERROR;
        }
        seen |= 1 << params->perm[i];
    }
    merged_axes(params, &axes);
    if (axes.stride[3] == 1)
    {
        copy_runs(&axes, input, output);
    }
    else
    {
        gather_elements(&axes, input, output);
    }
    return MCUQ_OK;
}
