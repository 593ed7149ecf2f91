// IQ4_NL: blocks of 32 4-bit indices into a fixed table of 16 non-linearly spaced values, with
// one f16 scale: x = d·kIq4Values[i]. Element e < 16 is the low nibble of qs[e], element 16 + e
// the high nibble (as Q4_0). Activations are Q8_0. llama.cpp's ggml type 20 (block_iq4_nl).
#pragma once

#include <cstdint>

#include "quant/format_q8_0.h"
#include "quant/format_shared.h"
#include "quant/ggml_type.h"

namespace qlm {

// The 16 grid values of IQ4_NL and IQ4_XS (llama.cpp's kvalues_iq4nl), ascending: denser near
// zero, where most weights are.
inline constexpr int8_t kIq4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

struct __attribute__((packed)) BlockIQ4_NL {
    uint16_t d;      // f16 scale
    uint8_t qs[16];  // indices: element e in qs[e % 16] >> (4·(e / 16))
};
static_assert(sizeof(BlockIQ4_NL) == 18 && alignof(BlockIQ4_NL) == 1, "IQ4_NL block is 18 unaligned bytes");

// llama.cpp's quantize_iq4_nl without an importance matrix, byte for byte what llama-quantize
// writes (quant/quantize_iq4.cpp).
void quantize_row_iq4_nl_reference(const float* x, BlockIQ4_NL* y, int64_t n);

struct FormatIQ4_NL {
    using Block = BlockIQ4_NL;
    using ActBlock = BlockQ8_0;
    static constexpr GgmlType type = GgmlType::IQ4_NL;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_0;
    static constexpr int64_t block_size = 32;

    // The grid value of element e (the "code" the shared 32-element loops multiply by d).
    static int code(const Block& b, int e) { return kIq4Values[(b.qs[e % 16] >> (4 * (e / 16))) & 15]; }

    static void dequantize_row(const Block* x, float* y, int64_t n) { dequantize_scaled<FormatIQ4_NL, 0>(x, y, n); }
    static void quantize_row(const float* x, Block* y, int64_t n) { quantize_row_iq4_nl_reference(x, y, n); }
    // d_w·d_a·Σ value·q_a per block, as ggml_vec_dot_iq4_nl_q8_0.
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) { return vec_dot_scaled<FormatIQ4_NL, 0>(n, w, a); }
};

}  // namespace qlm
