// Q8_K: super-blocks of 256 int8 codes with an f32 scale and sixteen i16 sums of 16 codes
// (FORMATS.md §2.13). It is the activation format of every K-quant (§4); llama-quantize never
// writes it as a weight.
#pragma once

#include <cmath>
#include <cstdint>

#include "quant/ggml_type.h"

namespace qlm {

struct __attribute__((packed)) BlockQ8_K {
    float d;            // f32 scale (negative when the extreme is positive)
    int8_t qs[256];     // codes
    int16_t bsums[16];  // bsums[j] = Σ qs[16j .. 16j+15]
};
static_assert(sizeof(BlockQ8_K) == 292 && alignof(BlockQ8_K) == 1, "Q8_K block is 292 unaligned bytes");

// Round half to even (ggml's nearest_int for the magnitudes the K-quants use).
inline int nearest_int(float v) { return static_cast<int>(std::lrintf(v)); }

struct FormatQ8_K {
    using Block = BlockQ8_K;
    using ActBlock = BlockQ8_K;
    static constexpr GgmlType type = GgmlType::Q8_K;
    static constexpr GgmlType vec_dot_type = GgmlType::Q8_K;
    static constexpr int64_t block_size = 256;
    // An activation format: llama-quantize never writes weights in it.
    static constexpr bool activation_only = true;

    static void dequantize_row(const Block* x, float* y, int64_t n) {
        for (int64_t b = 0; b < n / 256; ++b) {
            const float d = x[b].d;
            for (int e = 0; e < 256; ++e) y[b * 256 + e] = d * static_cast<float>(x[b].qs[e]);
        }
    }
    // Reference rule (FORMATS.md §3): iscale = −127/max (max the signed largest-magnitude value),
    // q = min(127, nearest_int(iscale·x)), d = 1/iscale; an all-zero block stores d = 0.
    static void quantize_row(const float* x, Block* y, int64_t n) {
        for (int64_t b = 0; b < n / 256; ++b) {
            const float* xb = x + b * 256;
            float amax = 0.f, max = 0.f;
            for (int e = 0; e < 256; ++e)
                if (std::fabs(xb[e]) > amax) {
                    amax = std::fabs(xb[e]);
                    max = xb[e];
                }
            Block& o = y[b];
            if (amax == 0.f) {
                o.d = 0.f;
                for (int e = 0; e < 256; ++e) o.qs[e] = 0;
            } else {
                const float iscale = -127.f / max;
                for (int e = 0; e < 256; ++e) {
                    const int v = nearest_int(iscale * xb[e]);
                    o.qs[e] = static_cast<int8_t>(v < 127 ? v : 127);
                }
                o.d = 1.f / iscale;
            }
            for (int j = 0; j < 16; ++j) {
                int sum = 0;
                for (int e = 0; e < 16; ++e) sum += o.qs[16 * j + e];
                o.bsums[j] = static_cast<int16_t>(sum);
            }
        }
    }
    static float vec_dot(int64_t n, const Block* w, const ActBlock* a) {
        float s = 0.f;
        for (int64_t b = 0; b < n / 256; ++b) {
            int32_t isum = 0;
            for (int e = 0; e < 256; ++e) isum += static_cast<int32_t>(w[b].qs[e]) * a[b].qs[e];
            s += static_cast<float>(isum) * (w[b].d * a[b].d);
        }
        return s;
    }
};

}  // namespace qlm
