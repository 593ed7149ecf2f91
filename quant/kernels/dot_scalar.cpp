// Scalar reference kernels.
#include <cmath>
#include <cstring>

#include "quant/format_bf16.h"
#include "quant/format_f16.h"
#include "quant/format_f32.h"
#include "quant/format_q8_0.h"
#include "quant/kernels/kernels.h"

namespace qlm::kernels {

namespace {
template <class F>
float dot(int64_t n, const void* w, const void* a) {
    return F::vec_dot(n, static_cast<const typename F::Block*>(w), static_cast<const typename F::Block*>(a));
}
}  // namespace

// The scalar references add in the order of llama.cpp's x86 (AVX2) kernels, so every kernel set
// gives the same sums. ggml's vec_dot_f32/f16: 32 lanes (4 vectors of 8), lane i mod 32 over
// whole groups of 32, reduced as vectors (s0 + s2) + (s1 + s3) and then across the 8 lanes
// ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)); the rest added after it (in f32 for f32
// data, in double for f16). f16·f16 products are exact in f32, so they need no fused add.
namespace {
float reduce32(float (&s)[32]) {
    float v[8];
    for (int k = 0; k < 8; ++k) v[k] = (s[k] + s[16 + k]) + (s[8 + k] + s[24 + k]);
    const float a0 = v[0] + v[4], a1 = v[1] + v[5], a2 = v[2] + v[6], a3 = v[3] + v[7];
    return (a0 + a1) + (a2 + a3);
}
// llamafile's tinyBLAS (llama.cpp's batched f32/f16 matmul) reduces its one 8-lane vector as
// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
float reduce8(const float (&l)[8]) {
    const float a0 = l[0] + l[4], a1 = l[1] + l[5], a2 = l[2] + l[6], a3 = l[3] + l[7];
    return (a0 + a2) + (a1 + a3);
}
}  // namespace

float dot_f32_scalar(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    float s[32] = {};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 32; ++k) s[k] = std::fma(x[i + k], y[i + k], s[k]);
    float r = reduce32(s);
    for (; i < n; ++i) {
        const float p = x[i] * y[i];
        r += p;
    }
    return r;
}

float dot_f16_scalar(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const uint16_t*>(a);
    float s[32] = {};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 32; ++k) s[k] += fp16_to_fp32(x[i + k]) * fp16_to_fp32(y[i + k]);
    double r = reduce32(s);
    for (; i < n; ++i) r += static_cast<double>(fp16_to_fp32(x[i]) * fp16_to_fp32(y[i]));
    return static_cast<float>(r);
}

float dot_f32_batch_scalar(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    float l[8] = {};
    for (int64_t i = 0; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) l[k] = std::fma(x[i + k], y[i + k], l[k]);
    return reduce8(l);
}

float dot_f16_batch_scalar(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const uint16_t*>(a);
    float l[8] = {};
    for (int64_t i = 0; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) l[k] += fp16_to_fp32(x[i + k]) * fp16_to_fp32(y[i + k]);
    return reduce8(l);
}

float dot_bf16_scalar(int64_t n, const void* w, const void* a) { return dot<FormatBF16>(n, w, a); }

// ggml's Q8_0 dot: per block, lane k holds the i32 sum of elements 4k..4k+3 and adds it, times
// d_w·d_a, with one fused multiply-add; the lanes are reduced as tinyBLAS reduces them.
float dot_q8_0_scalar(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ8_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float l[8] = {};
    for (int64_t b = 0; b < n / 32; ++b) {
        const float d = fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d);
        for (int k = 0; k < 8; ++k) {
            int32_t isum = 0;
            for (int e = 4 * k; e < 4 * k + 4; ++e) isum += static_cast<int32_t>(x[b].qs[e]) * y[b].qs[e];
            l[k] = std::fma(d, static_cast<float>(isum), l[k]);
        }
    }
    return reduce8(l);
}

namespace {
float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
uint32_t to_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
}  // namespace

// x = n·ln2 + b with n = round(x/ln2) (by the 1.5·2^23 shift) and b by a two-part ln2; exp(b) − 1
// ≈ j, a degree-5 polynomial; 2^n is built in the exponent bits, in two factors when |n| > 126.
void exp_ggml_scalar(const float* x, float* y, int64_t n) {
    constexpr float kShift = 0x1.8p23f;
    for (int64_t i = 0; i < n; ++i) {
        const float z = std::fma(x[i], 0x1.715476p+0f, kShift);
        const float m = z - kShift;
        const float b = std::fma(-m, 0x1.7f7d1cp-20f, std::fma(-m, 0x1.62e4p-1f, x[i]));
        const uint32_t e = to_bits(z) << 23;
        const float k = from_bits(e + to_bits(1.0f));
        const float u = b * b;
        const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                          std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                                 u, 0x1.ffffecp-1f * b);
        if (!(std::fabs(m) > 126.f)) {
            y[i] = std::fma(j, k, k);
            continue;
        }
        const uint32_t g = m <= 0.f ? 0x82000000u : 0u;
        const float s1 = from_bits(g + 0x7f000000u);
        y[i] = std::fabs(m) > 192.f ? s1 * s1 : std::fma(from_bits(e - g), j, from_bits(e - g)) * s1;
    }
}

void axpy_f16_scalar(int64_t n, float a, const uint16_t* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * fp16_to_fp32(x[i]);
}

}  // namespace qlm::kernels
