// The SIMD kernels of the quantized weight formats (Q4_0 … Q6_K, IQ4_NL, IQ4_XS), on every ISA this CPU has (AVX2,
// AVX-512 VNNI), against their scalar reference dots: random blocks (every bit pattern of codes and scale codes is valid), all-max and all-zero
// code bytes, activations at ±127, several block counts (1, odd, many) and unaligned rows. The
// integer sums are identical by construction, so the only allowed difference is float summation
// order: bounded by a few ulps of Σ(|scale term| + |min term|)·|a|.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/matmul.h"

namespace qlm {
namespace {

struct F16Fields {
    GgmlType type;
    std::vector<size_t> scales;  // byte offsets of f16 scale fields in a block
    int min_field = -1;          // byte offset of the f16 min/dmin field (asymmetric formats)
};

const std::vector<F16Fields>& quant_formats() {
    static const std::vector<F16Fields> v = {
        {GgmlType::Q4_0, {0}},     {GgmlType::Q4_1, {0}, 2},   {GgmlType::Q5_0, {0}}, {GgmlType::Q5_1, {0}, 2},
        {GgmlType::Q8_0, {0}},     {GgmlType::Q2_K, {80}, 82}, {GgmlType::Q3_K, {108}}, {GgmlType::Q4_K, {0}, 2},
        {GgmlType::Q5_K, {0}, 2},  {GgmlType::Q6_K, {208}},    {GgmlType::IQ4_NL, {0}}, {GgmlType::IQ4_XS, {0}},
    };
    return v;
}

enum class Fill { Random, AllOnes, AllZero };

void put_f16(uint8_t* p, float v) {
    const uint16_t h = fp32_to_fp16(v);
    std::memcpy(p, &h, 2);
}

// n_blocks weight blocks at `offset` bytes into the returned buffer.
std::vector<uint8_t> make_weights(const F16Fields& ff, int64_t n_blocks, size_t offset, Fill fill, std::mt19937& rng) {
    const FormatOps& f = format_ops(ff.type);
    std::vector<uint8_t> buf(offset + f.block_bytes * static_cast<size_t>(n_blocks));
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    for (int64_t b = 0; b < n_blocks; ++b) {
        uint8_t* p = buf.data() + offset + f.block_bytes * static_cast<size_t>(b);
        for (size_t i = 0; i < f.block_bytes; ++i)
            p[i] = fill == Fill::Random ? static_cast<uint8_t>(rng()) : fill == Fill::AllOnes ? 0xFF : 0x00;
        for (size_t o : ff.scales) put_f16(p + o, fill == Fill::Random ? u(rng) : 1.f);
        if (ff.min_field >= 0) put_f16(p + ff.min_field, fill == Fill::Random ? u(rng) : 0.5f);
    }
    return buf;
}

enum class Act { Normal, Plus, Minus, Alternating, Outlier };

std::vector<uint8_t> make_activation(const FormatOps& af, int64_t n, size_t offset, Act kind, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(n));
    for (size_t i = 0; i < x.size(); ++i) {
        switch (kind) {
            case Act::Normal: x[i] = normal(rng); break;
            case Act::Plus: x[i] = 1.f; break;  // every code +127 (Q8_K: −127, its scale is negative)
            case Act::Minus: x[i] = -1.f; break;
            case Act::Alternating: x[i] = i % 2 ? -1.f : 1.f; break;
            case Act::Outlier: x[i] = i % 37 == 5 ? 1e4f : normal(rng); break;
        }
    }
    std::vector<uint8_t> buf(offset + format_row_bytes(af, n));
    af.quantize_activation(x.data(), buf.data() + offset, n);
    return buf;
}

// Σ(|A_e| + |B_e|)·|a_e| where the dequantized weight is A_e − B_e (B from the min field).
double magnitude(const F16Fields& ff, int64_t n, const uint8_t* w, const uint8_t* a) {
    const FormatOps& f = format_ops(ff.type);
    const FormatOps& af = format_ops(f.vec_dot_type);
    std::vector<float> wd(static_cast<size_t>(n)), wa(static_cast<size_t>(n)), ad(static_cast<size_t>(n));
    f.dequantize_row(w, wd.data(), n);
    af.dequantize_row(a, ad.data(), n);
    wa = wd;
    if (ff.min_field >= 0) {
        std::vector<uint8_t> no_min(w, w + format_row_bytes(f, n));
        for (int64_t b = 0; b < n / f.block_size; ++b) put_f16(no_min.data() + f.block_bytes * b + ff.min_field, 0.f);
        f.dequantize_row(no_min.data(), wa.data(), n);
    }
    double m = 0;
    for (size_t i = 0; i < wd.size(); ++i) {
        const double A = wa[i], B = static_cast<double>(wa[i]) - wd[i];
        m += (std::fabs(A) + std::fabs(B)) * std::fabs(static_cast<double>(ad[i]));
    }
    // Q4_1/Q5_1: the min term uses the activation's f16 s = d·Σq, not Σ of dequantized values.
    return m + 1e-30;
}

// Parameterised by the SIMD ISA; an ISA the CPU lacks is skipped.
class QuantKernels : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override {
        if (!cpu_supports(GetParam())) GTEST_SKIP() << "this CPU has no " << isa_name(GetParam());
    }
};

