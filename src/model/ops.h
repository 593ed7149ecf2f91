// The small numeric building blocks of the forward pass, written to match ggml's CPU ops
// (rms_norm sums in double, soft_max sums exp in double, rope angles by repeated products).
#pragma once

#include <cmath>
#include <cstdint>

#include "src/model/hparams.h"

namespace qlm::ops {

// y = x / sqrt(mean(x²) + eps) * w   (w may be nullptr: no gain)
void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps);

// In-place softmax over n values as ggml's x86 soft_max computes it: e = exp_ggml(x − max); the
// sum of each group of 8 (from index 0, zeros past n) is added up in f32 as one AVX register is
// reduced, and the groups' sums in double; then x = e · f32(1/sum).
void softmax(float* x, int64_t n);

// exp(x) as ggml's AVX2 vector exp computes it (the polynomial of Arm's optimized-routines expf:
// at most 1.5 ulp from the exact value; 0 below −103.97, inf above 88.38). Attention's softmax
// uses it so that its probabilities round to f16 as llama.cpp's do.
float exp_ggml(float x);

// Horizontal sum of 8 lanes in the order of one AVX register's reduction:
// ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)).
inline float sum8_avx_order(const float* v) {
    const float a0 = v[0] + v[4], a1 = v[1] + v[5], a2 = v[2] + v[6], a3 = v[3] + v[7];
    return (a0 + a2) + (a1 + a3);
}

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

// g[i] = silu(g[i]) · u[i] for i < n, as ggml's swiglu computes it: the groups of 8 from index 0
// with exp_ggml, the rest with expf.
void swiglu(float* g, const float* u, int64_t n);

// GELU (tanh approximation) as ggml's CPU backend computes it: x is rounded to f16 and the result
// looked up in a table of f16 values (0 at or below −10, x at or above 10).
float gelu_tanh(float x);
// g[i] = gelu_tanh(g[i]) · u[i] for i < n (ggml's geglu).
void geglu(float* g, const float* u, int64_t n);

// x = c · tanh(x / c) for n values (logit soft-capping).
void softcap(float* x, int64_t n, float c);

// Rotates one head of head_dim values at position pos (x0·cos − x1·sin and x0·sin + x1·cos each
// with the first product fused, as ggml's compiled rope rounds them): pairs (2i, 2i+1) for Norm, (i, i+n_rot/2)
// for Neox, for i < n_rot/2; dimensions >= n_rot are untouched.
// theta_i = pos·freq_scale·freq_base^(−2i/n_rot), computed as ggml does (repeated products).
void rope(float* head, int64_t n_rot, int64_t pos, float freq_base, float freq_scale, RopeStyle style);

// cos/sin table for one position: cs[2i] = cos θ_i, cs[2i+1] = sin θ_i, i < n_rot/2. With
// freq_factors (n_rot/2 values, Llama 3.1's rope_freqs) θ_i is divided by freq_factors[i] before
// the scaling, as ggml's rope does.
void rope_cache(float* cs, int64_t n_rot, int64_t pos, float freq_base, float freq_scale,
                const float* freq_factors = nullptr);
void rope_apply(float* head, const float* cs, int64_t n_rot, RopeStyle style);

// The KV head a query head reads under grouped-query attention.
inline int64_t kv_head_for(int64_t head, int64_t n_head, int64_t n_head_kv) {
    return head / (n_head / n_head_kv);
}

}  // namespace qlm::ops
