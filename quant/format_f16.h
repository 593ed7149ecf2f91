// F16 weights: IEEE binary16 per element. ggml rounds the activation row to f16 first and
// accumulates the products in f32 (FORMATS.md §4), so the vec_dot type is F16 as well.
#pragma once

#include <cstdint>

#include "quant/format_shared.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"

namespace qlm {

struct FormatF16 {
    using Block = uint16_t;
    static constexpr GgmlType type = GgmlType::F16;
    static constexpr GgmlType vec_dot_type = GgmlType::F16;
    static constexpr int64_t block_size = 1;

    static void dequantize_row(const Block* x, float* y, int64_t n) {
        for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
    }
    static void quantize_row(const float* x, Block* y, int64_t n) {
        for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
    }
    // In the order of ggml's vec_dot_f16: lane i mod 32 over whole groups of 32,
    // reduce_lanes32_vec_dot, then the rest added in double. Each product of two f16 values is
    // exact in f32 (no fused add needed); only the summation rounds.
    static float vec_dot(int64_t n, const Block* w, const Block* a) {
        float s[32] = {};
        int64_t i = 0;
        for (; i + 32 <= n; i += 32)
            for (int k = 0; k < 32; ++k) s[k] += fp16_to_fp32(w[i + k]) * fp16_to_fp32(a[i + k]);
        double r = reduce_lanes32_vec_dot(s);
        for (; i < n; ++i) r += static_cast<double>(fp16_to_fp32(w[i]) * fp16_to_fp32(a[i]));
        return static_cast<float>(r);
    }
};

}  // namespace qlm
