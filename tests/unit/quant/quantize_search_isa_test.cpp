// The searched quantizers' SIMD builds (quant/quantize_search_{avx2,avx512}.cpp, one block per
// lane; the IQ4 search's AVX2 inner step, quant/quantize_iq4_avx2.cpp) against their scalar build: every block's bytes and its reported error must be identical,
// on Gaussian and heavy-tailed rows, rows with huge outliers, subnormal and near-overflow values,
// zero, constant and one-signed rows, with and without importances (some all zero), and block
// counts that leave the last SIMD group part full (tails) or are smaller than one group. The
// reference rules run on the same lanes (Q8_0, Q4_0..Q5_1) against the formats' quantize_row, and
// the f16 conversion against fp16_to_fp32 on every f16 value.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernel_set.h"
#include "quant/quantize_search.h"

namespace qlm {
namespace {

enum class Rows { Gaussian, HeavyTailed, Outliers, Tiny, Huge, Flat, Mixed, Ties };

const char* rows_name(Rows r) {
    switch (r) {
        case Rows::Gaussian: return "Gaussian";
        case Rows::HeavyTailed: return "HeavyTailed";
        case Rows::Outliers: return "Outliers";
        case Rows::Tiny: return "Tiny";
        case Rows::Huge: return "Huge";
        case Rows::Flat: return "Flat";
        case Rows::Mixed: return "Mixed";
        case Rows::Ties: return "Ties";
    }
    return "?";
}

// n_rows rows of row_len values of kind r.
std::vector<float> make_rows(Rows r, int64_t n_rows, int64_t row_len, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.f, 1.f);
    std::student_t_distribution<float> t2(2.f);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(n_rows * row_len));
    for (size_t i = 0; i < x.size(); ++i) {
        switch (r) {
            case Rows::Gaussian: x[i] = 0.02f * g(rng); break;
            case Rows::HeavyTailed: x[i] = 0.01f * std::max(-1e4f, std::min(1e4f, t2(rng))); break;
            case Rows::Outliers: x[i] = rng() % 61 == 0 ? (rng() & 1 ? 3e3f : -3e3f) : 1e-3f * g(rng); break;
            case Rows::Tiny: x[i] = 1e-39f * g(rng); break;  // subnormal: every scale underflows f16
            case Rows::Huge: x[i] = 3e37f * g(rng); break;   // squares overflow f32
            case Rows::Flat: {  // runs of zero, constant, one-signed and alternating blocks
                const int64_t b = static_cast<int64_t>(i) / 32;
                const int64_t kind = b % 5;
                x[i] = kind == 0 ? 0.f : kind == 1 ? 0.25f : kind == 2 ? 0.5f + 0.01f * u(rng)
                     : kind == 3 ? -0.5f - 0.01f * u(rng) : (i % 2 ? 1.f : -1.f);
                break;
            }
            case Rows::Mixed: x[i] = (rng() % 7 == 0 ? 0.f : 1.f) * 0.05f * g(rng) + (rng() % 97 == 0 ? 0.7f : 0.f); break;
            case Rows::Ties: {  // each block's extreme is ±127: Q8_0's scale is 1 and x ± 0.5 ties
                const int64_t e = static_cast<int64_t>(i) % 32;
                x[i] = e == 0 ? (rng() & 1 ? 127.f : -127.f) : static_cast<float>(static_cast<int>(rng() % 253) - 126) + 0.5f;
                if (e == 1) x[i] = 0.f;
                if (e == 2) x[i] = -0.f;
                break;
            }
        }
    }
    return x;
}

std::vector<float> make_importance(int64_t row_len, uint32_t seed) {
    std::mt19937 rng(seed);
    std::lognormal_distribution<float> ln(0.f, 2.f);
    std::vector<float> w(static_cast<size_t>(row_len));
    for (auto& v : w) v = ln(rng);
    for (int64_t i = 0; i < row_len; i += 97) w[static_cast<size_t>(i)] = 0.f;
    // One whole block of zero importance (it falls back to unit weights).
    for (int64_t i = 0; i < std::min<int64_t>(row_len, 256); ++i) w[static_cast<size_t>(i)] = 0.f;
    return w;
}

