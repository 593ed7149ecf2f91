// The small-batch kernels (GemmBatchFn: any row count x 1..8 tokens per weight decode) on every
// ISA this CPU has, against the scalar reference dots: random and extreme blocks (all code bits
// set, all clear), activations at ±127 and with outliers, row counts that leave tails of every
// size, every token count 1..8, unaligned rows with padded strides. Q8_0 weights must give the
// very bits of the scalar dot (matmul's one-token order), and so must the AVX-512 Q4_K batch from
// kQ4KLanesMinTokens tokens on and the AVX-512 Q5_0 batch; the others may differ only in float
// summation order, bounded by a few ulps of Σ|w|·|a|. Nothing outside the rows x tokens outputs
// may be written.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/format_q8_0.h"
#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernels/kernels.h"
#include "quant/matmul.h"

namespace qlm {
namespace {

struct BatchFormat {
    GgmlType type;
    size_t scale_offset;  // byte offset of the block's f16 scale
    int min_offset;       // and of its f16 min scale (−1: none)
    bool every_simd_set;  // a batch on AVX2 and AVX-512 alike (else where the set has one)
};

const BatchFormat kFormats[] = {{GgmlType::Q4_0, 0, -1, true},
                                {GgmlType::Q8_0, 0, -1, true},
                                {GgmlType::Q6_K, 208, -1, true},
                                {GgmlType::Q4_K, 0, 2, false},
                                {GgmlType::Q5_0, 0, -1, false}};

// The bits a batch output must have: the scalar dot's, or only a close value.
enum class Want { Scalar, Close };
Want wanted(GgmlType type, Isa isa, int64_t tokens) {
    if (type == GgmlType::Q8_0) return Want::Scalar;
    if (type == GgmlType::Q4_K && isa == Isa::Avx512 && tokens >= kernels::avx512::kQ4KLanesMinTokens) return Want::Scalar;
    if (type == GgmlType::Q5_0 && isa == Isa::Avx512) return Want::Scalar;
    return Want::Close;
}

enum class Fill { Random, AllOnes, AllZero };
enum class Act { Normal, Plus, Minus, Alternating, Outlier };

void put_f16(uint8_t* p, float v) {
    const uint16_t h = fp32_to_fp16(v);
    std::memcpy(p, &h, 2);
}

// One weight row of nb blocks.
std::vector<uint8_t> weight_row(const BatchFormat& bf, int64_t nb, Fill fill, std::mt19937& rng) {
    const FormatOps& f = format_ops(bf.type);
    std::vector<uint8_t> row(f.block_bytes * static_cast<size_t>(nb));
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t* p = row.data() + f.block_bytes * static_cast<size_t>(b);
        for (size_t i = 0; i < f.block_bytes; ++i)
            p[i] = fill == Fill::Random ? static_cast<uint8_t>(rng()) : fill == Fill::AllOnes ? 0xFF : 0x00;
        put_f16(p + bf.scale_offset, fill == Fill::Random ? u(rng) : 1.f);
        if (bf.min_offset >= 0) put_f16(p + bf.min_offset, fill == Fill::Random ? u(rng) : 1.f);
    }
    return row;
}

std::vector<uint8_t> activation_row(const FormatOps& af, int64_t n, Act kind, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(n));
    for (size_t i = 0; i < x.size(); ++i) {
        switch (kind) {
            case Act::Normal: x[i] = normal(rng); break;
            case Act::Plus: x[i] = 1.f; break;
            case Act::Minus: x[i] = -1.f; break;
            case Act::Alternating: x[i] = i % 2 ? -1.f : 1.f; break;
            case Act::Outlier: x[i] = i % 37 == 5 ? 1e4f : normal(rng); break;
        }
    }
    std::vector<uint8_t> row(format_row_bytes(af, n));
    af.quantize_activation(x.data(), row.data(), n);
    return row;
}

// Σ |w_e|·|a_e| over the dequantized rows.
double magnitude(const FormatOps& f, const FormatOps& af, int64_t n, const uint8_t* w, const uint8_t* a) {
    std::vector<float> wd(static_cast<size_t>(n)), ad(static_cast<size_t>(n));
    f.dequantize_row(w, wd.data(), n);
    af.dequantize_row(a, ad.data(), n);
    double m = 0;
    for (size_t i = 0; i < wd.size(); ++i) m += std::fabs(static_cast<double>(wd[i])) * std::fabs(static_cast<double>(ad[i]));
    return m + 1e-30;
}

class BatchKernels : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override {
        if (!cpu_supports(GetParam())) GTEST_SKIP() << "this CPU has no " << isa_name(GetParam());
    }
};