TEST_P(QuantKernels, MatchScalarReference) {
    const Isa isa = GetParam();
    std::mt19937 rng(1234);
    for (const F16Fields& ff : quant_formats()) {
        const FormatOps& f = format_ops(ff.type);
        const FormatOps& af = format_ops(f.vec_dot_type);
        const VecDotFn dot = vec_dot_for(f, isa);
        // NEON has Q8_0, Q4_0 and IQ4_NL kernels only.
        if (isa != Isa::Neon || ff.type == GgmlType::Q4_0 || ff.type == GgmlType::IQ4_NL) {
            ASSERT_NE(dot, f.vec_dot_scalar) << type_name(ff.type);
        }
        for (int64_t nb : {1, 2, 3, 5, 8, 17}) {
            const int64_t n = nb * f.block_size;
            for (size_t off : {size_t{0}, size_t{1}, size_t{3}}) {
                for (Fill fill : {Fill::Random, Fill::AllOnes, Fill::AllZero}) {
                    for (Act act : {Act::Normal, Act::Plus, Act::Minus, Act::Alternating, Act::Outlier}) {
                        if (fill != Fill::Random && act == Act::Normal && nb > 3) continue;
                        const auto wb = make_weights(ff, nb, off, fill, rng);
                        const auto ab = make_activation(af, n, off + 2, act, rng);
                        const uint8_t* w = wb.data() + off;
                        const uint8_t* a = ab.data() + off + 2;
                        const double ref = f.vec_dot_scalar(n, w, a);
                        const double got = dot(n, w, a);
                        const double bound = 4e-6 * magnitude(ff, n, w, a);
                        ASSERT_LE(std::fabs(got - ref), bound)
                            << type_name(ff.type) << " blocks=" << nb << " offset=" << off
                            << " fill=" << static_cast<int>(fill) << " act=" << static_cast<int>(act) << " ref=" << ref
                            << " got=" << got;
                    }
                }
            }
        }
    }
}

