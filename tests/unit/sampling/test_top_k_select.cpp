// top_k_from_logits and argmax_logits against the stages they stand for (make_candidates, then
// keep_top_k or argmax), candidate for candidate; and the Sampler's draws against the chain of
// stages with the same seed.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "src/sampling/sampler.h"
#include "src/sampling/sampler_stages.h"
#include "src/sampling/top_k_select.h"

namespace qlm {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Random logits; `levels` > 0 rounds them to that many values (many ties); some NaN and ±inf.
std::vector<float> random_logits(size_t n, int levels, bool specials, std::mt19937& rng) {
    std::normal_distribution<float> d(0.0f, 4.0f);
    std::uniform_int_distribution<int> pick(0, 40);
    std::vector<float> l(n);
    for (float& x : l) {
        x = d(rng);
        if (levels > 0) x = std::round(x * static_cast<float>(levels) / 16.0f);
        if (specials) {
            const int r = pick(rng);
            if (r == 0) x = kNaN;
            if (r == 1) x = -kInf;
            if (r == 2 && n > 100) x = kInf;
        }
    }
    return l;
}

void expect_same_top_k(const std::vector<float>& l, int32_t k) {
    std::vector<Candidate> want = make_candidates(l);
    keep_top_k(want, k);
    std::vector<Candidate> got;
    top_k_from_logits(l, k, got);
    ASSERT_EQ(got.size(), want.size()) << "n " << l.size() << " k " << k;
    for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(got[i].id, want[i].id) << "n " << l.size() << " k " << k << " at " << i;
        ASSERT_EQ(std::memcmp(&got[i].logit, &want[i].logit, sizeof(float)), 0);
        ASSERT_EQ(got[i].p, 0.0f);
    }
}

TEST(TopKSelect, MatchesMakeCandidatesThenKeepTopK) {
    std::mt19937 rng(7);
    for (size_t n : {2u, 3u, 15u, 16u, 17u, 41u, 100u, 1000u, 4099u, 49152u})
        for (int levels : {0, 1, 3, 64})
            for (bool specials : {false, true}) {
                const std::vector<float> l = random_logits(n, levels, specials, rng);
                for (int32_t k : {1, 2, 5, 16, 40, 100, 1000}) {
                    if (static_cast<size_t>(k) >= n) continue;
                    expect_same_top_k(l, k);
                }
                expect_same_top_k(l, static_cast<int32_t>(n - 1));
            }
}

TEST(TopKSelect, ExtremeInputs) {
    for (size_t n : {5u, 33u, 1000u}) {
        expect_same_top_k(std::vector<float>(n, 1.0f), 3);               // all tied: lowest ids
        expect_same_top_k(std::vector<float>(n, kNaN), 2);               // all NaN: -inf, lowest ids
        expect_same_top_k(std::vector<float>(n, -kInf), 4);
        std::vector<float> up(n), down(n);
        for (size_t i = 0; i < n; ++i) {
            up[i] = static_cast<float>(i);  // every logit beats the worst kept: a heap update each
            down[i] = -static_cast<float>(i);
        }
        expect_same_top_k(up, 3);
        expect_same_top_k(down, 3);
        std::vector<float> maxes(n, std::numeric_limits<float>::max());
        maxes[n / 2] = kInf;
        expect_same_top_k(maxes, 2);
    }
}

TEST(TopKSelect, ArgmaxMatchesTheStage) {
    std::mt19937 rng(11);
    for (size_t n : {1u, 2u, 17u, 1000u, 49152u})
        for (int levels : {0, 1})
            for (bool specials : {false, true}) {
                const std::vector<float> l = random_logits(n, levels, specials, rng);
                EXPECT_EQ(argmax_logits(l), argmax(make_candidates(l)));
            }
    EXPECT_EQ(argmax_logits(std::vector<float>(9, kNaN)), 0);
    EXPECT_EQ(argmax_logits(std::vector<float>{kNaN, -kInf, kNaN}), 0);
    EXPECT_EQ(argmax_logits(std::vector<float>{kNaN, 2.0f, 3.0f, 3.0f}), 2);
}

// The Sampler without penalties takes the direct path; its draws equal the stages' chain with
// an rng seeded alike (the Sampler's mt19937_64 from its seed).
TEST(TopKSelect, SamplerDrawsMatchTheChainOfStages) {
    std::mt19937 rng(3);
    for (int32_t top_k : {1, 5, 40}) {
        SamplingParams p;
        p.seed = 1234;
        p.top_k = top_k;
        p.top_p = 0.9f;
        p.min_p = 0.02f;
        p.temperature = 0.8f;
        Sampler s(p);
        std::mt19937_64 chain_rng(1234);
        const std::vector<int32_t> history = {1, 2, 3};
        for (int step = 0; step < 50; ++step) {
            const std::vector<float> l = random_logits(3000, step % 2 ? 8 : 0, step % 3 == 0, rng);
            std::vector<Candidate> c = make_candidates(l);
            keep_top_k(c, p.top_k);
            keep_top_p(c, p.top_p);
            keep_min_p(c, p.min_p);
            scale_temperature(c, p.temperature);
            ASSERT_EQ(s.sample(l, history), draw(c, chain_rng)) << "top_k " << top_k << " step " << step;
        }
    }
}

}  // namespace
}  // namespace qlm
