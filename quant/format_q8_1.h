// Q8_1: blocks of 32 int8 codes with an f16 scale d and an f16 s = d·Σq (FORMATS.md §2.6). It is
// the activation format of Q4_1 and Q5_1, whose block dots use s for their min term (§4).
#pragma once

#include <cmath>
#include <cstdint>

#include "quant/format_q8_0.h"
#include "quant/format_shared.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockQ8_1 {
    uint16_t d;     // f16 scale
    uint16_t s;     // f16 d·Σ qs, computed with the unrounded f32 d
    int8_t qs[32];  // codes
};
static_assert(sizeof(BlockQ8_1) == 36 && alignof(BlockQ8_1) == 1, "Q8_1 block is 36 unaligned bytes");

struct FormatQ8_1 {
    using Block = BlockQ8_1;
    using ActBlock = BlockQ8_1;
    static constexpr GgmlType type = GgmlType::Q8_1;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_1;
    static constexpr int64_t block_size = 32;
    // An activation format: llama.cpp has no file type that stores weights in it.
    static constexpr bool activation_only = true;

    static int code(const Block& b, int e) { return b.qs[e]; }

    static void dequantize_row(const Block* x, float* y, int64_t n) { dequantize_scaled<FormatQ8_1, 0>(x, y, n); }
    // The Q8_0 rules (quantize_q8_block), plus s = f16(d·Σq) from the f32 d.
    template <Q8Rule kRule>
    static void quantize(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) {
            const float d = quantize_q8_block<kRule>(x + b * 32, y[b].qs);
            int32_t sum = 0;
            for (int e = 0; e < 32; ++e) sum += y[b].qs[e];
            y[b].d = fp32_to_fp16(d);
            y[b].s = fp32_to_fp16(d * static_cast<float>(sum));
        }
    }
    static void quantize_row(const float* x, Block* y, int64_t n) { quantize<Q8Rule::Weights>(x, y, n); }
    static void quantize_row_activation(const float* x, Block* y, int64_t n) { quantize<Q8Rule::Activations>(x, y, n); }
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) { return vec_dot_scaled<FormatQ8_1, 0>(n, w, a); }
};

}  // namespace qlm
