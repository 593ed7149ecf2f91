// The searched IQ4 blocks (quant/quantize_iq4.h). A group's error is always measured on the values
// the block dequantizes to: the f16 scale for IQ4_NL, f16 d times the scale code for IQ4_XS.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>

#include "quant/format_iq4_nl.h"
#include "quant/format_iq4_xs.h"
#include "quant/fp16.h"
#include "quant/quantize_iq4.h"

namespace qlm {

namespace {

constexpr int kSteps = 12;                 // starting points: the extreme at grid end ± 12
constexpr int kRefits = 1;                 // least-squares refits per starting point
constexpr int kSuperRounds = 3;            // IQ4_XS: code choice + refit of d rounds
constexpr float kGroupMaxEps = 1e-15f;
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Group {
    float d = 0;
    double err = kInf;
    uint8_t idx[32];
};

inline float f16_round(float v) { return fp16_to_fp32(fp32_to_fp16(v)); }

// The best scale of one 32-element group: the all-zero encoding, then for the extreme element at
// each grid end ± kSteps, indices by nearest value and kRefits least-squares refits of d (rounded
// to f16 when round16, as IQ4_NL stores it), each measured.
Group search_group(const float* x, const float* w, bool round16, Iq4AssignFn assign) {
    Group best;
    best.err = assign(x, w, 0.f, best.idx, nullptr);
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j)
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    if (!(amax >= kGroupMaxEps) || !std::isfinite(amax)) return best;
    uint8_t idx[32];
    // The last scales measured: a refit that lands on one of them (a fifth of all refits do, most
    // on the previous chain's refit) has nothing new to measure (a scale's indices and error
    // depend on the scale alone) and, being the chain's last step, nothing after it.
    static_assert(kRefits == 1, "a refit at an earlier step would need its continuation measured");
    float recent[4] = {0.f, 0.f, 0.f, 0.f};  // d = 0 is never measured here
    int n_measured = 0;
    for (int end : {static_cast<int>(kIq4Values[0]), static_cast<int>(kIq4Values[15])})
        for (int t = -kSteps; t <= kSteps; ++t) {
            float d = max / static_cast<float>(end + t);
            for (int it = 0; it <= kRefits; ++it) {
                if (round16) d = f16_round(d);
                if (d == 0.f || !std::isfinite(d)) break;
                if (it == kRefits && std::find(std::begin(recent), std::end(recent), d) != std::end(recent)) break;
                recent[n_measured++ % 4] = d;
                Iq4Moments m;
                const double e = assign(x, w, d, idx, it < kRefits ? &m : nullptr);  // no refit after the last
                if (e < best.err) {
                    best.err = e;
                    best.d = d;
                    std::memcpy(best.idx, idx, 32);
                }
                if (it == kRefits || !(m.vv > 0)) break;
                d = static_cast<float>(m.vx / m.vv);
            }
        }
    return best;
}

void pack(const uint8_t* idx, uint8_t* qs) {
    for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(idx[j] | (idx[j + 16] << 4));
}

// IQ4_XS for a fixed f16 super-block scale d: each sub-block takes the code nearest to its own best
// scale s_j or a neighbour, whichever dequantizes closer. Returns the total error.
double code_sub_blocks(const float* x, const float* w, const float* s, float d, int* code, uint8_t (*idx)[32],
                       Iq4AssignFn assign) {
    double total = 0;
    for (int j = 0; j < 8; ++j) {
        const float* xj = x + 32 * j;
        const float* wj = w + 32 * j;
        const float r = s[j] / d;
        const int l0 = !(r > -32.f) ? -32 : r >= 31.f ? 31 : static_cast<int>(std::lrint(r));
        double best = kInf;
        for (int l = std::max(-32, l0 - 1); l <= std::min(31, l0 + 1); ++l) {
            uint8_t q[32];
            const double e = assign(xj, wj, d * static_cast<float>(l), q, nullptr);
            if (e < best) {
                best = e;
                code[j] = l;
                std::memcpy(idx[j], q, 32);
            }
        }
        total += best;
    }
    return total;
}

}  // namespace

