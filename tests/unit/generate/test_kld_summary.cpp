// The KL-divergence report's numbers from hand-made statistics: quantiles interpolate between the
// sorted values as llama-perplexity does, and the running figures follow the sums.
#include <gtest/gtest.h>

#include <cmath>

#include "src/generate/kld_summary.h"

namespace qlm {
namespace {

float at(const std::vector<std::pair<float, float>>& q, float f) {
    for (const auto& [fraction, value] : q)
        if (fraction == f) return value;
    ADD_FAILURE() << "no quantile " << f;
    return NAN;
}

TEST(KldSummary, QuantilesOfTheSortedValues) {
    KldStats k;
    k.kld_values = {3.f, 1.f, 2.f, 4.f};
    k.p_diff_values = {-0.5f, 0.25f, 0.f};
    k.count = 4;
    const KldSummary s = summarize_kld(k);
    EXPECT_FLOAT_EQ(at(s.kld_quantiles, 1.f), 4.f);
    EXPECT_FLOAT_EQ(at(s.kld_quantiles, 0.f), 1.f);
    EXPECT_FLOAT_EQ(at(s.kld_quantiles, 0.5f), 2.5f);          // mean of the middle two
    EXPECT_NEAR(at(s.kld_quantiles, 0.90f), 0.3f * 3 + 0.7f * 4, 1e-6);  // position 0.9 × 3 = 2.7
    EXPECT_FLOAT_EQ(at(s.p_diff_quantiles, 0.5f), 0.f);        // odd count: the middle value
    EXPECT_NEAR(at(s.p_diff_quantiles, 0.25f), -0.25f, 1e-6);  // halfway between -0.5 and 0
}

TEST(KldSummary, RunningFiguresFollowTheSums) {
    KldStats k;
    k.count = 20;
    k.nll.sum = 20 * std::log(8.0);  // every position: PPL 8
    k.nll.sum2 = 20 * std::log(8.0) * std::log(8.0);
    k.nll_base.sum = 20 * std::log(4.0);
    k.nll_base.sum2 = 20 * std::log(4.0) * std::log(4.0);
    k.sum_kld = 20 * 0.1;
    k.sum_kld2 = 20 * 0.01;
    k.sum_p_diff2 = 20 * 0.04;  // every |Δp| = 0.2
    k.sum_p_diff4 = 20 * 0.0016;
    k.n_same_top = 15;
    const KldRunning r = kld_running(k);
    EXPECT_NEAR(r.ppl.value, 8.0, 1e-9);
    EXPECT_NEAR(r.ln_ratio.value, std::log(2.0), 1e-9);
    EXPECT_NEAR(r.kld.value, 0.1, 1e-12);
    EXPECT_NEAR(r.rms_p_diff.value, 0.2, 1e-9);
    EXPECT_NEAR(r.same_top.value, 0.75, 1e-12);
    EXPECT_NEAR(r.same_top.unc, std::sqrt(0.75 * 0.25 / 19), 1e-12);
    const KldSummary s = summarize_kld(k);
    EXPECT_NEAR(s.ppl_base.value, 4.0, 1e-9);
    EXPECT_NEAR(s.ppl_ratio.value, 2.0, 1e-9);
    EXPECT_NEAR(s.ppl_diff.value, 4.0, 1e-9);
}

TEST(KldSummary, NothingScoredGivesZerosNotNan) {
    const KldSummary s = summarize_kld(KldStats{});
    EXPECT_TRUE(s.kld_quantiles.empty());
    EXPECT_EQ(s.running.same_top.value, 0.0);
    EXPECT_EQ(s.running.kld.value, 0.0);
}

}  // namespace
}  // namespace qlm
