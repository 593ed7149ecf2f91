// The IQ4 search's inner step on AVX2 (iq4_assign_avx2) against the scalar version: the same
// indices and the same bits of the error and of the moments for groups whose values sit on and a few ulps around every grid
// value and midpoint (scaled by d), random groups with random weights (some zero), non-finite and
// extreme values, and scales from subnormal (1/d overflows) to huge, zero included.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "quant/format_iq4_nl.h"
#include "quant/kernel_set.h"
#include "quant/quantize_iq4.h"

namespace qlm {
namespace {

void expect_same(const float* x, const float* w, float d, const std::string& what) {
    uint8_t want[32], got[32];
    std::memset(want, 0xee, sizeof want);
    std::memset(got, 0xdd, sizeof got);
    Iq4Moments m_want, m_got{-1, -1};
    const double e_want = iq4_assign_scalar(x, w, d, want, &m_want);
#if defined(__x86_64__)
    const double e_got = iq4_assign_avx2(x, w, d, got, &m_got);
#else
    const double e_got = iq4_assign_scalar(x, w, d, got, &m_got);  // never reached: SetUp skips
#endif
    ASSERT_EQ(std::memcmp(want, got, 32), 0) << what << " d " << d;
    ASSERT_TRUE(std::memcmp(&e_want, &e_got, sizeof e_want) == 0 || (std::isnan(e_want) && std::isnan(e_got)))
        << what << " d " << d << ": " << e_want << " vs " << e_got;
    for (auto [a, b] : {std::pair{m_want.vx, m_got.vx}, std::pair{m_want.vv, m_got.vv}})
        ASSERT_TRUE(std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)))
            << what << " d " << d << " moments: " << a << " vs " << b;
    // Without moments asked for, the same indices and error.
    uint8_t again[32];
    const double e_again = iq4_assign_scalar(x, w, d, again, nullptr);
    ASSERT_EQ(std::memcmp(want, again, 32), 0);
    ASSERT_TRUE(std::memcmp(&e_want, &e_again, sizeof e_want) == 0 || std::isnan(e_want));
    const Iq4Moments direct = iq4_moments(x, w, want);
    ASSERT_TRUE(std::memcmp(&direct.vx, &m_want.vx, sizeof direct.vx) == 0 || std::isnan(direct.vx));
}

class Iq4Assign : public ::testing::Test {
protected:
    void SetUp() override {
#if !defined(__x86_64__)
        GTEST_SKIP() << "no AVX2 version in this build";
#endif
        if (!cpu_supports(Isa::Avx2)) GTEST_SKIP() << "this CPU has no AVX2";
    }
};

TEST_F(Iq4Assign, Avx2EqualsScalarAroundGridValuesAndMidpoints) {
    std::vector<float> points;
    for (int i = 0; i < 16; ++i) {
        points.push_back(static_cast<float>(kIq4Values[i]));
        if (i < 15) points.push_back(0.5f * static_cast<float>(kIq4Values[i] + kIq4Values[i + 1]));
    }
    const float w[32] = {1, 2, 0, 0.5f, 1, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                         1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.25f};
    for (float d : {1.f, -1.f, 0.37f, -0.0123f, 1e-30f, 3e-39f, 1e30f, 0.f}) {
        float x[32];
        int n = 0;
        for (float p : points)
            for (int ulps = -3; ulps <= 3; ++ulps) {
                float v = p * d;
                for (int s = 0; s < std::abs(ulps); ++s)
                    v = std::nextafter(v, ulps > 0 ? std::numeric_limits<float>::infinity()
                                                    : -std::numeric_limits<float>::infinity());
                x[n++ % 32] = v;
                if (n % 32 == 0) expect_same(x, w, d, "grid points");
            }
        expect_same(x, w, d, "grid points (last)");
    }
}

TEST_F(Iq4Assign, Avx2EqualsScalarOnRandomGroups) {
    std::mt19937 rng(17);
    std::normal_distribution<float> g(0.f, 1.f);
    std::lognormal_distribution<float> ln(0.f, 2.f);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (int it = 0; it < 20000; ++it) {
        const float scale = std::exp2(static_cast<float>(static_cast<int>(rng() % 80) - 40));
        float x[32], w[32];
        for (int j = 0; j < 32; ++j) {
            x[j] = scale * g(rng);
            w[j] = rng() % 9 == 0 ? 0.f : ln(rng);
        }
        float amax = 0;
        for (float v : x) amax = std::max(amax, std::fabs(v));
        const float d = amax / (127.f + 12.f * u(rng)) * (rng() & 1 ? 1.f : -1.f);
        expect_same(x, w, d, "random");
    }
}

TEST_F(Iq4Assign, Avx2EqualsScalarOnNonFiniteAndExtremeValues) {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    const float big = std::numeric_limits<float>::max(), tiny = std::numeric_limits<float>::denorm_min();
    const float specials[] = {inf, -inf, nan, -nan, big, -big, tiny, -tiny, 0.f, -0.f, 1e-38f, 3e37f};
    std::mt19937 rng(3);
    for (int it = 0; it < 2000; ++it) {
        float x[32], w[32];
        for (int j = 0; j < 32; ++j) {
            x[j] = rng() % 3 == 0 ? specials[rng() % 12] : static_cast<float>(static_cast<int>(rng() % 255) - 127);
            w[j] = rng() % 5 == 0 ? 0.f : 1.f;
        }
        for (float d : {1.f, 0.5f, -2.f, 1e-20f, tiny, 1e20f, 0.f}) expect_same(x, w, d, "extremes");
    }
}

}  // namespace
}  // namespace qlm
