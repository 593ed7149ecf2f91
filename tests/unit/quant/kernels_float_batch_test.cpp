// The F16/F32 weight batches (GemmBatchFn of the float formats, where a set has one): every output
// must be the very bits of the scalar batch_dot (whole groups of 8: the order of llama.cpp's batched
// f32/f16 matmul) and of the AVX2 4x3 tile; a tail after the groups (which matmul never asks for)
// is added one fused product at a time.
// Random and extreme values (the f16 maximum, subnormals, zeros, cancelling signs), row counts and
// token counts that leave every remainder, lengths with tails, padded unaligned strides; nothing
// outside the rows x tokens outputs may be written. matmul through the batch gives the bits of
// matmul on the AVX2 set (the 4x3 tiles) for prompt-sized token counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernels/kernels.h"
#include "quant/matmul.h"

namespace qlm {
namespace {

#if defined(__x86_64__)  // the x86 kernels are called by name; other builds have none

enum class Fill { Normal, Wide, Extreme, Cancel };

// A value of the format's range: normal, a wide exponent spread, or extremes (f16 max, subnormals,
// zero, one), stored as the weight format holds it (f16 bits or f32).
float value(Fill fill, std::mt19937& rng, bool f16) {
    std::normal_distribution<float> normal(0.f, 1.f);
    switch (fill) {
        case Fill::Normal: return normal(rng);
        case Fill::Wide: return normal(rng) * std::ldexp(1.f, static_cast<int>(rng() % 24) - 12);
        case Fill::Extreme: {
            const float sign = rng() % 2 ? -1.f : 1.f;
            switch (rng() % 5) {
                case 0: return sign * (f16 ? 65504.f : 3e18f);
                case 1: return sign * std::ldexp(1.f, -24);  // the smallest f16 subnormal
                case 2: return 0.f;
                case 3: return sign;
                default: return sign * std::ldexp(1.f, -14);
            }
        }
        case Fill::Cancel: return (rng() % 2 ? 1e3f : -1e3f) + normal(rng);
    }
    return 0.f;
}

struct Rows {
    std::vector<uint8_t> bytes;
    uint64_t stride;
};

// `count` rows of n elements (f16 or f32), `pad` bytes after each, starting `offset` bytes in.
Rows make_rows(int64_t count, int64_t n, bool f16, uint64_t pad, uint64_t offset, Fill fill, std::mt19937& rng) {
    const uint64_t elem = f16 ? 2 : 4;
    Rows r{std::vector<uint8_t>(offset + (elem * n + pad) * count + 8), elem * n + pad};
    for (int64_t k = 0; k < count; ++k)
        for (int64_t i = 0; i < n; ++i) {
            uint8_t* p = r.bytes.data() + offset + r.stride * k + elem * i;
            const float v = value(fill, rng, f16);
            if (f16) {
                const uint16_t h = fp32_to_fp16(v);
                std::memcpy(p, &h, 2);
            } else {
                std::memcpy(p, &v, 4);
            }
        }
    return r;
}

float load(const uint8_t* row, int64_t i, bool f16) {
    if (f16) {
        uint16_t h;
        std::memcpy(&h, row + 2 * i, 2);
        return fp16_to_fp32(h);
    }
    float v;
    std::memcpy(&v, row + 4 * i, 4);
    return v;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

class FloatBatch : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override {
        if (!cpu_supports(GetParam())) GTEST_SKIP() << "this CPU has no " << isa_name(GetParam());
    }
};

TEST_P(FloatBatch, BitsOfScalarBatchDotAndTile) {
    std::mt19937 rng(99);
    constexpr float kSentinel = -12345.f;
    int checked = 0;
    for (GgmlType type : {GgmlType::F16, GgmlType::F32}) {
        const GemmBatchFn batch = kernel_set(GetParam())[type].gemm_batch;
        if (!batch) continue;
        const bool f16 = type == GgmlType::F16;
        const VecDotFn ref = f16 ? kernels::dot_f16_batch_scalar : kernels::dot_f32_batch_scalar;
        const GemmTileFn tile = cpu_supports(Isa::Avx2) ? (f16 ? kernels::gemm4x3_f16_avx2 : kernels::gemm4x3_f32_avx2) : nullptr;
        for (int64_t n : {8, 16, 24, 64, 200, 576, 3, 13, 21, 67}) {
            for (int64_t rows : {1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 32, 33}) {
                for (Fill fill : {Fill::Normal, Fill::Wide, Fill::Extreme, Fill::Cancel}) {
                    // Element-aligned but otherwise odd offsets and paddings.
                    const uint64_t elem = f16 ? 2 : 4;
                    const Rows w = make_rows(rows, n, f16, 3 * elem, elem, fill, rng);
                    const Rows a = make_rows(kGemmBatchTokens, n, f16, 5 * elem, 3 * elem, fill, rng);
                    const uint8_t* w0 = w.bytes.data() + elem;
                    const uint8_t* a0 = a.bytes.data() + 3 * elem;
                    // The 4x3 tile's outputs for every (row, token): rows and tokens padded by
                    // repeating the last, which only duplicates outputs.
                    std::vector<float> want(static_cast<size_t>(rows * kGemmBatchTokens));
                    if (tile) {
                        for (int64_t r0 = 0; r0 < rows; r0 += 4)
                            for (int64_t t0 = 0; t0 < kGemmBatchTokens; t0 += 3) {
                                std::vector<uint8_t> wq(w.stride * 4), aq(a.stride * 3);
                                for (int64_t k = 0; k < 4; ++k)
                                    std::memcpy(wq.data() + w.stride * k, w0 + w.stride * std::min(rows - 1, r0 + k), w.stride);
                                for (int64_t k = 0; k < 3; ++k)
                                    std::memcpy(aq.data() + a.stride * k,
                                                a0 + a.stride * std::min<int64_t>(kGemmBatchTokens - 1, t0 + k), a.stride);
                                float y[12];
                                tile(n, wq.data(), w.stride, aq.data(), a.stride, y, 4);
                                for (int64_t t = t0; t < std::min<int64_t>(kGemmBatchTokens, t0 + 3); ++t)
                                    for (int64_t r = r0; r < std::min(rows, r0 + 4); ++r)
                                        want[static_cast<size_t>(t * rows + r)] = y[(t - t0) * 4 + (r - r0)];
                            }
                    }
                    for (int64_t nt = 1; nt <= kGemmBatchTokens; ++nt) {
                        const int64_t ys = rows + 3;
                        std::vector<float> y(static_cast<size_t>(ys * (kGemmBatchTokens + 1)), kSentinel);
                        batch(n, rows, w0, w.stride, a0, a.stride, nt, y.data(), ys);
                        for (int64_t t = 0; t <= kGemmBatchTokens; ++t)
                            for (int64_t r = 0; r < ys; ++r) {
                                const float got = y[static_cast<size_t>(t * ys + r)];
                                if (t >= nt || r >= rows) {
                                    ASSERT_EQ(got, kSentinel) << "wrote outside: t=" << t << " r=" << r;
                                    continue;
                                }
                                {
                                    // The groups as the scalar batch_dot adds them, then the tail one
                                    // fused product at a time (the kernel's own rule for lengths that
                                    // matmul never asks for).
                                    float s = ref(n, w0 + w.stride * r, a0 + a.stride * t);
                                    for (int64_t j = n / 8 * 8; j < n; ++j)
                                        s = std::fma(load(w0 + w.stride * r, j, f16), load(a0 + a.stride * t, j, f16), s);
                                    ASSERT_TRUE(same_bits(got, s)) << type_name(type) << " n=" << n << " rows=" << rows
                                                                   << " nt=" << nt << " r=" << r << " t=" << t
                                                                   << " got " << got << " want " << s;
                                }
                                // The AVX2 tile's F32 tail is as its compiler vectorised it (some
                                // products rounded before the add); f16 products are exact either way.
                                if (tile && (f16 || n % 8 == 0)) {
                                    const float s = want[static_cast<size_t>(t * rows + r)];
                                    ASSERT_TRUE(same_bits(got, s)) << type_name(type) << " n=" << n << " rows=" << rows
                                                                   << " nt=" << nt << " r=" << r << " t=" << t
                                                                   << " got " << got << " tile " << s;
                                }
                            }
                        ++checked;
                    }
                }
            }
        }
    }
    if (GetParam() == Isa::Avx512) {
        EXPECT_GT(checked, 0);
    }
}

// matmul of F16/F32 weights with prompt-sized batches: the same bits as on the AVX2 set, whose 4x3
// tiles the batch stands in for (token counts that leave every rest of the 3- and 8-token tiles).
TEST_P(FloatBatch, MatmulEqualsAvx2Tiles) {
    if (!kernel_set(GetParam())[GgmlType::F16].gemm_batch || !cpu_supports(Isa::Avx2)) {
        GTEST_SKIP() << "no float batch on this set";
    }
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (GgmlType type : {GgmlType::F16, GgmlType::F32}) {
        const FormatOps& f = format_ops(type);
        const int64_t cols = 136, rows = 52;
        std::vector<float> wf(static_cast<size_t>(cols * rows));
        for (auto& v : wf) v = normal(rng);
        const uint64_t rb = format_row_bytes(f, cols);
        std::vector<uint8_t> wb(rb * rows);
        for (int64_t r = 0; r < rows; ++r) f.quantize_row(wf.data() + r * cols, wb.data() + r * rb, cols);
        const WeightView w{type, wb.data(), cols, rows, rb};
        for (int64_t tokens : {2, 3, 5, 8, 13, 47, 50, 128}) {
            std::vector<float> x(static_cast<size_t>(cols * tokens));
            for (auto& v : x) v = normal(rng);
            std::vector<float> got(static_cast<size_t>(rows * tokens)), want(got.size());
            matmul(w, x.data(), tokens, got.data(), GetParam());
            matmul(w, x.data(), tokens, want.data(), Isa::Avx2);
            ASSERT_EQ(std::memcmp(got.data(), want.data(), 4 * got.size()), 0) << type_name(type) << " tokens=" << tokens;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Isas, FloatBatch, ::testing::Values(Isa::Avx2, Isa::Avx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

#endif

}  // namespace
}  // namespace qlm
