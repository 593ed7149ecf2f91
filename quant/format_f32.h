// F32 weights: one float per element; activations stay F32 (FORMATS.md §4).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/format_shared.h"
#include "quant/ggml_type.h"

namespace qlm {

struct FormatF32 {
    using Block = float;
    static constexpr GgmlType type = GgmlType::F32;
    static constexpr GgmlType vec_dot_type = GgmlType::F32;
    static constexpr int64_t block_size = 1;

    static void dequantize_row(const Block* x, float* y, int64_t n) {
        std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
    }
    static void quantize_row(const float* x, Block* y, int64_t n) {
        std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
    }
    // Reference dot in the order of ggml's vec_dot_f32: lane i mod 32 over whole groups of 32
    // (fused multiply-add), reduce_lanes32_vec_dot, then the rest added in f32, each product
    // rounded before its sum.
    static float vec_dot(int64_t n, const Block* w, const Block* a) {
        float s[32] = {};
        int64_t i = 0;
        for (; i + 32 <= n; i += 32)
            for (int k = 0; k < 32; ++k) s[k] = std::fma(w[i + k], a[i + k], s[k]);
        float r = reduce_lanes32_vec_dot(s);
        for (; i < n; ++i) {
            const float p = w[i] * a[i];
            r += p;
        }
        return r;
    }
};

}  // namespace qlm
