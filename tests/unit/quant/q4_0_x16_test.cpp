// Q4_0 matrices repacked in groups of 16 rows (quant/q4_0_x16.h): the layout round-trips every row,
// and on AVX-512 the repacked batch gives the very bits of the batch on the original rows
// (gemm_batch_q4_0), for 1..8 tokens, random and extreme blocks and activations, through
// matmul with row counts that leave tails of every size and prompts of more than 8 tokens. The
// repacked view also gives today's results on the sets that do not repack (scalar); the AVX2
// repacked batch has its own bits (q4_0_x16_avx2_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/format_q4_0.h"
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

TEST(Q4_0x16, LayoutRoundTripsEveryRow) {
    std::mt19937 rng(5);
    for (int64_t nb : {1, 2, 3, 18, 64}) {
        const int64_t cols = 32 * nb, rows = 48;
        const uint64_t stride = 18 * static_cast<uint64_t>(nb) + 7;
        x16_test::expect_round_trip(GgmlType::Q4_0, q4_0_matrix(rows, nb, stride, Fill::Random, rng), stride, cols,
                                    18 * static_cast<size_t>(nb));
    }
}

// The kernel alone against gemm_batch_q4_0 on the original rows: the same bits, nothing written
// past the rows x tokens outputs.
TEST(Q4_0x16, KernelGivesTheBitsOfTheOriginalBatch) {
    if (!cpu_supports(Isa::Avx512)) GTEST_SKIP() << "this CPU has no avx512";
    std::mt19937 rng(99);
    const FormatOps& af = format_ops(GgmlType::Q8_0);
    for (int64_t nb : {1, 2, 3, 9, 18, 130}) {  // 130: past the 3..8-token kernel's 64-block chunks
        const int64_t n = 32 * nb;
        for (int64_t rows : {16, 32, 48, 80}) {
            for (Fill fill : {Fill::Random, Fill::AllOnes, Fill::AllZero}) {
                const uint64_t stride = 18 * static_cast<uint64_t>(nb) + 3;
                const auto m = q4_0_matrix(rows, nb, stride, fill, rng);
                const WeightView w{.type = GgmlType::Q4_0, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
                const Packed p = repacked(w);
                const int kind = fill == Fill::Random ? static_cast<int>(rng() % 5) : 1 + static_cast<int>(rng() % 4);
                const auto x = activations(kGemmBatchTokens, n, kind, rng);
                const uint64_t arb = format_row_bytes(af, n);
                std::vector<uint8_t> a(arb * kGemmBatchTokens);
                for (int64_t t = 0; t < kGemmBatchTokens; ++t) af.quantize_activation(x.data() + t * n, a.data() + arb * t, n);
                for (int64_t nt = 1; nt <= kGemmBatchTokens; ++nt) {
                    const int64_t ys = rows + 3;
                    std::vector<float> want(static_cast<size_t>(ys * (kGemmBatchTokens + 1)), -7.f), got = want;
                    kernels::avx512::gemm_batch_q4_0(n, rows, m.data(), stride, a.data(), arb, nt, want.data(), ys);
                    kernels::avx512::gemm_batch_q4_0_x16(n, rows, p.view.x16, q4_0_x16_group_bytes(n), a.data(), arb, nt,
                                                         got.data(), ys);
                    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
                        << "blocks=" << nb << " rows=" << rows << " tokens=" << nt << " fill=" << static_cast<int>(fill);
                }
            }
        }
    }
}

// Through matmul: tails of rows (not whole groups of 16), token counts 1..8 and prompt chunks, on
// every ISA the CPU has whose repacked batch gives its original batch's bits (or that does not
// repack): the repacked view gives the bits of the original view on that ISA.
TEST(Q4_0x16, MatmulWithTailsEqualsTheOriginalView) {
    std::mt19937 rng(7);
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
        if (!cpu_supports(isa)) continue;
        const FormatKernels& fk = kernel_set(isa)[GgmlType::Q4_0];
        if (fk.gemm_batch_x16 && !fk.gemm_batch_single) continue;  // AVX2: q4_0_x16_avx2_test.cpp
        for (int64_t rows : {16, 17, 31, 33, 47, 64, 100}) {
            for (int64_t nb : {2, 7}) {
                const int64_t n = 32 * nb;
                const uint64_t stride = 18 * static_cast<uint64_t>(nb);
                const auto m = q4_0_matrix(rows, nb, stride, rows % 3 == 0 ? Fill::AllOnes : Fill::Random, rng);
                const WeightView w{.type = GgmlType::Q4_0, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
                const Packed p = repacked(w);
                for (int64_t nt : {1, 2, 3, 5, 8, 9, 20}) {
                    const auto x = activations(nt, n, static_cast<int>(nt % 5), rng);
                    std::vector<float> want(static_cast<size_t>(nt * rows)), got(want.size());
                    matmul(w, x.data(), nt, want.data(), isa);
                    matmul(p.view, x.data(), nt, got.data(), isa);
                    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
                        << isa_name(isa) << " rows=" << rows << " blocks=" << nb << " tokens=" << nt;
                    if (isa != Isa::Avx512 || nt > kGemmBatchTokens) continue;
                    // A token's outputs do not depend on the batch it comes in.
                    std::vector<float> one(static_cast<size_t>(rows));
                    for (int64_t t = 0; t < nt; ++t) {
                        matmul(p.view, x.data() + t * n, 1, one.data(), isa);
                        ASSERT_EQ(std::memcmp(one.data(), got.data() + t * rows, one.size() * sizeof(float)), 0)
                            << "rows=" << rows << " token " << t << " of " << nt;
                    }
                }
            }
        }
    }
}

// Close to the scalar reference dots (the float order of the lanes differs from the dot's).
TEST(Q4_0x16, CloseToTheScalarDots) {
    if (!cpu_supports(Isa::Avx512)) GTEST_SKIP() << "this CPU has no avx512";
    std::mt19937 rng(11);
    const FormatOps& f = format_ops(GgmlType::Q4_0);
    const FormatOps& af = format_ops(GgmlType::Q8_0);
    const int64_t rows = 37, nb = 5, n = 32 * nb;
    const uint64_t stride = 18 * nb;
    const auto m = q4_0_matrix(rows, nb, stride, Fill::Random, rng);
    const WeightView w{.type = GgmlType::Q4_0, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
    const Packed p = repacked(w);
    const int64_t nt = 4;
    const auto x = activations(nt, n, 0, rng);
    std::vector<float> got(static_cast<size_t>(nt * rows));
    matmul(p.view, x.data(), nt, got.data(), Isa::Avx512);
    std::vector<uint8_t> a(format_row_bytes(af, n));
    for (int64_t t = 0; t < nt; ++t) {
        af.quantize_activation(x.data() + t * n, a.data(), n);
        for (int64_t r = 0; r < rows; ++r) {
            const float ref = f.vec_dot_scalar(n, m.data() + stride * static_cast<uint64_t>(r), a.data());
            EXPECT_NEAR(got[static_cast<size_t>(t * rows + r)], ref, 1e-4 * (1 + std::fabs(ref))) << "r=" << r << " t=" << t;
        }
    }
}

}  // namespace
}  // namespace qlm
