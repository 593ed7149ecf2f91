// The f32, f16 and q8_0 kernels add their terms in the order of llama.cpp's x86 CPU kernels
// (ggml's vec_dot for one token, llamafile's tinyBLAS for prompt batches), so the scalar
// references and every SIMD set give the same bits, and matmul does on every kernel set.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/formats.h"
#include "quant/kernels/kernels.h"
#include "quant/matmul.h"

namespace qlm {
namespace {

std::vector<uint8_t> random_row(const FormatOps& f, int64_t n, std::mt19937& rng) {
    // Values over several binades, so the order of the additions shows in the last bits.
    std::uniform_real_distribution<float> u(-1.f, 1.f), e(-6.f, 6.f);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = u(rng) * std::exp2(e(rng));
    std::vector<uint8_t> r(format_row_bytes(f, n));
    f.quantize_row(x.data(), r.data(), n);
    return r;
}

std::vector<Isa> simd_isas() {
    std::vector<Isa> v;
    for (Isa isa : {Isa::Avx2, Isa::Avx512})
        if (cpu_supports(isa)) v.push_back(isa);
    return v;
}

// The lane order is visible in a hand-made case: 2^24 + 1 rounds back to 2^24 in f32, so the
// sequential sum of (2^24, 1, 1, 1, -2^24, 1, 1, 1) is 3, while lanes (l0 + l4) + ... give 6.
TEST(KernelOrder, BatchDotReducesLanesAsTinyBlas) {
    const float x[8] = {16777216.f, 1, 1, 1, -16777216.f, 1, 1, 1};
    const float one[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    EXPECT_EQ(kernels::dot_f32_batch_scalar(8, x, one), 6.f);
    // ggml's vec_dot adds a length-8 row after its (empty) groups of 32: in order, 3.
    EXPECT_EQ(format_ops(GgmlType::F32).vec_dot_scalar(8, x, one), 3.f);
}

TEST(KernelOrder, SimdDotsEqualScalarBitForBit) {
    std::mt19937 rng(3);
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0}) {
        const FormatOps& f = format_ops(t);
        for (int64_t n : {32, 64, 96, 160, 172, 4096 + 32}) {
            if (n % f.block_size != 0) continue;
            const auto w = random_row(f, n, rng), a = random_row(f, n, rng);
            const float want = f.vec_dot_scalar(n, w.data(), a.data());
            for (Isa isa : simd_isas())
                EXPECT_EQ(vec_dot_for(f, isa)(n, w.data(), a.data()), want)
                    << type_name(t) << " n=" << n << " " << isa_name(isa);
        }
    }
}

// The f16 batch dot (attention's q·k) on the active set equals its scalar reference.
TEST(KernelOrder, F16BatchDotEqualsScalarBitForBit) {
    std::mt19937 rng(8);
    const FormatOps& f = format_ops(GgmlType::F16);
    for (int64_t n : {8, 64, 128, 1000}) {
        const auto x = random_row(f, n, rng), y = random_row(f, n, rng);
        const auto* xs = reinterpret_cast<const uint16_t*>(x.data());
        const auto* ys = reinterpret_cast<const uint16_t*>(y.data());
        EXPECT_EQ(dot_f16_batch(n, xs, ys), kernels::dot_f16_batch_scalar(n, xs, ys)) << n;
    }
}

TEST(KernelOrder, TilesEqualTheBatchDotsBitForBit) {
    std::mt19937 rng(4);
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0}) {
        const FormatOps& f = format_ops(t);
        // The scalar set's batch order (F32, F16), or its one dot order (Q8_0).
        const FormatKernels& scalar = kernel_set(Isa::Scalar)[t];
        const VecDotFn batch_dot = scalar.batch_dot ? scalar.batch_dot : scalar.vec_dot;
        for (int64_t n : {64, 256, 4096}) {
            const uint64_t rb = format_row_bytes(f, n);
            std::vector<uint8_t> w, a;
            for (int r = 0; r < 4; ++r) {
                const auto row = random_row(f, n, rng);
                w.insert(w.end(), row.begin(), row.end());
            }
            for (int k = 0; k < 3; ++k) {
                const auto row = random_row(f, n, rng);
                a.insert(a.end(), row.begin(), row.end());
            }
            for (Isa isa : simd_isas()) {
                const GemmTileFn tile = gemm_tile_for(f, isa);
                ASSERT_NE(tile, nullptr);
                float y[3 * 4];
                tile(n, w.data(), rb, a.data(), rb, y, 4);
                for (int k = 0; k < 3; ++k)
                    for (int r = 0; r < 4; ++r)
                        EXPECT_EQ(y[k * 4 + r], batch_dot(n, w.data() + r * rb, a.data() + k * rb))
                            << type_name(t) << " n=" << n << " r=" << r << " t=" << k << " " << isa_name(isa);
            }
        }
    }
}

