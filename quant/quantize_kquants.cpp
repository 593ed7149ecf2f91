// The K-quant reference quantizers, following llama.cpp's quantize_row_q{2..6}_K_ref (no
// importance matrix): per-sub-block scale (and min) searches, then the sub-block scales coded
// on a second level against one f16 super-block scale (FORMATS.md §3). Every float operation is
// done in the same order as the reference so the bytes are identical. Each is the quantize_row of its
// format (declared in quant/format_q{2..6}_k.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/format_q2_k.h"
#include "quant/format_q3_k.h"
#include "quant/format_q4_k.h"
#include "quant/format_q5_k.h"
#include "quant/format_q6_k.h"
#include "quant/format_shared.h"
#include "quant/fp16.h"

namespace qlm {

namespace {

constexpr int kQK = 256;
constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even (ggml's nearest_int for |x| < 2^22; FormatQ8_K's lrintf rounds the
// same there, this one also gives a defined result for NaN and huge inputs).
inline int ggml_nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    std::memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

// The codes l = nearest(iscale·x) clamped to [-nmax, nmax-1] (stored as l + offset in L unless L
// is nullptr) and their weighted sums Σ w·x·l and Σ w·l², w = x².
void symmetric_sums(int n, int nmax, float iscale, const float* x, int8_t* L, int offset, float& sumlx,
                    float& suml2) {
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = ggml_nearest_int(iscale * x[i]);
        l = std::max(-nmax, std::min(nmax - 1, l));
        if (L) L[i] = static_cast<int8_t>(l + offset);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
}

// Symmetric codes in [-nmax, nmax-1] with a scale search (ggml make_qx_quants, rmse_type 1).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
    const float max = signed_absmax(x, n);
    if (std::fabs(max) < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx, suml2;
    symmetric_sums(n, nmax, iscale, x, L, nmax, sumlx, suml2);
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        symmetric_sums(n, nmax, iscale, x, nullptr, 0, sumlx, suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                const int l = ggml_nearest_int(iscale * x[i]);
                L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Symmetric 3-bit codes with iterative refinement (ggml make_q3_quants, do_rmse = true).
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
    const float max = signed_absmax(x, n);
    if (std::fabs(max) < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx, suml2;
    symmetric_sums(n, nmax, iscale, x, L, 0, sumlx, suml2);
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = ggml_nearest_int(x[i] * sl2 / slx);
                new_l = std::max(-nmax, std::min(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = static_cast<int8_t>(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
    return sumlx / suml2;
}

// Asymmetric codes in [0, nmax] with scale and min searched over nstep+1 grids (ggml
// make_qkx2_quants). Returns the scale; *the_min is the (non-negative) min to subtract.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_mad = 0;
    for (int i = 0; i < n; ++i) {
        const int l = ggml_nearest_int(iscale * (x[i] - min));
        L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_mad += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = ggml_nearest_int(iscale * (x[i] - min));
            l = std::max(0, std::min(nmax, l));
            Laux[i] = static_cast<uint8_t>(l);
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float mad = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? std::fabs(diff) : diff * diff;
                mad += weights[i] * diff;
            }
            if (mad < best_mad) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_mad = mad;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// The 6-bit scale and min codes of sub-block j of a Q4_K/Q5_K block.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t& d, uint8_t& m) {
    if (j < 4) {
        d = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

// Q4_K/Q5_K shared part: eight 32-element sub-blocks, asymmetric codes in [0, nmax], scales and
// mins coded in 6 bits against d and dmin. Fills L (256 codes), scales[12], d, dmin.
void quantize_k4_k5(const float* x, int nmax, float rmin, int nstep, uint8_t* L, uint8_t* sc12, uint16_t& d16,
                    uint16_t& dmin16) {
    uint8_t Laux[32];
    float weights[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    std::memset(sc12, 0, 12);
    for (int j = 0; j < 8; ++j) {
        uint8_t ls = static_cast<uint8_t>(ggml_nearest_int(inv_scale * scales[j]));
        uint8_t lm = static_cast<uint8_t>(ggml_nearest_int(inv_min * mins[j]));
        ls = std::min<uint8_t>(63, ls);
        lm = std::min<uint8_t>(63, lm);
        if (j < 4) {
            sc12[j] = ls;
            sc12[j + 4] = lm;
        } else {
            sc12[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
            sc12[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
            sc12[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
        }
    }
    d16 = fp32_to_fp16(max_scale / 63.f);
    dmin16 = fp32_to_fp16(max_min / 63.f);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        scale_min_k4(j, sc12, sc, m);
        const float d = fp16_to_fp32(d16) * sc;
        if (!d) continue;
        const float dm = fp16_to_fp32(dmin16) * m;
        for (int ii = 0; ii < 32; ++ii) {
            const int l = ggml_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
        }
    }
}

}  // namespace

void quantize_row_q4_k_reference(const float* x, BlockQ4_K* y, int64_t n) {
    uint8_t L[kQK];
    for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
        BlockQ4_K b{};
        uint16_t d16, dmin16;
        quantize_k4_k5(x, 15, -1.f, 20, L, b.scales, d16, dmin16);
        b.d = d16;
        b.dmin = dmin16;
        uint8_t* q = b.qs;
        for (int j = 0; j < kQK; j += 64, q += 32)
            for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
        std::memcpy(&y[i], &b, sizeof b);
    }
}

void quantize_row_q5_k_reference(const float* x, BlockQ5_K* y, int64_t n) {
    uint8_t L[kQK];
    for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
        BlockQ5_K b{};
        uint16_t d16, dmin16;
        quantize_k4_k5(x, 31, -0.5f, 15, L, b.scales, d16, dmin16);
        b.d = d16;
        b.dmin = dmin16;
        uint8_t* ql = b.qs;
        uint8_t m1 = 1, m2 = 2;
        for (int nn = 0; nn < kQK; nn += 64, ql += 32) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[nn + j];
                if (l1 > 15) {
                    l1 -= 16;
                    b.qh[j] |= m1;
                }
                int l2 = L[nn + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    b.qh[j] |= m2;
                }
                ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
            }
            m1 = static_cast<uint8_t>(m1 << 2);
            m2 = static_cast<uint8_t>(m2 << 2);
        }
        std::memcpy(&y[i], &b, sizeof b);
    }
}

void quantize_row_q6_k_reference(const float* x, BlockQ6_K* y, int64_t n) {
    int8_t L[kQK];
    float scales[16];
    for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
        BlockQ6_K b{};
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < 16; ++ib) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            const float abs_scale = std::fabs(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < kGroupMaxEps) {
            b.d = fp32_to_fp16(0.f);
            std::memcpy(&y[i], &b, sizeof b);
            continue;
        }
        const float iscale = -128.f / max_scale;
        b.d = fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < 16; ++ib) b.scales[ib] = static_cast<int8_t>(std::min(127, ggml_nearest_int(iscale * scales[ib])));
        for (int j = 0; j < 16; ++j) {
            const float d = fp16_to_fp32(b.d) * b.scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = ggml_nearest_int(x[16 * j + ii] / d);
                l = std::max(-32, std::min(31, l));
                L[16 * j + ii] = static_cast<int8_t>(l + 32);
            }
        }
        uint8_t* ql = b.ql;
        uint8_t* qh = b.qh;
        for (int j = 0; j < kQK; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
                ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
                qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                             ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
        std::memcpy(&y[i], &b, sizeof b);
    }
}

void quantize_row_q3_k_reference(const float* x, BlockQ3_K* y, int64_t n) {
    int8_t L[kQK];
    float scales[16];
    for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
        BlockQ3_K b{};
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; ++j) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            const float scale = std::fabs(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; ++j) {
                int8_t l = static_cast<int8_t>(ggml_nearest_int(iscale * scales[j]));
                l = static_cast<int8_t>(std::max<int>(-32, std::min<int>(31, l)) + 32);
                if (j < 8)
                    b.scales[j] = static_cast<uint8_t>(l & 0xF);
                else
                    b.scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
                l = static_cast<int8_t>(l >> 4);
                b.scales[j % 4 + 8] |= static_cast<uint8_t>(l << (2 * (j / 4)));
            }
            b.d = fp32_to_fp16(1 / iscale);
        } else {
            b.d = fp32_to_fp16(0.f);
        }
        for (int j = 0; j < 16; ++j) {
            int sc = j < 8 ? b.scales[j] & 0xF : b.scales[j - 8] >> 4;
            sc = (sc | (((b.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
            const float d = fp16_to_fp32(b.d) * static_cast<float>(static_cast<int8_t>(sc));
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = ggml_nearest_int(x[16 * j + ii] / d);
                l = std::max(-4, std::min(3, l));
                L[16 * j + ii] = static_cast<int8_t>(l + 4);
            }
        }
        int m = 0;
        uint8_t hm = 1;
        for (int j = 0; j < kQK; ++j) {
            if (L[j] > 3) {
                b.hmask[m] |= hm;
                L[j] = static_cast<int8_t>(L[j] - 4);
            }
            if (++m == kQK / 8) {
                m = 0;
                hm = static_cast<uint8_t>(hm << 1);
            }
        }
        for (int j = 0; j < kQK; j += 128)
            for (int l = 0; l < 32; ++l)
                b.qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                                       (L[j + l + 96] << 6));
        std::memcpy(&y[i], &b, sizeof b);
    }
}

void quantize_row_q2_k_reference(const float* x, BlockQ2_K* y, int64_t n) {
    uint8_t L[kQK], Laux[16];
    float weights[16], mins[16], scales[16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
        BlockQ2_K b{};
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(ggml_nearest_int(iscale * scales[j]));
            b.d = fp32_to_fp16(max_scale / q4scale);
        } else {
            b.d = fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < 16; ++j) b.scales[j] |= static_cast<uint8_t>(ggml_nearest_int(iscale * mins[j]) << 4);
            b.dmin = fp32_to_fp16(max_min / q4scale);
        } else {
            b.dmin = fp32_to_fp16(0.f);
        }
        for (int j = 0; j < 16; ++j) {
            const float d = fp16_to_fp32(b.d) * (b.scales[j] & 0xF);
            if (!d) continue;
            const float dm = fp16_to_fp32(b.dmin) * (b.scales[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                const int l = ggml_nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(3, l)));
            }
        }
        for (int j = 0; j < kQK; j += 128)
            for (int l = 0; l < 32; ++l)
                b.qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                                       (L[j + l + 96] << 6));
        std::memcpy(&y[i], &b, sizeof b);
    }
}

}  // namespace qlm
