#include "src/model/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/fp16.h"
#include "quant/kernel_set.h"

namespace qlm::ops {

void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    if (w) {
        for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
    } else {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
    }
}

float exp_ggml(float x) {
    float y;
    qlm::exp_ggml(&x, &y, 1);
    return y;
}

void swiglu(float* g, const float* u, int64_t n) {
    const int64_t whole = n / 8 * 8;
    float e[256];
    for (int64_t i0 = 0; i0 < whole; i0 += 256) {
        const int64_t m = std::min<int64_t>(256, whole - i0);
        for (int64_t i = 0; i < m; ++i) e[i] = 0.0f - g[i0 + i];
        qlm::exp_ggml(e, e, m);
        for (int64_t i = 0; i < m; ++i) g[i0 + i] = g[i0 + i] / (1.0f + e[i]) * u[i0 + i];
    }
    for (int64_t i = whole; i < n; ++i) g[i] = silu(g[i]) * u[i];
}

float gelu_tanh(float x) {
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    constexpr float kCoefA = 0.044715f;
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float h = fp16_to_fp32(fp32_to_fp16(x));
    const float y = 0.5f * h * (1.0f + std::tanh(kSqrt2OverPi * h * (1.0f + kCoefA * h * h)));
    return fp16_to_fp32(fp32_to_fp16(y));
}

void geglu(float* g, const float* u, int64_t n) {
    for (int64_t i = 0; i < n; ++i) g[i] = gelu_tanh(g[i]) * u[i];
}

void softcap(float* x, int64_t n, float c) {
    const float inv = 1.0f / c;
    for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i] * inv) * c;
}

void softmax(float* x, int64_t n) {
    // A compare, not std::fmax (a libm call per element); both skip NaNs, and a ±0 maximum
    // gives the same differences below. Eight running maxima (one compare chain is
    // latency-bound; the compiler turns the lanes into max instructions), the maximum of a set
    // whatever the order.
    float m8[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int64_t i8 = 0;
    for (; i8 + 8 <= n; i8 += 8)
        for (int k = 0; k < 8; ++k) m8[k] = x[i8 + k] > m8[k] ? x[i8 + k] : m8[k];
    float mx = -INFINITY;
    for (float m : m8) mx = m > mx ? m : mx;
    for (int64_t i = i8; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
    for (int64_t i = 0; i < n; ++i) x[i] -= mx;
    qlm::exp_ggml(x, x, n);
    double sum = 0.0;
    int64_t i0 = 0;
    for (; i0 + 8 <= n; i0 += 8) sum += static_cast<double>(sum8_avx_order(x + i0));
    for (; i0 < n; i0 += 8) {  // the last, shorter group with zeros
        float e[8] = {};
        std::copy(x + i0, x + std::min(i0 + 8, n), e);
        sum += static_cast<double>(sum8_avx_order(e));
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void rope_cache(float* cs, int64_t n_rot, int64_t pos, float freq_base, float freq_scale, const float* freq_factors) {
    const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
    float theta = static_cast<float>(pos);
    for (int64_t i = 0; i < n_rot / 2; ++i) {
        const float t = (freq_factors ? theta / freq_factors[i] : theta) * freq_scale;
        cs[2 * i] = std::cos(t);
        cs[2 * i + 1] = std::sin(t);
        theta *= theta_scale;
    }
}

void rope_apply(float* head, const float* cs, int64_t n_rot, RopeStyle style) {
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; ++i) {
        const int64_t a = style == RopeStyle::Norm ? 2 * i : i;
        const int64_t b = style == RopeStyle::Norm ? 2 * i + 1 : i + half;
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const float x0 = head[a], x1 = head[b];
        head[a] = std::fma(x0, c, -(x1 * s));
        head[b] = std::fma(x0, s, x1 * c);
    }
}

void rope(float* head, int64_t n_rot, int64_t pos, float freq_base, float freq_scale, RopeStyle style) {
    std::vector<float> cs(static_cast<size_t>(std::max<int64_t>(n_rot, 2)));
    rope_cache(cs.data(), n_rot, pos, freq_base, freq_scale);
    rope_apply(head, cs.data(), n_rot, style);
}

}  // namespace qlm::ops
