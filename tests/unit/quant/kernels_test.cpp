// Every SIMD kernel (AVX2, AVX-512, NEON: the sets this CPU has) against its scalar reference, and matmul against a double-precision
// dequantize-then-dot reference, on random inputs of awkward sizes and alignments.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernels/kernels.h"
#include "quant/matmul.h"

namespace qlm {
namespace {

// A row of n random values in format f, starting `offset` bytes into an owned buffer.
struct Row {
    std::vector<uint8_t> storage;
    size_t offset = 0;
    const void* data() const { return storage.data() + offset; }
    void* data() { return storage.data() + offset; }
};

Row random_row(const FormatOps& f, int64_t n, std::mt19937& rng, size_t offset, float scale = 1.f) {
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = u(rng);
    Row r;
    r.offset = offset;
    r.storage.resize(offset + format_row_bytes(f, n));
    f.quantize_row(x.data(), r.data(), n);
    return r;
}

std::vector<float> random_floats(int64_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = u(rng);
    return x;
}

double abs_dot(const FormatOps& f, int64_t n, const void* w, const void* a) {
    std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
    f.dequantize_row(w, x.data(), n);
    f.dequantize_row(a, y.data(), n);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::fabs(static_cast<double>(x[static_cast<size_t>(i)]) * y[static_cast<size_t>(i)]);
    return s;
}

// The SIMD sets this CPU has (AVX2 and AVX-512 on x86-64, NEON on AArch64).
std::vector<Isa> simd_isas() {
    std::vector<Isa> v;
    for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon})
        if (cpu_supports(isa)) v.push_back(isa);
    return v;
}

TEST(SimdKernels, MatchScalarReference) {
    if (simd_isas().empty()) GTEST_SKIP() << "this CPU has no SIMD kernel set";
    std::mt19937 rng(42);
    for (Isa isa : simd_isas()) {
        for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0}) {
            const FormatOps& f = format_ops(t);
            const VecDotFn dot = vec_dot_for(f, isa);
            if (isa != Isa::Neon || t != GgmlType::BF16) {  // NEON has no BF16 kernel
                ASSERT_NE(dot, f.vec_dot_scalar) << isa_name(isa);
            }
            for (int64_t n : {32, 64, 96, 160, 4096 + 32, 4096 + 96}) {
                for (size_t offset : {0, 1, 2, 4, 6}) {
                    if (t == GgmlType::F32 && offset % 4) continue;  // floats keep float alignment
                    if ((t == GgmlType::F16 || t == GgmlType::BF16) && offset % 2) continue;
                    const Row w = random_row(f, n, rng, offset), a = random_row(f, n, rng, offset + 4);
                    const double ref = f.vec_dot_scalar(n, w.data(), a.data());
                    const double got = dot(n, w.data(), a.data());
                    const double bound = 1e-6 * abs_dot(f, n, w.data(), a.data()) + 1e-30;
                    EXPECT_LE(std::fabs(got - ref), bound)
                        << isa_name(isa) << " " << type_name(t) << " n=" << n << " offset=" << offset;
                }
            }
        }
    }
}

TEST(SimdKernels, OddLengthsForElementFormats) {
    if (simd_isas().empty()) GTEST_SKIP() << "this CPU has no SIMD kernel set";
    std::mt19937 rng(7);
    for (Isa isa : simd_isas()) {
        for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
            const FormatOps& f = format_ops(t);
            for (int64_t n : {1, 3, 7, 8, 9, 31, 33, 45, 1001}) {
                const Row w = random_row(f, n, rng, 4), a = random_row(f, n, rng, 8);
                const double ref = f.vec_dot_scalar(n, w.data(), a.data());
                const double got = vec_dot_for(f, isa)(n, w.data(), a.data());
                EXPECT_LE(std::fabs(got - ref), 1e-6 * abs_dot(f, n, w.data(), a.data()) + 1e-30)
                    << isa_name(isa) << " " << type_name(t) << " n=" << n;
            }
        }
    }
}