using Param = std::tuple<GgmlType, Isa>;

class SearchIsa : public ::testing::TestWithParam<Param> {};

TEST_P(SearchIsa, SameBytesAndErrorsAsTheScalarBuild) {
    const auto [t, isa] = GetParam();
    if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU has no " << isa_name(isa);
    const FormatOps& ops = format_ops(t);
    const int64_t bs = ops.block_size;
    // Blocks per row: 1 and 5 (less than one SIMD group), 23 (a part-full last group: 2·8 + 7,
    // 16 + 7); three rows run on across row ends.
    for (const int64_t blocks_per_row : {int64_t{1}, int64_t{5}, int64_t{23}}) {
        for (const int64_t n_rows : {int64_t{1}, int64_t{3}}) {
            const int64_t row_len = blocks_per_row * bs;
            for (Rows r : {Rows::Gaussian, Rows::HeavyTailed, Rows::Outliers, Rows::Tiny, Rows::Huge, Rows::Flat,
                           Rows::Mixed}) {
                const auto x = make_rows(r, n_rows, row_len, static_cast<uint32_t>(blocks_per_row * 7 + n_rows));
                const auto imp = make_importance(row_len, static_cast<uint32_t>(blocks_per_row));
                for (const float* w : {static_cast<const float*>(nullptr), imp.data()}) {
                    const size_t bytes = format_row_bytes(ops, row_len) * static_cast<size_t>(n_rows);
                    std::vector<uint8_t> want(bytes), got(bytes);
                    SearchStats s_want, s_got;
                    quantize_rows_searched(t, x.data(), want.data(), n_rows, row_len, w, &s_want, Isa::Scalar);
                    quantize_rows_searched(t, x.data(), got.data(), n_rows, row_len, w, &s_got, isa);
                    const std::string what = std::string(type_name(t)) + " " + rows_name(r) + " " +
                                             std::to_string(n_rows) + "x" + std::to_string(row_len) +
                                             (w ? " weighted" : "");
                    ASSERT_EQ(want, got) << what;
                    // The same f32 sums in the same order: identical, infinities included.
                    EXPECT_EQ(std::memcmp(&s_want, &s_got, sizeof s_want), 0)
                        << what << ": error " << s_want.sq_error << " vs " << s_got.sq_error;
                }
            }
        }
    }
}

// A block's bytes do not depend on the blocks around it (its lane, its group, its row).
TEST_P(SearchIsa, ABlockIsEncodedTheSameWhereverItSits) {
    const auto [t, isa] = GetParam();
    if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU has no " << isa_name(isa);
    const FormatOps& ops = format_ops(t);
    const int64_t bs = ops.block_size, n_blocks = 37;
    const auto x = make_rows(Rows::Mixed, 1, n_blocks * bs, 99);
    std::vector<uint8_t> all(format_row_bytes(ops, n_blocks * bs)), one(ops.block_bytes);
    quantize_rows_searched(t, x.data(), all.data(), 1, n_blocks * bs, nullptr, nullptr, isa);
    for (int64_t b = 0; b < n_blocks; ++b) {
        quantize_rows_searched(t, x.data() + b * bs, one.data(), 1, bs, nullptr, nullptr, isa);
        EXPECT_EQ(std::memcmp(one.data(), all.data() + b * ops.block_bytes, ops.block_bytes), 0)
            << type_name(t) << " block " << b;
    }
}

class ReferenceIsa : public ::testing::TestWithParam<Param> {};

