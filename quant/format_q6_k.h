// Q6_K: super-blocks of 256 6-bit codes in −32…31 with sixteen i8 sub-block scales and an f16 d,
// x = d·scales[e/16]·q (FORMATS.md §2.12). Activations are Q8_K.
#pragma once

#include <cstdint>

#include "quant/format_q8_k.h"
#include "quant/format_shared.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockQ6_K {
    uint8_t ql[128];    // low 4 bits
    uint8_t qh[64];     // high 2 bits
    int8_t scales[16];  // signed sub-block scales
    uint16_t d;         // f16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210 && alignof(BlockQ6_K) == 1, "Q6_K block is 210 unaligned bytes");

// The reference rule, llama.cpp's quantize_row_q6_K_ref (quant/quantize_kquants.cpp).
void quantize_row_q6_k_reference(const float* x, BlockQ6_K* y, int64_t n);

struct FormatQ6_K {
    using Block = BlockQ6_K;
    using ActBlock = BlockQ8_K;
    static constexpr GgmlType type = GgmlType::Q6_K;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_K;
    static constexpr int64_t block_size = 256;

    // q(e) in −32…31 for all 256 elements (e = 128h + 32s + l).
    static void unpack(const Block& b, int8_t* q) {
        for (int h = 0; h < 2; ++h)
            for (int s = 0; s < 4; ++s)
                for (int l = 0; l < 32; ++l) {
                    const int lo = (b.ql[64 * h + 32 * (s % 2) + l] >> (4 * (s / 2))) & 15;
                    const int hi = (b.qh[32 * h + l] >> (2 * s)) & 3;
                    q[128 * h + 32 * s + l] = static_cast<int8_t>((lo | (hi << 4)) - 32);
                }
    }
    static void quantize_row(const float* x, Block* y, int64_t n) { quantize_row_q6_k_reference(x, y, n); }
    static int sub_scale(const Block& b, int j) { return b.scales[j]; }
    static void dequantize_row(const Block* x, float* y, int64_t n) { dequantize_signed_k<FormatQ6_K>(x, y, n); }
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) {
        return vec_dot_signed_k<FormatQ6_K>(n, w, a);
    }
};

}  // namespace qlm