TEST(SimdKernels, Q8_0ExtremeCodesAreExact) {
    if (simd_isas().empty()) GTEST_SKIP() << "this CPU has no SIMD kernel set";
    // All codes ±127 (the sign trick must not saturate), d = 1: dot = 32·127·127·sign.
    std::vector<uint8_t> w(34 * 2), a(34 * 2);
    for (int b = 0; b < 2; ++b) {
        w[b * 34] = 0x00; w[b * 34 + 1] = 0x3C;
        a[b * 34] = 0x00; a[b * 34 + 1] = 0x3C;
        for (int e = 0; e < 32; ++e) {
            w[b * 34 + 2 + e] = static_cast<uint8_t>(static_cast<int8_t>(e % 2 ? -127 : 127));
            a[b * 34 + 2 + e] = static_cast<uint8_t>(static_cast<int8_t>(b ? -127 : 127));
        }
    }
    for (Isa isa : simd_isas()) {
        const VecDotFn dot = vec_dot_for(format_ops(GgmlType::Q8_0), isa);
        EXPECT_EQ(dot(64, w.data(), a.data()), 0.0f) << isa_name(isa);
        EXPECT_EQ(dot(32, w.data(), a.data()), 0.0f) << isa_name(isa);
    }
    for (int e = 0; e < 32; ++e) w[2 + e] = 127;
    for (Isa isa : simd_isas()) {
        EXPECT_EQ(vec_dot_for(format_ops(GgmlType::Q8_0), isa)(32, w.data(), a.data()), 32.0f * 127 * 127)
            << isa_name(isa);
    }
    EXPECT_EQ(format_ops(GgmlType::Q8_0).vec_dot_scalar(32, w.data(), a.data()), 32.0f * 127 * 127);
}

