// The forward pass's numeric building blocks on hand-made inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/fp16.h"
#include "src/model/ops.h"

namespace qlm {
namespace {

TEST(Rope, NormRotatesAdjacentPairs) {
    // head_dim 4, n_rot 4, pos 1, base 10000: θ0 = 1, θ1 = 10000^(-1/2) = 0.01.
    float v[4] = {1, 2, 3, 4};
    ops::rope(v, 4, 1, 10000.f, 1.f, RopeStyle::Norm);
    const double c0 = std::cos(1.0), s0 = std::sin(1.0), c1 = std::cos(0.01), s1 = std::sin(0.01);
    EXPECT_NEAR(v[0], 1 * c0 - 2 * s0, 1e-6);
    EXPECT_NEAR(v[1], 1 * s0 + 2 * c0, 1e-6);
    EXPECT_NEAR(v[2], 3 * c1 - 4 * s1, 1e-6);
    EXPECT_NEAR(v[3], 3 * s1 + 4 * c1, 1e-6);
}

TEST(Rope, NeoxRotatesHalves) {
    float v[4] = {1, 2, 3, 4};
    ops::rope(v, 4, 1, 10000.f, 1.f, RopeStyle::Neox);
    const double c0 = std::cos(1.0), s0 = std::sin(1.0), c1 = std::cos(0.01), s1 = std::sin(0.01);
    EXPECT_NEAR(v[0], 1 * c0 - 3 * s0, 1e-6);  // pair (0, 2) at θ0
    EXPECT_NEAR(v[2], 1 * s0 + 3 * c0, 1e-6);
    EXPECT_NEAR(v[1], 2 * c1 - 4 * s1, 1e-6);  // pair (1, 3) at θ1
    EXPECT_NEAR(v[3], 2 * s1 + 4 * c1, 1e-6);
}

TEST(Rope, PartialRotationAndScaleAndPositionZero) {
    // n_rot 2 of head_dim 4: only (0, 1) turns; dims 2, 3 unchanged. freq_scale 0.5 halves θ.
    float v[4] = {1, 0, 5, 6};
    ops::rope(v, 2, 3, 10000.f, 0.5f, RopeStyle::Norm);
    EXPECT_NEAR(v[0], std::cos(1.5), 1e-6);
    EXPECT_NEAR(v[1], std::sin(1.5), 1e-6);
    EXPECT_EQ(v[2], 5.f);
    EXPECT_EQ(v[3], 6.f);
    float w[4] = {1, 2, 3, 4};
    ops::rope(w, 4, 0, 10000.f, 1.f, RopeStyle::Neox);
    EXPECT_EQ(w[0], 1.f);
    EXPECT_EQ(w[3], 4.f);
}

TEST(Rope, BaseAndDimensionSetFrequencies) {
    // n_rot 8, base 100, pos 2: θ_i = 2·100^(−2i/8) -> θ_3 = 2·100^(−0.75) = 0.063245...
    float v[8] = {0, 0, 0, 0, 0, 0, 1, 0};
    ops::rope(v, 8, 2, 100.f, 1.f, RopeStyle::Norm);
    const double th = 2.0 * std::pow(100.0, -0.75);
    EXPECT_NEAR(v[6], std::cos(th), 1e-6);
    EXPECT_NEAR(v[7], std::sin(th), 1e-6);
}

TEST(Rope, FreqFactorsDivideEachFrequency) {
    // Llama 3.1's rope_freqs: θ_i = pos·base^(−2i/n_rot) / f_i, then × freq_scale.
    const float factors[4] = {1.f, 4.f, 8.f, 0.5f};
    float cs[8];
    ops::rope_cache(cs, 8, 3, 500000.f, 0.5f, factors);
    for (int i = 0; i < 4; ++i) {
        const double th = 3.0 * std::pow(500000.0, -2.0 * i / 8) / factors[i] * 0.5;
        EXPECT_NEAR(cs[2 * i], std::cos(th), 1e-6) << i;
        EXPECT_NEAR(cs[2 * i + 1], std::sin(th), 1e-6) << i;
    }
    float plain[8];
    ops::rope_cache(plain, 8, 3, 500000.f, 0.5f);
    EXPECT_EQ(plain[0], cs[0]);  // factor 1 leaves θ_0 as it is
    EXPECT_NE(plain[2], cs[2]);
}

TEST(GeluTanh, GgmlF16TableSemantics) {
    auto reference = [](float x) {  // the tanh formula on x rounded to f16, the result rounded to f16
        const float h = fp16_to_fp32(fp32_to_fp16(x));
        const float y = 0.5f * h * (1.0f + std::tanh(0.7978845608f * h * (1.0f + 0.044715f * h * h)));
        return fp16_to_fp32(fp32_to_fp16(y));
    };
    EXPECT_NEAR(ops::gelu_tanh(1.0f), 0.8411920f, 1e-3f);  // GELU(1) ≈ 0.84119
    EXPECT_EQ(ops::gelu_tanh(1.0f), reference(1.0f));
    EXPECT_EQ(ops::gelu_tanh(0.1234567f), reference(0.1234567f));
    EXPECT_EQ(ops::gelu_tanh(0.1234567f), ops::gelu_tanh(fp16_to_fp32(fp32_to_fp16(0.1234567f))));
    EXPECT_EQ(ops::gelu_tanh(-10.0f), 0.0f);
    EXPECT_EQ(ops::gelu_tanh(12.5f), 12.5f);  // not rounded above 10
    float g[3] = {1.0f, -20.0f, 11.0f};
    const float u[3] = {2.0f, 3.0f, 0.5f};
    ops::geglu(g, u, 3);
    EXPECT_EQ(g[0], reference(1.0f) * 2.0f);
    EXPECT_EQ(g[1], 0.0f);
    EXPECT_EQ(g[2], 5.5f);
}

TEST(Softcap, TanhScaled) {
    float x[3] = {60.f, -3.f, 0.f};
    ops::softcap(x, 3, 30.f);
    EXPECT_NEAR(x[0], 30.0 * std::tanh(2.0), 1e-5);
    EXPECT_NEAR(x[1], 30.0 * std::tanh(-0.1), 1e-5);
    EXPECT_EQ(x[2], 0.f);
}

TEST(RmsNorm, HandComputed) {
    // mean(x²) = (1 + 4 + 9 + 16)/4 = 7.5
    const float x[4] = {1, 2, 3, 4}, w[4] = {1, 2, 0.5f, -1};
    float y[4];
    ops::rmsnorm(x, w, y, 4, 0.f);
    const double s = 1.0 / std::sqrt(7.5);
    EXPECT_NEAR(y[0], 1 * s, 1e-6);
    EXPECT_NEAR(y[1], 4 * s, 1e-6);
    EXPECT_NEAR(y[2], 1.5 * s, 1e-6);
    EXPECT_NEAR(y[3], -4 * s, 1e-6);
    // eps enters under the root: x = (0, 0) with eps 0.25 -> 0; x = (1, 1), eps 3 -> 1/2.
    const float o[2] = {1, 1};
    float z[2];
    ops::rmsnorm(o, nullptr, z, 2, 3.f);
    EXPECT_NEAR(z[0], 0.5, 1e-7);
}

TEST(Softmax, HandComputedAndStable) {
    float x[3] = {1, 2, 3};
    ops::softmax(x, 3);
    const double d = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    EXPECT_NEAR(x[0], std::exp(1.0) / d, 1e-7);
    EXPECT_NEAR(x[2], std::exp(3.0) / d, 1e-7);
    float big[2] = {1000.f, 1001.f};
    ops::softmax(big, 2);
    EXPECT_NEAR(big[1], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
    EXPECT_NEAR(big[0] + big[1], 1.0, 1e-6);
    float one[1] = {-5.f};
    ops::softmax(one, 1);
    EXPECT_EQ(one[0], 1.f);
}

// exp_ggml is within 2 ulp of exp (its documented bound: 1.45 ulp plus the final rounding) over the range softmax and silu use,
// exact at 0, and saturates to 0 and inf where ggml's does.
TEST(ExpGgml, WithinTwoUlpAndSaturates) {
    double worst = 0;
    for (float x = -87.f; x < 88.f; x += 0.01173f) {
        const double want = std::exp(static_cast<double>(x));
        const double ulp = std::ldexp(1.0, std::ilogb(want) - 23);
        worst = std::max(worst, std::fabs(ops::exp_ggml(x) - want) / ulp);
    }
    EXPECT_LE(worst, 2.0);
    EXPECT_GT(worst, 0.0);  // an approximation, not expf
    EXPECT_EQ(ops::exp_ggml(0.f), 1.f);
    EXPECT_EQ(ops::exp_ggml(-INFINITY), 0.f);  // masked scores
    EXPECT_EQ(ops::exp_ggml(-110.f), 0.f);
    EXPECT_GT(ops::exp_ggml(-100.f), 0.f);     // subnormal, not flushed
    EXPECT_NEAR(ops::exp_ggml(-90.f) / std::exp(-90.0), 1.0, 1e-4);  // 2^n in two factors
    EXPECT_EQ(ops::exp_ggml(89.f), INFINITY);
}

// softmax sums each group of 8 exps as one AVX register is reduced (f32), the groups in double.
TEST(Softmax, GroupsOfEightSummedInRegisterOrder) {
    float x[11], e[16] = {};
    for (int i = 0; i < 11; ++i) x[i] = 0.37f * static_cast<float>(i * i % 7) - 1.f;
    float mx = x[0];
    for (float v : x) mx = std::max(mx, v);
    for (int i = 0; i < 11; ++i) e[i] = ops::exp_ggml(x[i] - mx);
    const double sum = static_cast<double>(ops::sum8_avx_order(e)) + ops::sum8_avx_order(e + 8);
    const float inv = static_cast<float>(1.0 / sum);
    ops::softmax(x, 11);
    for (int i = 0; i < 11; ++i) EXPECT_EQ(x[i], e[i] * inv) << i;
    const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    EXPECT_EQ(ops::sum8_avx_order(v), ((1.f + 5.f) + (3.f + 7.f)) + ((2.f + 6.f) + (4.f + 8.f)));
}

// swiglu: the groups of 8 with exp_ggml, the tail with expf; both within a few ulp of silu·u.
TEST(Swiglu, GroupsUseExpGgmlTailUsesExpf) {
    float g[11], u[11], want[11];
    for (int i = 0; i < 11; ++i) {
        g[i] = 0.9f * static_cast<float>(i) - 4.f;
        u[i] = 1.f + 0.1f * static_cast<float>(i);
        want[i] = ops::silu(g[i]) * u[i];
    }
    float h[11];
    std::copy(g, g + 11, h);
    ops::swiglu(h, u, 11);
    for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(h[i], g[i] / (1.0f + ops::exp_ggml(-g[i])) * u[i]) << i;
        EXPECT_NEAR(h[i], want[i], 4e-7 * std::fabs(want[i]) + 1e-30) << i;
    }
    for (int i = 8; i < 11; ++i) EXPECT_EQ(h[i], want[i]) << i;
}

TEST(Silu, HandComputed) {
    EXPECT_EQ(ops::silu(0.f), 0.f);
    EXPECT_NEAR(ops::silu(1.f), 1.0 / (1.0 + std::exp(-1.0)), 1e-7);
    EXPECT_NEAR(ops::silu(-2.f), -2.0 / (1.0 + std::exp(2.0)), 1e-7);
}

TEST(Gqa, HeadMapping) {
    // 8 query heads over 4 KV heads: pairs share a KV head.
    const int64_t m84[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    for (int64_t h = 0; h < 8; ++h) EXPECT_EQ(ops::kv_head_for(h, 8, 4), m84[h]);
    // 6 over 2: groups of three.
    const int64_t m62[6] = {0, 0, 0, 1, 1, 1};
    for (int64_t h = 0; h < 6; ++h) EXPECT_EQ(ops::kv_head_for(h, 6, 2), m62[h]);
    for (int64_t h = 0; h < 5; ++h) EXPECT_EQ(ops::kv_head_for(h, 5, 5), h);  // MHA
    for (int64_t h = 0; h < 7; ++h) EXPECT_EQ(ops::kv_head_for(h, 7, 1), 0);  // MQA
}

}  // namespace
}  // namespace qlm