// Integer-valued scales (d = 1 and whole-number activation scales) make both kernels exact: the
// extreme codes must give the very same number, not merely a close one.
TEST_P(QuantKernels, ExtremeCodesExactWithUnitScales) {
    std::mt19937 rng(5);
    for (const F16Fields& ff : quant_formats()) {
        const FormatOps& f = format_ops(ff.type);
        const FormatOps& af = format_ops(f.vec_dot_type);
        for (Fill fill : {Fill::AllOnes, Fill::AllZero}) {
            const auto wb = make_weights(ff, 2, 0, fill, rng);
            std::vector<uint8_t> w = wb;
            if (ff.min_field >= 0)
                for (int b = 0; b < 2; ++b) put_f16(w.data() + f.block_bytes * b + ff.min_field, 0.f);
            for (Act act : {Act::Plus, Act::Minus, Act::Alternating}) {
                auto a = make_activation(af, 2 * f.block_size, 0, act, rng);
                // Activation scale := 1 (Q8_K: an f32 at byte 0; Q8_0/Q8_1: an f16 at byte 0).
                for (int b = 0; b < 2; ++b) {
                    uint8_t* p = a.data() + af.block_bytes * b;
                    if (af.type == GgmlType::Q8_K) {
                        const float one = 1.f;
                        std::memcpy(p, &one, 4);
                    } else {
                        put_f16(p, 1.f);
                    }
                }
                const float ref = f.vec_dot_scalar(2 * f.block_size, w.data(), a.data());
                const float got = vec_dot_for(f, GetParam())(2 * f.block_size, w.data(), a.data());
                EXPECT_EQ(got, ref) << type_name(ff.type) << " fill=" << static_cast<int>(fill)
                                    << " act=" << static_cast<int>(act);
            }
        }
    }
}

// The 4x3 prompt tiles against 12 scalar reference dots: padded, unaligned row strides, several
// block counts, random and extreme blocks.
TEST_P(QuantKernels, GemmTilesMatchScalarDots) {
    if (GetParam() == Isa::Neon) GTEST_SKIP() << "no NEON prompt tiles";
    std::mt19937 rng(99);
    int tiles = 0;
    for (const F16Fields& ff : quant_formats()) {
        const FormatOps& f = format_ops(ff.type);
        const GemmTileFn tile = gemm_tile_for(f, GetParam());
        if (!tile) continue;
        ++tiles;
        const FormatOps& af = format_ops(f.vec_dot_type);
        for (int64_t nb : {1, 2, 3, 9}) {
            const int64_t n = nb * f.block_size;
            for (Fill fill : {Fill::Random, Fill::AllOnes}) {
                for (Act act : {Act::Normal, Act::Alternating, Act::Minus}) {
                    const uint64_t wrb = format_row_bytes(f, n) + 5, arb = format_row_bytes(af, n) + 3;
                    std::vector<uint8_t> w(wrb * kGemmTileRows + 1), a(arb * kGemmTileTokens + 2);
                    for (int r = 0; r < kGemmTileRows; ++r) {
                        const auto blk = make_weights(ff, nb, 0, fill, rng);
                        std::memcpy(w.data() + 1 + wrb * r, blk.data(), blk.size());
                    }
                    for (int t = 0; t < kGemmTileTokens; ++t) {
                        const auto row = make_activation(af, n, 0, act, rng);
                        std::memcpy(a.data() + 2 + arb * t, row.data(), row.size());
                    }
                    float y[kGemmTileTokens * 7];
                    tile(n, w.data() + 1, wrb, a.data() + 2, arb, y, 7);
                    for (int t = 0; t < kGemmTileTokens; ++t)
                        for (int r = 0; r < kGemmTileRows; ++r) {
                            const uint8_t* wr = w.data() + 1 + wrb * r;
                            const uint8_t* at = a.data() + 2 + arb * t;
                            const double ref = f.vec_dot_scalar(n, wr, at);
                            ASSERT_LE(std::fabs(y[t * 7 + r] - ref), 4e-6 * magnitude(ff, n, wr, at))
                                << type_name(ff.type) << " blocks=" << nb << " r=" << r << " t=" << t;
                        }
                }
            }
        }
    }
    EXPECT_GE(tiles, 10);  // Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS
}

