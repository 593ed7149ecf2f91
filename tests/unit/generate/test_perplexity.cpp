// Perplexity and KL-divergence math (src/generate/perplexity.h) on hand-computed values: a fake
// model whose next-token distribution is known exactly, llama.cpp's +/- formula, the chunk loop's
// BOS / batching / context clearing, and the KL-divergence base file (round trip and corruption).
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/test_support.h"
#include "src/generate/perplexity.h"
#include "src/util/error.h"

namespace qlm {
namespace {

constexpr int32_t kV = 4;

// A "model" over 4 tokens: after input token t it predicts (t + 1) % 4 with probability 1/2 and
// each other token with 1/6 (logits ln 3, 0, 0, 0). Every eval returns every position's logits.
class CountingSource : public LogitsSource {
public:
    void eval(std::span<const int32_t> tokens, bool all_logits) override {
        if (!all_logits) throw_error("test source: perplexity must ask for all logits");
        eval_sizes.push_back(static_cast<int64_t>(tokens.size()));
        if (n_past_ == 0) first_tokens.push_back(tokens[0]);
        out_.clear();
        for (int32_t t : tokens) {
            std::vector<float> row(kV, 0.0f);
            row[static_cast<size_t>((t + 1) % kV)] = std::log(3.0f);
            out_.push_back(row);
        }
        n_past_ += static_cast<int64_t>(tokens.size());
    }
    int64_t n_outputs() const override { return static_cast<int64_t>(out_.size()); }
    std::span<const float> logits(int64_t i) const override { return out_.at(static_cast<size_t>(i)); }
    int64_t n_past() const override { return n_past_; }
    int64_t n_ctx() const override { return 1 << 20; }
    void clear() {
        ++clears;
        n_past_ = 0;
    }

