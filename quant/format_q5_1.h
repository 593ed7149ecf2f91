// Q5_1: blocks of 32 5-bit codes with an f16 scale d and an f16 offset m, x = d·q + m
// (FORMATS.md §2.4), bits laid out as in Q5_0. Activations are Q8_1.
#pragma once

#include <algorithm>
#include <cstdint>

#include "quant/format_q5_0.h"
#include "quant/format_q8_1.h"
#include "quant/format_shared.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockQ5_1 {
    uint16_t d;      // f16 scale
    uint16_t m;      // f16 offset (the block's minimum)
    uint8_t qh[4];   // 5th bits, a little-endian u32
    uint8_t qs[16];  // low 4 bits, nibble-ordered as in Q4_0
};
static_assert(sizeof(BlockQ5_1) == 24 && alignof(BlockQ5_1) == 1, "Q5_1 block is 24 unaligned bytes");

struct FormatQ5_1 {
    using Block = BlockQ5_1;
    using ActBlock = BlockQ8_1;
    static constexpr GgmlType type = GgmlType::Q5_1;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_1;
    static constexpr int64_t block_size = 32;

    static int code(const Block& b, int e) { return q5_code(b.qh, b.qs, e); }

    static void dequantize_row(const Block* x, float* y, int64_t n) { dequantize_offset<FormatQ5_1>(x, y, n); }
    // Reference rule (FORMATS.md §3): d = (max − min)/31, q = trunc((x − min)/d + 0.5) (no clamp).
    static void quantize_row(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) {
            const float* xb = x + b * 32;
            float mn, mx;
            block_min_max(xb, 32, mn, mx);
            const float d = (mx - mn) / 31.f;
            const float id = d != 0.f ? 1.f / d : 0.f;
            y[b].d = fp32_to_fp16(d);
            y[b].m = fp32_to_fp16(mn);
            int q[32];
            for (int e = 0; e < 32; ++e) q[e] = static_cast<int>(static_cast<uint8_t>((xb[e] - mn) * id + 0.5f));
            q5_pack(q, y[b].qh, y[b].qs);
        }
    }
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) { return vec_dot_offset<FormatQ5_1>(n, w, a); }
};

}  // namespace qlm
