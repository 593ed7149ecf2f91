// Q2_K: super-blocks of 256 2-bit codes, sixteen 16-element sub-blocks with 4-bit scale and min
// codes, f16 d and dmin, x = d·sc_j·q − dmin·m_j (FORMATS.md §2.8). Activations are Q8_K.
#pragma once

#include <cstdint>

#include "quant/format_q8_k.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockQ2_K {
    uint8_t scales[16];  // low nibble: scale code sc_j, high nibble: min code m_j
    uint8_t qs[64];      // 2-bit codes: element e in qs[32·(e/128) + e%32] at bits 2·((e%128)/32)
    uint16_t d;          // f16 scale of the scale codes
    uint16_t dmin;       // f16 scale of the min codes
};
static_assert(sizeof(BlockQ2_K) == 84 && alignof(BlockQ2_K) == 1, "Q2_K block is 84 unaligned bytes");

// The reference rule, llama.cpp's quantize_row_q2_K_ref (quant/quantize_kquants.cpp).
void quantize_row_q2_k_reference(const float* x, BlockQ2_K* y, int64_t n);

struct FormatQ2_K {
    using Block = BlockQ2_K;
    using ActBlock = BlockQ8_K;
    static constexpr GgmlType type = GgmlType::Q2_K;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_K;
    static constexpr int64_t block_size = 256;

    static void unpack(const Block& b, uint8_t* q) {
        for (int e = 0; e < 256; ++e) q[e] = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    }
    static void quantize_row(const float* x, Block* y, int64_t n) { quantize_row_q2_k_reference(x, y, n); }
    static void dequantize_row(const Block* x, float* y, int64_t n) {
        uint8_t q[256];
        for (int64_t b = 0; b < n / 256; ++b) {
            unpack(x[b], q);
            const float d = fp16_to_fp32(x[b].d), dmin = fp16_to_fp32(x[b].dmin);
            for (int j = 0; j < 16; ++j) {
                const float dl = d * static_cast<float>(x[b].scales[j] & 15);
                const float ml = dmin * static_cast<float>(x[b].scales[j] >> 4);
                for (int e = 16 * j; e < 16 * j + 16; ++e) y[b * 256 + e] = dl * static_cast<float>(q[e]) - ml;
            }
        }
    }
    // d_a·[d·Σ sc_j·Σ q·q_a − dmin·Σ m_j·bsums[j]] (FORMATS.md §4).
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) {
        float s = 0.f;
        uint8_t q[256];
        for (int64_t b = 0; b < n / 256; ++b) {
            unpack(w[b], q);
            int32_t isum = 0, msum = 0;
            for (int j = 0; j < 16; ++j) {
                int32_t sub = 0;
                for (int e = 16 * j; e < 16 * j + 16; ++e) sub += static_cast<int32_t>(q[e]) * a[b].qs[e];
                isum += (w[b].scales[j] & 15) * sub;
                msum += (w[b].scales[j] >> 4) * static_cast<int32_t>(a[b].bsums[j]);
            }
            s += (fp16_to_fp32(w[b].d) * a[b].d) * static_cast<float>(isum) -
                 (fp16_to_fp32(w[b].dmin) * a[b].d) * static_cast<float>(msum);
        }
        return s;
    }
};

}  // namespace qlm
