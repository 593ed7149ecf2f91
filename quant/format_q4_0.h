// Q4_0: blocks of 32 4-bit codes with one f16 scale, x = d·(q − 8) (FORMATS.md §2.1). Elements
// 0–15 are the low nibbles of qs[0..15], elements 16–31 the high nibbles. Activations are Q8_0.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "quant/fp16.h"
#include "quant/format_q8_0.h"
#include "quant/format_shared.h"
#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockQ4_0 {
    uint16_t d;      // f16 scale (negative when the block's extreme is positive)
    uint8_t qs[16];  // nibbles: element e in qs[e % 16] >> (4·(e / 16))
};
static_assert(sizeof(BlockQ4_0) == 18 && alignof(BlockQ4_0) == 1, "Q4_0 block is 18 unaligned bytes");

struct FormatQ4_0 {
    using Block = BlockQ4_0;
    using ActBlock = BlockQ8_0;
    static constexpr GgmlType type = GgmlType::Q4_0;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_0;
    static constexpr int64_t block_size = 32;

    static int code(const Block& b, int e) { return (b.qs[e % 16] >> (4 * (e / 16))) & 15; }

    static void dequantize_row(const Block* x, float* y, int64_t n) { dequantize_scaled<FormatQ4_0, 8>(x, y, n); }
    // Reference rule (FORMATS.md §3): d = max/−8, q = min(15, trunc(x/d + 8.5)).
    static void quantize_row(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) {
            const float* xb = x + b * 32;
            const float d = signed_absmax(xb, 32) / -8.f;
            const float id = d != 0.f ? 1.f / d : 0.f;
            y[b].d = fp32_to_fp16(d);
            for (int j = 0; j < 16; ++j) {
                const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(xb[j] * id + 8.5f)));
                const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(xb[j + 16] * id + 8.5f)));
                y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
            }
        }
    }
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) { return vec_dot_scaled<FormatQ4_0, 8>(n, w, a); }
};

}  // namespace qlm