// The AVX2 activation quantizers write the same bytes as the scalar rules: random rows, exact
// rounding ties (amax 63.5 makes the scale exactly 2 and x·id = k/2, half of them ties), zeros, a negative and a positive extreme tied in magnitude
// (the first one sets Q8_K's sign), huge and tiny magnitudes, one block and odd block counts.
TEST(Avx2QuantKernels, ActivationQuantizersMatchScalarBytes) {
    if (!cpu_supports_avx2()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
    std::mt19937 rng(2024);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K}) {
        const FormatOps& af = format_ops(t);
        const QuantizeRowFn simd = kernel_set(Isa::Avx2)[t].quantize_activation;
        ASSERT_NE(simd, af.quantize_activation) << type_name(t);
        for (int64_t nb : {1, 2, 3, 7}) {
            const int64_t n = nb * af.block_size;
            for (int kind = 0; kind < 7; ++kind) {
                std::vector<float> x(static_cast<size_t>(n));
                for (size_t i = 0; i < x.size(); ++i) {
                    switch (kind) {
                        case 0: x[i] = normal(rng); break;
                        case 1: x[i] = i % 32 == 0 ? 63.5f : static_cast<float>(static_cast<int>(rng() % 255) - 127) / 4.f; break;
                        case 2: x[i] = 0.f; break;
                        case 3: x[i] = i % 64 == 3 ? -5.f : i % 64 == 9 ? 5.f : normal(rng); break;
                        case 4: x[i] = i % 64 == 3 ? 5.f : i % 64 == 9 ? -5.f : normal(rng); break;
                        case 5: x[i] = normal(rng) * 1e30f; break;
                        case 6: x[i] = i % 5 == 0 ? 0.f : normal(rng) * 1e-30f; break;
                    }
                }
                std::vector<uint8_t> a(format_row_bytes(af, n)), b(a.size());
                af.quantize_activation(x.data(), a.data(), n);
                simd(x.data(), b.data(), n);
                ASSERT_EQ(a, b) << type_name(t) << " blocks=" << nb << " kind=" << kind;
            }
        }
    }
}

// matmul on the scalar and the SIMD ISA over random weights, several shapes (rows not a multiple of the tiles,
// token counts around the tile sizes).
TEST_P(QuantKernels, MatmulScalarAndSimdAgree) {
    std::mt19937 rng(77);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (const F16Fields& ff : quant_formats()) {
        const FormatOps& f = format_ops(ff.type);
        for (auto [nb, rows, tokens] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
                 {1, 5, 1}, {3, 9, 3}, {2, 17, 7}, {1, 33, 40}, {4, 4, 6}}) {
            const int64_t cols = nb * f.block_size;
            const auto wb = make_weights(ff, nb * rows, 1, Fill::Random, rng);
            std::vector<float> x(static_cast<size_t>(cols * tokens));
            for (auto& v : x) v = normal(rng);
            const WeightView w{ff.type, wb.data() + 1, cols, rows, format_row_bytes(f, cols)};
            std::vector<float> ys(static_cast<size_t>(rows * tokens)), yv(ys.size());
            matmul(w, x.data(), tokens, ys.data(), Isa::Scalar);
            matmul(w, x.data(), tokens, yv.data(), GetParam());
            const FormatOps& af = format_ops(f.vec_dot_type);
            std::vector<uint8_t> a(format_row_bytes(af, cols));
            for (int64_t t = 0; t < tokens; ++t) {
                af.quantize_activation(x.data() + t * cols, a.data(), cols);
                for (int64_t r = 0; r < rows; ++r) {
                    const uint8_t* wr = wb.data() + 1 + static_cast<size_t>(r) * w.row_stride;
                    const size_t i = static_cast<size_t>(t * rows + r);
                    ASSERT_LE(std::fabs(ys[i] - yv[i]), 4e-6 * magnitude(ff, cols, wr, a.data()))
                        << type_name(ff.type) << " cols=" << cols << " rows=" << rows << " tokens=" << tokens
                        << " t=" << t << " r=" << r;
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, QuantKernels, ::testing::Values(Isa::Avx2, Isa::Avx512, Isa::Neon),
                         [](const ::testing::TestParamInfo<Isa>& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace qlm
