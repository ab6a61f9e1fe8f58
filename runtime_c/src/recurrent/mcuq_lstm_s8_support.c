/*
 * Support of the recurrent kernels (mcuq_lstm_s8, mcuq_gru_s8): a gate's matrix product into int16
 * Q3.12, the int16 sigmoid / tanh, and the int16 product of two gates.
 *
 * mcuq_rnn_product_s16 is CMSIS-NN's arm_nn_vec_mat_mul_result_acc_s8_s16: per row,
 *   acc[j] = sat16(acc[j] + requantize(bias[j] + sum_k W[j, k] * v[k], multiplier, shift))
 * with the offset of v folded into bias. Its dot products take the one path the target has, chosen
 * once: MVE sixteen products per VMLADAVA.S8 (the last step predicated), DSP two rows at a time, four
 * bytes per step (SXTB16 unpacks the vector word once for both rows, SMLAD multiplies pairs), portable
 * C one product at a time. All give the same int32 sums, so the same results.
 *
 * mcuq_rnn_activation_s16 is arm_nn_activation_s16: |x| * 3 (times 2^left_shift) indexes CMSIS-NN's
 * 256-entry table of sigmoid(i / 24) in 0.16 with linear interpolation between entries; tanh(x) is
 * 2 * sigmoid(2x) - 1 through the same table.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_nn.h"

#define MCUQ_Q15_MIN (-32768)
#define MCUQ_Q15_MAX 32767

/* sigmoid(i / 24) in 0.16, CMSIS-NN's sigmoid_table_uint16 (arm_nntables.c). */
static const uint16_t mcuq_sigmoid_table_u16[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
};

/* One requantized row sum added to acc, saturated. */
static int16_t rnn_accumulate(int16_t acc, int32_t sum, const mcuq_per_tensor_quant *quant)
{
    return (int16_t)mcuq_clamp_s32(mcuq_requantize_fast(sum, quant->multiplier, quant->shift) + acc, MCUQ_Q15_MIN,
                                   MCUQ_Q15_MAX);
}

#if defined(MCUQ_PATH_MVE)

static MCUQ_MISC_NOINLINE void rnn_rows(const int8_t *v, const int8_t *w, const int32_t *bias, int32_t rows,
                                        int32_t cols, const mcuq_per_tensor_quant *quant, int16_t *acc)
{
    int32_t j;
    for (j = 0; j < rows; j++)
    {
        acc[j] = rnn_accumulate(acc[j], mcuq_dot_s8_mve(v, w + (size_t)j * cols, cols, bias[j]), quant);
    }
}

#elif defined(MCUQ_HAVE_DSP)

static MCUQ_MISC_NOINLINE void rnn_rows(const int8_t *v, const int8_t *w, const int32_t *bias, int32_t rows,
                                        int32_t cols, const mcuq_per_tensor_quant *quant, int16_t *acc)
{
    int32_t j;
    for (j = 0; j < rows; j += 2)
    {
        const int8_t *w0 = w + (size_t)j * cols;
        const int32_t pair = j + 1 < rows;
        int32_t sums[2];
        sums[0] = bias[j];
        sums[1] = pair ? bias[j + 1] : 0;
        mcuq_dot2_s8(v, w0, pair ? w0 + cols : w0, cols, sums);
        acc[j] = rnn_accumulate(acc[j], sums[0], quant);
        if (pair)
        {
            acc[j + 1] = rnn_accumulate(acc[j + 1], sums[1], quant);
        }
    }
}

#else

static void rnn_rows(const int8_t *v, const int8_t *w, const int32_t *bias, int32_t rows, int32_t cols,
                     const mcuq_per_tensor_quant *quant, int16_t *acc)
{
    int32_t j, k;
    for (j = 0; j < rows; j++)
    {
        const int8_t *row = w + (size_t)j * cols;
        int32_t sum = bias[j];
        for (k = 0; k < cols; k++)
        {
            sum += (int32_t)v[k] * (int32_t)row[k];
        }
        acc[j] = rnn_accumulate(acc[j], sum, quant);
    }
}

#endif

