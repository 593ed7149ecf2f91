// The AVX2 batch on Q4_0 rows repacked in groups of 16 (q4_0_x16_avx2.cpp): every output is the
// bits of the scalar rule below (each row's exact block sums Σ (c − 8)·a, added block after block
// as fma(d_w·d_a, float(sum), acc)) and of the AVX-512 repacked batch, for 1..8 tokens, random
// and extreme blocks (all codes 0x00 or 0xFF) and activations (±127, outliers), odd block counts
// and counts past its 64-block chunks, with nothing written outside the outputs; through matmul
// the rows past the last group keep the original view's bits, a token's outputs do not depend on
// the batch it comes in, and every output stays within float rounding of the original AVX2 path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "quant/format_q4_0.h"
#include "quant/format_q8_0.h"
#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"
#include "quant/matmul.h"
#include "quant/q4_0_x16.h"
#include "tests/unit/quant/x16_test_support.h"

namespace qlm {
namespace {

using x16_test::activations;
using x16_test::Packed;
using x16_test::repacked;

using Fill = x16_test::Q4_0Fill;
using x16_test::q4_0_matrix;

std::vector<uint8_t> quantized(const std::vector<float>& x, int64_t n_tokens, int64_t n) {
    const FormatOps& af = format_ops(GgmlType::Q8_0);
    const uint64_t arb = format_row_bytes(af, n);
    std::vector<uint8_t> a(arb * static_cast<uint64_t>(n_tokens));
    for (int64_t t = 0; t < n_tokens; ++t) af.quantize_activation(x.data() + t * n, a.data() + arb * t, n);
    return a;
}

// The scalar rule of the repacked batches for one row and one token; *abs_sum: Σ |s·w_i·a_i|, the
// scale of the float rounding by which another split of the products into partial sums may differ.
float x16_rule(int64_t nb, const BlockQ4_0* w, const BlockQ8_0* a, double* abs_sum = nullptr) {
    float acc = 0.f;
    double abs = 0;
    for (int64_t b = 0; b < nb; ++b) {
        int32_t sum = 0, sum_abs = 0;
        for (int i = 0; i < 16; ++i) {
            const int lo = ((w[b].qs[i] & 0x0F) - 8) * a[b].qs[i], hi = ((w[b].qs[i] >> 4) - 8) * a[b].qs[16 + i];
            sum += lo + hi;
            sum_abs += std::abs(lo) + std::abs(hi);
        }
        const float s = fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d);
        acc = std::fma(s, static_cast<float>(sum), acc);
        abs += std::fabs(static_cast<double>(s)) * sum_abs;
    }
    if (abs_sum) *abs_sum = abs;
    return acc;
}

const BlockQ4_0* row_of(const std::vector<uint8_t>& m, uint64_t stride, int64_t r) {
    return reinterpret_cast<const BlockQ4_0*>(m.data() + stride * static_cast<uint64_t>(r));
}

TEST(Q4_0x16Avx2, KernelGivesTheScalarRuleAndTheAvx512Bits) {
    if (!cpu_supports(Isa::Avx2)) GTEST_SKIP() << "this CPU has no avx2";
    std::mt19937 rng(21);
    const FormatOps& af = format_ops(GgmlType::Q8_0);
    for (int64_t nb : {1, 2, 3, 9, 18, 63, 64, 65, 130}) {
        const int64_t n = 32 * nb;
        const uint64_t arb = format_row_bytes(af, n);
        for (int64_t rows : {16, 32, 48, 80, 112}) {
            for (Fill fill : {Fill::Random, Fill::AllOnes, Fill::AllZero}) {
                const uint64_t stride = 18 * static_cast<uint64_t>(nb) + 5;
                const auto m = q4_0_matrix(rows, nb, stride, fill, rng);
                const WeightView w{.type = GgmlType::Q4_0, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
                const Packed p = repacked(w);
                const int kind = fill == Fill::Random ? static_cast<int>(rng() % 5) : 1 + static_cast<int>(rng() % 4);
                const auto a = quantized(activations(kGemmBatchTokens, n, kind, rng), kGemmBatchTokens, n);
                for (int64_t nt = 1; nt <= kGemmBatchTokens; ++nt) {
                    const int64_t ys = rows + 3;
                    std::vector<float> want(static_cast<size_t>(ys * (kGemmBatchTokens + 1)), -7.f), got = want;
                    for (int64_t t = 0; t < nt; ++t)
                        for (int64_t r = 0; r < rows; ++r)
                            want[static_cast<size_t>(t * ys + r)] =
                                x16_rule(nb, row_of(m, stride, r), reinterpret_cast<const BlockQ8_0*>(a.data() + arb * t));
                    kernels::avx2::gemm_batch_q4_0_x16(n, rows, p.view.x16, q4_0_x16_group_bytes(n), a.data(), arb, nt,
                                                       got.data(), ys);
                    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
                        << "blocks=" << nb << " rows=" << rows << " tokens=" << nt << " fill=" << static_cast<int>(fill);
                    if (!cpu_supports(Isa::Avx512)) continue;
                    std::vector<float> wide(got.size(), -7.f);
                    kernels::avx512::gemm_batch_q4_0_x16(n, rows, p.view.x16, q4_0_x16_group_bytes(n), a.data(), arb, nt,
                                                         wide.data(), ys);
                    ASSERT_EQ(std::memcmp(got.data(), wide.data(), got.size() * sizeof(float)), 0)
                        << "avx512: blocks=" << nb << " rows=" << rows << " tokens=" << nt;
                }
            }
        }
    }
}

// Through matmul on the AVX2 set: tails of rows of every size, 1..8 tokens and prompt chunks.
TEST(Q4_0x16Avx2, MatmulRowsAndTokens) {
    if (!cpu_supports(Isa::Avx2)) GTEST_SKIP() << "this CPU has no avx2";
    std::mt19937 rng(8);
    const FormatOps& af = format_ops(GgmlType::Q8_0);
    for (int64_t rows : {16, 17, 31, 33, 47, 64, 100}) {
        for (int64_t nb : {2, 7, 70}) {
            const int64_t n = 32 * nb, groups_rows = rows / kX16Rows * kX16Rows;
            const uint64_t stride = 18 * static_cast<uint64_t>(nb), arb = format_row_bytes(af, n);
            const auto m = q4_0_matrix(rows, nb, stride, rows % 3 == 0 ? Fill::AllOnes : Fill::Random, rng);
            const WeightView w{.type = GgmlType::Q4_0, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
            const Packed p = repacked(w);
            for (int64_t nt : {1, 2, 3, 5, 8, 9, 20}) {
                const auto x = activations(nt, n, static_cast<int>(nt % 5), rng);
                const auto a = quantized(x, nt, n);
                std::vector<float> orig(static_cast<size_t>(nt * rows)), got(orig.size());
                matmul(w, x.data(), nt, orig.data(), Isa::Avx2);
                matmul(p.view, x.data(), nt, got.data(), Isa::Avx2);
                for (int64_t t = 0; t < nt; ++t) {
                    const auto* at = reinterpret_cast<const BlockQ8_0*>(a.data() + arb * t);
                    for (int64_t r = 0; r < rows; ++r) {
                        const size_t i = static_cast<size_t>(t * rows + r);
                        double abs_sum = 0;
                        const float rule = x16_rule(nb, row_of(m, stride, r), at, &abs_sum);
                        if (r < groups_rows) {
                            ASSERT_EQ(got[i], rule) << "rows=" << rows << " blocks=" << nb << " tokens=" << nt << " r=" << r;
                        } else if (nt >= 2) {  // one token on the original view: the dot, in its own order
                            ASSERT_EQ(got[i], orig[i]) << "tail: rows=" << rows << " tokens=" << nt << " r=" << r;
                        }
                        // Another order of the same float terms: each side within nb + 4 roundings
                        // (2^-24) of their magnitude (the AVX2 dot's 8 lanes of partial sums: nb
                        // adds each, then 3 more).
                        ASSERT_LE(std::fabs(got[i] - orig[i]), (2 * nb + 8) * 0x1p-24 * abs_sum + 1e-30)
                            << "rows=" << rows << " blocks=" << nb << " tokens=" << nt << " r=" << r;
                    }
                }
                if (nt > kGemmBatchTokens) continue;
                std::vector<float> one(static_cast<size_t>(rows));
                for (int64_t t = 0; t < nt; ++t) {
                    matmul(p.view, x.data() + t * n, 1, one.data(), Isa::Avx2);
                    ASSERT_EQ(std::memcmp(one.data(), got.data() + t * rows, one.size() * sizeof(float)), 0)
                        << "rows=" << rows << " token " << t << " of " << nt;
                }
            }
        }
    }
}

}  // namespace
}  // namespace qlm
