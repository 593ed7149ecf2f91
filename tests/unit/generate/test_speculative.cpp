// The speculative loop (speculative.h) on a scripted model pair: at temperature > 0 the emitted
// tokens follow the target's chain distribution at each step (chi-square over many seeds), however
// the draft disagrees; greedy output is the target's own greedy chain; the caches are only ever
// asked to keep what was emitted; the context and -n limits hold. And n-gram lookup drafting.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "src/generate/draft_lookup.h"
#include "src/generate/speculative.h"
#include "src/util/error.h"

namespace qlm {
namespace {

constexpr int32_t kV = 6;

class Letters : public TokenDecoder {
public:
    std::string token_to_piece(int32_t id) const override { return std::string(1, static_cast<char>('a' + id)); }
    bool is_end_of_generation(int32_t) const override { return false; }
};

// Logits over kV tokens rotated by the last token: the distribution of (next - last) mod kV is the
// same at every step.
std::vector<float> rotated(const std::vector<float>& base, int32_t last) {
    std::vector<float> l(kV);
    for (int32_t i = 0; i < kV; ++i) l[static_cast<size_t>((i + last) % kV)] = base[static_cast<size_t>(i)];
    return l;
}

const std::vector<float> kTarget = {2.0f, 0.5f, 1.2f, -1.0f, 0.9f, 0.1f};
const std::vector<float> kDraft = {0.2f, 1.5f, 0.1f, 1.0f, -0.5f, 0.8f};

// A target and a draft whose logits depend on the last token only (the draft rotates twice as
// fast, so it disagrees with the target), checking the protocol as it goes.
class ScriptedPair : public SpeculativeModel {
public:
    explicit ScriptedPair(int64_t n_ctx) : n_ctx_(n_ctx) {}
    void prefill(std::span<const int32_t> prompt) override {
        held_ = static_cast<int64_t>(prompt.size());
        rows_ = {rotated(kTarget, prompt.back())};
    }
    void draft(std::span<const int32_t> context, int64_t n_max, DraftPicker& picker, Draft& out) override {
        EXPECT_EQ(held_, static_cast<int64_t>(context.size()) - 1);
        std::vector<int32_t> h(context.begin(), context.end());
        for (int64_t j = 0; j < n_max; ++j) {
            out.q.emplace_back();
            const std::vector<float> l = right_draft_ ? rotated(kTarget, h.back()) : rotated(kDraft, (2 * h.back()) % kV);
            const int32_t x = wrong_draft_ ? (h.back() + 3) % kV : picker.pick(l, h, out.q.back());
            if (wrong_draft_) out.q.back().set_point_mass(x);
            out.tokens.push_back(x);
            h.push_back(x);
        }
    }
    void verify(std::span<const int32_t> context, std::span<const int32_t> draft) override {
        EXPECT_EQ(held_, static_cast<int64_t>(context.size()) - 1);
        EXPECT_LE(static_cast<int64_t>(context.size() + draft.size()), n_ctx_);
        rows_ = {rotated(kTarget, context.back())};
        for (int32_t t : draft) rows_.push_back(rotated(kTarget, t));
        held_ = static_cast<int64_t>(context.size() + draft.size());
    }
    std::span<const float> logits(int64_t i) const override { return rows_.at(static_cast<size_t>(i)); }
    void keep(int64_t n) override {
        EXPECT_LE(n, held_);
        held_ = n;
    }
    int64_t n_past() const override { return 0; }
    int64_t n_ctx() const override { return n_ctx_; }
    void decode_plain(std::span<const int32_t>, int64_t, int64_t n) override { plain_ = n; }
    int64_t max_draft() const override { return 8; }

