// Q8_0 matrices repacked in groups of 16 rows (quant/q8_0_x16.h): the layout round-trips every row
// byte for byte, and on AVX-512 and AVX2 the repacked batch gives the scalar reference's bits (so dot_q8_0's
// and gemm_batch_q8_0's) for 1..8 tokens, random and extreme blocks (codes −128 and 127, scales
// from tiny to large) and activations (±127), every block count 1..130, and through matmul with
// row counts that leave tails of every size and prompts of more than 8 tokens. The repacked view
// also gives today's results on the set that does not repack (scalar).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/format_q8_0.h"
#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"
#include "quant/matmul.h"
#include "quant/q8_0_x16.h"
#include "tests/unit/quant/x16_test_support.h"

namespace qlm {
namespace {

using x16_test::activations;
using x16_test::expect_lookups_read_the_copy;
using x16_test::expect_scalar_dot_bits;
using x16_test::Packed;
using x16_test::repacked;

// Random: random codes, small random scales; Max / Min: every code 127 / −128, scale 1;
// Alternating: codes −128 and 127 in turn, scales of random magnitude 2^−14..2^7.
enum class Fill { Random, Max, Min, Alternating };
constexpr Fill kFills[] = {Fill::Random, Fill::Max, Fill::Min, Fill::Alternating};

std::vector<uint8_t> q8_0_matrix(int64_t rows, int64_t nb, uint64_t row_stride, Fill fill, std::mt19937& rng) {
    std::vector<uint8_t> m(row_stride * static_cast<uint64_t>(rows), 0xA5);
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    std::uniform_int_distribution<int> e(-14, 7);
    for (int64_t r = 0; r < rows; ++r) {
        auto* row = reinterpret_cast<BlockQ8_0*>(m.data() + row_stride * static_cast<uint64_t>(r));
        for (int64_t b = 0; b < nb; ++b) {
            float d = 1.f;
            if (fill == Fill::Random) d = u(rng);
            if (fill == Fill::Alternating) d = std::ldexp(rng() % 2 ? 1.5f : -1.25f, e(rng));
            row[b].d = fp32_to_fp16(d);
            for (int k = 0; k < 32; ++k) {
                switch (fill) {
                    case Fill::Random: row[b].qs[k] = static_cast<int8_t>(rng()); break;
                    case Fill::Max: row[b].qs[k] = 127; break;
                    case Fill::Min: row[b].qs[k] = -128; break;
                    case Fill::Alternating: row[b].qs[k] = (k + r) % 2 ? 127 : -128; break;
                }
            }
        }
    }
    return m;
}

TEST(Q8_0x16, LayoutRoundTripsEveryRow) {
    std::mt19937 rng(5);
    for (int64_t nb : {1, 2, 3, 18, 64}) {
        for (Fill fill : kFills) {
            const int64_t cols = 32 * nb, rows = 48;
            const uint64_t stride = 34 * static_cast<uint64_t>(nb) + 7;
            x16_test::expect_round_trip(GgmlType::Q8_0, q8_0_matrix(rows, nb, stride, fill, rng), stride, cols,
                                        34 * static_cast<size_t>(nb));
        }
    }
}

// The kernels of the sets the CPU has (AVX-512, AVX2) alone against the scalar reference on the
// repacked rows and against that set's gemm_batch_q8_0 on the original rows: the same bits,
// nothing written past the rows x tokens outputs.
void expect_kernel_bits(int64_t nb, int64_t rows, Fill fill, int kind, std::mt19937& rng) {
    const FormatOps& af = format_ops(GgmlType::Q8_0);
    const int64_t n = 32 * nb;
    const uint64_t stride = 34 * static_cast<uint64_t>(nb) + 3;
    const auto m = q8_0_matrix(rows, nb, stride, fill, rng);
    const WeightView w{.type = GgmlType::Q8_0, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
    const Packed p = repacked(w);
    const uint64_t gs = q8_0_x16_group_bytes(n);
    const auto x = activations(kGemmBatchTokens, n, kind, rng);
    const uint64_t arb = format_row_bytes(af, n);
    std::vector<uint8_t> a(arb * kGemmBatchTokens);
    for (int64_t t = 0; t < kGemmBatchTokens; ++t) af.quantize_activation(x.data() + t * n, a.data() + arb * t, n);
    const int64_t ys = rows + 3;
    const size_t size = static_cast<size_t>(ys * (kGemmBatchTokens + 1));
    std::vector<float> all(size, -7.f);
    gemm_q8_0_x16_reference(n, rows, p.view.x16, gs, a.data(), arb, kGemmBatchTokens, all.data(), ys);
    for (Isa isa : {Isa::Avx512, Isa::Avx2}) {
        if (!cpu_supports(isa)) continue;
        for (int64_t nt = 1; nt <= kGemmBatchTokens; ++nt) {
            // The reference's first nt tokens, the rest untouched.
            std::vector<float> want(size, -7.f), got = want, orig = want;
            std::copy(all.begin(), all.begin() + nt * ys, want.begin());
            for (int64_t t = 0; t < nt; ++t) std::fill(want.begin() + t * ys + rows, want.begin() + (t + 1) * ys, -7.f);
            if (isa == Isa::Avx512) {
                kernels::avx512::gemm_batch_q8_0_x16(n, rows, p.view.x16, gs, a.data(), arb, nt, got.data(), ys);
                kernels::avx512::gemm_batch_q8_0(n, rows, m.data(), stride, a.data(), arb, nt, orig.data(), ys);
            } else {
                kernels::avx2::gemm_batch_q8_0_x16(n, rows, p.view.x16, gs, a.data(), arb, nt, got.data(), ys);
                kernels::avx2::gemm_batch_q8_0(n, rows, m.data(), stride, a.data(), arb, nt, orig.data(), ys);
            }
            ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
                << isa_name(isa) << " blocks=" << nb << " rows=" << rows << " tokens=" << nt
                << " fill=" << static_cast<int>(fill) << " kind=" << kind;
            ASSERT_EQ(std::memcmp(got.data(), orig.data(), got.size() * sizeof(float)), 0)
                << isa_name(isa) << " blocks=" << nb << " rows=" << rows << " tokens=" << nt
                << " fill=" << static_cast<int>(fill);
        }
    }
}

// AVX2 takes its products through maddubs with the sign trick on the unbiased codes: −128 codes
// against ±127 activations are among the extreme cases.
TEST(Q8_0x16, KernelGivesTheScalarReferenceBits) {
    if (!cpu_supports(Isa::Avx2)) GTEST_SKIP() << "this CPU has no avx2";
    std::mt19937 rng(99);
    // Every block count across the 32-block chunks, random blocks.
    for (int64_t nb = 1; nb <= 130; ++nb) expect_kernel_bits(nb, nb % 2 ? 16 : 48, Fill::Random, static_cast<int>(nb % 5), rng);
    // Extreme blocks against every kind of activation (±127 among them), more rows.
    for (int64_t nb : {1, 3, 33, 70})
        for (int64_t rows : {16, 32, 80})
            for (Fill fill : kFills)
                for (int kind = 0; kind < 5; ++kind) expect_kernel_bits(nb, rows, fill, kind, rng);
}

// Through matmul: tails of rows (not whole groups of 16), token counts 1..20, on every ISA the CPU
// has: the repacked view gives the original view's bits, and on AVX-512 and AVX2 the scalar dots' (whatever
// the batch a token comes in).
TEST(Q8_0x16, MatmulWithTailsEqualsTheReference) {
    std::mt19937 rng(7);
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
        if (!cpu_supports(isa)) continue;
        for (int64_t rows : {16, 17, 31, 33, 47, 64, 100}) {
            for (int64_t nb : {2, 7, 35}) {
                const int64_t n = 32 * nb;
                const uint64_t stride = 34 * static_cast<uint64_t>(nb);
                const auto m = q8_0_matrix(rows, nb, stride, rows % 3 == 0 ? Fill::Alternating : Fill::Random, rng);
                const WeightView w{.type = GgmlType::Q8_0, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
                const Packed p = repacked(w);
                for (int64_t nt = 1; nt <= 20; ++nt) {
                    const auto x = activations(nt, n, static_cast<int>(nt % 5), rng);
                    std::vector<float> orig(static_cast<size_t>(nt * rows)), got(orig.size());
                    matmul(w, x.data(), nt, orig.data(), isa);
                    matmul(p.view, x.data(), nt, got.data(), isa);
                    ASSERT_EQ(std::memcmp(got.data(), orig.data(), got.size() * sizeof(float)), 0)
                        << isa_name(isa) << " rows=" << rows << " blocks=" << nb << " tokens=" << nt;
                    if (isa != Isa::Scalar) expect_scalar_dot_bits(w, x, nt, got);
                }
            }
        }
    }
}

// Lookups (a tied output head's token embedding) read the groups' rows from the repacked copy and
// the rows past the last group from the original.
TEST(Q8_0x16, DequantizeRowReadsTheRepackedCopy) {
    std::mt19937 rng(3);
    const int64_t rows = 37, nb = 5;
    const uint64_t stride = 34 * nb;
    const auto m = q8_0_matrix(rows, nb, stride, Fill::Random, rng);
    expect_lookups_read_the_copy({.type = GgmlType::Q8_0, .data = m.data(), .cols = 32 * nb, .rows = rows, .row_stride = stride});
}

}  // namespace
}  // namespace qlm