TEST_P(BatchKernels, MatchScalarDots) {
    std::mt19937 rng(321);
    constexpr float kSentinel = -12345.f;
    for (const BatchFormat& bf : kFormats) {
        const FormatOps& f = format_ops(bf.type);
        const FormatOps& af = format_ops(f.vec_dot_type);
        const GemmBatchFn batch = gemm_batch_for(f, GetParam());
        if (!bf.every_simd_set && !batch) continue;
        ASSERT_NE(batch, nullptr) << type_name(bf.type);
        for (int64_t nb : {1, 2, 3, 9}) {
            const int64_t n = nb * f.block_size;
            for (int64_t rows : {1, 3, 4, 5, 7, 9, 15, 16, 17, 31, 32, 33, 35, 47, 50, 64}) {
                for (Fill fill : {Fill::Random, Fill::AllOnes, Fill::AllZero}) {
                    const Act act = fill == Fill::Random ? static_cast<Act>(rng() % 5) : static_cast<Act>(1 + rng() % 3);
                    // Rows padded by 5 bytes and tokens by 3, both starting at odd addresses.
                    const uint64_t wrb = format_row_bytes(f, n) + 5, arb = format_row_bytes(af, n) + 3;
                    std::vector<uint8_t> w(wrb * static_cast<uint64_t>(rows) + 1), a(arb * kGemmBatchTokens + 2);
                    for (int64_t r = 0; r < rows; ++r) {
                        const auto row = weight_row(bf, nb, fill, rng);
                        std::memcpy(w.data() + 1 + wrb * static_cast<uint64_t>(r), row.data(), row.size());
                    }
                    for (int64_t t = 0; t < kGemmBatchTokens; ++t) {
                        const auto row = activation_row(af, n, act, rng);
                        std::memcpy(a.data() + 2 + arb * static_cast<uint64_t>(t), row.data(), row.size());
                    }
                    for (int64_t nt = 1; nt <= kGemmBatchTokens; ++nt) {
                        const int64_t ys = rows + 2;  // a y stride wider than the rows: the gap stays untouched
                        std::vector<float> y(static_cast<size_t>(ys * (kGemmBatchTokens + 1)), kSentinel);
                        batch(n, rows, w.data() + 1, wrb, a.data() + 2, arb, nt, y.data(), ys);
                        for (int64_t t = 0; t <= kGemmBatchTokens; ++t)
                            for (int64_t r = 0; r < ys; ++r) {
                                const float got = y[static_cast<size_t>(t * ys + r)];
                                if (t >= nt || r >= rows) {
                                    ASSERT_EQ(got, kSentinel) << type_name(bf.type) << " wrote outside: t=" << t << " r=" << r
                                                              << " rows=" << rows << " tokens=" << nt;
                                    continue;
                                }
                                const uint8_t* wr = w.data() + 1 + wrb * static_cast<uint64_t>(r);
                                const uint8_t* at = a.data() + 2 + arb * static_cast<uint64_t>(t);
                                const Want want = wanted(bf.type, GetParam(), nt);
                                const float ref = f.vec_dot_scalar(n, wr, at);
                                if (want == Want::Scalar) {
                                    ASSERT_EQ(std::memcmp(&got, &ref, 4), 0)
                                        << type_name(bf.type) << " blocks=" << nb << " rows=" << rows << " tokens=" << nt
                                        << " r=" << r << " t=" << t << " got " << got << " want " << ref;
                                } else {
                                    ASSERT_LE(std::fabs(static_cast<double>(got) - ref), 4e-6 * magnitude(f, af, n, wr, at))
                                        << type_name(bf.type) << " blocks=" << nb << " rows=" << rows << " tokens=" << nt
                                        << " r=" << r << " t=" << t << " got " << got << " want " << ref;
                                }
                            }
                    }
                }
            }
        }
    }
}

// Unit scales and extreme codes make every sum an exact integer: the batch must give the scalar
// dot's very number for each format, not merely a close one.
TEST_P(BatchKernels, ExtremeCodesExactWithUnitScales) {
    std::mt19937 rng(17);
    for (const BatchFormat& bf : kFormats) {
        const FormatOps& f = format_ops(bf.type);
        const FormatOps& af = format_ops(f.vec_dot_type);
        const GemmBatchFn batch = gemm_batch_for(f, GetParam());
        if (!bf.every_simd_set && !batch) continue;
        const int64_t nb = 2, n = nb * f.block_size, rows = 21;
        for (Fill fill : {Fill::AllOnes, Fill::AllZero}) {
            for (Act act : {Act::Plus, Act::Minus, Act::Alternating}) {
                std::vector<uint8_t> w, a;
                for (int64_t r = 0; r < rows; ++r) {
                    const auto row = weight_row(bf, nb, fill, rng);
                    w.insert(w.end(), row.begin(), row.end());
                }
                for (int64_t t = 0; t < kGemmBatchTokens; ++t) {
                    auto row = activation_row(af, n, act, rng);
                    for (int64_t b = 0; b < nb; ++b) {  // activation scale := 1
                        uint8_t* p = row.data() + af.block_bytes * static_cast<size_t>(b);
                        if (af.type == GgmlType::Q8_K) {
                            const float one = 1.f;
                            std::memcpy(p, &one, 4);
                        } else {
                            put_f16(p, 1.f);
                        }
                    }
                    a.insert(a.end(), row.begin(), row.end());
                }
                const uint64_t wrb = format_row_bytes(f, n), arb = format_row_bytes(af, n);
                std::vector<float> y(static_cast<size_t>(rows * kGemmBatchTokens));
                batch(n, rows, w.data(), wrb, a.data(), arb, kGemmBatchTokens, y.data(), rows);
                for (int64_t t = 0; t < kGemmBatchTokens; ++t)
                    for (int64_t r = 0; r < rows; ++r)
                        EXPECT_EQ(y[static_cast<size_t>(t * rows + r)], f.vec_dot_scalar(n, w.data() + r * wrb, a.data() + t * arb))
                            << type_name(bf.type) << " fill=" << static_cast<int>(fill) << " act=" << static_cast<int>(act);
            }
        }
    }
}

