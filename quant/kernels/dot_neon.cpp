// AArch64 NEON kernels (built only for aarch64, where NEON is part of the base ISA): f32 and f16
// dots through xsimd, the Q8_0 and Q4_0 int8 dots with widening multiplies (vmull_s8 ->
// vpadalq_s16: exact i32 block sums, as the scalar reference). Other formats use their scalar
// reference on ARM.
#include <arm_neon.h>

#include <xsimd/xsimd.hpp>

#include "quant/format_q4_0.h"
#include "quant/format_q8_0.h"
#include "quant/fp16.h"
#include "quant/kernels/dot_float_simd.h"
#include "quant/kernels/int8_neon.h"
#include "quant/kernels/kernels.h"

namespace qlm::kernels::neon {

namespace {
using Arch = xsimd::neon64;
using Vf = xsimd::batch<float, Arch>;

inline Vf load_f32(const float* p) { return Vf::load_unaligned(p); }
inline Vf load_f16(const uint16_t* p) { return Vf(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)))); }
}  // namespace

float dot_f32(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    return simd::dot_float<Vf>(n, x, y, load_f32, [&](float s, int64_t i) {
        for (; i < n; ++i) s += x[i] * y[i];
        return s;
    });
}

float dot_f16(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const uint16_t*>(a);
    return simd::dot_f16<Vf>(n, x, y, load_f16);
}

float dot_q8_0(int64_t n, const void* w, const void* a) {
    return sum_q8_0_act(n, static_cast<const BlockQ8_0*>(w), static_cast<const BlockQ8_0*>(a),
                        [](const BlockQ8_0& b, int8x16_t& c0, int8x16_t& c1) {
                            c0 = vld1q_s8(b.qs);
                            c1 = vld1q_s8(b.qs + 16);
                        });
}

// Q4_0: element e < 16 is the low nibble of qs[e], element 16 + e the high nibble; value − 8.
float dot_q4_0(int64_t n, const void* w, const void* a) {
    return sum_q8_0_act(n, static_cast<const BlockQ4_0*>(w), static_cast<const BlockQ8_0*>(a),
                        [](const BlockQ4_0& b, int8x16_t& c0, int8x16_t& c1) {
                            const uint8x16_t q = vld1q_u8(b.qs);
                            const int8x16_t eight = vdupq_n_s8(8);
                            c0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), eight);
                            c1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
                        });
}

}  // namespace qlm::kernels::neon
