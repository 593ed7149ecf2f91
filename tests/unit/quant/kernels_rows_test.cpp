// The many-row attention kernels (dot_f16_rows: one f16 K row against many queries; dot_f16_span:
// many K rows against many queries;
// axpy_f16_lanes: many f16 V rows into one output row's 8 lanes; axpy_f16_lanes_rows: the same V
// rows into many output rows' lanes; axpy_f16_seq: many f16 V rows into one output row in turn)
// give, row by row, the bits of the one-row kernels they stand for (dot_f16_batch, axpy_f16,
// axpy_f16_lanes) on every kernel set this CPU runs:
// random rows over several binades, extreme values (f16's largest finite value, subnormals, signed
// zeros), row counts around the SIMD version's groups of 8 and 4 and lengths with tails.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernel_set.h"

namespace qlm {
namespace {

std::vector<Isa> isas() {
    std::vector<Isa> v{Isa::Scalar};
    for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon})
        if (cpu_supports(isa)) v.push_back(isa);
    return v;
}

// f16 values over several binades; with `extreme`, a third of them f16's extremes.
std::vector<uint16_t> f16_row(int64_t n, std::mt19937& rng, bool extreme) {
    std::uniform_real_distribution<float> u(-1.f, 1.f), e(-8.f, 8.f);
    std::uniform_int_distribution<int> pick(0, 8);
    const float specials[] = {65504.f, -65504.f, 0x1p-24f, -0x1p-20f, 0.f, -0.f};
    std::vector<uint16_t> r(static_cast<size_t>(n));
    for (uint16_t& h : r) {
        const int p = pick(rng);
        const float x = extreme && p < 6 ? specials[p] : u(rng) * std::exp2(e(rng));
        h = fp32_to_fp16(x);
    }
    return r;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)); }

TEST(RowKernels, DotF16RowsEqualsTheBatchDotOfEachRow) {
    std::mt19937 rng(11);
    for (Isa isa : isas()) {
        const KernelSet& ks = kernel_set(isa);
        for (bool extreme : {false, true})
            for (int64_t n : {8, 16, 64, 72, 256})
                for (int64_t rows : {1, 3, 4, 5, 8, 9, 13, 24, 64}) {
                    const std::vector<uint16_t> k = f16_row(n, rng, extreme);
                    std::vector<std::vector<uint16_t>> qh;
                    std::vector<std::vector<float>> qf;
                    std::vector<const float*> qp;
                    for (int64_t r = 0; r < rows; ++r) {
                        qh.push_back(f16_row(n, rng, extreme));
                        std::vector<float> f;
                        for (uint16_t h : qh.back()) f.push_back(fp16_to_fp32(h));
                        qf.push_back(std::move(f));
                    }
                    for (const auto& f : qf) qp.push_back(f.data());
                    std::vector<float> got(static_cast<size_t>(rows), -1.f), ref(got.size(), -2.f);
                    ks.dot_f16_rows(n, k.data(), qp.data(), rows, got.data());
                    kernel_set(Isa::Scalar).dot_f16_rows(n, k.data(), qp.data(), rows, ref.data());
                    for (int64_t r = 0; r < rows; ++r) {
                        const float one = ks.dot_f16_batch(n, qh[static_cast<size_t>(r)].data(), k.data());
                        ASSERT_TRUE(same_bits(got[static_cast<size_t>(r)], one))
                            << isa_name(isa) << " n " << n << " rows " << rows << " row " << r << ": " << got[r]
                            << " vs " << one;
                        ASSERT_TRUE(same_bits(got[static_cast<size_t>(r)], ref[static_cast<size_t>(r)]))
                            << isa_name(isa) << " n " << n << " rows " << rows << " row " << r;
                    }
                }
    }
}

