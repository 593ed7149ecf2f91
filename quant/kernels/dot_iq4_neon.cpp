// The IQ4_NL dot for AArch64 NEON (aarch64 builds only): tbl looks the 4-bit indices up in the
// 16-value grid, then widening multiplies (vmull_s8 -> vpadalq_s16) give the exact i32 block sums
// of the scalar reference (quant/format_iq4_nl.h). IQ4_XS uses its scalar reference on ARM, as the
// K-quants do.
#include <arm_neon.h>

#include "quant/format_iq4_nl.h"
#include "quant/fp16.h"
#include "quant/kernels/kernels_iq4.h"

namespace qlm::kernels::neon {

namespace {
// Σ x·y over 32 signed bytes as four i32 lanes (|product| ≤ 127·127).
inline int32x4_t block_dot(int8x16_t x0, int8x16_t x1, int8x16_t y0, int8x16_t y1) {
    int32x4_t acc = vdupq_n_s32(0);
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x0), vget_low_s8(y0)));
    acc = vpadalq_s16(acc, vmull_s8(vget_high_s8(x0), vget_high_s8(y0)));
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x1), vget_low_s8(y1)));
    acc = vpadalq_s16(acc, vmull_s8(vget_high_s8(x1), vget_high_s8(y1)));
    return acc;
}
}  // namespace

// Element e < 16 is the low nibble of qs[e], element 16 + e the high nibble.
float dot_iq4_nl(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockIQ4_NL*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    const int8x16_t table = vld1q_s8(kIq4Values);
    float32x4_t acc0 = vdupq_n_f32(0.f), acc1 = vdupq_n_f32(0.f);
    for (int64_t b = 0; b < n / 32; ++b) {
        const uint8x16_t q = vld1q_u8(x[b].qs);
        const int8x16_t v0 = vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0F)));
        const int8x16_t v1 = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
        const int32x4_t s = block_dot(v0, v1, vld1q_s8(y[b].qs), vld1q_s8(y[b].qs + 16));
        const float d = fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d);
        if (b % 2 == 0)
            acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(s), d);
        else
            acc1 = vmlaq_n_f32(acc1, vcvtq_f32_s32(s), d);
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

}  // namespace qlm::kernels::neon
