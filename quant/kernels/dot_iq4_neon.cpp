// The IQ4_NL dot for AArch64 NEON (aarch64 builds only): tbl looks the 4-bit indices up in the
// 16-value grid, then widening multiplies (vmull_s8 -> vpadalq_s16) give the exact i32 block sums
// of the scalar reference (quant/format_iq4_nl.h). IQ4_XS uses its scalar reference on ARM, as the
// K-quants do.
#include <arm_neon.h>

#include "quant/format_iq4_nl.h"
#include "quant/kernels/int8_neon.h"
#include "quant/kernels/kernels_iq4.h"

namespace qlm::kernels::neon {

// Element e < 16 is the low nibble of qs[e], element 16 + e the high nibble.
float dot_iq4_nl(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockIQ4_NL*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    const int8x16_t table = vld1q_s8(kIq4Values);
    return sum_q8_0_act(n, x, y, [&](const BlockIQ4_NL& b, int8x16_t& c0, int8x16_t& c1) {
        const uint8x16_t q = vld1q_u8(b.qs);
        c0 = vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0F)));
        c1 = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
    });
}

}  // namespace qlm::kernels::neon