MCUQ_API void mcuq_rnn_product_s16(const mcuq_rnn_params *params, const mcuq_rnn_gates *gates, int32_t gate, int32_t hidden,
                          const int8_t *vector, int16_t *acc)
{
    const int32_t rows = params->hidden_size;
    const int32_t cols = hidden ? params->hidden_size : params->input_size;
    const int8_t *w = (hidden ? gates->hidden_weights : gates->input_weights) + (size_t)gate * rows * cols;
    const int32_t *bias = (hidden ? gates->hidden_bias : gates->input_bias) + (size_t)gate * rows;
    mcuq_per_tensor_quant quant;
    quant.multiplier = hidden ? gates->hidden_multiplier[gate] : gates->input_multiplier[gate];
    quant.shift = hidden ? gates->hidden_shift[gate] : gates->input_shift[gate];
    rnn_rows(vector, w, bias, rows, cols, &quant, acc);
}

MCUQ_API void mcuq_rnn_activation_s16(const int16_t *input, int16_t *output, int32_t size, int32_t left_shift, int32_t sigmoid)
{
    const uint32_t step_bits = sigmoid ? 9u : 8u;
    const uint32_t saturated = sigmoid ? (0x7FFFu << 10) : (0xFFFFu << 8);
    const int32_t multiplier = left_shift < 0 ? 3 : 3 << left_shift;
    const int32_t right = left_shift < 0 ? -left_shift : 0;
    const int32_t rounding = right > 0 ? 1 << (right - 1) : 0;
    int32_t i;
    for (i = 0; i < size; i++)
    {
        const int32_t value = ((int32_t)input[i] * multiplier + rounding) >> right;
        const uint32_t magnitude = (uint32_t)(value > 0 ? value : -value);
        const uint32_t index = magnitude >> step_bits;
        uint32_t result;
        if (index >= 255u)
        {
            result = saturated;
        }
        else
        {
            const uint32_t low = mcuq_sigmoid_table_u16[index], high = mcuq_sigmoid_table_u16[index + 1];
            result = (low << step_bits) + (magnitude & ((1u << step_bits) - 1u)) * (high - low);
        }
        if (sigmoid)
        {
            result = value >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
            result >>= 10;
        }
        else
        {
            result = value >= 0 ? (result - (1u << 23)) + (1u << 7) : ((1u << 23) - result) + (1u << 7) - 1u;
            result >>= 8;
        }
        output[i] = (int16_t)result;
    }
}

MCUQ_API void mcuq_rnn_gate_s16(const mcuq_rnn_params *params, const mcuq_rnn_gates *gates, int32_t gate, const int8_t *x,
                       const int8_t *h, int32_t sigmoid, int16_t *out)
{
    int32_t j;
    for (j = 0; j < params->hidden_size; j++)
    {
        out[j] = 0;
    }
    mcuq_rnn_product_s16(params, gates, gate, 0, x, out);
    mcuq_rnn_product_s16(params, gates, gate, 1, h, out);
    mcuq_rnn_activation_s16(out, out, params->hidden_size, 0, sigmoid);
}

MCUQ_API void mcuq_rnn_mul_s16(const int16_t *a, const int16_t *b, int16_t *output, int32_t size,
                      const mcuq_per_tensor_quant *quant)
{
    int32_t i;
    for (i = 0; i < size; i++)
    {
        const int32_t product = mcuq_requantize_fast((int32_t)a[i] * (int32_t)b[i], quant->multiplier, quant->shift);
        output[i] = (int16_t)mcuq_clamp_s32(product, MCUQ_Q15_MIN, MCUQ_Q15_MAX);
    }
}

MCUQ_API int mcuq_rnn_args_ok(const mcuq_context *ctx, const mcuq_rnn_params *params, int32_t scratch_bytes)
{
    return ctx != NULL && ctx->buf != NULL && ctx->size >= scratch_bytes && params->hidden_size >= 1 &&
           params->time_steps >= 1 && params->input_size >= 1;
}

MCUQ_API void mcuq_rnn_unroll(const mcuq_rnn_params *params, mcuq_rnn_step_fn step, const void *layer,
                     const int8_t *hidden_init, const int8_t *input, int8_t *output)
{
    const int32_t n = params->hidden_size, steps = params->time_steps;
    int32_t s;
    for (s = 0; s < steps; s++)
    {
        const int32_t t = params->reverse ? steps - 1 - s : s;
        const int8_t *h = s == 0 ? hidden_init : output + (size_t)(params->reverse ? t + 1 : t - 1) * n;
        step(layer, input + (size_t)t * params->input_size, h, output + (size_t)t * n);
    }
}
