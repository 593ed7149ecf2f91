// Sampler stages on hand-made logits: exact surviving sets, probabilities and penalised logits.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "src/sampling/sampler_stages.h"

namespace qlm {
namespace {

// Logits whose softmax is exactly `probs` (up to rounding): log(p) + an arbitrary offset.
std::vector<float> logits_for(const std::vector<double>& probs, double offset = 3.0) {
    std::vector<float> out;
    for (double p : probs) out.push_back(static_cast<float>(std::log(p) + offset));
    return out;
}

std::set<int32_t> ids_of(const std::vector<Candidate>& c) {
    std::set<int32_t> s;
    for (const Candidate& x : c) s.insert(x.id);
    return s;
}

TEST(SamplerStages, MakeCandidatesIndexesAndMapsNanToMinusInf) {
    std::vector<float> l = {1.0f, std::numeric_limits<float>::quiet_NaN(), -2.0f};
    auto c = make_candidates(l);
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c[0].id, 0);
    EXPECT_EQ(c[2].id, 2);
    EXPECT_EQ(c[2].logit, -2.0f);
    EXPECT_TRUE(std::isinf(c[1].logit) && c[1].logit < 0);
}

TEST(SamplerStages, SoftmaxMatchesHandComputedProbabilities) {
    // logits 0, ln 2, ln 5 -> 1/8, 2/8, 5/8
    std::vector<float> l = {0.0f, static_cast<float>(std::log(2.0)), static_cast<float>(std::log(5.0))};
    auto c = make_candidates(l);
    softmax(c);
    EXPECT_NEAR(c[0].p, 0.125, 1e-6);
    EXPECT_NEAR(c[1].p, 0.25, 1e-6);
    EXPECT_NEAR(c[2].p, 0.625, 1e-6);
}

TEST(SamplerStages, ArgmaxTiesGoToLowestId) {
    auto c = make_candidates(std::vector<float>{1.0f, 3.0f, 3.0f, 2.0f});
    EXPECT_EQ(argmax(c), 1);
    auto d = make_candidates(std::vector<float>{-1.0f, -1.0f});
    EXPECT_EQ(argmax(d), 0);
}

TEST(SamplerStages, TopKKeepsTheKLargestSorted) {
    auto c = make_candidates(std::vector<float>{1.0f, 5.0f, 3.0f, 5.0f, 2.0f});
    keep_top_k(c, 2);
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0].id, 1);  // tie between 1 and 3: lower id first
    EXPECT_EQ(c[1].id, 3);
    auto d = make_candidates(std::vector<float>{1.0f, 5.0f, 3.0f});
    keep_top_k(d, 3);
    EXPECT_EQ(d.size(), 3u);
    keep_top_k(d, 0);
    EXPECT_EQ(d.size(), 3u);
    keep_top_k(d, -5);
    EXPECT_EQ(d.size(), 3u);
}

TEST(SamplerStages, TopPKeepsSmallestPrefixReachingP) {
    // ids in scrambled order: id 2 -> 0.5, id 0 -> 0.3, id 3 -> 0.15, id 1 -> 0.05
    auto logits = logits_for({0.3, 0.05, 0.5, 0.15});
    auto c = make_candidates(logits);
    keep_top_p(c, 0.9f);  // cumulative 0.5, 0.8, 0.95 -> three survive
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c[0].id, 2);
    EXPECT_EQ(c[1].id, 0);
    EXPECT_EQ(c[2].id, 3);
    EXPECT_NEAR(c[0].p, 0.5, 1e-6);
    EXPECT_NEAR(c[1].p, 0.3, 1e-6);
    EXPECT_NEAR(c[2].p, 0.15, 1e-6);

    auto d = make_candidates(logits);
    keep_top_p(d, 0.75f);  // 0.5, 0.8 -> two survive
    EXPECT_EQ(ids_of(d), (std::set<int32_t>{2, 0}));

    auto e = make_candidates(logits);
    keep_top_p(e, 0.1f);  // the first one already reaches 0.1
    EXPECT_EQ(ids_of(e), (std::set<int32_t>{2}));

    auto f = make_candidates(logits);
    keep_top_p(f, 1.0f);  // off
    EXPECT_EQ(f.size(), 4u);
}

TEST(SamplerStages, TopPOnALargeFlatVocabulary) {
    // 1000 equal logits: p = 0.001 each; 0.5 is reached at the 500th (ties: lowest ids first).
    auto c = make_candidates(std::vector<float>(1000, 1.5f));
    keep_top_p(c, 0.5f);
    ASSERT_EQ(c.size(), 500u);
    for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(c[i].id, static_cast<int32_t>(i));
    // A peaked one with a long tail: 0.6 on id 900, the rest spread evenly.
    std::vector<double> probs(1000, 0.4 / 999);
    probs[900] = 0.6;
    auto d = make_candidates(logits_for(probs));
    keep_top_p(d, 0.7f);  // 0.6 + k * 0.4/999 >= 0.7 -> k = ceil(249.75) = 250 more
    ASSERT_EQ(d.size(), 251u);
    EXPECT_EQ(d[0].id, 900);
}

TEST(SamplerStages, MinPKeepsIdsAboveFractionOfMax) {
    auto logits = logits_for({0.3, 0.05, 0.5, 0.15});
    auto c = make_candidates(logits);
    keep_min_p(c, 0.2f);  // threshold 0.1: 0.5, 0.3, 0.15 survive
    EXPECT_EQ(ids_of(c), (std::set<int32_t>{0, 2, 3}));
    auto d = make_candidates(logits);
    keep_min_p(d, 0.5f);  // threshold 0.25: 0.5, 0.3
    EXPECT_EQ(ids_of(d), (std::set<int32_t>{0, 2}));
    auto e = make_candidates(logits);
    keep_min_p(e, 1.0f);  // only the max
    EXPECT_EQ(ids_of(e), (std::set<int32_t>{2}));
    auto f = make_candidates(logits);
    keep_min_p(f, 0.0f);  // off
    EXPECT_EQ(f.size(), 4u);
}

