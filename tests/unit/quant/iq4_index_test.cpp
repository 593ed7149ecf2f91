// The IQ4 nearest-grid-index lookups (quant/quantize_iq4.h) against the definition: the grid value
// at the least distance from v (computed exactly, in double, inside the grid's range), the lower index at a midpoint for
// iq4_nearest_index and the upper one for iq4_nearest_index_upper (llama.cpp's rule, which the
// reference quantizer must reproduce byte for byte). Checked on every float within a few thousand
// ulps of each midpoint and each grid value, the extremes, non-finite values, and random floats of
// every magnitude. (Every one of the 2^32 floats agreed when the lookups were written.)
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "quant/format_iq4_nl.h"
#include "quant/quantize_iq4.h"

namespace qlm {
namespace {

int nearest_by_distance(float v, bool upper) {
    if (std::isnan(v)) return upper ? 15 : 0;
    if (v <= kIq4Values[0]) return 0;  // beyond the grid's ends (where double differences could round)
    if (v >= kIq4Values[15]) return 15;
    int best = 0;
    double best_dist = std::numeric_limits<double>::infinity();
    for (int k = 0; k < 16; ++k) {
        const double dist = std::fabs(static_cast<double>(v) - kIq4Values[k]);  // exact for a float
        if (dist < best_dist || (upper && dist == best_dist)) {
            best = k;
            best_dist = dist;
        }
    }
    return best;
}

void expect_both(float v) {
    ASSERT_EQ(iq4_nearest_index(v), nearest_by_distance(v, false)) << "v = " << v;
    ASSERT_EQ(iq4_nearest_index_upper(v), nearest_by_distance(v, true)) << "v = " << v;
}

// Every float from `centre` stepped `ulps` representable values down and up.
void expect_around(float centre, int ulps) {
    float lo = centre, hi = centre;
    for (int i = 0; i <= ulps; ++i) {
        expect_both(lo);
        expect_both(hi);
        lo = std::nextafter(lo, -std::numeric_limits<float>::infinity());
        hi = std::nextafter(hi, std::numeric_limits<float>::infinity());
    }
}

TEST(Iq4NearestIndex, MatchesTheNearestGridValueAtMidpointsAndGridValues) {
    for (int i = 0; i < 15; ++i) {
        const float mid = 0.5f * static_cast<float>(kIq4Values[i] + kIq4Values[i + 1]);
        expect_around(mid, 4096);
        // At the midpoint itself the two rules differ by one index.
        EXPECT_EQ(iq4_nearest_index(mid), i);
        EXPECT_EQ(iq4_nearest_index_upper(mid), i + 1);
    }
    for (int k = 0; k < 16; ++k) {
        expect_around(static_cast<float>(kIq4Values[k]), 4096);
        EXPECT_EQ(iq4_nearest_index(static_cast<float>(kIq4Values[k])), k);
    }
    expect_around(0.f, 4096);  // denormals and both zeros
}

TEST(Iq4NearestIndex, ExtremesAndNonFiniteValues) {
    const float inf = std::numeric_limits<float>::infinity();
    for (float v : {inf, -inf, std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(), 128.f,
                    -128.f, 127.5f, -127.5f, 1e30f, -1e30f, std::numeric_limits<float>::quiet_NaN(),
                    -std::numeric_limits<float>::quiet_NaN()})
        expect_both(v);
    EXPECT_EQ(iq4_nearest_index(std::numeric_limits<float>::quiet_NaN()), 0);
    EXPECT_EQ(iq4_nearest_index_upper(std::numeric_limits<float>::quiet_NaN()), 15);
}

TEST(Iq4NearestIndex, RandomFloatsOfEveryMagnitude) {
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> in_grid(-140.f, 140.f);
    std::uniform_int_distribution<uint32_t> bits;
    for (int i = 0; i < 300000; ++i) {
        expect_both(in_grid(rng));
        expect_both(std::bit_cast<float>(bits(rng)));
    }
}

}  // namespace
}  // namespace qlm
