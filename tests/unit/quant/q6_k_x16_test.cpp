// Q6_K matrices repacked in groups of 16 rows (quant/q6_k_x16.h): the layout round-trips every row
// byte for byte, and on AVX-512 the repacked batch gives the bits of dot_q6_k and gemm_batch_q6_k
// on the original rows (which agree) for 1..8 tokens, random and extreme blocks (codes 0 and 63,
// scales −128 and 127) and activations (±127), block counts odd and even (the run padding), and
// through matmul with row counts that leave tails of every size, prompts of more than 8 tokens,
// and the row lookups of a tied output head (dequantize_row through unpack_row).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/format_q6_k.h"
#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"
#include "quant/matmul.h"
#include "quant/q6_k_x16.h"
#include "tests/unit/quant/x16_test_support.h"

namespace qlm {
namespace {

using x16_test::activations;
using x16_test::expect_lookups_read_the_copy;
using x16_test::Packed;
using x16_test::repacked;

// Random: every code and scale byte random, d small; Max: codes 63, scales 127, d = 1; Min: codes
// 0 (the −32 offset alone), scales −128; Mixed: codes 0 or 63 and scales −128 or 127 at random.
enum class Fill { Random, Max, Min, Mixed };

std::vector<uint8_t> q6_k_matrix(int64_t rows, int64_t nb, uint64_t row_stride, Fill fill, std::mt19937& rng) {
    std::vector<uint8_t> m(row_stride * static_cast<uint64_t>(rows), 0xA5);
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    for (int64_t r = 0; r < rows; ++r) {
        auto* row = reinterpret_cast<BlockQ6_K*>(m.data() + row_stride * static_cast<uint64_t>(r));
        for (int64_t b = 0; b < nb; ++b) {
            BlockQ6_K& k = row[b];
            k.d = fp32_to_fp16(fill == Fill::Random ? u(rng) : 1.f);
            for (int8_t& s : k.scales)
                s = fill == Fill::Random ? static_cast<int8_t>(rng())
                    : fill == Fill::Max  ? int8_t{127}
                    : fill == Fill::Min  ? int8_t{-128}
                                         : (rng() % 2 ? int8_t{127} : int8_t{-128});
            const auto bits = [&]() -> uint8_t {
                switch (fill) {
                    case Fill::Random: return static_cast<uint8_t>(rng());
                    case Fill::Max: return 0xFF;
                    case Fill::Min: return 0x00;
                    default: return rng() % 2 ? 0xFF : 0x00;
                }
            };
            if (fill == Fill::Mixed) {
                // Whole codes 0 or 63: ql's nibbles and qh's bit pairs of the same element agree.
                uint8_t q[256];
                for (uint8_t& v : q) v = rng() % 2 ? 63 : 0;
                std::memset(k.ql, 0, sizeof(k.ql));
                std::memset(k.qh, 0, sizeof(k.qh));
                for (int h = 0; h < 2; ++h)
                    for (int s = 0; s < 4; ++s)
                        for (int l = 0; l < 32; ++l) {
                            const uint8_t v = q[128 * h + 32 * s + l];
                            k.ql[64 * h + 32 * (s % 2) + l] |= static_cast<uint8_t>((v & 15) << (4 * (s / 2)));
                            k.qh[32 * h + l] |= static_cast<uint8_t>((v >> 4) << (2 * s));
                        }
            } else {
                for (uint8_t& v : k.ql) v = bits();
                for (uint8_t& v : k.qh) v = bits();
            }
        }
    }
    return m;
}

TEST(Q6_Kx16, LayoutRoundTripsEveryRow) {
    std::mt19937 rng(5);
    for (int64_t nb : {1, 2, 3, 8}) {
        for (Fill fill : {Fill::Random, Fill::Max, Fill::Mixed}) {
            const int64_t cols = 256 * nb, rows = 48;
            const uint64_t stride = 210 * static_cast<uint64_t>(nb) + 5;
            x16_test::expect_round_trip(GgmlType::Q6_K, q6_k_matrix(rows, nb, stride, fill, rng), stride, cols,
                                        210 * static_cast<size_t>(nb));
        }
    }
}

// The kernel alone against dot_q6_k and gemm_batch_q6_k on the original rows (the same bits), and
// within float rounding of the scalar reference; nothing written past the rows x tokens.
TEST(Q6_Kx16, KernelGivesTheDotBits) {
    if (!cpu_supports(Isa::Avx512)) GTEST_SKIP() << "this CPU has no avx512";
    std::mt19937 rng(99);
    const FormatOps& af = format_ops(GgmlType::Q8_K);
    for (int64_t nb : {1, 2, 3, 8, 11}) {
        const int64_t n = 256 * nb;
        for (int64_t rows : {16, 32, 48}) {
            for (Fill fill : {Fill::Random, Fill::Max, Fill::Min, Fill::Mixed}) {
                if (nb == 11 && rows > 16) continue;
                const uint64_t stride = 210 * static_cast<uint64_t>(nb) + 3;
                const auto m = q6_k_matrix(rows, nb, stride, fill, rng);
                const WeightView w{.type = GgmlType::Q6_K, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
                const Packed p = repacked(w);
                const uint64_t gs = q6_k_x16_group_bytes(n);
                const int kind = fill == Fill::Random ? static_cast<int>(rng() % 5) : 1 + static_cast<int>(rng() % 4);
                const auto x = activations(kGemmBatchTokens, n, kind, rng);
                const uint64_t arb = format_row_bytes(af, n);
                std::vector<uint8_t> a(arb * kGemmBatchTokens);
                for (int64_t t = 0; t < kGemmBatchTokens; ++t) af.quantize_activation(x.data() + t * n, a.data() + arb * t, n);
                const int64_t ys = rows + 3;
                std::vector<float> dots(static_cast<size_t>(ys * (kGemmBatchTokens + 1)), -7.f), ref = dots;
                for (int64_t t = 0; t < kGemmBatchTokens; ++t)
                    for (int64_t r = 0; r < rows; ++r)
                        dots[static_cast<size_t>(t * ys + r)] =
                            kernels::avx512::dot_q6_k(n, m.data() + stride * static_cast<uint64_t>(r), a.data() + arb * t);
                gemm_q6_k_x16_reference(n, rows, p.view.x16, gs, a.data(), arb, kGemmBatchTokens, ref.data(), ys);
                for (int64_t nt = 1; nt <= kGemmBatchTokens; ++nt) {
                    std::vector<float> want(dots.begin(), dots.begin() + nt * ys);
                    want.resize(dots.size(), -7.f);
                    std::vector<float> got(dots.size(), -7.f), batch = got;
                    kernels::avx512::gemm_batch_q6_k_x16(n, rows, p.view.x16, gs, a.data(), arb, nt, got.data(), ys);
                    kernels::avx512::gemm_batch_q6_k(n, rows, m.data(), stride, a.data(), arb, nt, batch.data(), ys);
                    for (int64_t t = 0; t < nt; ++t)
                        for (int64_t r = rows; r < ys; ++r) want[static_cast<size_t>(t * ys + r)] = -7.f;
                    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
                        << "blocks=" << nb << " rows=" << rows << " tokens=" << nt << " fill=" << static_cast<int>(fill);
                    ASSERT_EQ(std::memcmp(got.data(), batch.data(), got.size() * sizeof(float)), 0)
                        << "blocks=" << nb << " rows=" << rows << " tokens=" << nt << " fill=" << static_cast<int>(fill);
                }
                // The scalar order differs: within a few roundings of Σ|w·x| (after cancellation).
                std::vector<float> wr(static_cast<size_t>(n)), xr(wr.size());
                for (int64_t t = 0; t < kGemmBatchTokens; ++t) {
                    af.dequantize_row(a.data() + arb * t, xr.data(), n);
                    for (int64_t r = 0; r < rows; ++r) {
                        format_ops(GgmlType::Q6_K).dequantize_row(m.data() + stride * static_cast<uint64_t>(r), wr.data(), n);
                        double mag = 0;
                        for (int64_t e = 0; e < n; ++e) mag += std::fabs(static_cast<double>(wr[e]) * xr[e]);
                        const float g = dots[static_cast<size_t>(t * ys + r)], s = ref[static_cast<size_t>(t * ys + r)];
                        ASSERT_NEAR(g, s, 1e-5 * mag + 1e-6) << "t=" << t << " r=" << r;
                    }
                }
            }
        }
    }
}

// Through matmul: tails of rows (not whole groups of 16), token counts 1..8 and prompt chunks, on
// every ISA the CPU has: every output is the original view's (on AVX-512 the groups' rows come
// from the repacked batch, the tails from the dots and gemm_batch_q6_k, all the same bits).
TEST(Q6_Kx16, MatmulWithTailsEqualsTheOriginal) {
    std::mt19937 rng(7);
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
        if (!cpu_supports(isa)) continue;
        for (int64_t rows : {16, 17, 31, 33, 47, 64, 100}) {
            for (int64_t nb : {1, 3}) {
                const int64_t n = 256 * nb;
                const uint64_t stride = 210 * static_cast<uint64_t>(nb);
                const auto m = q6_k_matrix(rows, nb, stride, rows % 3 == 0 ? Fill::Mixed : Fill::Random, rng);
                const WeightView w{.type = GgmlType::Q6_K, .data = m.data(), .cols = n, .rows = rows, .row_stride = stride};
                const Packed p = repacked(w);
                for (int64_t nt : {1, 2, 3, 5, 8, 9, 20}) {
                    const auto x = activations(nt, n, static_cast<int>(nt % 5), rng);
                    std::vector<float> orig(static_cast<size_t>(nt * rows)), got(orig.size());
                    matmul(w, x.data(), nt, orig.data(), isa);
                    matmul(p.view, x.data(), nt, got.data(), isa);
                    ASSERT_EQ(std::memcmp(got.data(), orig.data(), got.size() * sizeof(float)), 0)
                        << isa_name(isa) << " rows=" << rows << " blocks=" << nb << " tokens=" << nt;
                }
            }
        }
    }
}

// A tied output head's token lookups read the repacked rows where the original ones may be gone.
TEST(Q6_Kx16, DequantizeRowReadsTheRepackedRows) {
    std::mt19937 rng(3);
    const int64_t rows = 40, nb = 2;
    const uint64_t stride = 210 * nb;
    const auto m = q6_k_matrix(rows, nb, stride, Fill::Random, rng);
    expect_lookups_read_the_copy({.type = GgmlType::Q6_K, .data = m.data(), .cols = 256 * nb, .rows = rows, .row_stride = stride});
}

}  // namespace
}  // namespace qlm
