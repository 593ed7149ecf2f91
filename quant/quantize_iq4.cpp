// The IQ4_NL / IQ4_XS reference rule: llama.cpp's quantize_row_iq4_nl_impl as llama-quantize runs
// it (through quantize_iq4_nl / quantize_iq4_xs: 7 extra starting scales each way, no importance
// matrix, so every element weighs x²). The float expressions keep ggml's order and types, so the
// bytes are llama-quantize's (tests/unit/quant/format_iq4_test.cpp checks them against its files).
#include <cmath>
#include <cstring>

#include "quant/format_iq4_nl.h"
#include "quant/format_iq4_xs.h"
#include "quant/format_q8_k.h"
#include "quant/fp16.h"
#include "quant/quantize_iq4.h"

namespace qlm {

namespace {

constexpr float kGroupMaxEps = 1e-15f;  // a group whose largest |x| is below this is all zero
constexpr int kTries = 7;               // extra starting scales (kIq4Values[0] + t)/max, t = −7..7

// Σ w·q·x and Σ w·q² over a 32-element group whose elements take the grid values nearest to id·x.
void fit_sums(const float* x, const float* w, float id, float& sumqx, float& sumq2) {
    sumqx = 0;
    sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
        const float q = kIq4Values[iq4_nearest_index_upper(id * x[j])];
        sumqx += w[j] * q * x[j];
        sumq2 += w[j] * q * q;
    }
}

// The scale d of one 32-element group minimising Σ w·(x − d·value)² over a few starting points:
// the signed extreme mapped to −kIq4Values[0], then (kIq4Values[0] + t)/max for t = −7..7; each
// assigns the nearest grid values and refits d by weighted least squares; the best fit wins.
float group_scale(const float* x, const float* w) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
        const float ax = std::fabs(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax < kGroupMaxEps) return 0.f;
    float sumqx, sumq2;
    fit_sums(x, w, 1 / (-max / static_cast<float>(kIq4Values[0])), sumqx, sumq2);
    float d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int t = -kTries; t <= kTries; ++t) {
        fit_sums(x, w, static_cast<float>(t + kIq4Values[0]) / max, sumqx, sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

// The 32 nearest grid indices of id·x packed as an IQ4_NL block's 16 bytes.
void put_indices(const float* x, float id, uint8_t* qs) {
    for (int j = 0; j < 16; ++j)
        qs[j] = static_cast<uint8_t>(iq4_nearest_index_upper(id * x[j]) | (iq4_nearest_index_upper(id * x[j + 16]) << 4));
}

void square_weights(const float* x, float* w) {
    for (int j = 0; j < 32; ++j) w[j] = x[j] * x[j];
}

}  // namespace

void quantize_row_iq4_nl_reference(const float* x, BlockIQ4_NL* y, int64_t n) {
    float w[32];
    for (int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + 32 * b;
        square_weights(xb, w);
        const float d = group_scale(xb, w);
        y[b].d = fp32_to_fp16(d);
        put_indices(xb, d != 0.f ? 1 / d : 0.f, y[b].qs);  // the unrounded d, as ggml
    }
}

// Each sub-block's scale as for IQ4_NL; the one of largest magnitude fixes d = −max/32 so that it
// gets code −32, every other scale is rounded to the nearest code, and the indices are chosen again
// for the coded scale d·code (from the unrounded d, as ggml).
void quantize_row_iq4_xs_reference(const float* x, BlockIQ4_XS* y, int64_t n) {
    float w[32], scales[8];
    for (int64_t b = 0; b < n / 256; ++b) {
        const float* xs = x + 256 * b;
        BlockIQ4_XS& o = y[b];
        float max_scale = 0, amax_scale = 0;
        for (int j = 0; j < 8; ++j) {
            square_weights(xs + 32 * j, w);
            scales[j] = group_scale(xs + 32 * j, w);
            if (std::fabs(scales[j]) > amax_scale) {
                amax_scale = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }
        const float d = -max_scale / 32;
        o.d = fp32_to_fp16(d);
        const float id = d != 0.f ? 1 / d : 0.f;
        uint16_t scales_h = 0;
        for (int j = 0; j < 8; ++j) {
            int l = nearest_int(id * scales[j]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            const float dl = d * static_cast<float>(l);
            put_indices(xs + 32 * j, dl != 0.f ? 1 / dl : 0.f, o.qs + 16 * j);
            l += 32;
            if (j % 2 == 0) o.scales_l[j / 2] = static_cast<uint8_t>(l & 15);
            else o.scales_l[j / 2] |= static_cast<uint8_t>((l & 15) << 4);
            scales_h |= static_cast<uint16_t>((l >> 4) << (2 * j));
        }
        o.scales_h = scales_h;
    }
}

}  // namespace qlm