TEST(Avx2Kernels, GemmTilesMatchScalarDots) {
    if (!cpu_supports_avx2()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
    std::mt19937 rng(9);
    for (GgmlType t : {GgmlType::F32, GgmlType::F16}) {
        const FormatOps& f = format_ops(t);
        const GemmTileFn tile = kernel_set(Isa::Avx2)[t].gemm_tile;
        ASSERT_NE(tile, nullptr);
        for (int64_t n : {1, 8, 30, 64, 100, 4096 + 32}) {
            const uint64_t rb = format_row_bytes(f, n) + 8;  // padded rows: strides differ from the length
            std::vector<uint8_t> w(rb * 4 + 4), a(rb * 3 + 4);
            for (int r = 0; r < 4; ++r) f.quantize_row(random_floats(n, rng).data(), w.data() + 4 + r * rb, n);
            for (int k = 0; k < 3; ++k) f.quantize_row(random_floats(n, rng).data(), a.data() + 4 + k * rb, n);
            float y[3 * 6];
            tile(n, w.data() + 4, rb, a.data() + 4, rb, y, 6);
            for (int k = 0; k < 3; ++k)
                for (int r = 0; r < 4; ++r) {
                    const void* wr = w.data() + 4 + r * rb;
                    const void* ak = a.data() + 4 + k * rb;
                    EXPECT_LE(std::fabs(y[k * 6 + r] - f.vec_dot_scalar(n, wr, ak)), 1e-6 * abs_dot(f, n, wr, ak) + 1e-30)
                        << type_name(t) << " n=" << n << " r=" << r << " t=" << k;
                }
        }
    }
}

#if defined(__x86_64__)  // the x86 kernels below are called by name; other builds have none
TEST(Avx2Kernels, F16ConversionMatchesScalarBitForBit) {
    if (!cpu_supports_avx2()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
    // Every f16 value, the midpoints between neighbours (ties), and values around the subnormal
    // and overflow limits.
    std::vector<float> x;
    for (uint32_t h = 0; h < 0x7c00; ++h) {
        const float a = fp16_to_fp32(static_cast<uint16_t>(h)), b = fp16_to_fp32(static_cast<uint16_t>(h + 1));
        for (float v : {a, (a + b) / 2, std::nextafter((a + b) / 2, 0.f), std::nextafter((a + b) / 2, 1e9f)}) {
            x.push_back(v);
            x.push_back(-v);
        }
    }
    for (float v : {65504.f, 65519.f, 65520.f, 1e6f, INFINITY, 1e-8f, 2.98e-8f, 2.99e-8f, 1e-30f}) {
        x.push_back(v);
        x.push_back(-v);
    }
    x.push_back(0.5f);  // odd length: exercises the scalar tail
    std::vector<uint16_t> a(x.size()), b(x.size());
    format_ops(GgmlType::F16).quantize_row(x.data(), a.data(), static_cast<int64_t>(x.size()));
    kernels::convert_f32_to_f16_avx2(x.data(), b.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(a[i], b[i]) << "x = " << x[i];
}

TEST(Avx2Kernels, AxpyF16MatchesScalar) {
    if (!cpu_supports_avx2()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
    std::mt19937 rng(3);
    const FormatOps& f = format_ops(GgmlType::F16);
    for (int64_t n : {1, 8, 13, 64, 100}) {
        const Row x = random_row(f, n, rng, 2);
        std::vector<float> y1(static_cast<size_t>(n), 0.25f), y2 = y1;
        kernels::axpy_f16_scalar(n, 0.37f, static_cast<const uint16_t*>(x.data()), y1.data());
        kernels::axpy_f16_avx2(n, 0.37f, static_cast<const uint16_t*>(x.data()), y2.data());
        for (size_t i = 0; i < y1.size(); ++i) EXPECT_NEAR(y1[i], y2[i], 1e-6f) << "n=" << n;
    }
}
#endif

// matmul vs Σ_k W[n][k]·x̃[t][k] in double, where x̃ is the activation after conversion to the
// weight format's vec_dot type (that rounding is part of the defined result).
void check_matmul(GgmlType t, int64_t cols, int64_t rows, int64_t n_tokens, Isa isa, std::mt19937& rng) {
    const FormatOps& f = format_ops(t);
    const FormatOps& af = format_ops(f.vec_dot_type);
    const uint64_t rb = format_row_bytes(f, cols);
    std::vector<uint8_t> wbytes(rb * static_cast<uint64_t>(rows) + 1);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> tmp(static_cast<size_t>(cols));
    uint8_t* wdata = wbytes.data() + (t == GgmlType::Q8_0 ? 1 : 0);  // Q8_0 rows need no alignment
    for (int64_t r = 0; r < rows; ++r) {
        for (auto& v : tmp) v = u(rng);
        f.quantize_row(tmp.data(), wdata + static_cast<uint64_t>(r) * rb, cols);
    }
    std::vector<float> x(static_cast<size_t>(cols * n_tokens));
    for (auto& v : x) v = u(rng);
    std::vector<float> y(static_cast<size_t>(rows * n_tokens), NAN);
    const WeightView w{t, wdata, cols, rows, rb};
    matmul(w, x.data(), n_tokens, y.data(), isa);

    std::vector<uint8_t> aconv(format_row_bytes(af, cols));
    std::vector<float> xt(static_cast<size_t>(cols)), wr(static_cast<size_t>(cols));
    for (int64_t tk = 0; tk < n_tokens; ++tk) {
        af.quantize_activation(x.data() + tk * cols, aconv.data(), cols);
        af.dequantize_row(aconv.data(), xt.data(), cols);
        for (int64_t r = 0; r < rows; ++r) {
            dequantize_row(w, r, wr.data());
            double s = 0, sa = 0;
            for (int64_t k = 0; k < cols; ++k) {
                const double p = static_cast<double>(wr[static_cast<size_t>(k)]) * xt[static_cast<size_t>(k)];
                s += p;
                sa += std::fabs(p);
            }
            const double got = y[static_cast<size_t>(tk * rows + r)];
            ASSERT_LE(std::fabs(got - s), 2e-6 * sa + 1e-30)
                << type_name(t) << " cols=" << cols << " rows=" << rows << " token=" << tk << " row=" << r;
        }
    }
}

TEST(Matmul, MatchesDoubleReference) {
    std::mt19937 rng(11);
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
        if (!cpu_supports(isa)) continue;
        for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0}) {
            for (auto [cols, rows, tokens] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
                     {32, 1, 1}, {64, 3, 1}, {96, 7, 3}, {4096 + 32, 5, 2}, {160, 33, 40}, {32, 17, 65}}) {
                check_matmul(t, cols, rows, tokens, isa, rng);
            }
        }
    }
}

TEST(Matmul, ScalarAndAvx2Agree) {
    if (!cpu_supports_avx2()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
    std::mt19937 rng(5);
    const int64_t cols = 256, rows = 19, tokens = 4;
    std::vector<float> wf(static_cast<size_t>(cols * rows)), x(static_cast<size_t>(cols * tokens));
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (auto& v : wf) v = u(rng);
    for (auto& v : x) v = u(rng);
    const WeightView w{GgmlType::F32, wf.data(), cols, rows, static_cast<uint64_t>(cols) * 4};
    std::vector<float> a(static_cast<size_t>(rows * tokens)), b(a.size());
    matmul(w, x.data(), tokens, a.data(), Isa::Scalar);
    matmul(w, x.data(), tokens, b.data(), Isa::Avx2);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4f);
}

TEST(Matmul, DequantizeRowRejectsBadRow) {
    std::vector<float> wf(64);
    const WeightView w{GgmlType::F32, wf.data(), 32, 2, 128};
    float out[32];
    EXPECT_THROW(dequantize_row(w, 2, out), std::exception);
    EXPECT_THROW(dequantize_row(w, -1, out), std::exception);
}

}  // namespace
}  // namespace qlm
