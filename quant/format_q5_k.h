// Q5_K: Q4_K plus a 5th bit per element in qh (FORMATS.md §2.11): q = nibble + 16·bit, in 0…31,
// x = d·sc_j·q − dmin·m_j. Activations are Q8_K.
#pragma once

#include <cstdint>

#include "quant/format_q4_k.h"
#include "quant/format_q8_k.h"
#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockQ5_K {
    uint16_t d;          // f16 scale of the sub-block scales
    uint16_t dmin;       // f16 scale of the sub-block mins
    uint8_t scales[12];  // packed as in Q4_K
    uint8_t qh[32];      // 5th bits: element e at bit e/32 of qh[e%32]
    uint8_t qs[128];     // low 4 bits, packed as in Q4_K
};
static_assert(sizeof(BlockQ5_K) == 176 && alignof(BlockQ5_K) == 1, "Q5_K block is 176 unaligned bytes");

// The reference rule, llama.cpp's quantize_row_q5_K_ref (quant/quantize_kquants.cpp).
void quantize_row_q5_k_reference(const float* x, BlockQ5_K* y, int64_t n);

struct FormatQ5_K {
    using Block = BlockQ5_K;
    using ActBlock = BlockQ8_K;
    static constexpr GgmlType type = GgmlType::Q5_K;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_K;
    static constexpr int64_t block_size = 256;

    static void unpack(const Block& b, uint8_t* q) {
        for (int e = 0; e < 256; ++e)
            q[e] = static_cast<uint8_t>(((b.qs[32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 15) |
                                        (((b.qh[e % 32] >> (e / 32)) & 1) << 4));
    }
    static void quantize_row(const float* x, Block* y, int64_t n) { quantize_row_q5_k_reference(x, y, n); }
    static void dequantize_row(const Block* x, float* y, int64_t n) {
        KQuantAsym::dequantize_row<FormatQ5_K>(x, y, n);
    }
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) {
        return KQuantAsym::vec_dot<FormatQ5_K>(n, w, a);
    }
};

}  // namespace qlm
