// AVX2/FMA/F16C float kernels (f32/f16/bf16 dots and tiles, f16 conversion and axpy), written with
// xsimd; the int8 kernels are in dot_quant_x86.inl. Only called when cpu_supports_avx2().
#include <immintrin.h>

#include <xsimd/xsimd.hpp>

#include "quant/fp16.h"
#include "quant/kernels/dot_float_simd.h"
#include "quant/kernels/kernels.h"

namespace qlm::kernels {

namespace {
using Arch = xsimd::fma3<xsimd::avx2>;
using Vf = xsimd::batch<float, Arch>;
constexpr int64_t kLanes = 8;

inline Vf load_f32(const float* p) { return Vf::load_unaligned(p); }
inline Vf load_f16(const uint16_t* p) {
    return Vf(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
inline Vf load_bf16(const uint16_t* p) {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return Vf(_mm256_castsi256_ps(_mm256_slli_epi32(u, 16)));
}

template <class T, class Load, class Scalar>
void gemm4x3(int64_t n, const void* wv, uint64_t w_stride, const void* av, uint64_t a_stride, float* y,
             int64_t y_stride, Load load, Scalar scalar) {
    const T* w[4];
    const T* a[3];
    for (int r = 0; r < 4; ++r) w[r] = reinterpret_cast<const T*>(static_cast<const uint8_t*>(wv) + r * w_stride);
    for (int t = 0; t < 3; ++t) a[t] = reinterpret_cast<const T*>(static_cast<const uint8_t*>(av) + t * a_stride);
    Vf acc[4][3];
    for (auto& row : acc)
        for (auto& v : row) v = Vf(0.f);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        const Vf a0 = load(a[0] + i), a1 = load(a[1] + i), a2 = load(a[2] + i);
        for (int r = 0; r < 4; ++r) {
            const Vf wr = load(w[r] + i);
            acc[r][0] = xsimd::fma(wr, a0, acc[r][0]);
            acc[r][1] = xsimd::fma(wr, a1, acc[r][1]);
            acc[r][2] = xsimd::fma(wr, a2, acc[r][2]);
        }
    }
    for (int r = 0; r < 4; ++r) {
        for (int t = 0; t < 3; ++t) {
            float s = xsimd::hadd(acc[r][t]);
            for (int64_t j = i; j < n; ++j) s += scalar(w[r][j]) * scalar(a[t][j]);
            y[t * y_stride + r] = s;
        }
    }
}
}  // namespace

void gemm4x3_f32_avx2(int64_t n, const void* w, uint64_t w_stride, const void* a, uint64_t a_stride, float* y,
                      int64_t y_stride) {
    gemm4x3<float>(n, w, w_stride, a, a_stride, y, y_stride, load_f32, [](float v) { return v; });
}

void gemm4x3_f16_avx2(int64_t n, const void* w, uint64_t w_stride, const void* a, uint64_t a_stride, float* y,
                      int64_t y_stride) {
    gemm4x3<uint16_t>(n, w, w_stride, a, a_stride, y, y_stride, load_f16, fp16_to_fp32);
}

float dot_f32_avx2(int64_t n, const void* w, const void* a) {
    return simd::dot_float<Vf>(n, static_cast<const float*>(w), static_cast<const float*>(a), load_f32,
                       [](float v) { return v; });
}

float dot_f16_avx2(int64_t n, const void* w, const void* a) {
    return simd::dot_float<Vf>(n, static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(a), load_f16,
                       fp16_to_fp32);
}

float dot_bf16_avx2(int64_t n, const void* w, const void* a) {
    return simd::dot_float<Vf>(n, static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(a), load_bf16,
                       bf16_to_fp32);
}

void convert_f32_to_f16_avx2(const float* x, void* yv, int64_t n) {
    auto* y = static_cast<uint16_t*>(yv);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void axpy_f16_avx2(int64_t n, float a, const uint16_t* x, float* y) {
    const Vf va(a);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) xsimd::fma(va, load_f16(x + i), load_f32(y + i)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] += a * fp16_to_fp32(x[i]);
}

}  // namespace qlm::kernels