    std::vector<int64_t> eval_sizes;
    std::vector<int32_t> first_tokens;  // the first token of each chunk as fed
    int clears = 0;

private:
    int64_t n_past_ = 0;
    std::vector<std::vector<float>> out_;
};

// Tokens i % 4 (every prediction a "hit"), except token 6 = 0: in chunk 0 (n_ctx 8, scored
// positions 4, 5, 6) position 5 (token 1 -> predicts 2, sees 0) and position 6 (token 0 ->
// predicts 1, sees 3) miss. Chunk 1 (tokens 8..15) hits everywhere.
std::vector<int32_t> test_tokens() {
    std::vector<int32_t> t;
    for (int32_t i = 0; i < 20; ++i) t.push_back(i % kV);
    t[6] = 0;
    return t;
}

TEST(Perplexity, TokenNllIsTheNegativeLogSoftmax) {
    const std::vector<float> uniform(4, 0.5f);
    EXPECT_NEAR(token_nll(uniform, 2), std::log(4.0), 1e-12);
    const std::vector<float> row{0.0f, std::log(3.0f)};  // p = 1/4, 3/4
    EXPECT_NEAR(token_nll(row, 0), std::log(4.0), 1e-6);
    EXPECT_NEAR(token_nll(row, 1), std::log(4.0 / 3.0), 1e-6);
    // Large logits do not overflow (the max is subtracted first).
    const std::vector<float> big{1000.0f, 1000.0f};
    EXPECT_NEAR(token_nll(big, 1), std::log(2.0), 1e-12);
    EXPECT_THROW(token_nll(row, 2), Error);
    EXPECT_THROW(token_nll(row, -1), Error);

    std::vector<float> lp(2);
    log_softmax_row(row, lp);
    EXPECT_NEAR(lp[0], std::log(0.25), 1e-6);
    EXPECT_NEAR(lp[1], std::log(0.75), 1e-6);
}

TEST(Perplexity, StatsFollowLlamaCppsFormula) {
    NllStats s;
    for (double v : {1.0, 2.0, 3.0}) s.add(v);
    // mean 2, E[x^2] = 14/3, variance of the mean: (14/3 - 4) / 2 = 1/3.
    EXPECT_NEAR(s.ppl(), std::exp(2.0), 1e-12);
    EXPECT_NEAR(s.ppl_error(), std::exp(2.0) * std::sqrt(1.0 / 3.0), 1e-12);
    NllStats same;
    for (int i = 0; i < 5; ++i) same.add(std::log(2.0));
    EXPECT_NEAR(same.ppl(), 2.0, 1e-12);
    EXPECT_EQ(same.ppl_error(), 0.0);  // no variance
}

TEST(Perplexity, ChunksScoreTheSecondHalfWithBos) {
    CountingSource src;
    const auto tokens = test_tokens();
    PerplexityParams p{.n_ctx = 8, .n_batch = 3, .max_chunks = -1, .bos_id = 3};
    std::vector<double> running;
    std::vector<std::pair<int64_t, int64_t>> rows;
    PerplexityResult r = compute_perplexity(
        src, [&] { src.clear(); }, tokens, p, kV, [&](int64_t, const NllStats& s) { running.push_back(s.ppl()); },
        [&](int64_t c, int64_t pos, std::span<const float>, int32_t) { rows.emplace_back(c, pos); });

    ASSERT_EQ(r.n_chunk, 2);  // 20 / 8
    EXPECT_EQ(src.clears, 2);
    EXPECT_EQ(src.eval_sizes, (std::vector<int64_t>{3, 3, 2, 3, 3, 2}));
    EXPECT_EQ(src.first_tokens, (std::vector<int32_t>{3, 3}));  // BOS replaces tokens 0 and 8
    EXPECT_EQ(rows, (std::vector<std::pair<int64_t, int64_t>>{{0, 4}, {0, 5}, {0, 6}, {1, 4}, {1, 5}, {1, 6}}));

    const double a = std::log(2.0), b = std::log(6.0);  // hit, miss
    ASSERT_EQ(running.size(), 2u);
    EXPECT_NEAR(running[0], std::cbrt(2.0 * 36.0), 1e-5);          // exp((a + 2b) / 3)
    EXPECT_NEAR(running[1], std::pow(16.0 * 36.0, 1.0 / 6.0), 1e-5);  // exp((4a + 2b) / 6)
    EXPECT_EQ(r.running_ppl, running);
    EXPECT_EQ(r.stats.count, 6);
    const double m = (4 * a + 2 * b) / 6, e2 = (4 * a * a + 2 * b * b) / 6;
    EXPECT_NEAR(r.stats.ppl(), std::exp(m), 1e-5);
    EXPECT_NEAR(r.stats.ppl_error(), std::exp(m) * std::sqrt((e2 - m * m) / 5), 1e-5);
}

TEST(Perplexity, MaxChunksAndNoBos) {
    CountingSource src;
    const auto tokens = test_tokens();
    PerplexityParams p{.n_ctx = 8, .n_batch = 100, .max_chunks = 1, .bos_id = -1};
    PerplexityResult r = compute_perplexity(src, [&] { src.clear(); }, tokens, p, kV);
    EXPECT_EQ(r.n_chunk, 1);
    EXPECT_EQ(src.eval_sizes, (std::vector<int64_t>{8}));  // n_batch capped at n_ctx
    EXPECT_EQ(src.first_tokens, (std::vector<int32_t>{0}));
    EXPECT_NEAR(r.stats.ppl(), std::cbrt(72.0), 1e-5);
}

TEST(Perplexity, OneChunkIsEnoughForTheRowLoopNotForAText) {
    CountingSource src;
    const std::vector<int32_t> all = test_tokens();
    const std::vector<int32_t> tokens(all.begin(), all.begin() + 8);
    const PerplexityParams p{.n_ctx = 8, .n_batch = 8, .max_chunks = -1, .bos_id = -1};
    EXPECT_THROW(compute_perplexity(src, [&] { src.clear(); }, tokens, p, kV), Error);  // needs 16 tokens
    int rows = 0;
    for_each_scored_row(src, [&] { src.clear(); }, tokens, p, kV,
                        [&](int64_t, int64_t, std::span<const float>, int32_t) { ++rows; }, {});
    EXPECT_EQ(rows, 3);
    EXPECT_THROW(whole_chunks(7, p), Error);
}

TEST(Perplexity, RejectsBadParameters) {
    const auto tokens = test_tokens();
    auto message = [&](PerplexityParams p, int64_t n) -> std::string {
        try {
            perplexity_chunks(n, p);
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_NE(message({.n_ctx = 9, .n_batch = 1}, 100).find("even"), std::string::npos);
    EXPECT_NE(message({.n_ctx = 6, .n_batch = 1}, 100).find("at least 8"), std::string::npos);
    EXPECT_NE(message({.n_ctx = 8, .n_batch = 0}, 100).find("-b"), std::string::npos);
    EXPECT_NE(message({.n_ctx = 8, .n_batch = 1, .max_chunks = 0}, 100).find("--chunks"), std::string::npos);
    const std::string short_text = message({.n_ctx = 8, .n_batch = 8}, 15);
    EXPECT_NE(short_text.find("15 tokens"), std::string::npos) << short_text;
    EXPECT_NE(short_text.find("at least 16"), std::string::npos) << short_text;
    EXPECT_EQ(perplexity_chunks(16, {.n_ctx = 8, .n_batch = 8}), 2);
    EXPECT_EQ(perplexity_chunks(23, {.n_ctx = 8, .n_batch = 8}), 2);
}

TEST(KlDivergence, HandComputedValues) {
    // base p = (0.5, 0.5); model logits (0, ln 3) -> q = (0.25, 0.75).
    const std::vector<float> base{std::log(0.5f), std::log(0.5f)};
    const std::vector<float> logits{0.0f, std::log(3.0f)};
    KldStats k;
    k.add(base, logits, 1);
    ASSERT_EQ(k.count, 1);
    EXPECT_NEAR(k.sum_kld, 0.5 * std::log(0.5 / 0.25) + 0.5 * std::log(0.5 / 0.75), 1e-6);
    EXPECT_EQ(k.n_same_top, 0);  // base's first maximum is token 0, the model's top is token 1
    EXPECT_NEAR(k.nll.sum, std::log(4.0 / 3.0), 1e-6);
    EXPECT_NEAR(k.nll_base.sum, std::log(2.0), 1e-6);
    EXPECT_NEAR(k.sum_p_diff, 0.75 - 0.5, 1e-6);

    // A distribution against itself: KLD exactly 0, same top.
    std::vector<float> self(2);
    log_softmax_row(logits, self);
    KldStats s;
    s.add(self, logits, 0);
    EXPECT_EQ(s.sum_kld, 0.0);
    EXPECT_EQ(s.n_same_top, 1);
    EXPECT_EQ(s.nll.sum, s.nll_base.sum);
    EXPECT_EQ(s.sum_p_diff, 0.0);
}

TEST(KlDivergence, MeanAndUncertainty) {
    // llama.cpp reports no uncertainty for 10 or fewer values.
    EXPECT_EQ(mean_and_uncertainty(10.0, 30.0, 5).unc, 0.0);
    EXPECT_NEAR(mean_and_uncertainty(10.0, 30.0, 5).mean, 2.0, 1e-12);
    // 11 values: 0 x 5, 1 x 6 -> mean 6/11, E[x^2] = 6/11, var of the mean ((6/11) - (6/11)^2) / 10.
    const double m = 6.0 / 11.0;
    EXPECT_NEAR(mean_and_uncertainty(6.0, 6.0, 11).unc, std::sqrt((m - m * m) / 10.0), 1e-12);
    EXPECT_EQ(covariance_of_means(1, 1, 1, 9), 0.0);
}

// ---- base file ----

struct BaseFile {
    std::filesystem::path path;
    std::vector<int32_t> tokens;
};

BaseFile write_base() {
    CountingSource src;
    BaseFile b{test::temp_dir("kld-base") / "base.kld", test_tokens()};
    PerplexityParams p{.n_ctx = 8, .n_batch = 8, .max_chunks = -1, .bos_id = 3};
    KlBaseWriter w(b.path.string(), {.n_vocab = kV, .n_ctx = 8, .n_chunk = 2, .bos_id = 3}, b.tokens);
    compute_perplexity(src, [&] { src.clear(); }, b.tokens, p, kV, {},
                       [&](int64_t, int64_t, std::span<const float> row, int32_t) { w.add_row(row); });
    w.finish();
    return b;
}

std::string read_error(const std::filesystem::path& p, bool read_rows = false) {
    try {
        KlBaseReader r(p.string());
        if (read_rows)
            for (int i = 0; i < 6; ++i) r.next_row();
    } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        EXPECT_NE(m.find(p.string()), std::string::npos) << m;
        return m;
    }
    return "";
}

TEST(KlBaseFile, RoundTrip) {
    BaseFile b = write_base();
    // 32-byte header + 16 tokens * 4 + 2 chunks * 3 rows * 4 floats * 4.
    EXPECT_EQ(std::filesystem::file_size(b.path), 32u + 64u + 96u);
    KlBaseReader r(b.path.string());
    EXPECT_EQ(r.header().n_vocab, 4u);
    EXPECT_EQ(r.header().n_ctx, 8u);
    EXPECT_EQ(r.header().n_chunk, 2u);
    EXPECT_EQ(r.header().bos_id, 3);
    EXPECT_EQ(r.tokens(), std::vector<int32_t>(b.tokens.begin(), b.tokens.begin() + 16));
    for (int i = 0; i < 6; ++i) {
        auto row = r.next_row();
        ASSERT_EQ(row.size(), 4u);
        // log (1/2, 1/6, 1/6, 1/6) in some order.
        double s = 0;
        int halves = 0;
        for (float v : row) {
            s += std::exp(v);
            halves += std::fabs(v - std::log(0.5f)) < 1e-6f;
        }
        EXPECT_NEAR(s, 1.0, 1e-6);
        EXPECT_EQ(halves, 1);
    }
    EXPECT_THROW(r.next_row(), Error);
    // Same model against its base: zero divergence.
    CountingSource src;
    KlBaseReader again(b.path.string());
    KldStats k;
    for_each_scored_row(
        src, [&] { src.clear(); }, again.tokens(), {.n_ctx = 8, .n_batch = 8, .bos_id = 3}, kV,
        [&](int64_t, int64_t, std::span<const float> row, int32_t next) { k.add(again.next_row(), row, next); }, {});
    EXPECT_EQ(k.count, 6);
    EXPECT_EQ(k.sum_kld, 0.0);
    EXPECT_EQ(k.n_same_top, 6);
}

void patch(const std::filesystem::path& p, size_t offset, const void* bytes, size_t n) {
    auto data = test::read_bytes(p);
    ASSERT_LE(offset + n, data.size());
    std::memcpy(data.data() + offset, bytes, n);
    test::write_bytes(p, data);
}

TEST(KlBaseFile, CorruptionIsOneLineError) {
    {
        BaseFile b = write_base();
        patch(b.path, 0, "GGUF", 4);
        EXPECT_NE(read_error(b.path).find("magic"), std::string::npos);
    }
    {
        BaseFile b = write_base();
        const uint32_t v = 2;
        patch(b.path, 8, &v, 4);
        EXPECT_NE(read_error(b.path).find("version 2"), std::string::npos);
    }
    {
        BaseFile b = write_base();
        const uint32_t nv = 5;  // size no longer matches
        patch(b.path, 12, &nv, 4);
        EXPECT_NE(read_error(b.path).find("truncated or corrupt"), std::string::npos);
    }
    {
        BaseFile b = write_base();
        const uint32_t huge = 0xFFFFFFF0u;  // n_chunk: the size computation must not overflow or allocate
        patch(b.path, 20, &huge, 4);
        EXPECT_NE(read_error(b.path).find("needs"), std::string::npos);
    }
    {
        BaseFile b = write_base();
        auto data = test::read_bytes(b.path);
        data.pop_back();
        test::write_bytes(b.path, data);
        EXPECT_NE(read_error(b.path).find("truncated"), std::string::npos);
    }
    {
        BaseFile b = write_base();
        const int32_t bad = 4;  // token outside the vocabulary
        patch(b.path, 32 + 4 * 5, &bad, 4);
        EXPECT_NE(read_error(b.path).find("outside the vocabulary"), std::string::npos);
    }
    {
        BaseFile b = write_base();
        const float nan = std::nanf("");
        patch(b.path, 32 + 64 + 16 * 2 + 4, &nan, 4);  // third row
        EXPECT_NE(read_error(b.path, true).find("log-prob row 2"), std::string::npos);
    }
    {
        BaseFile b = write_base();
        const float minus_one = -1.0f;  // probabilities no longer sum to 1
        patch(b.path, 32 + 64, &minus_one, 4);
        patch(b.path, 32 + 68, &minus_one, 4);
        EXPECT_NE(read_error(b.path, true).find("summing"), std::string::npos);
    }
    {
        auto dir = test::temp_dir("kld-short");
        test::write_bytes(dir / "short.kld", {'Q', 'L', 'M'});
        EXPECT_NE(read_error(dir / "short.kld").find("too short"), std::string::npos);
    }
    EXPECT_THROW(KlBaseReader("/nonexistent/base.kld"), Error);
}

}  // namespace
}  // namespace qlm
