// Q8_0: blocks of 32 int8 codes with one f16 scale (FORMATS.md §2.5). Activations are Q8_0 too;
// the block dot is d_w·d_a·Σ q_w·q_a with the integer sum exact in i32 (FORMATS.md §4).
#pragma once

#include <cmath>
#include <cstdint>

#include "quant/format_shared.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"
#include "quant/int8_code.h"

namespace qlm {

// Packed: 34-byte blocks sit at any byte address (a row of a tensor, an activation buffer).
struct __attribute__((packed)) BlockQ8_0 {
    uint16_t d;     // f16 scale
    int8_t qs[32];  // codes
};
static_assert(sizeof(BlockQ8_0) == 34 && alignof(BlockQ8_0) == 1, "Q8_0 block is 34 unaligned bytes");

// The Q8 rules (Q8_0, Q8_1) on one 32-element block: codes q = round(x·id) into qs; returns the
// f32 scale d = amax/127.
//   Weights, the reference rule (FORMATS.md §3): id = 1/d, halves rounded away from zero.
//   Activations, the rule of ggml's x86 quantize_row_q8_0/q8_1 (FORMATS.md §4): id = 127/amax,
//   halves rounded to even. It differs from the weight rule only on exact ties, but matching it
//   keeps our logits closest to llama.cpp's.
enum class Q8Rule { Weights, Activations };
template <Q8Rule kRule>
inline float quantize_q8_block(const float* xb, int8_t* qs) {
    const float amax = block_amax(xb, 32);
    const float d = amax / 127.f;
    if constexpr (kRule == Q8Rule::Weights) {
        const float id = d != 0.f ? 1.f / d : 0.f;
        for (int e = 0; e < 32; ++e) qs[e] = int8_code(std::roundf(xb[e] * id));
    } else {
        const float id = amax != 0.f ? 127.f / amax : 0.f;
        for (int e = 0; e < 32; ++e) qs[e] = int8_code(std::nearbyintf(xb[e] * id));
    }
    return d;
}

struct FormatQ8_0 {
    using Block = BlockQ8_0;
    using ActBlock = BlockQ8_0;
    static constexpr GgmlType type = GgmlType::Q8_0;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_0;
    static constexpr int64_t block_size = 32;

    static int code(const Block& b, int e) { return b.qs[e]; }

    static void dequantize_row(const Block* x, float* y, int64_t n) { dequantize_scaled<FormatQ8_0, 0>(x, y, n); }
    static void quantize_row(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) y[b].d = fp32_to_fp16(quantize_q8_block<Q8Rule::Weights>(x + b * 32, y[b].qs));
    }
    static void quantize_row_activation(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b)
            y[b].d = fp32_to_fp16(quantize_q8_block<Q8Rule::Activations>(x + b * 32, y[b].qs));
    }
    // In the order of ggml's Q8_0 dot: per block, lane k holds the i32 sum of elements 4k..4k+3
    // and adds it, times d_w·d_a, with one fused multiply-add; reduce_lanes8_tinyblas at the end.
    static float vec_dot(int64_t n, const Block* w, const Block* a) {
        float l[8] = {};
        for (int64_t b = 0; b < n / 32; ++b) {
            const float d = fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d);
            for (int k = 0; k < 8; ++k) {
                int32_t isum = 0;
                for (int e = 4 * k; e < 4 * k + 4; ++e) isum += static_cast<int32_t>(w[b].qs[e]) * a[b].qs[e];
                l[k] = std::fma(d, static_cast<float>(isum), l[k]);
            }
        }
        return reduce_lanes8_tinyblas(l);
    }
};

}  // namespace qlm
