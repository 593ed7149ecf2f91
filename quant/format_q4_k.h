// Q4_K: super-blocks of 256 4-bit codes, eight 32-element sub-blocks with 6-bit scale and min
// codes, f16 d and dmin, x = d·sc_j·q − dmin·m_j (FORMATS.md §2.10). Activations are Q8_K.
#pragma once

#include <cstdint>

#include "quant/format_q8_k.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockQ4_K {
    uint16_t d;          // f16 scale of the sub-block scales
    uint16_t dmin;       // f16 scale of the sub-block mins
    uint8_t scales[12];  // eight 6-bit scale codes and eight 6-bit min codes
    uint8_t qs[128];     // 4-bit codes
};
static_assert(sizeof(BlockQ4_K) == 144 && alignof(BlockQ4_K) == 1, "Q4_K block is 144 unaligned bytes");

// The reference rule, llama.cpp's quantize_row_q4_K_ref (quant/quantize_kquants.cpp).
void quantize_row_q4_k_reference(const float* x, BlockQ4_K* y, int64_t n);

// The 6-bit scale and min codes of Q4_K/Q5_K sub-block j (FORMATS.md §2.10 table).
inline void kquant_scale_min(const uint8_t* b, int j, int& sc, int& m) {
    if (j < 4) {
        sc = b[j] & 63;
        m = b[j + 4] & 63;
    } else {
        sc = (b[j + 4] & 15) | ((b[j - 4] >> 6) << 4);
        m = (b[j + 4] >> 4) | ((b[j] >> 6) << 4);
    }
}

// Shared by Q4_K and Q5_K: dequantization and the dot against Q8_K from unpacked codes q[256].
struct KQuantAsym {
    template <class B>
    static void dequantize(const B& blk, const uint8_t* q, float* y) {
        const float d = fp16_to_fp32(blk.d), dmin = fp16_to_fp32(blk.dmin);
        for (int j = 0; j < 8; ++j) {
            int sc, m;
            kquant_scale_min(blk.scales, j, sc, m);
            const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
            for (int e = 32 * j; e < 32 * j + 32; ++e) y[e] = d1 * static_cast<float>(q[e]) - m1;
        }
    }
    template <class B>
    static float dot(const B& blk, const uint8_t* q, const BlockQ8_K& a) {
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; ++j) {
            int sc, m;
            kquant_scale_min(blk.scales, j, sc, m);
            int32_t sub = 0;
            for (int e = 32 * j; e < 32 * j + 32; ++e) sub += static_cast<int32_t>(q[e]) * a.qs[e];
            isum += sc * sub;
            msum += m * (static_cast<int32_t>(a.bsums[2 * j]) + a.bsums[2 * j + 1]);
        }
        return (fp16_to_fp32(blk.d) * a.d) * static_cast<float>(isum) -
               (fp16_to_fp32(blk.dmin) * a.d) * static_cast<float>(msum);
    }
    // Whole rows of a format F with these blocks and F::unpack(block, q).
    template <class F>
    static void dequantize_row(const typename F::Block* x, float* y, int64_t n) {
        uint8_t q[256];
        for (int64_t b = 0; b < n / 256; ++b) {
            F::unpack(x[b], q);
            dequantize(x[b], q, y + b * 256);
        }
    }
    // d_a·[d·Σ sc_j·Σ q·q_a − dmin·Σ m_j·(bsums[2j] + bsums[2j+1])] (FORMATS.md §4).
    template <class F>
    static float vec_dot(int64_t n, const typename F::Block* w, const BlockQ8_K* a) {
        float s = 0.f;
        uint8_t q[256];
        for (int64_t b = 0; b < n / 256; ++b) {
            F::unpack(w[b], q);
            s += dot(w[b], q, a[b]);
        }
        return s;
    }
};

struct FormatQ4_K {
    using Block = BlockQ4_K;
    using ActBlock = BlockQ8_K;
    static constexpr GgmlType type = GgmlType::Q4_K;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_K;
    static constexpr int64_t block_size = 256;

    // q(e) = (qs[32·(e/64) + e%32] >> (4·((e/32)%2))) & 15.
    static void unpack(const Block& b, uint8_t* q) {
        for (int e = 0; e < 256; ++e) q[e] = (b.qs[32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 15;
    }
    static void quantize_row(const float* x, Block* y, int64_t n) { quantize_row_q4_k_reference(x, y, n); }
    static void dequantize_row(const Block* x, float* y, int64_t n) {
        KQuantAsym::dequantize_row<FormatQ4_K>(x, y, n);
    }
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) {
        return KQuantAsym::vec_dot<FormatQ4_K>(n, w, a);
    }
};

}  // namespace qlm
