// What the block formats' traits share: the extremes their reference rules start from, the lane
// reductions of the float and Q8_0 reference dots, and the loops of the 32-element formats (Q4_0, Q5_0, Q8_0, Q8_1 with an f16 scale d; Q4_1, Q5_1 with an
// f16 scale d and offset m), written once over a traits type F with Block, ActBlock and a static
// code(block, e) giving element e's stored code.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>

#include "quant/fp16.h"

namespace qlm {

// The signed value of largest magnitude (the first in index order on ties): the legacy formats'
// and the K-quants' reference rules map it to the most negative code.
inline float signed_absmax(const float* x, int n) {
    float amax = 0.f, max = 0.f;
    for (int e = 0; e < n; ++e)
        if (amax < std::fabs(x[e])) {
            amax = std::fabs(x[e]);
            max = x[e];
        }
    return max;
}

inline float block_amax(const float* x, int n) {
    float amax = 0.f;
    for (int e = 0; e < n; ++e) amax = std::fmax(amax, std::fabs(x[e]));
    return amax;
}

inline void block_min_max(const float* x, int n, float& mn, float& mx) {
    mn = FLT_MAX;
    mx = -FLT_MAX;
    for (int e = 0; e < n; ++e) {
        mn = std::min(mn, x[e]);
        mx = std::max(mx, x[e]);
    }
}

// The lane reductions of llama.cpp's x86 (AVX2) float kernels, which the reference dots of F32,
// F16 and Q8_0 follow so that every kernel set gives the same sums.
// ggml's vec_dot_f32/f16: 32 lanes (4 vectors of 8) reduced as vectors (s0 + s2) + (s1 + s3),
// then across the 8 lanes ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)).
inline float reduce_lanes32_vec_dot(const float (&s)[32]) {
    float v[8];
    for (int k = 0; k < 8; ++k) v[k] = (s[k] + s[16 + k]) + (s[8 + k] + s[24 + k]);
    const float a0 = v[0] + v[4], a1 = v[1] + v[5], a2 = v[2] + v[6], a3 = v[3] + v[7];
    return (a0 + a1) + (a2 + a3);
}
// llamafile's tinyBLAS (llama.cpp's batched f32/f16 matmul) and ggml's Q8_0 dot reduce one
// 8-lane vector as ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
inline float reduce_lanes8_tinyblas(const float (&l)[8]) {
    const float a0 = l[0] + l[4], a1 = l[1] + l[5], a2 = l[2] + l[6], a3 = l[3] + l[7];
    return (a0 + a2) + (a1 + a3);
}

// x = d·(code − kOffset).
template <class F, int kOffset>
void dequantize_scaled(const typename F::Block* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / 32; ++b) {
        const float d = fp16_to_fp32(x[b].d);
        for (int e = 0; e < 32; ++e) y[b * 32 + e] = static_cast<float>(F::code(x[b], e) - kOffset) * d;
    }
}

// d_w·d_a·Σ (code_w − kOffset)·q_a per block, against Q8_0 or Q8_1 activations (FORMATS.md §4).
template <class F, int kOffset>
float vec_dot_scaled(int64_t n, const typename F::Block* w, const typename F::ActBlock* a) {
    float s = 0.f;
    for (int64_t b = 0; b < n / 32; ++b) {
        int32_t isum = 0;
        for (int e = 0; e < 32; ++e) isum += (F::code(w[b], e) - kOffset) * static_cast<int32_t>(a[b].qs[e]);
        s += static_cast<float>(isum) * (fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d));
    }
    return s;
}

// x = d·code + m.
template <class F>
void dequantize_offset(const typename F::Block* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / 32; ++b) {
        const float d = fp16_to_fp32(x[b].d), m = fp16_to_fp32(x[b].m);
        for (int e = 0; e < 32; ++e) y[b * 32 + e] = static_cast<float>(F::code(x[b], e)) * d + m;
    }
}

// d_w·d_a·Σ q_w·q_a + m_w·s_a per block, against Q8_1 activations (FORMATS.md §4).
template <class F>
float vec_dot_offset(int64_t n, const typename F::Block* w, const typename F::ActBlock* a) {
    float s = 0.f;
    for (int64_t b = 0; b < n / 32; ++b) {
        int32_t isum = 0;
        for (int e = 0; e < 32; ++e) isum += F::code(w[b], e) * static_cast<int32_t>(a[b].qs[e]);
        s += (fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d)) * static_cast<float>(isum) +
             fp16_to_fp32(w[b].m) * fp16_to_fp32(a[b].s);
    }
    return s;
}

// The K-quants of 16 sub-blocks of 16 signed codes and one f16 d (Q3_K, Q6_K): x = d·scale_j·q,
// F::unpack(block, q) giving the 256 codes and F::sub_scale(block, j) the signed scale of sub-block j.
template <class F>
void dequantize_signed_k(const typename F::Block* x, float* y, int64_t n) {
    int8_t q[256];
    for (int64_t b = 0; b < n / 256; ++b) {
        F::unpack(x[b], q);
        const float d = fp16_to_fp32(x[b].d);
        for (int j = 0; j < 16; ++j) {
            const float dl = d * static_cast<float>(F::sub_scale(x[b], j));
            for (int e = 16 * j; e < 16 * j + 16; ++e) y[b * 256 + e] = dl * static_cast<float>(q[e]);
        }
    }
}

// d·d_a·Σ_j scale_j·Σ_{e∈j} q·q_a per block, against Q8_K activations (FORMATS.md §4).
template <class F>
float vec_dot_signed_k(int64_t n, const typename F::Block* w, const typename F::ActBlock* a) {
    float s = 0.f;
    int8_t q[256];
    for (int64_t b = 0; b < n / 256; ++b) {
        F::unpack(w[b], q);
        int32_t isum = 0;
        for (int j = 0; j < 16; ++j) {
            int32_t sub = 0;
            for (int e = 16 * j; e < 16 * j + 16; ++e) sub += static_cast<int32_t>(q[e]) * a[b].qs[e];
            isum += F::sub_scale(w[b], j) * sub;
        }
        s += (fp16_to_fp32(w[b].d) * a[b].d) * static_cast<float>(isum);
    }
    return s;
}

}  // namespace qlm
