// F32 weights: one float per element; activations stay F32 (FORMATS.md §4).
#pragma once

#include <cstdint>
#include <cstring>

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
    // Reference dot: plain f32 accumulation in index order.
    static float vec_dot(int64_t n, const Block* w, const Block* a) {
        float s = 0.f;
        for (int64_t i = 0; i < n; ++i) s += w[i] * a[i];
        return s;
    }
};

}  // namespace qlm
