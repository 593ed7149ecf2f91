// Q4_1: blocks of 32 4-bit codes with an f16 scale d and an f16 offset m, x = d·q + m
// (FORMATS.md §2.2), nibbles ordered as in Q4_0. Activations are Q8_1.
#pragma once

#include <algorithm>
#include <cstdint>

#include "quant/fp16.h"
#include "quant/format_q8_1.h"
#include "quant/format_shared.h"
#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockQ4_1 {
    uint16_t d;      // f16 scale
    uint16_t m;      // f16 offset (the block's minimum)
    uint8_t qs[16];  // nibbles: element e in qs[e % 16] >> (4·(e / 16))
};
static_assert(sizeof(BlockQ4_1) == 20 && alignof(BlockQ4_1) == 1, "Q4_1 block is 20 unaligned bytes");

struct FormatQ4_1 {
    using Block = BlockQ4_1;
    using ActBlock = BlockQ8_1;
    static constexpr GgmlType type = GgmlType::Q4_1;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_1;
    static constexpr int64_t block_size = 32;

    static int code(const Block& b, int e) { return (b.qs[e % 16] >> (4 * (e / 16))) & 15; }

    static void dequantize_row(const Block* x, float* y, int64_t n) { dequantize_offset<FormatQ4_1>(x, y, n); }
    // Reference rule (FORMATS.md §3): d = (max − min)/15, q = min(15, trunc((x − min)/d + 0.5)).
    static void quantize_row(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) {
            const float* xb = x + b * 32;
            float mn, mx;
            block_min_max(xb, 32, mn, mx);
            const float d = (mx - mn) / 15.f;
            const float id = d != 0.f ? 1.f / d : 0.f;
            y[b].d = fp32_to_fp16(d);
            y[b].m = fp32_to_fp16(mn);
            for (int j = 0; j < 16; ++j) {
                const int lo = std::min(15, static_cast<int>(static_cast<int8_t>((xb[j] - mn) * id + 0.5f)));
                const int hi = std::min(15, static_cast<int>(static_cast<int8_t>((xb[j + 16] - mn) * id + 0.5f)));
                y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
            }
        }
    }
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) { return vec_dot_offset<FormatQ4_1>(n, w, a); }
};

}  // namespace qlm