// dot_f16_span: every (K row, query) score is dot_f16_rows's sum times the scale, written at
// out[r][at + j] and nowhere else: span lengths around its chunks of 16 positions (1, 2, 15, 16,
// 17, 33, 64), head sizes with one group up to past its stack buffer (512), random and extreme rows.
TEST(RowKernels, DotF16SpanEqualsTheRowsKernelOfEachPosition) {
    std::mt19937 rng(17);
    constexpr float kSentinel = -777.f;
    for (Isa isa : isas()) {
        const KernelSet& ks = kernel_set(isa);
        for (bool extreme : {false, true})
            for (int64_t n : {8, 64, 72, 128, 512})
                for (int64_t rows : {1, 3, 8, 24})
                    for (int64_t count : {1, 2, 15, 16, 17, 33, 64}) {
                        std::vector<std::vector<uint16_t>> kh;
                        std::vector<const uint16_t*> kp;
                        for (int64_t j = 0; j < count; ++j) kh.push_back(f16_row(n, rng, extreme));
                        for (const auto& k : kh) kp.push_back(k.data());
                        std::vector<std::vector<float>> qf;
                        std::vector<const float*> qp;
                        for (int64_t r = 0; r < rows; ++r) {
                            std::vector<float> f;
                            for (uint16_t h : f16_row(n, rng, extreme)) f.push_back(fp16_to_fp32(h));
                            qf.push_back(std::move(f));
                        }
                        for (const auto& f : qf) qp.push_back(f.data());
                        const int64_t at = 3, width = at + count + 2;
                        std::vector<std::vector<float>> out(static_cast<size_t>(rows),
                                                            std::vector<float>(static_cast<size_t>(width), kSentinel));
                        std::vector<float*> op;
                        for (auto& o : out) op.push_back(o.data());
                        const float scale = extreme ? 0.125f : 0.3f;
                        ks.dot_f16_span(n, count, kp.data(), rows, qp.data(), scale, at, op.data());
                        for (int64_t r = 0; r < rows; ++r)
                            for (int64_t i = 0; i < width; ++i) {
                                const float got = out[static_cast<size_t>(r)][static_cast<size_t>(i)];
                                if (i < at || i >= at + count) {
                                    ASSERT_EQ(got, kSentinel) << isa_name(isa) << " wrote outside at " << i;
                                    continue;
                                }
                                float d = 0.f;
                                kernel_set(Isa::Scalar).dot_f16_rows(n, kp[static_cast<size_t>(i - at)], qp.data() + r, 1, &d);
                                ASSERT_TRUE(same_bits(got, d * scale))
                                    << isa_name(isa) << " n " << n << " rows " << rows << " count " << count << " r "
                                    << r << " j " << i - at << ": " << got << " vs " << d * scale;
                            }
                    }
    }
}

TEST(RowKernels, AxpyF16LanesEqualsTheAxpyOfEachRowIntoItsLane) {
    std::mt19937 rng(13);
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    for (Isa isa : isas()) {
        const KernelSet& ks = kernel_set(isa);
        for (bool extreme : {false, true})
            for (int64_t n : {1, 7, 8, 13, 24, 40, 59, 64, 77, 100})
                for (int64_t count : {1, 3, 8, 17})
                    for (int64_t lane0 : {0, 3, 13}) {
                        std::vector<std::vector<uint16_t>> x;
                        std::vector<const uint16_t*> xp;
                        std::vector<float> p;
                        for (int64_t k = 0; k < count; ++k) {
                            x.push_back(f16_row(n, rng, extreme));
                            p.push_back(k == 2 ? 0.f : u(rng));
                        }
                        for (const auto& row : x) xp.push_back(row.data());
                        std::vector<float> got(static_cast<size_t>(8 * n));
                        for (float& v : got) v = u(rng);
                        std::vector<float> want = got;
                        ks.axpy_f16_lanes(n, count, xp.data(), p.data(), lane0, got.data());
                        for (int64_t k = 0; k < count; ++k)
                            ks.axpy_f16(n, p[static_cast<size_t>(k)], xp[static_cast<size_t>(k)],
                                        want.data() + (lane0 + k) % 8 * n);
                        for (size_t i = 0; i < got.size(); ++i)
                            ASSERT_TRUE(same_bits(got[i], want[i])) << isa_name(isa) << " n " << n << " count " << count
                                                                    << " lane0 " << lane0 << " i " << i;
                    }
    }
}

