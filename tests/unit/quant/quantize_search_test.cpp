// The searched quantizers against the reference rules: on random rows (Gaussian, heavy-tailed,
// rows with outliers, one-signed, constant and zero rows) the searched encoding dequantizes better
// in aggregate and on most rows; the legacy formats' blocks compete with the reference rule, so
// no row of theirs is worse, and the K-quants' rows stay close to it where they are not better;
// importance weights lower the weighted error; output is deterministic and decodes to finite values.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "quant/formats.h"
#include "quant/quantize_search.h"

namespace qlm {
namespace {

constexpr int64_t kRow = 1024;

std::vector<std::vector<float>> random_rows(uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.f, 1.f);
    std::student_t_distribution<float> t3(3.f);
    std::cauchy_distribution<float> cauchy(0.f, 0.02f);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    std::vector<std::vector<float>> rows;
    auto row = [&](auto gen) {
        std::vector<float> r(kRow);
        for (auto& v : r) v = gen();
        rows.push_back(std::move(r));
    };
    for (int k = 0; k < 6; ++k) row([&] { return 0.02f * g(rng); });
    for (int k = 0; k < 4; ++k) row([&] { return 0.02f * t3(rng); });
    for (int k = 0; k < 2; ++k) row([&] { return std::max(-50.f, std::min(50.f, cauchy(rng))); });
    for (int k = 0; k < 3; ++k) {  // Gaussian with a few large outliers
        row([&] { return 0.01f * g(rng); });
        for (int i = 0; i < 6; ++i) rows.back()[rng() % kRow] = (rng() & 1 ? 1.f : -1.f) * (0.3f + u(rng));
    }
    row([&] { return 0.5f + 0.1f * u(rng); });   // all positive, offset
    row([&] { return -0.5f - 0.1f * u(rng); });  // all negative
    row([&] { return 0.25f; });                   // constant
    row([] { return 0.f; });                      // zero
    row([&] { return 1e-3f * g(rng) + (u(rng) < 0.5f ? 0.01f : -0.01f); });  // bimodal
    return rows;
}

std::vector<float> dequantized(GgmlType t, const std::vector<uint8_t>& q) {
    std::vector<float> y(kRow);
    format_ops(t).dequantize_row(q.data(), y.data(), kRow);
    return y;
}

std::vector<uint8_t> encode_reference(GgmlType t, const std::vector<float>& x) {
    std::vector<uint8_t> q(format_row_bytes(format_ops(t), kRow));
    format_ops(t).quantize_row(x.data(), q.data(), kRow);
    return q;
}

std::vector<uint8_t> encode_searched(GgmlType t, const std::vector<float>& x, const float* imp) {
    std::vector<uint8_t> q(format_row_bytes(format_ops(t), kRow));
    quantize_row_searched(t, x.data(), q.data(), kRow, imp);
    return q;
}

class SearchedQuantizer : public ::testing::TestWithParam<GgmlType> {};

bool is_kquant(GgmlType t) { return format_ops(t).block_size == 256; }

// Legacy formats: no row worse than the reference rule (each block keeps the reference's encoding
// where the search is not strictly better). K-quants: the search is kept without that comparison
// (its cost would be a second full search); a row may be slightly worse than the reference, within
// 3% of its error plus 1e-5 of the row's Σx² (constant rows, which the reference codes exactly).
TEST_P(SearchedQuantizer, BetterThanReferenceOverallAndOnMostRows) {
    const GgmlType t = GetParam();
    ASSERT_TRUE(has_searched_quantizer(t));
    double sum_ref = 0, sum_ours = 0;
    int row_i = 0, strictly_better = 0;
    for (const auto& x : random_rows(11)) {
        const auto ref = dequantized(t, encode_reference(t, x));
        const auto ours_q = encode_searched(t, x, nullptr);
        const auto ours = dequantized(t, ours_q);
        for (float v : ours) ASSERT_TRUE(std::isfinite(v)) << type_name(t) << " row " << row_i;
        const double e_ref = weighted_sq_error(x.data(), ref.data(), kRow, nullptr);
        const double e_ours = weighted_sq_error(x.data(), ours.data(), kRow, nullptr);
        double energy = 0;
        for (float v : x) energy += static_cast<double>(v) * v;
        if (is_kquant(t))
            EXPECT_LE(e_ours, 1.03 * e_ref + 1e-5 * energy) << type_name(t) << " row " << row_i;
        else
            EXPECT_LE(e_ours, e_ref) << type_name(t) << " row " << row_i;
        strictly_better += e_ours < e_ref;
        sum_ref += e_ref;
        sum_ours += e_ours;
        // Deterministic: the same row gives the same bytes.
        EXPECT_EQ(encode_searched(t, x, nullptr), ours_q) << type_name(t) << " row " << row_i;
        ++row_i;
    }
    std::printf("%s: squared error %.6g (reference %.6g, ratio %.3f), %d of %d rows better\n",
                std::string(type_name(t)).c_str(), sum_ours, sum_ref, sum_ours / sum_ref, strictly_better, row_i);
    EXPECT_LT(sum_ours, 0.95 * sum_ref) << type_name(t);
    EXPECT_GT(strictly_better, row_i * 3 / 4) << type_name(t);
}

// Where a legacy block's reference encoding is the better one, its bytes are the reference rule's.
class SearchedLegacy : public ::testing::TestWithParam<GgmlType> {};

TEST_P(SearchedLegacy, BlocksKeepTheReferenceBytesWhereTheyAreBetter) {
    const GgmlType t = GetParam();
    // Every value one of two levels that the reference's f16 scale (1/8, 1/16; and offset −1)
    // hits exactly: its encoding is exact, and the search cannot be strictly better.
    const bool offset = t == GgmlType::Q4_1 || t == GgmlType::Q5_1;
    const float hi = offset ? -1.f + (t == GgmlType::Q4_1 ? 15.f : 31.f) / 16.f : 0.5f;
    std::vector<float> x(kRow);
    for (int64_t i = 0; i < kRow; ++i) x[i] = i % 3 == 0 ? -1.f : hi;
    EXPECT_EQ(encode_searched(t, x, nullptr), encode_reference(t, x)) << type_name(t);
}

TEST_P(SearchedQuantizer, ImportanceWeightsLowerTheWeightedError) {
    const GgmlType t = GetParam();
    std::mt19937 rng(5);
    std::lognormal_distribution<float> ln(0.f, 1.5f);
    std::vector<float> imp(kRow);
    for (auto& v : imp) v = ln(rng);
    for (int i = 0; i < 8; ++i) imp[rng() % kRow] = 0.f;  // unused columns
    double e_weighted = 0, e_unweighted = 0;
    int row_i = 0;
    for (const auto& x : random_rows(23)) {
        const auto yw = dequantized(t, encode_searched(t, x, imp.data()));
        const auto yu = dequantized(t, encode_searched(t, x, nullptr));
        const double ew = weighted_sq_error(x.data(), yw.data(), kRow, imp.data());
        const double eu = weighted_sq_error(x.data(), yu.data(), kRow, imp.data());
        EXPECT_LE(ew, eu) << type_name(t) << " row " << row_i;
        e_weighted += ew;
        e_unweighted += eu;
        ++row_i;
    }
    std::printf("%s: importance-weighted error %.6g with weights, %.6g without (ratio %.3f)\n",
                std::string(type_name(t)).c_str(), e_weighted, e_unweighted, e_weighted / e_unweighted);
    EXPECT_LT(e_weighted, e_unweighted) << type_name(t);
}

TEST_P(SearchedQuantizer, AllZeroImportanceBlocksFallBackToUnitWeights) {
    const GgmlType t = GetParam();
    const auto rows = random_rows(3);
    std::vector<float> zeros(kRow, 0.f);
    EXPECT_EQ(encode_searched(t, rows[0], zeros.data()), encode_searched(t, rows[0], nullptr));
}

INSTANTIATE_TEST_SUITE_P(Formats, SearchedQuantizer,
                         ::testing::Values(GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                                           GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                                           GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS),
                         [](const auto& info) { return std::string(type_name(info.param)); });

INSTANTIATE_TEST_SUITE_P(Formats, SearchedLegacy,
                         ::testing::Values(GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1),
                         [](const auto& info) { return std::string(type_name(info.param)); });

TEST(SearchedQuantizer, Q8_0HasNoSearch) {
    EXPECT_FALSE(has_searched_quantizer(GgmlType::Q8_0));
    EXPECT_FALSE(has_searched_quantizer(GgmlType::F16));
    float x[32] = {};
    uint8_t out[34];
    EXPECT_THROW(quantize_row_searched(GgmlType::Q8_0, x, out, 32, nullptr), std::exception);
}

}  // namespace
}  // namespace qlm