// matmul picks the batch order or the one-token order per shape and token count as llama.cpp
// does; whichever it picks, the scalar set and the SIMD sets agree exactly.
TEST(KernelOrder, MatmulSameBitsOnEveryKernelSet) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0}) {
        const FormatOps& f = format_ops(t);
        // (cols, rows): whole tiles; rows not in groups of 4 and cols not in groups of 8 (the
        // one-token order for every token); stories260K's ffn_down shape.
        for (auto [cols, rows] : std::vector<std::pair<int64_t, int64_t>>{{64, 32}, {96, 6}, {172, 64}}) {
            if (cols % f.block_size != 0) continue;
            std::vector<uint8_t> wb;
            for (int64_t r = 0; r < rows; ++r) {
                const auto row = random_row(f, cols, rng);
                wb.insert(wb.end(), row.begin(), row.end());
            }
            const WeightView w{t, wb.data(), cols, rows, format_row_bytes(f, cols)};
            for (int64_t tokens : {1, 2, 5, 50}) {
                std::vector<float> x(static_cast<size_t>(cols * tokens));
                for (auto& v : x) v = u(rng);
                std::vector<float> want(static_cast<size_t>(rows * tokens)), got(want.size());
                matmul(w, x.data(), tokens, want.data(), Isa::Scalar);
                for (Isa isa : simd_isas()) {
                    matmul(w, x.data(), tokens, got.data(), isa);
                    for (size_t i = 0; i < want.size(); ++i)
                        ASSERT_EQ(got[i], want[i]) << type_name(t) << " " << cols << "x" << rows << " tokens " << tokens
                                                   << " output " << i << " " << isa_name(isa);
                }
            }
        }
    }
}

#if defined(__x86_64__)
// The vector exp equals its scalar reference bit for bit: random values over the whole range,
// the edges (over- and underflow, the two-factor 2^n range, ±0, -inf) and every tail length.
TEST(KernelOrder, ExpAvx2EqualsScalarBitForBit) {
    if (!cpu_supports_avx2()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
    std::mt19937 rng(6);
    std::uniform_real_distribution<float> u(-110.f, 95.f);
    std::vector<float> x(1000);
    for (auto& v : x) v = u(rng);
    const float edges[] = {0.f, -0.f, -INFINITY, 88.3f, 88.4f, 89.f, -87.4f, -87.5f, -103.9f, -104.f, -133.f,
                           1e-30f, -1e-30f, 0.5f, -0.5f, 20.f, -20.f};
    x.insert(x.begin(), std::begin(edges), std::end(edges));
    for (size_t n : {x.size(), size_t{1}, size_t{7}, size_t{9}, size_t{15}}) {
        std::vector<float> a(n), b(n);
        kernels::exp_ggml_scalar(x.data(), a.data(), static_cast<int64_t>(n));
        kernels::exp_ggml_avx2(x.data(), b.data(), static_cast<int64_t>(n));
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(std::memcmp(&a[i], &b[i], 4), 0) << "x=" << x[i] << " " << a[i] << " " << b[i];
    }
    std::vector<float> in_place(x);
    kernels::exp_ggml_avx2(in_place.data(), in_place.data(), static_cast<int64_t>(in_place.size()));
    std::vector<float> want(x.size());
    kernels::exp_ggml_scalar(x.data(), want.data(), static_cast<int64_t>(x.size()));
    EXPECT_EQ(std::memcmp(in_place.data(), want.data(), 4 * want.size()), 0);
}
#endif

}  // namespace
}  // namespace qlm