// p holds f32 values that are not f16 (products rounded), and also f16 values (exact products).
TEST(RowKernels, AxpyF16SeqEqualsTheAxpyOfEachRowInTurn) {
    std::mt19937 rng(19);
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    for (Isa isa : isas()) {
        const KernelSet& ks = kernel_set(isa);
        for (bool extreme : {false, true})
            for (bool p_f16 : {false, true})
                for (int64_t n : {1, 7, 8, 13, 24, 32, 40, 59, 64, 77, 100, 128})
                    for (int64_t count : {1, 2, 3, 8, 17, 64}) {
                        std::vector<std::vector<uint16_t>> x;
                        std::vector<const uint16_t*> xp;
                        std::vector<float> p;
                        for (int64_t k = 0; k < count; ++k) {
                            x.push_back(f16_row(n, rng, extreme));
                            const float v = k == 2 ? 0.f : u(rng);
                            p.push_back(p_f16 ? fp16_to_fp32(fp32_to_fp16(v)) : v);
                        }
                        for (const auto& row : x) xp.push_back(row.data());
                        std::vector<float> got(static_cast<size_t>(n));
                        for (float& v : got) v = u(rng);
                        std::vector<float> want = got, ref = got;
                        ks.axpy_f16_seq(n, count, xp.data(), p.data(), got.data());
                        kernel_set(Isa::Scalar).axpy_f16_seq(n, count, xp.data(), p.data(), ref.data());
                        for (int64_t k = 0; k < count; ++k)
                            ks.axpy_f16(n, p[static_cast<size_t>(k)], xp[static_cast<size_t>(k)], want.data());
                        for (size_t i = 0; i < got.size(); ++i) {
                            ASSERT_TRUE(same_bits(got[i], want[i]))
                                << isa_name(isa) << " n " << n << " count " << count << " i " << i;
                            if (p_f16) {  // exact products: every set's sums are the scalar ones
                                ASSERT_TRUE(same_bits(got[i], ref[i]))
                                    << isa_name(isa) << " n " << n << " count " << count << " i " << i;
                            }
                        }
                    }
    }
}

TEST(RowKernels, AxpyF16LanesRowsEqualsTheLanesKernelOfEachRow) {
    std::mt19937 rng(17);
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    for (Isa isa : isas()) {
        const KernelSet& ks = kernel_set(isa);
        for (bool extreme : {false, true})
            for (int64_t n : {1, 8, 13, 24, 40, 59, 64, 77})
                for (int64_t count : {1, 5, 16, 43, 64})
                    for (int64_t rows : {1, 3, 24})
                        for (int64_t lane0 : {0, 5}) {
                            std::vector<std::vector<uint16_t>> x;
                            std::vector<const uint16_t*> xp;
                            for (int64_t k = 0; k < count; ++k) x.push_back(f16_row(n, rng, extreme));
                            for (const auto& row : x) xp.push_back(row.data());
                            std::vector<std::vector<float>> p, got;
                            std::vector<const float*> pp;
                            std::vector<float*> gp;
                            for (int64_t r = 0; r < rows; ++r) {
                                std::vector<float> pr, lr(static_cast<size_t>(8 * n));
                                for (int64_t k = 0; k < count; ++k) pr.push_back(k % 7 == 2 ? 0.f : u(rng));
                                for (float& v : lr) v = u(rng);
                                p.push_back(std::move(pr));
                                got.push_back(std::move(lr));
                            }
                            const std::vector<std::vector<float>> want0 = got;
                            for (auto& v : p) pp.push_back(v.data());
                            for (auto& v : got) gp.push_back(v.data());
                            ks.axpy_f16_lanes_rows(n, count, xp.data(), rows, pp.data(), lane0, gp.data());
                            for (int64_t r = 0; r < rows; ++r) {
                                std::vector<float> want = want0[static_cast<size_t>(r)];
                                std::vector<float> each = want;
                                ks.axpy_f16_lanes(n, count, xp.data(), pp[static_cast<size_t>(r)], lane0, want.data());
                                for (int64_t k = 0; k < count; ++k)
                                    ks.axpy_f16(n, pp[static_cast<size_t>(r)][k], xp[static_cast<size_t>(k)],
                                                each.data() + (lane0 + k) % 8 * n);
                                const std::vector<float>& g = got[static_cast<size_t>(r)];
                                for (size_t i = 0; i < g.size(); ++i) {
                                    ASSERT_TRUE(same_bits(g[i], want[i]))
                                        << isa_name(isa) << " n " << n << " count " << count << " rows " << rows
                                        << " lane0 " << lane0 << " row " << r << " i " << i;
                                    ASSERT_TRUE(same_bits(g[i], each[i]))
                                        << isa_name(isa) << " n " << n << " count " << count << " row " << r;
                                }
                            }
                        }
    }
}

}  // namespace
}  // namespace qlm