// matmul through the batches (2..8 tokens per weight decode, and prompt-sized counts in chunks of
// 8): a token's outputs are the bits of its one-token decoding where they must be — Q8_0 weights
// (one-token decoding runs the dot, whose order the batch keeps) and every format whose batch
// also runs single tokens (gemm_batch_single: the AVX-512 Q4_0 batch).
TEST_P(BatchKernels, MatmulBatchEqualsOneTokenBits) {
    std::mt19937 rng(8);
    std::normal_distribution<float> normal(0.f, 1.f);
    int checked = 0;
    for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q6_K}) {
        if (type != GgmlType::Q8_0 && !kernel_set(GetParam())[type].gemm_batch_single) continue;
        const FormatOps& f = format_ops(type);
        const int64_t cols = f.block_size == 256 ? 512 : 96;
        for (int64_t rows : {37, 70}) {
            std::vector<float> wf(static_cast<size_t>(cols * rows));
            for (auto& v : wf) v = normal(rng);
            const uint64_t rb = format_row_bytes(f, cols);
            std::vector<uint8_t> wb(rb * rows);
            for (int64_t r = 0; r < rows; ++r) f.quantize_row(wf.data() + r * cols, wb.data() + r * rb, cols);
            const WeightView w{type, wb.data(), cols, rows, rb};
            for (int64_t tokens : {2, 5, 8, 13, 50}) {
                std::vector<float> x(static_cast<size_t>(cols * tokens));
                for (auto& v : x) v = normal(rng);
                std::vector<float> y(static_cast<size_t>(rows * tokens)), one(static_cast<size_t>(rows));
                matmul(w, x.data(), tokens, y.data(), GetParam());
                for (int64_t t = 0; t < tokens; ++t) {
                    matmul(w, x.data() + t * cols, 1, one.data(), GetParam());
                    ASSERT_EQ(std::memcmp(y.data() + t * rows, one.data(), 4 * static_cast<size_t>(rows)), 0)
                        << type_name(type) << " rows=" << rows << " tokens=" << tokens << " t=" << t << " "
                        << isa_name(GetParam());
                }
            }
            ++checked;
        }
    }
    EXPECT_GE(checked, 2);
}

// matmul of Q4_K weights on AVX-512 with token counts whose batches of 8 leave no rest below
// kQ4KLanesMinTokens (those run the tile and the dot): every output is the scalar reference dot's
// very bits, rows past the last group of 16 included.
TEST_P(BatchKernels, MatmulQ4KEqualsScalarBits) {
    if (GetParam() != Isa::Avx512) GTEST_SKIP() << "the lanes batch is AVX-512's";
    ASSERT_LE(kernels::avx512::kQ4KLanesMinTokens, 4);
    std::mt19937 rng(44);
    std::normal_distribution<float> normal(0.f, 1.f);
    const GgmlType type = GgmlType::Q4_K;
    const FormatOps& f = format_ops(type);
    const FormatOps& af = format_ops(f.vec_dot_type);
    const int64_t cols = 768;
    for (int64_t rows : {37, 70}) {
        std::vector<float> wf(static_cast<size_t>(cols * rows));
        for (auto& v : wf) v = normal(rng);
        const uint64_t rb = format_row_bytes(f, cols), arb = format_row_bytes(af, cols);
        std::vector<uint8_t> wb(rb * rows);
        for (int64_t r = 0; r < rows; ++r) f.quantize_row(wf.data() + r * cols, wb.data() + r * rb, cols);
        const WeightView w{type, wb.data(), cols, rows, rb};
        for (int64_t tokens : {4, 8, 12, 21, 100}) {
            std::vector<float> x(static_cast<size_t>(cols * tokens));
            for (auto& v : x) v = normal(rng);
            std::vector<float> y(static_cast<size_t>(rows * tokens));
            matmul(w, x.data(), tokens, y.data(), GetParam());
            std::vector<uint8_t> a(arb);
            for (int64_t t = 0; t < tokens; ++t) {
                af.quantize_activation(x.data() + t * cols, a.data(), cols);
                for (int64_t r = 0; r < rows; ++r) {
                    const float got = y[static_cast<size_t>(t * rows + r)];
                    const float want = f.vec_dot_scalar(cols, wb.data() + r * rb, a.data());
                    ASSERT_EQ(std::memcmp(&got, &want, 4), 0)
 << type_name(type) << " rows=" << rows << " tokens=" << tokens << " t=" << t << " r=" << r << " got " << got
                        << " want " << want;
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, BatchKernels, ::testing::Values(Isa::Avx2, Isa::Avx512),
                         [](const ::testing::TestParamInfo<Isa>& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace qlm
