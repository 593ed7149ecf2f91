// Q5_0: blocks of 32 5-bit codes with one f16 scale, x = d·(q − 16) (FORMATS.md §2.3). The low
// 4 bits are nibbles as in Q4_0; bit e of the little-endian u32 qh is the 5th bit of element e.
// Activations are Q8_0.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "quant/format_q4_0.h"
#include "quant/format_q8_0.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockQ5_0 {
    uint16_t d;      // f16 scale (negative when the block's extreme is positive)
    uint8_t qh[4];   // 5th bits, a little-endian u32
    uint8_t qs[16];  // low 4 bits, nibble-ordered as in Q4_0
};
static_assert(sizeof(BlockQ5_0) == 22 && alignof(BlockQ5_0) == 1, "Q5_0 block is 22 unaligned bytes");

// The 5-bit code of element e of a Q5_0/Q5_1 block.
inline int q5_code(const uint8_t* qh, const uint8_t* qs, int e) {
    const uint32_t h = static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 |
                       static_cast<uint32_t>(qh[2]) << 16 | static_cast<uint32_t>(qh[3]) << 24;
    return ((qs[e % 16] >> (4 * (e / 16))) & 15) | static_cast<int>(((h >> e) & 1u) << 4);
}

// Packs 32 codes in 0..31 into qh/qs.
inline void q5_pack(const int* q, uint8_t* qh, uint8_t* qs) {
    uint32_t h = 0;
    for (int j = 0; j < 16; ++j) {
        qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
        h |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
        h |= static_cast<uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
    }
    for (int k = 0; k < 4; ++k) qh[k] = static_cast<uint8_t>(h >> (8 * k));
}

struct FormatQ5_0 {
    using Block = BlockQ5_0;
    using ActBlock = BlockQ8_0;
    static constexpr GgmlType type = GgmlType::Q5_0;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_0;
    static constexpr int64_t block_size = 32;

    static int code(const Block& b, int e) { return q5_code(b.qh, b.qs, e); }

    static void dequantize_row(const Block* x, float* y, int64_t n) { dequantize_scaled<FormatQ5_0, 16>(x, y, n); }
    // Reference rule (FORMATS.md §3): d = max/−16, q = min(31, trunc(x/d + 16.5)).
    static void quantize_row(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) {
            const float* xb = x + b * 32;
            const float d = signed_absmax(xb, 32) / -16.f;
            const float id = d != 0.f ? 1.f / d : 0.f;
            y[b].d = fp32_to_fp16(d);
            int q[32];
            for (int e = 0; e < 32; ++e) q[e] = std::min(31, static_cast<int>(static_cast<int8_t>(xb[e] * id + 16.5f)));
            q5_pack(q, y[b].qh, y[b].qs);
        }
    }
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) { return vec_dot_scaled<FormatQ5_0, 16>(n, w, a); }
};

}  // namespace qlm
