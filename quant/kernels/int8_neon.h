// The NEON int8 block sums shared by the AArch64 dot kernels (dot_neon.cpp, dot_iq4_neon.cpp):
// widening multiplies (vmull_s8 -> vpadalq_s16) give the exact i32 sums of the scalar references.
#pragma once

#include <arm_neon.h>

#include <cstdint>

#include "quant/format_q8_0.h"
#include "quant/fp16.h"

namespace qlm::kernels::neon {

// Σ x·y over 32 signed bytes as four i32 lanes (|product| ≤ 128·127: i16 pairs cannot overflow).
inline int32x4_t block_dot(int8x16_t x0, int8x16_t x1, int8x16_t y0, int8x16_t y1) {
    int32x4_t acc = vdupq_n_s32(0);
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x0), vget_low_s8(y0)));
    acc = vpadalq_s16(acc, vmull_s8(vget_high_s8(x0), vget_high_s8(y0)));
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x1), vget_low_s8(y1)));
    acc = vpadalq_s16(acc, vmull_s8(vget_high_s8(x1), vget_high_s8(y1)));
    return acc;
}

// Σ_b d_w(b)·d_a(b)·isum(b) against Q8_0 activations, two independent float accumulators;
// codes(block, c0, c1) decodes a weight block's 32 values to signed bytes.
template <class Wb, class Codes>
float sum_q8_0_act(int64_t n, const Wb* x, const BlockQ8_0* y, Codes codes) {
    float32x4_t acc0 = vdupq_n_f32(0.f), acc1 = vdupq_n_f32(0.f);
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; ++b) {
        int8x16_t c0, c1;
        codes(x[b], c0, c1);
        const int32x4_t s = block_dot(c0, c1, vld1q_s8(y[b].qs), vld1q_s8(y[b].qs + 16));
        const float d = fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d);
        if (b % 2 == 0)
            acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(s), d);
        else
            acc1 = vmlaq_n_f32(acc1, vcvtq_f32_s32(s), d);
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

}  // namespace qlm::kernels::neon
