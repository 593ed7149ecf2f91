// F16 matrices repacked in groups of 16 rows (quant/f16_x16.h): the layout round-trips every row
// (odd column counts, tails of every size); the repacked batch (on the sets that have one) gives
// every output the bits of the scalar dot_f16_batch over the whole groups of 8, the tail added one
// fused product at a time, for 1..8 tokens, random, wide, extreme (f16 maximum, subnormals) and
// cancelling values; nothing outside the rows x tokens outputs is written. Through matmul (row
// tails 17/31/33/47/100, 1..20 tokens): a token's outputs are the same bits whatever batch it
// comes in, prompts give the bits of the original rows, and on the sets that do not repack the
// repacked view changes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/f16_x16.h"
#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"
#include "quant/matmul.h"
#include "tests/unit/quant/x16_test_support.h"

namespace qlm {
namespace {

using x16_test::Packed;
using x16_test::repacked;

enum class Fill { Normal, Wide, Extreme, Cancel };

uint16_t value(Fill fill, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.f, 1.f);
    float v = 0.f;
    switch (fill) {
        case Fill::Normal: v = normal(rng); break;
        case Fill::Wide: v = normal(rng) * std::ldexp(1.f, static_cast<int>(rng() % 24) - 12); break;
        case Fill::Extreme: {
            const float sign = rng() % 2 ? -1.f : 1.f;
            switch (rng() % 5) {
                case 0: v = sign * 65504.f; break;                           // the f16 maximum
                case 1: v = sign * std::ldexp(1.f, -24); break;               // the smallest subnormal
                case 2: v = sign * std::ldexp(static_cast<float>(rng() % 1024), -24); break;  // subnormals
                case 3: v = 0.f; break;
                default: v = sign; break;
            }
            break;
        }
        case Fill::Cancel: v = (rng() % 2 ? 1e3f : -1e3f) + normal(rng); break;
    }
    return fp32_to_fp16(v);
}

std::vector<uint16_t> matrix(int64_t rows, int64_t cols, Fill fill, std::mt19937& rng) {
    std::vector<uint16_t> m(static_cast<size_t>(rows * cols));
    for (auto& h : m) h = value(fill, rng);
    return m;
}

// The reference of one output: dot_f16_batch_scalar over the whole groups, then the tail.
float reference(int64_t n, const uint16_t* w, const uint16_t* a) {
    float s = kernels::dot_f16_batch_scalar(n, w, a);
    for (int64_t j = n / 8 * 8; j < n; ++j) s = std::fma(fp16_to_fp32(w[j]), fp16_to_fp32(a[j]), s);
    return s;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

TEST(F16x16, LayoutRoundTripsEveryRow) {
    std::mt19937 rng(1);
    for (int64_t cols : {1, 7, 8, 9, 16, 63, 64, 200, 2051}) {
        const int64_t rows = 48;
        const auto m = matrix(rows, cols, Fill::Normal, rng);
        EXPECT_EQ(f16_x16_group_bytes(cols) % 64, 0u);
        EXPECT_GE(f16_x16_group_bytes(cols), 32u * static_cast<uint64_t>(cols));
        const WeightView w{.type = GgmlType::F16, .data = m.data(), .cols = cols, .rows = rows,
                           .row_stride = 2 * static_cast<uint64_t>(cols)};
        const Packed p = repacked(w);
        std::vector<uint16_t> row(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
            unpack_f16_x16_row(p.view.x16, cols, r, row.data());
            ASSERT_EQ(std::memcmp(row.data(), m.data() + r * cols, 2 * static_cast<size_t>(cols)), 0)
                << "cols=" << cols << " row " << r;
        }
    }
}

TEST(F16x16, KernelGivesTheScalarBatchBits) {
    std::mt19937 rng(2);
    constexpr float kSentinel = -12345.f;
    int checked = 0;
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
        if (!cpu_supports(isa)) continue;
        const GemmBatchFn batch = kernel_set(isa)[GgmlType::F16].gemm_batch_x16;
        if (!batch) continue;
        for (int64_t n : {8, 16, 24, 64, 200, 576, 2048, 1, 3, 13, 21, 67}) {
            for (int64_t rows : {16, 32, 48}) {
                for (Fill fill : {Fill::Normal, Fill::Wide, Fill::Extreme, Fill::Cancel}) {
                    const auto m = matrix(rows, n, fill, rng);
                    const auto a = matrix(kGemmBatchTokens, n, fill, rng);
                    const WeightView w{.type = GgmlType::F16, .data = m.data(), .cols = n, .rows = rows,
                                       .row_stride = 2 * static_cast<uint64_t>(n)};
                    const Packed p = repacked(w);
                    for (int64_t nt = 1; nt <= kGemmBatchTokens; ++nt) {
                        const int64_t ys = rows + 3;
                        std::vector<float> y(static_cast<size_t>(ys * (kGemmBatchTokens + 1)), kSentinel);
                        batch(n, rows, p.view.x16, f16_x16_group_bytes(n), a.data(), 2 * static_cast<uint64_t>(n), nt,
                              y.data(), ys);
                        std::vector<float> ref_y(y.size());
                        gemm_f16_x16_reference(n, rows, p.view.x16, f16_x16_group_bytes(n), a.data(),
                                               2 * static_cast<uint64_t>(n), nt, ref_y.data(), ys);
                        for (int64_t t = 0; t <= kGemmBatchTokens; ++t)
                            for (int64_t r = 0; r < ys; ++r) {
                                const float got = y[static_cast<size_t>(t * ys + r)];
                                if (t >= nt || r >= rows) {
                                    ASSERT_EQ(got, kSentinel) << "wrote outside: t=" << t << " r=" << r;
                                    continue;
                                }
                                const float want = reference(n, m.data() + r * n, a.data() + t * n);
                                ASSERT_TRUE(same_bits(ref_y[static_cast<size_t>(t * ys + r)], want)) << "layout reference";
                                ASSERT_TRUE(same_bits(got, want)) << isa_name(isa) << " n=" << n << " rows=" << rows
                                                                  << " nt=" << nt << " r=" << r << " t=" << t
                                                                  << " got " << got << " want " << want;
                            }
                        ++checked;
                    }
                }
            }
        }
    }
    if (cpu_supports(Isa::Avx512)) {
        EXPECT_GT(checked, 0);
    }
}

TEST(F16x16, MatmulWithTailsKeepsEachTokensBits) {
    std::mt19937 rng(3);
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
        if (!cpu_supports(isa)) continue;
        const bool repacks = kernel_set(isa)[GgmlType::F16].gemm_batch_x16 != nullptr;
        for (int64_t rows : {16, 17, 31, 33, 47, 64, 100}) {
            for (int64_t cols : {64, 136, 72}) {
                const auto m = matrix(rows, cols, rows % 3 == 0 ? Fill::Wide : Fill::Normal, rng);
                const WeightView w{.type = GgmlType::F16, .data = m.data(), .cols = cols, .rows = rows,
                                   .row_stride = 2 * static_cast<uint64_t>(cols)};
                const Packed p = repacked(w);
                for (int64_t nt = 1; nt <= 20; ++nt) {
                    const auto x = x16_test::activations(nt, cols, static_cast<int>(nt % 5), rng);
                    std::vector<float> want(static_cast<size_t>(nt * rows)), got(want.size());
                    matmul(w, x.data(), nt, want.data(), isa);
                    matmul(p.view, x.data(), nt, got.data(), isa);
                    // Prompts (and every batch on a set without the layout): the original rows' bits.
                    if (nt > 1 || !repacks || rows % kGemmTileRows != 0) {
                        ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
                            << isa_name(isa) << " rows=" << rows << " cols=" << cols << " tokens=" << nt;
                    }
                    if (!repacks || rows % kGemmTileRows != 0) continue;
                    // On the layout a token's outputs are the batch order's bits whatever batch it
                    // comes in (llama.cpp's prompt order, one token included).
                    std::vector<uint16_t> xh(static_cast<size_t>(cols));
                    std::vector<float> one(static_cast<size_t>(rows));
                    for (int64_t t = 0; t < nt; ++t) {
                        for (int64_t c = 0; c < cols; ++c) xh[static_cast<size_t>(c)] = fp32_to_fp16(x[static_cast<size_t>(t * cols + c)]);
                        matmul(p.view, x.data() + t * cols, 1, one.data(), isa);
                        for (int64_t r = 0; r < rows; ++r) {
                            const float ref = reference(cols, m.data() + r * cols, xh.data());
                            ASSERT_TRUE(same_bits(one[static_cast<size_t>(r)], ref)) << "rows=" << rows << " r=" << r;
                            ASSERT_TRUE(same_bits(got[static_cast<size_t>(t * rows + r)], ref))
                                << isa_name(isa) << " rows=" << rows << " cols=" << cols << " token " << t << " of " << nt;
                        }
                    }
                }
            }
        }
    }
}

// A float matrix is read through the batch (and so worth repacking at load) only in whole groups of
// 4 rows and 8 columns; a tied head of 50257 rows keeps the dot, so its repacked copy would only
// double its memory.
TEST(F16x16, OnlyBatchedShapesAreRepackable) {
    EXPECT_TRUE(matmul_uses_batch(GgmlType::F16, 49152, 576));
    EXPECT_FALSE(matmul_uses_batch(GgmlType::F16, 50257, 576));
    EXPECT_FALSE(matmul_uses_batch(GgmlType::F16, 64, 36));
    EXPECT_FALSE(matmul_uses_batch(GgmlType::F32, 18, 64));
    EXPECT_TRUE(matmul_uses_batch(GgmlType::Q8_0, 50257, 576));
    EXPECT_TRUE(matmul_uses_batch(GgmlType::Q4_0, 17, 64));
}

}  // namespace
}  // namespace qlm
