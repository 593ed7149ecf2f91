// Q4_K matrices repacked in groups of 16 rows (quant/q4_k_x16.h): the layout round-trips every row
// byte for byte, and on AVX-512 and AVX2 the repacked batch gives the scalar reference's bits (so
// on AVX-512 those of gemm_batch_q4_k's lanes from 4 tokens) for 1..8 tokens, random and extreme
// blocks (all-0xFF and zero codes, scales and mins at 63 and 0) and activations (±127), odd block
// counts, and through matmul with row counts that leave tails of every size and prompts of more
// than 8 tokens. The repacked view also gives today's results on the set that does not repack
// (scalar).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "quant/format_q4_k.h"
#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"
#include "quant/matmul.h"
#include "quant/q4_k_x16.h"
#include "tests/unit/quant/x16_test_support.h"

namespace qlm {
namespace {

using x16_test::activations;
using x16_test::Packed;
using x16_test::repacked;

// Random: every byte random, d and dmin small; AllOnes: every code, scale and min byte 0xFF (codes
// 15, scales and mins 63), d = dmin = 1; ZeroCodes: codes 0, random scales and mins (the mins'
// term alone); ZeroMins: random codes, scales 63, mins 0.
enum class Fill { Random, AllOnes, ZeroCodes, ZeroMins };

std::vector<uint8_t> q4_k_matrix(int64_t rows, int64_t nb, uint64_t row_stride, Fill fill, std::mt19937& rng) {
    std::vector<uint8_t> m(row_stride * static_cast<uint64_t>(rows), 0xA5);
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    for (int64_t r = 0; r < rows; ++r) {
        auto* row = reinterpret_cast<BlockQ4_K*>(m.data() + row_stride * static_cast<uint64_t>(r));
        for (int64_t b = 0; b < nb; ++b) {
            BlockQ4_K& k = row[b];
            const bool random_d = fill != Fill::AllOnes;
            k.d = fp32_to_fp16(random_d ? u(rng) : 1.f);
            k.dmin = fp32_to_fp16(random_d ? u(rng) : 1.f);
            for (uint8_t& s : k.scales) s = fill == Fill::AllOnes ? 0xFF : static_cast<uint8_t>(rng());
            if (fill == Fill::ZeroMins) {
                // Scale codes 63, min codes 0 (kquant_scale_min's bit fields).
                for (int j = 0; j < 4; ++j) {
                    k.scales[j] = 0xFF;
                    k.scales[j + 4] = 0x00;
                    k.scales[j + 8] = 0x0F;
                }
            }
            for (uint8_t& q : k.qs)
                q = fill == Fill::AllOnes ? 0xFF : fill == Fill::ZeroCodes ? 0x00 : static_cast<uint8_t>(rng());
        }
    }
    return m;
}

TEST(Q4_Kx16, LayoutRoundTripsEveryRow) {
    std::mt19937 rng(5);
    for (int64_t nb : {1, 2, 3, 11}) {
        for (Fill fill : {Fill::Random, Fill::AllOnes, Fill::ZeroMins}) {
            const int64_t cols = 256 * nb, rows = 48;
            const uint64_t stride = 144 * static_cast<uint64_t>(nb) + 7;
            x16_test::expect_round_trip(GgmlType::Q4_K, q4_k_matrix(rows, nb, stride, fill, rng), stride, cols,
                                        144 * static_cast<size_t>(nb));
        }
    }
}

// The kernels of the sets the CPU has (AVX-512, AVX2) alone against the scalar reference on the
// repacked rows and, on AVX-512 from 4 tokens, against gemm_batch_q4_k on the original rows: the
// same bits, nothing written past the rows x tokens.
void expect_kernel_bits(Isa isa, GemmBatchFn kernel) {
    if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU has no " << isa_name(isa);
    std::mt19937 rng(99);
    const FormatOps& af = format_ops(GgmlType::Q8_K);
    for (int64_t nb : {1, 2, 3, 9, 33}) {  // 33: past the kernel's 32-block chunks
        const int64_t n = 256 * nb;
        for (int64_t rows : {16, 32, 48, 80}) {
            for (Fill fill : {Fill::Random, Fill::AllOnes, Fill::ZeroCodes, Fill::ZeroMins}) {
                if (nb == 33 && rows > 32) continue;
                const uint64_t stride = 144 * static_cast<uint64_t>(nb) + 3;
                const auto m = q4_k_matrix(rows, nb, stride, fill, rng);
                const WeightView w{.type = GgmlType::Q4_K, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
                const Packed p = repacked(w);
                const uint64_t gs = q4_k_x16_group_bytes(n);
                const int kind = fill == Fill::Random ? static_cast<int>(rng() % 5) : 1 + static_cast<int>(rng() % 4);
                const auto x = activations(kGemmBatchTokens, n, kind, rng);
                const uint64_t arb = format_row_bytes(af, n);
                std::vector<uint8_t> a(arb * kGemmBatchTokens);
                for (int64_t t = 0; t < kGemmBatchTokens; ++t) af.quantize_activation(x.data() + t * n, a.data() + arb * t, n);
                for (int64_t nt = 1; nt <= kGemmBatchTokens; ++nt) {
                    const int64_t ys = rows + 3;
                    std::vector<float> want(static_cast<size_t>(ys * (kGemmBatchTokens + 1)), -7.f), got = want;
                    gemm_q4_k_x16_reference(n, rows, p.view.x16, gs, a.data(), arb, nt, want.data(), ys);
                    kernel(n, rows, p.view.x16, gs, a.data(), arb, nt, got.data(), ys);
                    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
                        << isa_name(isa) << " blocks=" << nb << " rows=" << rows << " tokens=" << nt << " fill=" << static_cast<int>(fill);
                    if (isa != Isa::Avx512 || nt < 4) continue;  // gemm_batch_q4_k's lanes run from 4 tokens
                    std::vector<float> lanes(want.size(), -7.f);
                    kernels::avx512::gemm_batch_q4_k(n, rows, m.data(), stride, a.data(), arb, nt, lanes.data(), ys);
                    ASSERT_EQ(std::memcmp(got.data(), lanes.data(), got.size() * sizeof(float)), 0)
                        << "blocks=" << nb << " rows=" << rows << " tokens=" << nt << " fill=" << static_cast<int>(fill);
                }
            }
        }
    }
}

TEST(Q4_Kx16, Avx512KernelGivesTheScalarReferenceBits) {
    expect_kernel_bits(Isa::Avx512, kernels::avx512::gemm_batch_q4_k_x16);
}

TEST(Q4_Kx16, Avx2KernelGivesTheScalarReferenceBits) {
    expect_kernel_bits(Isa::Avx2, kernels::avx2::gemm_batch_q4_k_x16);
}

// Through matmul: tails of rows (not whole groups of 16), token counts 1..8 and prompt chunks, on
// every ISA the CPU has. On AVX-512 and AVX2 the groups' rows are the scalar dots' bits (whatever
// the batch a token comes in) and the tail rows those of the original view; on the scalar set every
// output is the original view's.
TEST(Q4_Kx16, MatmulWithTailsEqualsTheReference) {
    std::mt19937 rng(7);
    const FormatOps& f = format_ops(GgmlType::Q4_K);
    const FormatOps& af = format_ops(GgmlType::Q8_K);
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
        if (!cpu_supports(isa)) continue;
        for (int64_t rows : {16, 17, 31, 33, 47, 64, 100}) {
            for (int64_t nb : {1, 3}) {
                const int64_t n = 256 * nb;
                const uint64_t stride = 144 * static_cast<uint64_t>(nb);
                const auto m = q4_k_matrix(rows, nb, stride, rows % 3 == 0 ? Fill::AllOnes : Fill::Random, rng);
                const WeightView w{.type = GgmlType::Q4_K, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
                const Packed p = repacked(w);
                const int64_t grouped = isa != Isa::Scalar ? rows / kX16Rows * kX16Rows : 0;
                for (int64_t nt : {1, 2, 3, 5, 8, 9, 20}) {
                    const auto x = activations(nt, n, static_cast<int>(nt % 5), rng);
                    std::vector<float> orig(static_cast<size_t>(nt * rows)), got(orig.size());
                    matmul(w, x.data(), nt, orig.data(), isa);
                    matmul(p.view, x.data(), nt, got.data(), isa);
                    std::vector<uint8_t> a(format_row_bytes(af, n));
                    for (int64_t t = 0; t < nt; ++t) {
                        af.quantize_activation(x.data() + t * n, a.data(), n);
                        for (int64_t r = 0; r < rows; ++r) {
                            const float want = r < grouped ? f.vec_dot_scalar(n, m.data() + stride * static_cast<uint64_t>(r), a.data())
                                                           : orig[static_cast<size_t>(t * rows + r)];
                            const float g = got[static_cast<size_t>(t * rows + r)];
                            ASSERT_EQ(std::memcmp(&g, &want, sizeof(float)), 0)
                                << isa_name(isa) << " rows=" << rows << " blocks=" << nb << " tokens=" << nt << " t=" << t
                                << " r=" << r << ": " << g << " vs " << want;
                        }
                    }
                }
            }
        }
    }
}

}  // namespace
}  // namespace qlm
