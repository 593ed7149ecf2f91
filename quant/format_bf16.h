// BF16 weights: the upper half of an f32. Activations are rounded to bf16 (FORMATS.md §4).
#pragma once

#include <cstdint>

#include "quant/fp16.h"
#include "quant/ggml_type.h"

namespace qlm {

struct FormatBF16 {
    using Block = uint16_t;
    static constexpr GgmlType type = GgmlType::BF16;
    static constexpr GgmlType vec_dot_type = GgmlType::BF16;
    static constexpr int64_t block_size = 1;

    static void dequantize_row(const Block* x, float* y, int64_t n) {
        for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
    }
    static void quantize_row(const float* x, Block* y, int64_t n) {
        for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
    }
    static float vec_dot(int64_t n, const Block* w, const Block* a) {
        float s = 0.f;
        for (int64_t i = 0; i < n; ++i) s += bf16_to_fp32(w[i]) * bf16_to_fp32(a[i]);
        return s;
    }
};

}  // namespace qlm
