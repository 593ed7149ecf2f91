// Q8_1: blocks of 32 int8 codes with an f16 scale d and an f16 s = d·Σq (FORMATS.md §2.6). It is
// the activation format of Q4_1 and Q5_1, whose block dots use s for their min term (§4).
#pragma once

#include <cmath>
#include <cstdint>

#include "quant/fp16.h"
#include "quant/ggml_type.h"
#include "quant/int8_code.h"

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

    static void dequantize_row(const Block* x, float* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) {
            const float d = fp16_to_fp32(x[b].d);
            for (int e = 0; e < 32; ++e) y[b * 32 + e] = d * static_cast<float>(x[b].qs[e]);
        }
    }
    // Reference rule (FORMATS.md §3): as Q8_0 (d = amax/127, q = roundf(x/d)), plus s = f16(d·Σq).
    static void quantize_row(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) {
            const float* xb = x + b * 32;
            float amax = 0.f;
            for (int e = 0; e < 32; ++e) amax = std::fmax(amax, std::fabs(xb[e]));
            const float d = amax / 127.f;
            const float id = d != 0.f ? 1.f / d : 0.f;
            int32_t sum = 0;
            for (int e = 0; e < 32; ++e) {
                y[b].qs[e] = int8_code(std::roundf(xb[e] * id));
                sum += y[b].qs[e];
            }
            y[b].d = fp32_to_fp16(d);
            y[b].s = fp32_to_fp16(d * static_cast<float>(sum));
        }
    }
    // ggml's x86 quantize_row_q8_1 (FORMATS.md §4): id = 127/amax, round half to even, s from the
    // f32 d = amax/127.
    static void quantize_row_activation(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) {
            const float* xb = x + b * 32;
            float amax = 0.f;
            for (int e = 0; e < 32; ++e) amax = std::fmax(amax, std::fabs(xb[e]));
            const float d = amax / 127.f;
            const float id = amax != 0.f ? 127.f / amax : 0.f;
            int32_t sum = 0;
            for (int e = 0; e < 32; ++e) {
                y[b].qs[e] = int8_code(std::nearbyintf(xb[e] * id));
                sum += y[b].qs[e];
            }
            y[b].d = fp32_to_fp16(d);
            y[b].s = fp32_to_fp16(d * static_cast<float>(sum));
        }
    }
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) {
        float s = 0.f;
        for (int64_t b = 0; b < n / 32; ++b) {
            int32_t isum = 0;
            for (int e = 0; e < 32; ++e) isum += static_cast<int32_t>(w[b].qs[e]) * a[b].qs[e];
            s += static_cast<float>(isum) * (fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d));
        }
        return s;
    }
};

}  // namespace qlm
