// The acceptance step of speculative sampling (token_distribution.h): whatever the draft
// distribution q, the token that comes out of "draw x from q, accept_draft(p, q, x)" is
// distributed as p (chi-square over many draws, fixed seeds). The same check on the step with the
// residual replaced by p itself (a plausible mistake) fails, so the check can tell them apart.
// Also Sampler::distribution: the chain's distribution is the one sample() draws from.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "src/sampling/sampler.h"
#include "src/sampling/token_distribution.h"

namespace qlm {
namespace {

TokenDistribution dist(const std::vector<double>& probs) {
    std::vector<Candidate> c;
    for (size_t i = 0; i < probs.size(); ++i) c.push_back({static_cast<int32_t>(i), 0.0f, static_cast<float>(probs[i])});
    TokenDistribution d;
    d.set(c);
    return d;
}

double chi_square(const std::vector<int>& counts, const std::vector<double>& expected, int n) {
    double chi = 0.0;
    for (size_t i = 0; i < expected.size(); ++i) {
        if (expected[i] == 0.0) {
            EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0";
            continue;
        }
        const double e = expected[i] * n;
        chi += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi;
}

// n rounds of: x ~ q, then the step. Returns the counts of the emitted tokens.
template <typename Step>
std::vector<int> emitted(const TokenDistribution& q, size_t n_tokens, int n, uint64_t seed, Step step) {
    std::mt19937_64 rng(seed);
    std::vector<int> counts(n_tokens, 0);
    for (int i = 0; i < n; ++i) {
        const int32_t x = draw_from(q, rng);
        ++counts[static_cast<size_t>(step(x, rng))];
    }
    return counts;
}

// Critical chi-square values at p = 0.001: df 3 -> 16.27, df 4 -> 18.47.
const std::vector<double> kP = {0.5, 0.1, 0.3, 0.1, 0.0};
const std::vector<double> kQ = {0.1, 0.6, 0.1, 0.1, 0.1};  // far from p, and holds a token p does not

TEST(AcceptDraft, EmittedTokensFollowTheTargetDistribution) {
    const TokenDistribution p = dist(kP), q = dist(kQ);
    for (uint64_t seed : {1u, 2u, 3u}) {
        const auto counts = emitted(q, kP.size(), 40000, seed,
                                    [&](int32_t x, std::mt19937_64& rng) { return accept_draft(p, q, x, rng).token; });
        EXPECT_LT(chi_square(counts, kP, 40000), 16.27) << "seed " << seed;
    }
}

TEST(AcceptDraft, ResamplingFromTheTargetInsteadOfTheResidualIsCaught) {
    const TokenDistribution p = dist(kP), q = dist(kQ);
    const auto counts = emitted(q, kP.size(), 40000, 1, [&](int32_t x, std::mt19937_64& rng) {
        const Verdict v = accept_draft(p, q, x, rng);
        return v.accepted ? v.token : draw_from(p, rng);
    });
    EXPECT_GT(chi_square(counts, kP, 40000), 100.0);
}

TEST(AcceptDraft, APointMassDraftIsKeptWithTheTargetsProbability) {
    const TokenDistribution p = dist(kP);
    TokenDistribution q;
    q.set_point_mass(2);
    int accepted = 0;
    const auto counts = emitted(q, kP.size(), 40000, 7, [&](int32_t x, std::mt19937_64& rng) {
        const Verdict v = accept_draft(p, q, x, rng);
        accepted += v.accepted;
        return v.token;
    });
    EXPECT_LT(chi_square(counts, kP, 40000), 16.27);
    EXPECT_NEAR(accepted / 40000.0, kP[2], 0.015);
}

TEST(AcceptDraft, GreedyTargetsKeepOnlyTheirArgmax) {
    TokenDistribution p, q;
    p.set_point_mass(3);
    q.set_point_mass(3);
    std::mt19937_64 rng(1);
    EXPECT_EQ(accept_draft(p, q, 3, rng).token, 3);
    EXPECT_TRUE(accept_draft(p, q, 3, rng).accepted);
    q.set_point_mass(1);
    const Verdict v = accept_draft(p, q, 1, rng);
    EXPECT_FALSE(v.accepted);
    EXPECT_EQ(v.token, 3);
}

TEST(SamplerDistribution, IsWhatSampleDrawsFrom) {
    const std::vector<float> logits = {1.0f, 2.5f, 0.3f, 2.0f, -1.0f, 1.7f};
    SamplingParams sp;
    sp.temperature = 0.7f;
    sp.top_k = 4;
    sp.top_p = 0.9f;
    sp.min_p = 0.05f;
    sp.repeat_penalty = 1.3f;
    sp.seed = 11;
    const std::vector<int32_t> history = {1, 5};
    Sampler s(sp);
    TokenDistribution d;
    s.distribution(logits, history, d);
    std::vector<double> expected(logits.size(), 0.0);
    double total = 0.0;
    for (const Candidate& c : d.support()) {
        expected[static_cast<size_t>(c.id)] = c.p;
        total += c.p;
    }
    EXPECT_NEAR(total, 1.0, 1e-6);
    EXPECT_LT(d.support().size(), logits.size());  // top-k cut something
    std::vector<int> counts(logits.size(), 0);
    for (int i = 0; i < 20000; ++i) ++counts[static_cast<size_t>(s.sample(logits, history))];
    const double df_bound = 16.27;  // at most 4 survivors: df <= 3
    EXPECT_LT(chi_square(counts, expected, 20000), df_bound);
}

TEST(SamplerDistribution, GreedyIsAPointMassAtThePenalisedArgmax) {
    SamplingParams sp;
    sp.temperature = 0.0f;
    sp.repeat_penalty = 2.0f;
    Sampler s(sp);
    TokenDistribution d;
    s.distribution(std::vector<float>{1.0f, 3.0f, 2.0f}, std::vector<int32_t>{1}, d);  // 3 / 2 < 2
    ASSERT_EQ(d.support().size(), 1u);
    EXPECT_EQ(d.support()[0].id, 2);
    EXPECT_EQ(d.prob(2), 1.0);
}

}  // namespace
}  // namespace qlm
