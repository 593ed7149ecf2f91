// Q3_K: super-blocks of 256 3-bit codes in −4…3 (2 low bits as in Q2_K plus an hmask bit; a set
// bit means "no −4"), sixteen 6-bit signed scale codes and an f16 d, x = d·(s_j − 32)·q
// (FORMATS.md §2.9). Activations are Q8_K.
#pragma once

#include <cstdint>

#include "quant/format_q8_k.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockQ3_K {
    uint8_t hmask[32];   // 3rd bit: element e at bit e/32 of hmask[e%32]
    uint8_t qs[64];      // low 2 bits, packed as in Q2_K
    uint8_t scales[12];  // sixteen 6-bit codes s_j (signed scale s_j − 32)
    uint16_t d;          // f16 super-block scale
};
static_assert(sizeof(BlockQ3_K) == 110 && alignof(BlockQ3_K) == 1, "Q3_K block is 110 unaligned bytes");

// llama.cpp's quantize_row_q3_K_ref (quant/quantize_kquants.cpp): the reference rule, as
// llama-quantize writes Q3_K without an importance matrix. n is a multiple of 256.
void quantize_row_q3_k_reference(const float* x, BlockQ3_K* y, int64_t n);

struct FormatQ3_K {
    using Block = BlockQ3_K;
    using ActBlock = BlockQ8_K;
    static constexpr GgmlType type = GgmlType::Q3_K;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_K;
    static constexpr int64_t block_size = 256;

    // The 6-bit code s_j (0…63) of sub-block j.
    static int scale_code(const Block& b, int j) {
        const int low = j < 8 ? (b.scales[j] & 15) : (b.scales[j - 8] >> 4);
        const int high = (b.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        return low | (high << 4);
    }
    static void unpack(const Block& b, int8_t* q) {
        for (int e = 0; e < 256; ++e) {
            const int lo = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            const int hi = (b.hmask[e % 32] >> (e / 32)) & 1;
            q[e] = static_cast<int8_t>(lo + 4 * hi - 4);
        }
    }
    static void quantize_row(const float* x, Block* y, int64_t n) { quantize_row_q3_k_reference(x, y, n); }
    static void dequantize_row(const Block* x, float* y, int64_t n) {
        int8_t q[256];
        for (int64_t b = 0; b < n / 256; ++b) {
            unpack(x[b], q);
            const float d = fp16_to_fp32(x[b].d);
            for (int j = 0; j < 16; ++j) {
                const float dl = d * static_cast<float>(scale_code(x[b], j) - 32);
                for (int e = 16 * j; e < 16 * j + 16; ++e) y[b * 256 + e] = dl * static_cast<float>(q[e]);
            }
        }
    }
    // d·d_a·Σ_j (s_j − 32)·Σ_{e∈j} q·q_a (FORMATS.md §4).
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) {
        float s = 0.f;
        int8_t q[256];
        for (int64_t b = 0; b < n / 256; ++b) {
            unpack(w[b], q);
            int32_t isum = 0;
            for (int j = 0; j < 16; ++j) {
                int32_t sub = 0;
                for (int e = 16 * j; e < 16 * j + 16; ++e) sub += static_cast<int32_t>(q[e]) * a[b].qs[e];
                isum += (scale_code(w[b], j) - 32) * sub;
            }
            s += (fp16_to_fp32(w[b].d) * a[b].d) * static_cast<float>(isum);
        }
        return s;
    }
};

}  // namespace qlm