Iq4Moments iq4_moments(const float* x, const float* w, const uint8_t* idx) {
    double vx[4] = {}, vv[4] = {};
    for (int j = 0; j < 32; ++j) {
        const double v = kIq4Values[idx[j]];
        const double wv = static_cast<double>(w[j]) * v;
        vx[j % 4] += wv * x[j];
        vv[j % 4] += wv * v;
    }
    return {(vx[0] + vx[1]) + (vx[2] + vx[3]), (vv[0] + vv[1]) + (vv[2] + vv[3])};
}

double iq4_assign_scalar(const float* x, const float* w, float d, uint8_t* idx, Iq4Moments* moments) {
    if (d == 0.f) {
        std::memset(idx, 8, 32);
    } else {
        const float id = 1.f / d;
        for (int j = 0; j < 32; ++j) idx[j] = static_cast<uint8_t>(iq4_nearest_index(id * x[j]));
    }
    double e[4] = {};
    for (int j = 0; j < 32; ++j) {
        const double r = static_cast<double>(x[j]) - static_cast<double>(d * static_cast<float>(kIq4Values[idx[j]]));
        e[j % 4] += static_cast<double>(w[j]) * r * r;
    }
    if (moments) *moments = iq4_moments(x, w, idx);
    return (e[0] + e[1]) + (e[2] + e[3]);
}

void iq4_nl_block_searched(const float* x, const float* w, void* out, Iq4AssignFn assign) {
    const Group g = search_group(x, w, true, assign);
    BlockIQ4_NL b;
    b.d = fp32_to_fp16(g.d);
    pack(g.idx, b.qs);
    std::memcpy(out, &b, sizeof b);
}

// Each sub-block's best unrounded scale s_j; then d from the largest |s_j| mapped to code −32, −31
// or 31, each followed by kSuperRounds of code choice and a least-squares refit of d over all
// sub-blocks; the lowest total error wins.
void iq4_xs_block_searched(const float* x, const float* w, void* out, Iq4AssignFn assign) {
    float s[8], smax = 0;
    for (int j = 0; j < 8; ++j) {
        s[j] = search_group(x + 32 * j, w + 32 * j, false, assign).d;
        if (std::fabs(s[j]) > std::fabs(smax)) smax = s[j];
    }
    double best = kInf;
    float best_d = 0;
    int best_code[8] = {};
    uint8_t best_idx[8][32];
    std::memset(best_idx, 8, sizeof best_idx);
    if (smax != 0.f) {
        int code[8];
        uint8_t idx[8][32];
        for (int end : {-32, -31, 31}) {
            float d = f16_round(smax / static_cast<float>(end));
            for (int round = 0; round < kSuperRounds && d != 0.f && std::isfinite(d); ++round) {
                const double e = code_sub_blocks(x, w, s, d, code, idx, assign);
                if (e < best) {
                    best = e;
                    best_d = d;
                    std::memcpy(best_code, code, sizeof code);
                    std::memcpy(best_idx, idx, sizeof idx);
                }
                double num = 0, den = 0;
                for (int j = 0; j < 8; ++j) {
                    const Iq4Moments m = iq4_moments(x + 32 * j, w + 32 * j, idx[j]);
                    num += code[j] * m.vx;
                    den += static_cast<double>(code[j]) * code[j] * m.vv;
                }
                if (!(den > 0)) break;
                d = f16_round(static_cast<float>(num / den));
            }
        }
    }
    BlockIQ4_XS b{};
    b.d = fp32_to_fp16(best_d);
    for (int j = 0; j < 8; ++j) {
        const int c = best_code[j] + 32;
        b.scales_l[j / 2] |= static_cast<uint8_t>((c & 15) << (4 * (j % 2)));
        b.scales_h |= static_cast<uint16_t>((c >> 4) << (2 * j));
        pack(best_idx[j], b.qs + 16 * j);
    }
    std::memcpy(out, &b, sizeof b);
}

}  // namespace qlm
