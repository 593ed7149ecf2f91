// Q8_0: blocks of 32 int8 codes with one f16 scale (FORMATS.md §2.5). Activations are Q8_0 too;
// the block dot is d_w·d_a·Σ q_w·q_a with the integer sum exact in i32 (FORMATS.md §4).
#pragma once

#include <cmath>
#include <cstdint>

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

struct FormatQ8_0 {
    using Block = BlockQ8_0;
    static constexpr GgmlType type = GgmlType::Q8_0;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_0;
    static constexpr int64_t block_size = 32;

    static void dequantize_row(const Block* x, float* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) {
            const float d = fp16_to_fp32(x[b].d);
            for (int e = 0; e < 32; ++e) y[b * 32 + e] = d * static_cast<float>(x[b].qs[e]);
        }
    }
    // Reference rule (FORMATS.md §3): d = amax/127, id = 1/d, q = roundf(x·id), store f16(d).
    static void quantize_row(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) {
            const float* xb = x + b * 32;
            float amax = 0.f;
            for (int e = 0; e < 32; ++e) amax = std::fmax(amax, std::fabs(xb[e]));
            const float d = amax / 127.f;
            const float id = d != 0.f ? 1.f / d : 0.f;
            y[b].d = fp32_to_fp16(d);
            for (int e = 0; e < 32; ++e) y[b].qs[e] = int8_code(std::roundf(xb[e] * id));
        }
    }
    // The activation rule of ggml's x86 quantize_row_q8_0 (FORMATS.md §4): id = 127/amax and
    // round half to even. It differs from quantize_row only on exact ties, but matching it keeps
    // our logits closest to llama.cpp's.
    static void quantize_row_activation(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 32; ++b) {
            const float* xb = x + b * 32;
            float amax = 0.f;
            for (int e = 0; e < 32; ++e) amax = std::fmax(amax, std::fabs(xb[e]));
            const float id = amax != 0.f ? 127.f / amax : 0.f;
            y[b].d = fp32_to_fp16(amax / 127.f);
            for (int e = 0; e < 32; ++e) y[b].qs[e] = int8_code(std::nearbyintf(xb[e] * id));
        }
    }
    static float vec_dot(int64_t n, const Block* w, const Block* a) {
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
