// The searched quantizers (quantize_search.h). Building blocks:
//   search_sym / search_asym: the best scale (and offset) of one small group of values: a grid of
//     candidate scales around amax/qmax (or range/qmax), each followed by alternating
//     least-squares refits of the scale (and offset) and re-assignment of the integer codes.
//   K-quants: every sub-block is searched as above, then the sub-block scales/mins are coded on
//     the super-block scale(s); with the codes fixed, each sub-block tries its neighbouring
//     scale/min codes and re-assigns its integers against the *coded* values, the super-block
//     scale(s) are refitted by least squares, and this repeats a few rounds.
// The error of every candidate is measured on the final dequantized values (the f16 scales), and
// each block finally competes with the reference rule's encoding of the same block.
#include "quant/quantize_search.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "quant/format_q2_k.h"
#include "quant/format_q3_k.h"
#include "quant/format_q4_0.h"
#include "quant/format_q4_1.h"
#include "quant/format_q4_k.h"
#include "quant/format_q5_0.h"
#include "quant/format_q5_1.h"
#include "quant/format_q5_k.h"
#include "quant/format_q6_k.h"
#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/quantize_iq4.h"
#include "src/util/error.h"

namespace qlm {

namespace {

constexpr int kMaxBlock = 256;
constexpr int kGridSteps = 10;       // candidate scales: qmax + 0.1·k, k = −10..10
constexpr int kRefits = 2;           // least-squares refit + re-assignment rounds per candidate
constexpr int kSuperRounds = 4;      // K-quant super-block rounds
constexpr double kInf = std::numeric_limits<double>::infinity();

// round(v) clamped to [lo, hi]; NaN goes to lo (no undefined conversions).
inline int round_clamp(float v, int lo, int hi) {
    if (!(v >= static_cast<float>(lo))) return lo;
    if (v >= static_cast<float>(hi)) return hi;
    return static_cast<int>(std::nearbyint(v));
}

inline float f16_round(float v) { return fp16_to_fp32(fp32_to_fp16(v)); }

// Symmetric group: x ≈ s·q, q in [qmin, qmax] (qmin < 0 < qmax). Returns s and the codes in q;
// *err the weighted squared error. round16: s is stored as f16 (Q4_0/Q5_0), so each candidate
// is rounded before its codes are assigned.
float search_sym(const float* x, const float* w, int n, int qmin, int qmax, bool round16, int* q, double* err) {
    float amax = 0, xm = 0;
    for (int i = 0; i < n; ++i)
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            xm = x[i];
        }
    if (!(amax > 1e-30f) || !std::isfinite(amax)) {
        std::fill(q, q + n, 0);
        double e = 0;
        for (int i = 0; i < n; ++i) e += static_cast<double>(w[i]) * x[i] * x[i];
        *err = e;
        return 0.f;
    }
    double best = kInf;
    float best_s = 0;
    int tq[kMaxBlock];
    auto assign = [&](float s) {
        const float is = 1.f / s;
        for (int i = 0; i < n; ++i) tq[i] = round_clamp(x[i] * is, qmin, qmax);
    };
    for (int target : {qmin, qmax}) {
        for (int k = -kGridSteps; k <= kGridSteps; ++k) {
            const float t = static_cast<float>(std::abs(target)) + 0.1f * static_cast<float>(k);
            if (t < 0.5f) continue;
            float s = xm / (target < 0 ? -t : t);
            if (round16) s = f16_round(s);
            if (s == 0.f || !std::isfinite(s)) continue;
            assign(s);
            for (int it = 0; it < kRefits; ++it) {
                double sxq = 0, sqq = 0;
                for (int i = 0; i < n; ++i) {
                    sxq += static_cast<double>(w[i]) * x[i] * tq[i];
                    sqq += static_cast<double>(w[i]) * tq[i] * tq[i];
                }
                if (!(sqq > 0)) break;
                float ns = static_cast<float>(sxq / sqq);
                if (round16) ns = f16_round(ns);
                if (ns == 0.f || !std::isfinite(ns)) break;
                s = ns;
                assign(s);
            }
            double e = 0;
            for (int i = 0; i < n; ++i) {
                const double d = static_cast<double>(x[i]) - static_cast<double>(s * static_cast<float>(tq[i]));
                e += static_cast<double>(w[i]) * d * d;
            }
            if (e < best) {
                best = e;
                best_s = s;
                std::copy(tq, tq + n, q);
            }
        }
    }
    if (best == kInf) {  // every candidate degenerate (all weights zero)
        std::fill(q, q + n, 0);
        best = 0;
        best_s = 0;
    }
    *err = best;
    return best_s;
}

// Asymmetric group: x ≈ s·q + m, q in [0, qmax], s ≥ 0. min_nonpos: m ≤ 0 (the K-quants store
// −m as an unsigned code). round16: s and m are stored as f16 (Q4_1/Q5_1).
void search_asym(const float* x, const float* w, int n, int qmax, bool min_nonpos, bool round16, int* q, float* s_out,
                 float* m_out, double* err) {
    float mn = x[0], mx = x[0];
    for (int i = 1; i < n; ++i) {
        mn = std::min(mn, x[i]);
        mx = std::max(mx, x[i]);
    }
    if (min_nonpos) mn = std::min(mn, 0.f);
    auto error_of = [&](float s, float m, const int* qq) {
        double e = 0;
        for (int i = 0; i < n; ++i) {
            const double d = static_cast<double>(x[i]) - static_cast<double>(s * static_cast<float>(qq[i]) + m);
            e += static_cast<double>(w[i]) * d * d;
        }
        return e;
    };
    // The constant block (all codes 0, x ≈ m) is always a candidate.
    float m0 = min_nonpos ? std::min(0.f, mn) : mn;
    if (round16) m0 = f16_round(m0);
    std::fill(q, q + n, 0);
    double best = error_of(0.f, m0, q);
    float best_s = 0, best_m = m0;
    const float range = mx - mn;
    if (range > 1e-30f && std::isfinite(range)) {
        int tq[kMaxBlock];
        auto assign = [&](float s, float m) {
            const float is = 1.f / s;
            for (int i = 0; i < n; ++i) tq[i] = round_clamp((x[i] - m) * is, 0, qmax);
        };
        for (int k = -kGridSteps; k <= kGridSteps; ++k) {
            const float t = static_cast<float>(qmax) + 0.1f * static_cast<float>(k);
            if (t < 0.5f) continue;
            float s = range / t, m = mn;
            if (round16) {
                s = f16_round(s);
                m = f16_round(m);
            }
            if (!(s > 0.f) || !std::isfinite(s)) continue;
            assign(s, m);
            for (int it = 0; it < kRefits; ++it) {
                double sw = 0, sq = 0, sqq = 0, sx = 0, sxq = 0;
                for (int i = 0; i < n; ++i) {
                    const double wi = w[i];
                    sw += wi;
                    sq += wi * tq[i];
                    sqq += wi * tq[i] * tq[i];
                    sx += wi * x[i];
                    sxq += wi * x[i] * tq[i];
                }
                const double det = sw * sqq - sq * sq;
                double ns, nm;
                if (det > 1e-12 * sw * sqq && det > 0) {
                    ns = (sw * sxq - sq * sx) / det;
                    nm = (sqq * sx - sq * sxq) / det;
                } else {
                    break;
                }
                if (min_nonpos && nm > 0) {
                    nm = 0;
                    ns = sqq > 0 ? sxq / sqq : 0;
                }
                float fs = static_cast<float>(ns), fm = static_cast<float>(nm);
                if (round16) {
                    fs = f16_round(fs);
                    fm = f16_round(fm);
                }
                if (!(fs > 0.f) || !std::isfinite(fs) || !std::isfinite(fm)) break;
                s = fs;
                m = fm;
                assign(s, m);
            }
            const double e = error_of(s, m, tq);
            if (e < best) {
                best = e;
                best_s = s;
                best_m = m;
                std::copy(tq, tq + n, q);
            }
        }
    }
    *s_out = best_s;
    *m_out = best_m;
    *err = best;
}

// ---- K-quants with scales and mins (Q2_K, Q4_K, Q5_K): x = d·sc_j·q − dmin·m_j ----

struct AsymK {
    int nsub, sub, qmax, scmax;
};

struct AsymKResult {
    uint16_t d = 0, dmin = 0;
    std::array<uint8_t, 16> sc{}, mc{};
    std::array<uint8_t, kMaxBlock> q{};
};

void search_kquant_asym(const float* x, const float* w, const AsymK& p, AsymKResult& out) {
    float s[16], m[16];
    int tq[kMaxBlock];
    float max_s = 0, max_m = 0;
    for (int j = 0; j < p.nsub; ++j) {
        double e;
        float mm;
        search_asym(x + j * p.sub, w + j * p.sub, p.sub, p.qmax, true, false, tq, &s[j], &mm, &e);
        m[j] = -mm;
        max_s = std::max(max_s, s[j]);
        max_m = std::max(max_m, m[j]);
    }
    out = AsymKResult{};
    if (!(max_s > 0) && !(max_m > 0)) return;  // all zero
    double D = max_s / p.scmax, DM = max_m / p.scmax;
    double best = kInf;
    AsymKResult cur;
    for (int round = 0; round < kSuperRounds; ++round) {
        cur.d = fp32_to_fp16(static_cast<float>(D));
        cur.dmin = fp32_to_fp16(static_cast<float>(DM));
        const float Df = fp16_to_fp32(cur.d), DMf = fp16_to_fp32(cur.dmin);
        if (!(Df >= 0) || !std::isfinite(Df) || !(DMf >= 0) || !std::isfinite(DMf)) break;
        double total = 0;
        for (int j = 0; j < p.nsub; ++j) {
            const float* xs = x + j * p.sub;
            const float* ws = w + j * p.sub;
            const int sc0 = Df > 0 ? round_clamp(s[j] / Df, 0, p.scmax) : 0;
            const int mc0 = DMf > 0 ? round_clamp(m[j] / DMf, 0, p.scmax) : 0;
            double bj = kInf;
            for (int sc = std::max(0, sc0 - 1); sc <= std::min(p.scmax, sc0 + 1); ++sc)
                for (int mc = std::max(0, mc0 - 1); mc <= std::min(p.scmax, mc0 + 1); ++mc) {
                    if (DMf == 0 && mc != 0) continue;
                    const float ds = Df * static_cast<float>(sc), dm = DMf * static_cast<float>(mc);
                    double e = 0;
                    for (int i = 0; i < p.sub; ++i) {
                        tq[i] = ds > 0 ? round_clamp((xs[i] + dm) / ds, 0, p.qmax) : 0;
                        const double d = static_cast<double>(xs[i]) - static_cast<double>(ds * static_cast<float>(tq[i]) - dm);
                        e += static_cast<double>(ws[i]) * d * d;
                    }
                    if (e < bj) {
                        bj = e;
                        cur.sc[j] = static_cast<uint8_t>(sc);
                        cur.mc[j] = static_cast<uint8_t>(mc);
                        for (int i = 0; i < p.sub; ++i) cur.q[j * p.sub + i] = static_cast<uint8_t>(tq[i]);
                    }
                }
            total += bj;
        }
        if (total < best) {
            best = total;
            out = cur;
        }
        // Refit d and dmin with every integer fixed: x ≈ D·(sc·q) − DM·mc.
        double saa = 0, sbb = 0, sab = 0, sxa = 0, sxb = 0;
        for (int j = 0; j < p.nsub; ++j)
            for (int i = 0; i < p.sub; ++i) {
                const int e = j * p.sub + i;
                const double a = static_cast<double>(cur.sc[j]) * cur.q[e], b = -static_cast<double>(cur.mc[j]);
                const double wi = w[e];
                saa += wi * a * a;
                sbb += wi * b * b;
                sab += wi * a * b;
                sxa += wi * x[e] * a;
                sxb += wi * x[e] * b;
            }
        const double det = saa * sbb - sab * sab;
        double nD = D, nDM = DM;
        if (sbb > 0 && det > 1e-12 * saa * sbb) {
            nD = (sxa * sbb - sxb * sab) / det;
            nDM = (saa * sxb - sab * sxa) / det;
            if (nDM < 0) {
                nDM = 0;
                nD = saa > 0 ? sxa / saa : 0;
            }
        } else if (saa > 0) {
            nD = sxa / saa;
        }
        if (!(nD >= 0) || !std::isfinite(nD) || !std::isfinite(nDM)) break;
        D = nD;
        DM = nDM;
    }
}

// ---- symmetric K-quants (Q3_K, Q6_K): x = d·sc_j·q ----

struct SymK {
    int qmin, qmax, scmin, scmax;  // 16 sub-blocks of 16
};

struct SymKResult {
    uint16_t d = 0;
    std::array<int, 16> sc{};
    std::array<int, kMaxBlock> q{};
};

void search_kquant_sym(const float* x, const float* w, const SymK& p, SymKResult& out) {
    float s[16];
    int tq[16];
    float max_abs = 0;
    for (int j = 0; j < 16; ++j) {
        double e;
        s[j] = search_sym(x + 16 * j, w + 16 * j, 16, p.qmin, p.qmax, false, tq, &e);
        max_abs = std::max(max_abs, std::fabs(s[j]));
    }
    out = SymKResult{};
    if (!(max_abs > 0)) return;
    double D = max_abs / p.scmax;
    double best = kInf;
    SymKResult cur;
    for (int round = 0; round < kSuperRounds; ++round) {
        cur.d = fp32_to_fp16(static_cast<float>(D));
        const float Df = fp16_to_fp32(cur.d);
        if (!(Df > 0) || !std::isfinite(Df)) break;
        double total = 0;
        for (int j = 0; j < 16; ++j) {
            const float* xs = x + 16 * j;
            const float* ws = w + 16 * j;
            const int sc0 = round_clamp(s[j] / Df, p.scmin, p.scmax);
            double bj = kInf;
            for (int sc = std::max(p.scmin, sc0 - 1); sc <= std::min(p.scmax, sc0 + 1); ++sc) {
                const float ds = Df * static_cast<float>(sc);
                double e = 0;
                for (int i = 0; i < 16; ++i) {
                    tq[i] = ds != 0 ? round_clamp(xs[i] / ds, p.qmin, p.qmax) : 0;
                    const double d = static_cast<double>(xs[i]) - static_cast<double>(ds * static_cast<float>(tq[i]));
                    e += static_cast<double>(ws[i]) * d * d;
                }
                if (e < bj) {
                    bj = e;
                    cur.sc[j] = sc;
                    for (int i = 0; i < 16; ++i) cur.q[16 * j + i] = tq[i];
                }
            }
            total += bj;
        }
        if (total < best) {
            best = total;
            out = cur;
        }
        double saa = 0, sxa = 0;
        for (int e = 0; e < 256; ++e) {
            const double a = static_cast<double>(cur.sc[e / 16]) * cur.q[e];
            saa += static_cast<double>(w[e]) * a * a;
            sxa += static_cast<double>(w[e]) * x[e] * a;
        }
        if (!(saa > 0)) break;
        const double nD = sxa / saa;
        if (!(nD > 0) || !std::isfinite(nD)) break;
        D = nD;
    }
}

// ---- one block of each format ----

void pack_nibbles(const int* q, uint8_t* qs) {
    for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
}

void block_q4_0(const float* x, const float* w, void* out) {
    int q[32];
    double e;
    const float s = search_sym(x, w, 32, -8, 7, true, q, &e);
    BlockQ4_0 b{};
    b.d = fp32_to_fp16(s);
    for (int& v : q) v += 8;
    pack_nibbles(q, b.qs);
    std::memcpy(out, &b, sizeof b);
}

void block_q5_0(const float* x, const float* w, void* out) {
    int q[32];
    double e;
    const float s = search_sym(x, w, 32, -16, 15, true, q, &e);
    BlockQ5_0 b{};
    b.d = fp32_to_fp16(s);
    for (int& v : q) v += 16;
    q5_pack(q, b.qh, b.qs);
    std::memcpy(out, &b, sizeof b);
}

void block_q4_1(const float* x, const float* w, void* out) {
    int q[32];
    float s, m;
    double e;
    search_asym(x, w, 32, 15, false, true, q, &s, &m, &e);
    BlockQ4_1 b{};
    b.d = fp32_to_fp16(s);
    b.m = fp32_to_fp16(m);
    pack_nibbles(q, b.qs);
    std::memcpy(out, &b, sizeof b);
}

void block_q5_1(const float* x, const float* w, void* out) {
    int q[32];
    float s, m;
    double e;
    search_asym(x, w, 32, 31, false, true, q, &s, &m, &e);
    BlockQ5_1 b{};
    b.d = fp32_to_fp16(s);
    b.m = fp32_to_fp16(m);
    q5_pack(q, b.qh, b.qs);
    std::memcpy(out, &b, sizeof b);
}

void block_q2_k(const float* x, const float* w, void* out) {
    AsymKResult r;
    search_kquant_asym(x, w, AsymK{16, 16, 3, 15}, r);
    BlockQ2_K b{};
    b.d = r.d;
    b.dmin = r.dmin;
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(r.sc[j] | (r.mc[j] << 4));
    for (int e = 0; e < 256; ++e) b.qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(r.q[e] << (2 * ((e % 128) / 32)));
    std::memcpy(out, &b, sizeof b);
}

// The 12-byte Q4_K/Q5_K packing of eight 6-bit scale and min codes (inverse of kquant_scale_min).
void pack_scales_k4(const AsymKResult& r, uint8_t* s12) {
    std::memset(s12, 0, 12);
    for (int j = 0; j < 8; ++j) {
        const int ls = r.sc[j], lm = r.mc[j];
        if (j < 4) {
            s12[j] = static_cast<uint8_t>(ls);
            s12[j + 4] = static_cast<uint8_t>(lm);
        } else {
            s12[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
            s12[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
            s12[j] |= static_cast<uint8_t>((lm >> 4) << 6);
        }
    }
}

void block_q4_k(const float* x, const float* w, void* out) {
    AsymKResult r;
    search_kquant_asym(x, w, AsymK{8, 32, 15, 63}, r);
    BlockQ4_K b{};
    b.d = r.d;
    b.dmin = r.dmin;
    pack_scales_k4(r, b.scales);
    for (int e = 0; e < 256; ++e) b.qs[32 * (e / 64) + e % 32] |= static_cast<uint8_t>(r.q[e] << (4 * ((e / 32) % 2)));
    std::memcpy(out, &b, sizeof b);
}

void block_q5_k(const float* x, const float* w, void* out) {
    AsymKResult r;
    search_kquant_asym(x, w, AsymK{8, 32, 31, 63}, r);
    BlockQ5_K b{};
    b.d = r.d;
    b.dmin = r.dmin;
    pack_scales_k4(r, b.scales);
    for (int e = 0; e < 256; ++e) {
        b.qs[32 * (e / 64) + e % 32] |= static_cast<uint8_t>((r.q[e] & 15) << (4 * ((e / 32) % 2)));
        b.qh[e % 32] |= static_cast<uint8_t>((r.q[e] >> 4) << (e / 32));
    }
    std::memcpy(out, &b, sizeof b);
}

void block_q3_k(const float* x, const float* w, void* out) {
    SymKResult r;
    search_kquant_sym(x, w, SymK{-4, 3, -32, 31}, r);
    BlockQ3_K b{};
    b.d = r.d;
    for (int j = 0; j < 16; ++j) {
        const int code = r.sc[j] + 32;
        if (j < 8)
            b.scales[j] |= static_cast<uint8_t>(code & 15);
        else
            b.scales[j - 8] |= static_cast<uint8_t>((code & 15) << 4);
        b.scales[8 + j % 4] |= static_cast<uint8_t>((code >> 4) << (2 * (j / 4)));
    }
    for (int e = 0; e < 256; ++e) {
        const int L = r.q[e] + 4;
        b.qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((L & 3) << (2 * ((e % 128) / 32)));
        if (L > 3) b.hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
    }
    std::memcpy(out, &b, sizeof b);
}

void block_q6_k(const float* x, const float* w, void* out) {
    SymKResult r;
    search_kquant_sym(x, w, SymK{-32, 31, -128, 127}, r);
    BlockQ6_K b{};
    b.d = r.d;
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(r.sc[j]);
    for (int h = 0; h < 2; ++h)
        for (int s = 0; s < 4; ++s)
            for (int l = 0; l < 32; ++l) {
                const int L = r.q[128 * h + 32 * s + l] + 32;
                b.ql[64 * h + 32 * (s % 2) + l] |= static_cast<uint8_t>((L & 15) << (4 * (s / 2)));
                b.qh[32 * h + l] |= static_cast<uint8_t>((L >> 4) << (2 * s));
            }
    std::memcpy(out, &b, sizeof b);
}

using BlockSearchFn = void (*)(const float* x, const float* w, void* out);

BlockSearchFn block_search(GgmlType t) {
    switch (t) {
        case GgmlType::Q4_0: return block_q4_0;
        case GgmlType::Q4_1: return block_q4_1;
        case GgmlType::Q5_0: return block_q5_0;
        case GgmlType::Q5_1: return block_q5_1;
        case GgmlType::Q2_K: return block_q2_k;
        case GgmlType::Q3_K: return block_q3_k;
        case GgmlType::Q4_K: return block_q4_k;
        case GgmlType::Q5_K: return block_q5_k;
        case GgmlType::Q6_K: return block_q6_k;
        case GgmlType::IQ4_NL: return iq4_nl_block_searched;  // quant/quantize_iq4_searched.cpp
        case GgmlType::IQ4_XS: return iq4_xs_block_searched;
        default: return nullptr;
    }
}

}  // namespace

bool has_searched_quantizer(GgmlType t) { return block_search(t) != nullptr; }

double weighted_sq_error(const float* a, const float* b, int64_t n, const float* w) {
    double e = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
        e += (w ? static_cast<double>(w[i]) : 1.0) * d * d;
    }
    return e;
}

void quantize_row_searched(GgmlType t, const float* src, void* dst, int64_t n, const float* importance) {
    const BlockSearchFn search = block_search(t);
    const FormatOps* ops = find_format(t);
    if (!search || !ops) throw_error("no searched quantizer for type {}", type_name(t));
    const int bs = static_cast<int>(ops->block_size);
    const size_t bytes = ops->block_bytes;
    static const std::array<float, kMaxBlock> ones = [] {
        std::array<float, kMaxBlock> a{};
        a.fill(1.f);
        return a;
    }();
    alignas(16) uint8_t cand[3][256];
    float deq[kMaxBlock];
    auto* out = static_cast<uint8_t*>(dst);
    for (int64_t b = 0; b < n / bs; ++b, src += bs, out += bytes) {
        const float* w = ones.data();
        if (importance) {
            const float* imp = importance + b * bs;
            double sum = 0;
            for (int i = 0; i < bs; ++i) sum += imp[i];
            if (sum > 0) w = imp;
        }
        auto error_of = [&](const uint8_t* blk) {
            ops->dequantize_row(blk, deq, bs);
            const double e = weighted_sq_error(src, deq, bs, w);
            return std::isnan(e) ? kInf : e;
        };
        // Candidates: the reference rule, the search with these weights and, when weighted, the
        // unweighted search. The first with the least error wins (ties keep the reference).
        ops->quantize_row(src, cand[0], bs);
        int n_cand = 1;
        search(src, w, cand[n_cand++]);
        if (w != ones.data()) search(src, ones.data(), cand[n_cand++]);
        int best = 0;
        double best_err = error_of(cand[0]);
        for (int c = 1; c < n_cand; ++c) {
            const double e = error_of(cand[c]);
            if (e < best_err) {
                best_err = e;
                best = c;
            }
        }
        std::memcpy(out, cand[best], bytes);
    }
}

}  // namespace qlm