    bool wrong_draft_ = false;  // a deterministic draft that is always wrong at temp 0
    bool right_draft_ = false;  // a draft with the target's logits
    int64_t plain_ = 0;

private:
    int64_t n_ctx_, held_ = 0;
    std::vector<std::vector<float>> rows_;
};

SamplingParams sampling(float temp, uint64_t seed) {
    SamplingParams sp;
    sp.temperature = temp;
    sp.top_k = 5;  // the chain cuts one token: p is the chain's, not the softmax of the logits
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    sp.seed = seed;
    return sp;
}

TEST(Speculative, SampledTokensFollowTheTargetsChainDistribution) {
    Sampler ref(sampling(0.8f, 1));
    TokenDistribution p;
    ref.distribution(rotated(kTarget, 0), {}, p);  // the distribution of (next - last) mod kV
    ASSERT_EQ(p.support().size(), 5u);
    std::vector<int> counts(kV, 0);
    int n = 0;
    Letters dec;
    GenerateOptions go;
    go.n_predict = 7;
    int64_t drafted = 0, accepted = 0;
    for (uint64_t seed = 1; seed <= 3000; ++seed) {
        ScriptedPair pair(64);
        Sampler s(sampling(0.8f, seed));
        const std::vector<int32_t> prompt = {static_cast<int32_t>(seed % kV)};
        const SpeculativeResult r = generate_speculative(pair, dec, s, prompt, go, {.draft_max = 3, .plain_probe = 0});
        ASSERT_EQ(r.generation.tokens.size(), 7u);
        drafted += r.stats.drafted;
        accepted += r.stats.accepted;
        int32_t last = prompt.back();
        for (int32_t t : r.generation.tokens) {
            ++counts[static_cast<size_t>((t - last + kV) % kV)];
            ++n;
            last = t;
        }
    }
    EXPECT_GT(accepted, drafted / 10);  // both paths (accepted and resampled) are exercised
    EXPECT_LT(accepted, drafted * 9 / 10);
    double chi = 0.0;
    for (int32_t i = 0; i < kV; ++i) {
        const double e = p.prob(i) * n;
        if (e == 0.0) {
            EXPECT_EQ(counts[static_cast<size_t>(i)], 0) << "token offset " << i << " is cut by top-k";
            continue;
        }
        chi += (counts[static_cast<size_t>(i)] - e) * (counts[static_cast<size_t>(i)] - e) / e;
    }
    EXPECT_LT(chi, 18.47);  // chi-square, df 4, p = 0.001
}

// With repetition penalties the target's distribution at each row depends on the history up to
// that row, drafted tokens included: the emitted tokens' counts match the sum of the
// distributions each was drawn from (a Pearson statistic over the sum, which a varying
// distribution only makes smaller).
TEST(Speculative, PenaltiesSeeTheDraftedTokensAsHistory) {
    SamplingParams sp = sampling(1.0f, 1);
    sp.repeat_penalty = 3.0f;
    sp.repeat_last_n = 3;
    sp.top_k = 0;
    std::vector<double> expected(kV, 0.0);
    std::vector<int> counts(kV, 0);
    Letters dec;
    GenerateOptions go;
    go.n_predict = 6;
    Sampler ref(sp);
    TokenDistribution p;
    for (uint64_t seed = 1; seed <= 3000; ++seed) {
        ScriptedPair pair(64);
        sp.seed = seed;
        Sampler s(sp);
        std::vector<int32_t> history = {static_cast<int32_t>(seed % kV)};
        const SpeculativeResult r = generate_speculative(pair, dec, s, history, go, {.draft_max = 3, .plain_probe = 0});
        for (int32_t t : r.generation.tokens) {
            ref.distribution(rotated(kTarget, history.back()), history, p);
            // By offset from the last token: offset 0 is always in the penalty window.
            const int32_t last = history.back();
            for (int32_t id = 0; id < kV; ++id) expected[static_cast<size_t>((id - last + kV) % kV)] += p.prob(id);
            ++counts[static_cast<size_t>((t - last + kV) % kV)];
            history.push_back(t);
        }
    }
    double chi = 0.0;
    for (int32_t i = 0; i < kV; ++i) {
        const double e = expected[static_cast<size_t>(i)];
        chi += (counts[static_cast<size_t>(i)] - e) * (counts[static_cast<size_t>(i)] - e) / e;
    }
    EXPECT_LT(chi, 20.52);  // chi-square, df 5, p = 0.001
}

TEST(Speculative, GreedyOutputIsTheTargetsGreedyChain) {
    for (bool wrong : {false, true}) {
        ScriptedPair pair(64);
        pair.wrong_draft_ = wrong;
        pair.right_draft_ = !wrong;
        Letters dec;
        Sampler s(sampling(0.0f, 1));
        GenerateOptions go;
        go.n_predict = 20;
        const SpeculativeResult r = generate_speculative(pair, dec, s, std::vector<int32_t>{2}, go, {.draft_max = 4});
        int32_t last = 2;
        for (int32_t t : r.generation.tokens) {
            EXPECT_EQ(t, last % kV);  // kTarget's argmax is offset 0: the last token again
            last = t;
        }
        EXPECT_EQ(r.generation.tokens.size(), 20u);
        EXPECT_EQ(r.generation.stop_reason, StopReason::MaxTokens);
        if (wrong) {
            EXPECT_EQ(r.stats.accepted, 0);
            EXPECT_EQ(r.stats.steps, 19);  // one token per pass after the prompt's
        } else {
            EXPECT_EQ(r.stats.acceptance(), 1.0);
            EXPECT_EQ(r.stats.steps, 4);  // 5 tokens per pass: 4 drafted and accepted, 1 of the target's
        }
        EXPECT_EQ(pair.plain_, 20);  // the plain-decoding probe ran on the generated text
    }
}

TEST(Speculative, TheContextLimitStopsAsPlainDecodingDoes) {
    ScriptedPair pair(10);
    Letters dec;
    Sampler s(sampling(0.0f, 1));
    const SpeculativeResult r =
        generate_speculative(pair, dec, s, std::vector<int32_t>{1, 2, 3}, GenerateOptions{}, {.draft_max = 4});
    EXPECT_EQ(r.generation.stop_reason, StopReason::ContextFull);
    EXPECT_EQ(r.generation.tokens.size(), 8u);  // n_ctx - prompt + 1: the last one never evaluated
}

TEST(Speculative, ADraftShorterThanDraftMinIsDropped) {
    ScriptedPair pair(64);
    Letters dec;
    Sampler s(sampling(0.0f, 1));
    GenerateOptions go;
    go.n_predict = 10;
    // Near -n the draft is cut to what is left to generate; below --draft-min it is not verified.
    const SpeculativeResult r = generate_speculative(pair, dec, s, std::vector<int32_t>{2}, go,
                                                     {.draft_max = 6, .draft_min = 6});
    EXPECT_EQ(r.generation.tokens.size(), 10u);
    EXPECT_EQ(r.stats.drafted % 6, 0);
    EXPECT_GT(r.stats.steps, 1);
}

TEST(Speculative, OutOfRangeDraftLengthsAreRefused) {
    ScriptedPair pair(64);
    Letters dec;
    Sampler s(sampling(0.0f, 1));
    const std::vector<int32_t> prompt = {1};
    EXPECT_THROW(generate_speculative(pair, dec, s, prompt, {}, {.draft_max = 0}), Error);
    EXPECT_THROW(generate_speculative(pair, dec, s, prompt, {}, {.draft_max = 9}), Error);  // max_draft() 8
    EXPECT_THROW(generate_speculative(pair, dec, s, prompt, {}, {.draft_max = 4, .draft_min = 5}), Error);
}

TEST(Speculative, DraftPickerConfidenceIsTheDraftsTopProbability) {
    const std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
    TokenDistribution q;
    for (float p_min : {0.0f, 0.55f, 0.65f}) {
        DraftPicker picker(sampling(0.0f, 1), p_min);
        EXPECT_EQ(picker.pick(logits, {}, q), 0);
        EXPECT_EQ(picker.confident(), p_min < 0.6f) << p_min;
    }
}

TEST(DraftLookup, TheLongestMostRecentMatchIsContinued) {
    std::vector<int32_t> out;
    lookup_draft(std::vector<int32_t>{1, 2, 3, 4, 1, 2, 3}, 3, out);
    EXPECT_EQ(out, (std::vector<int32_t>{4, 1, 2}));
    lookup_draft(std::vector<int32_t>{1, 2, 9, 1, 2, 8, 1, 2}, 5, out);  // [1 2] most recently at 3
    EXPECT_EQ(out, (std::vector<int32_t>{8, 1, 2}));
    lookup_draft(std::vector<int32_t>{7, 1, 2, 5, 0, 7, 1, 2}, 2, out);  // [7 1 2] beats [1 2]
    EXPECT_EQ(out, (std::vector<int32_t>{5, 0}));
    lookup_draft(std::vector<int32_t>{5, 6, 7, 5, 6}, 8, out);  // cut at the context's end
    EXPECT_EQ(out, (std::vector<int32_t>{7, 5, 6}));
    lookup_draft(std::vector<int32_t>{1, 2, 3, 4, 5}, 4, out);
    EXPECT_TRUE(out.empty());
    lookup_draft(std::vector<int32_t>{3}, 4, out);
    EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace qlm