TEST(SamplerStages, PenaltyWindow) {
    std::vector<int32_t> h = {1, 2, 3, 4, 5};
    auto w = penalty_window(h, 2);
    ASSERT_EQ(w.size(), 2u);
    EXPECT_EQ(w[0], 4);
    EXPECT_EQ(penalty_window(h, -1).size(), 5u);
    EXPECT_EQ(penalty_window(h, 0).size(), 0u);
    EXPECT_EQ(penalty_window(h, 99).size(), 5u);
}

TEST(SamplerStages, PenaltiesChangeExactlyTheExpectedLogits) {
    auto c = make_candidates(std::vector<float>{2.0f, -1.0f, 0.5f, 3.0f, 0.0f});
    std::vector<int32_t> window = {0, 1, 1, 3, 4};
    apply_penalties(c, window, 2.0f, 0.5f, 0.25f);
    EXPECT_FLOAT_EQ(c[0].logit, 2.0f / 2 - 1 * 0.5f - 0.25f);   // 0.25
    EXPECT_FLOAT_EQ(c[1].logit, -1.0f * 2 - 2 * 0.5f - 0.25f);  // -3.25
    EXPECT_FLOAT_EQ(c[2].logit, 0.5f);                          // not in the window
    EXPECT_FLOAT_EQ(c[3].logit, 3.0f / 2 - 0.5f - 0.25f);       // 0.75
    EXPECT_FLOAT_EQ(c[4].logit, 0.0f * 2 - 0.5f - 0.25f);       // 0 is multiplied: -0.75
}

TEST(SamplerStages, RepetitionPenaltyAppliesOncePerDistinctToken) {
    auto c = make_candidates(std::vector<float>{4.0f, -4.0f});
    std::vector<int32_t> window = {0, 0, 0, 1, 1};
    apply_penalties(c, window, 2.0f, 0.0f, 0.0f);
    EXPECT_FLOAT_EQ(c[0].logit, 2.0f);
    EXPECT_FLOAT_EQ(c[1].logit, -8.0f);
}

TEST(SamplerStages, PenaltiesIgnoreIdsNotInCandidatesAndWorkOnSortedArrays) {
    auto c = make_candidates(std::vector<float>{1.0f, 5.0f, 3.0f});
    keep_top_k(c, 2);  // ids 1, 2 in sorted order (no longer id-indexed)
    std::vector<int32_t> window = {2, 0, 77, -3};
    apply_penalties(c, window, 1.0f, 1.0f, 0.0f);
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0].id, 1);
    EXPECT_FLOAT_EQ(c[0].logit, 5.0f);
    EXPECT_EQ(c[1].id, 2);
    EXPECT_FLOAT_EQ(c[1].logit, 2.0f);
}

TEST(SamplerStages, NoRepeatNgramBansTheCompletingToken) {
    std::vector<int32_t> h = {5, 6, 7, 5, 6};
    EXPECT_EQ(repeated_ngram_tokens(h, 3), (std::vector<int32_t>{7}));  // (5,6) was followed by 7
    EXPECT_EQ(repeated_ngram_tokens(h, 2), (std::vector<int32_t>{7}));  // (6) was followed by 7
    EXPECT_EQ(repeated_ngram_tokens(h, 1), (std::vector<int32_t>{5, 6, 7}));
    EXPECT_TRUE(repeated_ngram_tokens(h, 4).empty());  // (7,5,6) never seen before
    EXPECT_TRUE(repeated_ngram_tokens(h, 0).empty());
    EXPECT_TRUE(repeated_ngram_tokens(h, 6).empty());   // history shorter than the n-gram

    std::vector<int32_t> g = {1, 2, 1, 3, 1};
    EXPECT_EQ(repeated_ngram_tokens(g, 2), (std::vector<int32_t>{2, 3}));

    auto c = make_candidates(std::vector<float>{0.f, 0.f, 0.f, 0.f, 0.f, 1.f, 2.f, 9.f, 3.f});
    ban_repeated_ngrams(c, h, 3);
    EXPECT_TRUE(std::isinf(c[7].logit) && c[7].logit < 0);
    EXPECT_EQ(argmax(c), 8);
    for (int i = 0; i < 9; ++i)
        if (i != 7) {
            EXPECT_FALSE(std::isinf(c[static_cast<size_t>(i)].logit)) << i;
        }
}

TEST(SamplerStages, TemperatureDividesLogits) {
    auto c = make_candidates(std::vector<float>{2.0f, -1.0f});
    scale_temperature(c, 0.5f);
    EXPECT_FLOAT_EQ(c[0].logit, 4.0f);
    EXPECT_FLOAT_EQ(c[1].logit, -2.0f);
}

TEST(SamplerStages, DrawNeverPicksZeroProbability) {
    std::mt19937_64 rng(7);
    float ninf = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < 500; ++i) {
        auto c = make_candidates(std::vector<float>{ninf, 0.0f, ninf, 0.0f});
        int32_t id = draw(c, rng);
        EXPECT_TRUE(id == 1 || id == 3) << id;
    }
}

TEST(SamplerStages, Uniform01IsInUnitInterval) {
    std::mt19937_64 rng(1);
    for (int i = 0; i < 1000; ++i) {
        double u = uniform01(rng);
        EXPECT_GE(u, 0.0);
        EXPECT_LT(u, 1.0);
    }
}

}  // namespace
}  // namespace qlm
