// IQ4_XS: super-blocks of 256 elements, eight 32-element sub-blocks of 4-bit indices into the
// IQ4_NL grid (kIq4Values), each with a 6-bit scale code s_j (stored +32) on one f16 d:
// x = d·(s_j − 32)·kIq4Values[i]. Scale code j: low 4 bits in scales_l[j/2] (nibble j%2), high 2
// bits in scales_h bits 2j..2j+1. Sub-block j's indices are qs[16j..16j+15], laid out as an
// IQ4_NL block. Activations are Q8_K. llama.cpp's ggml type 23 (block_iq4_xs).
#pragma once

#include <cstdint>

#include "quant/format_iq4_nl.h"
#include "quant/format_q8_k.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockIQ4_XS {
    uint16_t d;           // f16 super-block scale
    uint16_t scales_h;    // high 2 bits of the eight scale codes
    uint8_t scales_l[4];  // low 4 bits of the eight scale codes
    uint8_t qs[128];      // indices, 16 bytes per sub-block
};
static_assert(sizeof(BlockIQ4_XS) == 136 && alignof(BlockIQ4_XS) == 1, "IQ4_XS block is 136 unaligned bytes");

// llama.cpp's quantize_iq4_xs without an importance matrix, byte for byte what llama-quantize
// writes (quant/quantize_iq4.cpp).
void quantize_row_iq4_xs_reference(const float* x, BlockIQ4_XS* y, int64_t n);

struct FormatIQ4_XS {
    using Block = BlockIQ4_XS;
    using ActBlock = BlockQ8_K;
    static constexpr GgmlType type = GgmlType::IQ4_XS;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_K;
    static constexpr int64_t block_size = 256;

    // The signed scale s_j − 32 (−32..31) of sub-block j.
    static int sub_scale(const Block& b, int j) {
        const int lo = (b.scales_l[j / 2] >> (4 * (j % 2))) & 15;
        const int hi = (b.scales_h >> (2 * j)) & 3;
        return (lo | (hi << 4)) - 32;
    }
    // The grid value of element e.
    static int value(const Block& b, int e) {
        const int k = e % 32;
        return kIq4Values[(b.qs[16 * (e / 32) + k % 16] >> (4 * (k / 16))) & 15];
    }

    static void dequantize_row(const Block* x, float* y, int64_t n) {
        for (int64_t b = 0; b < n / 256; ++b) {
            const float d = fp16_to_fp32(x[b].d);
            for (int j = 0; j < 8; ++j) {
                const float dl = d * static_cast<float>(sub_scale(x[b], j));
                for (int e = 32 * j; e < 32 * j + 32; ++e) y[b * 256 + e] = dl * static_cast<float>(value(x[b], e));
            }
        }
    }
    static void quantize_row(const float* x, Block* y, int64_t n) { quantize_row_iq4_xs_reference(x, y, n); }
    // d·d_a·Σ_j (s_j − 32)·Σ_{e∈j} value·q_a per super-block; the integer sum is exact in i32
    // (8·32·127·128·32 < 2^31).
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) {
        float s = 0.f;
        for (int64_t b = 0; b < n / 256; ++b) {
            int32_t isum = 0;
            for (int j = 0; j < 8; ++j) {
                int32_t sub = 0;
                for (int e = 32 * j; e < 32 * j + 32; ++e) sub += value(w[b], e) * static_cast<int32_t>(a[b].qs[e]);
                isum += sub_scale(w[b], j) * sub;
            }
            s += (fp16_to_fp32(w[b].d) * a[b].d) * static_cast<float>(isum);
        }
        return s;
    }
};

}  // namespace qlm
