// The small numeric building blocks of the forward pass, written to match ggml's CPU ops
// (rms_norm sums in double, soft_max sums exp in double, rope angles by repeated products).
#pragma once

#include <cmath>
#include <cstdint>

#include "src/model/hparams.h"

namespace qlm::ops {

// y = x / sqrt(mean(x²) + eps) * w   (w may be nullptr: no gain)
void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps);

// In-place softmax over n values (max-subtracted; the sum accumulates in double).
void softmax(float* x, int64_t n);

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

// Rotates one head of head_dim values at position pos: pairs (2i, 2i+1) for Norm, (i, i+n_rot/2)
// for Neox, for i < n_rot/2; dimensions >= n_rot are untouched.
// theta_i = pos·freq_scale·freq_base^(−2i/n_rot), computed as ggml does (repeated products).
void rope(float* head, int64_t n_rot, int64_t pos, float freq_base, float freq_scale, RopeStyle style);

// cos/sin table for one position: cs[2i] = cos θ_i, cs[2i+1] = sin θ_i, i < n_rot/2.
void rope_cache(float* cs, int64_t n_rot, int64_t pos, float freq_base, float freq_scale);
void rope_apply(float* head, const float* cs, int64_t n_rot, RopeStyle style);

// The KV head a query head reads under grouped-query attention.
inline int64_t kv_head_for(int64_t head, int64_t n_head, int64_t n_head_kv) {
    return head / (n_head / n_head_kv);
}

}  // namespace qlm::ops
