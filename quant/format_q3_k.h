// Q3_K: super-blocks of 256 3-bit codes in −4…3 (2 low bits as in Q2_K plus an hmask bit; a set
// bit means "no −4"), sixteen 6-bit signed scale codes and an f16 d, x = d·(s_j − 32)·q
// (FORMATS.md §2.9). Activations are Q8_K.
#pragma once

#include <cstdint>

#include "quant/format_q8_k.h"
#include "quant/format_shared.h"
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

// The reference rule, llama.cpp's quantize_row_q3_K_ref (quant/quantize_kquants.cpp).
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
    // The signed scale s_j − 32 of sub-block j.
    static int sub_scale(const Block& b, int j) { return scale_code(b, j) - 32; }
    static void dequantize_row(const Block* x, float* y, int64_t n) { dequantize_signed_k<FormatQ3_K>(x, y, n); }
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) {
        return vec_dot_signed_k<FormatQ3_K>(n, w, a);
    }
};

}  // namespace qlm