// The reference rules on the lanes write the formats' quantize_row bytes, on every ISA, and report
// the error of what they wrote.
TEST_P(ReferenceIsa, SameBytesAsQuantizeRow) {
    const auto [t, isa] = GetParam();
    if (!cpu_supports(isa) && isa != Isa::Scalar) GTEST_SKIP() << "this CPU has no " << isa_name(isa);
    const FormatOps& ops = format_ops(t);
    for (const int64_t n_blocks : {int64_t{1}, int64_t{5}, int64_t{23}, int64_t{100}}) {
        // Not Rows::Tiny: the legacy rules' int8 conversion of an overflowed 1/d is undefined in C++.
        for (Rows r : {Rows::Gaussian, Rows::HeavyTailed, Rows::Outliers, Rows::Huge, Rows::Flat, Rows::Mixed,
                       Rows::Ties}) {
            const int64_t n = n_blocks * 32;
            const auto x = make_rows(r, 1, n, static_cast<uint32_t>(n_blocks));
            std::vector<uint8_t> want(format_row_bytes(ops, n)), got(want.size());
            ops.quantize_row(x.data(), want.data(), n);
            SearchStats st;
            quantize_rows_reference(t, x.data(), got.data(), 1, n, &st, isa);
            ASSERT_EQ(want, got) << type_name(t) << " " << rows_name(r) << " " << n_blocks << " blocks";
            if (r == Rows::Huge) continue;  // the error overflows
            std::vector<float> back(static_cast<size_t>(n));
            ops.dequantize_row(want.data(), back.data(), n);
            const double e = weighted_sq_error(x.data(), back.data(), n, nullptr);
            EXPECT_NEAR(st.sq_error, e, 1e-5 * e + 1e-37) << type_name(t) << " " << rows_name(r);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, ReferenceIsa,
    ::testing::Combine(::testing::Values(GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,
                                         GgmlType::Q5_1),
                       ::testing::Values(Isa::Scalar, Isa::Avx2, Isa::Avx512)),
    [](const auto& info) {
        return std::string(type_name(std::get<0>(info.param))) + "_" + isa_name(std::get<1>(info.param));
    });

class F16Isa : public ::testing::TestWithParam<Isa> {};

// Every f16 bit pattern, at lengths that leave SIMD tails; NaN stays NaN (its payload may be quieted).
TEST_P(F16Isa, EveryValueConvertsExactly) {
    const Isa isa = GetParam();
    if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU has no " << isa_name(isa);
    std::vector<uint16_t> h(65536);
    for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(i);
    for (const int64_t n : {int64_t{65536}, int64_t{65536 - 7}, int64_t{13}, int64_t{1}}) {
        const int64_t off = 65536 - n;  // the last n values
        std::vector<float> y(static_cast<size_t>(n), -1.f);
        f16_to_f32_row(h.data() + off, y.data(), n, isa);
        for (int64_t i = 0; i < n; ++i) {
            const float want = fp16_to_fp32(h[static_cast<size_t>(off + i)]);
            if (std::isnan(want)) {
                EXPECT_TRUE(std::isnan(y[static_cast<size_t>(i)])) << std::hex << h[static_cast<size_t>(off + i)];
            } else {
                uint32_t a, b;
                std::memcpy(&a, &want, 4);
                std::memcpy(&b, &y[static_cast<size_t>(i)], 4);
                ASSERT_EQ(a, b) << std::hex << "f16 " << h[static_cast<size_t>(off + i)];
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, F16Isa, ::testing::Values(Isa::Avx2, Isa::Avx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

INSTANTIATE_TEST_SUITE_P(
    Formats, SearchIsa,
    ::testing::Combine(::testing::Values(GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                                         GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                                         GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS),
                       ::testing::Values(Isa::Avx2, Isa::Avx512)),
    [](const auto& info) {
        return std::string(type_name(std::get<0>(info.param))) + "_" + isa_name(std::get<1>(info.param));
    });

}  // namespace
}  // namespace qlm
