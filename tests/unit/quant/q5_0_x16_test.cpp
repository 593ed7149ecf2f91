// Q5_0 matrices repacked in groups of 16 rows (quant/q5_0_x16.h): the layout round-trips every row
// byte for byte, and on AVX-512 both batches (gemm_batch_q5_0_x16 on the repacked rows,
// gemm_batch_q5_0 on the file's rows, any row count) give the scalar reference's bits for 1..8
// tokens: random and extreme blocks (every code 31 or 0, codes 0 and 31 in turn with scales from
// tiny to large), activations at ±127 and with outliers, odd block counts across the kernels'
// chunks, and through matmul with row counts that leave tails of every size and prompts of more
// than 8 tokens. The repacked view gives the original view's results on every kernel set.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/format_q5_0.h"
#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"
#include "quant/matmul.h"
#include "quant/q5_0_x16.h"
#include "tests/unit/quant/x16_test_support.h"

namespace qlm {
namespace {

using x16_test::activations;
using x16_test::expect_lookups_read_the_copy;
using x16_test::expect_scalar_dot_bits;
using x16_test::Packed;
using x16_test::repacked;

// Random: random bytes, small random scales; Max / Min: every code 31 / 0, scale 1; Alternating:
// codes 0 and 31 in turn, scales of random sign and magnitude 2^−14..2^7.
enum class Fill { Random, Max, Min, Alternating };
constexpr Fill kFills[] = {Fill::Random, Fill::Max, Fill::Min, Fill::Alternating};

std::vector<uint8_t> q5_0_matrix(int64_t rows, int64_t nb, uint64_t row_stride, Fill fill, std::mt19937& rng) {
    std::vector<uint8_t> m(row_stride * static_cast<uint64_t>(rows), 0xA5);
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    std::uniform_int_distribution<int> e(-14, 7);
    for (int64_t r = 0; r < rows; ++r) {
        auto* row = reinterpret_cast<BlockQ5_0*>(m.data() + row_stride * static_cast<uint64_t>(r));
        for (int64_t b = 0; b < nb; ++b) {
            float d = 1.f;
            if (fill == Fill::Random) d = u(rng);
            if (fill == Fill::Alternating) d = std::ldexp(rng() % 2 ? 1.5f : -1.25f, e(rng));
            row[b].d = fp32_to_fp16(d);
            if (fill == Fill::Random) {
                for (uint8_t& q : row[b].qh) q = static_cast<uint8_t>(rng());
                for (uint8_t& q : row[b].qs) q = static_cast<uint8_t>(rng());
                continue;
            }
            int q[32];
            for (int k = 0; k < 32; ++k)
                q[k] = fill == Fill::Max ? 31 : fill == Fill::Min ? 0 : (k + r + b) % 2 ? 31 : 0;
            q5_pack(q, row[b].qh, row[b].qs);
        }
    }
    return m;
}

// Q8_0 activation rows of nt tokens (kind as x16_test::activations), arb bytes apart.
std::vector<uint8_t> q8_0_tokens(int64_t nt, int64_t n, int kind, std::mt19937& rng) {
    const FormatOps& af = format_ops(GgmlType::Q8_0);
    const auto x = activations(nt, n, kind, rng);
    const uint64_t arb = format_row_bytes(af, n);
    std::vector<uint8_t> a(arb * static_cast<uint64_t>(nt));
    for (int64_t t = 0; t < nt; ++t) af.quantize_activation(x.data() + t * n, a.data() + arb * t, n);
    return a;
}

TEST(Q5_0x16, LayoutRoundTripsEveryRow) {
    std::mt19937 rng(5);
    for (int64_t nb : {1, 2, 3, 18, 19}) {
        for (Fill fill : kFills) {
            const int64_t cols = 32 * nb, rows = 48;
            const uint64_t stride = 22 * static_cast<uint64_t>(nb) + 7;
            x16_test::expect_round_trip(GgmlType::Q5_0, q5_0_matrix(rows, nb, stride, fill, rng), stride, cols,
                                        22 * static_cast<size_t>(nb));
        }
    }
}

// Both kernels against the scalar reference: the repacked batch on the repacked rows (and the
// original rows' reference dots), the batch on the file's rows for `rows` and for rows + 1..15
// (tails); nothing written past the rows x tokens outputs.
void expect_kernel_bits(int64_t nb, int64_t rows, Fill fill, int kind, std::mt19937& rng) {
    const FormatOps& f = format_ops(GgmlType::Q5_0);
    const int64_t n = 32 * nb;
    const uint64_t stride = 22 * static_cast<uint64_t>(nb) + 3;
    const int64_t tail = 1 + static_cast<int64_t>(rng() % 15);
    const auto m = q5_0_matrix(rows + tail, nb, stride, fill, rng);
    const WeightView w{.type = GgmlType::Q5_0, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
    const Packed p = repacked(w);
    const uint64_t gs = q5_0_x16_group_bytes(n), arb = format_row_bytes(format_ops(GgmlType::Q8_0), n);
    const auto a = q8_0_tokens(kGemmBatchTokens, n, kind, rng);
    for (int64_t nt = 1; nt <= kGemmBatchTokens; ++nt) {
        const int64_t ys = rows + tail + 3;
        std::vector<float> want(static_cast<size_t>(ys * (kGemmBatchTokens + 1)), -7.f), got = want, file = want;
        gemm_q5_0_x16_reference(n, rows, p.view.x16, gs, a.data(), arb, nt, want.data(), ys);
        kernels::avx512::gemm_batch_q5_0_x16(n, rows, p.view.x16, gs, a.data(), arb, nt, got.data(), ys);
        ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
            << "blocks=" << nb << " rows=" << rows << " tokens=" << nt << " fill=" << static_cast<int>(fill)
            << " kind=" << kind;
        for (int64_t t = 0; t < nt; ++t)
            for (int64_t r = rows; r < rows + tail; ++r)
                want[static_cast<size_t>(t * ys + r)] =
                    f.vec_dot_scalar(n, m.data() + stride * static_cast<uint64_t>(r), a.data() + arb * static_cast<uint64_t>(t));
        kernels::avx512::gemm_batch_q5_0(n, rows + tail, m.data(), stride, a.data(), arb, nt, file.data(), ys);
        ASSERT_EQ(std::memcmp(file.data(), want.data(), file.size() * sizeof(float)), 0)
            << "file rows: blocks=" << nb << " rows=" << rows + tail << " tokens=" << nt
            << " fill=" << static_cast<int>(fill) << " kind=" << kind;
    }
}

TEST(Q5_0x16, KernelsGiveTheScalarReferenceBits) {
    if (!cpu_supports(Isa::Avx512)) GTEST_SKIP() << "this CPU has no avx512";
    std::mt19937 rng(99);
    // Block counts across the 64-block chunks, odd and even, random blocks.
    for (int64_t nb : {1, 2, 3, 5, 18, 19, 63, 64, 65, 131})
        expect_kernel_bits(nb, nb % 2 ? 16 : 48, Fill::Random, static_cast<int>(nb % 5), rng);
    // Extreme blocks against every kind of activation (±127 among them), more groups.
    for (int64_t nb : {1, 3, 33})
        for (int64_t rows : {16, 32, 80})
            for (Fill fill : kFills)
                for (int kind = 0; kind < 5; ++kind) expect_kernel_bits(nb, rows, fill, kind, rng);
}

// Through matmul: tails of rows (not whole groups of 16), token counts 1..20, on every ISA the CPU
// has: the repacked view gives the original view's bits, and on AVX-512 every output is the
// scalar dot's (whatever the batch a token comes in).
TEST(Q5_0x16, MatmulWithTailsEqualsTheReference) {
    std::mt19937 rng(7);
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
        if (!cpu_supports(isa)) continue;
        for (int64_t rows : {16, 17, 31, 33, 47, 64, 100}) {
            for (int64_t nb : {2, 7, 18}) {
                const int64_t n = 32 * nb;
                const uint64_t stride = 22 * static_cast<uint64_t>(nb);
                const auto m = q5_0_matrix(rows, nb, stride, rows % 3 == 0 ? Fill::Alternating : Fill::Random, rng);
                const WeightView w{.type = GgmlType::Q5_0, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
                const Packed p = repacked(w);
                for (int64_t nt : {1, 2, 3, 5, 8, 9, 11, 20}) {
                    const auto x = activations(nt, n, static_cast<int>(nt % 5), rng);
                    std::vector<float> orig(static_cast<size_t>(nt * rows)), got(orig.size());
                    matmul(w, x.data(), nt, orig.data(), isa);
                    matmul(p.view, x.data(), nt, got.data(), isa);
                    if (isa != Isa::Avx512 || nt > 1) {  // one token on the file's rows: the dot's order
                        ASSERT_EQ(std::memcmp(got.data(), orig.data(), got.size() * sizeof(float)), 0)
                            << isa_name(isa) << " rows=" << rows << " blocks=" << nb << " tokens=" << nt;
                    }
                    if (isa == Isa::Avx512) expect_scalar_dot_bits(w, x, nt, got);
                }
            }
        }
    }
}

// Lookups read the groups' rows from the repacked copy and the rows past the last group from the
// original.
TEST(Q5_0x16, DequantizeRowReadsTheRepackedCopy) {
    std::mt19937 rng(3);
    const int64_t rows = 37, nb = 5;
    const uint64_t stride = 22 * nb;
    const auto m = q5_0_matrix(rows, nb, stride, Fill::Random, rng);
    expect_lookups_read_the_copy({.type = GgmlType::Q5_0, .data = m.data(), .cols = 32 * nb, .rows = rows, .row_stride = stride});
}

}  // namespace
}  // namespace qlm
