// AVX2/FMA/F16C kernels. f32/f16/bf16 vector code uses xsimd; the Q8_0 int8 dot uses raw
// intrinsics (maddubs/madd with the sign trick). Only called when cpu_supports_avx2().
#include <immintrin.h>

#include <xsimd/xsimd.hpp>

#include "quant/format_q8_0.h"
#include "quant/fp16.h"
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

// Four independent accumulators over 32 elements per step, then 8 at a time, then a scalar tail.
template <class T, class Load, class Scalar>
float dot_generic(int64_t n, const T* x, const T* y, Load load, Scalar scalar) {
    Vf s0(0.f), s1(0.f), s2(0.f), s3(0.f);
    int64_t i = 0;
    for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
        s0 = xsimd::fma(load(x + i), load(y + i), s0);
        s1 = xsimd::fma(load(x + i + kLanes), load(y + i + kLanes), s1);
        s2 = xsimd::fma(load(x + i + 2 * kLanes), load(y + i + 2 * kLanes), s2);
        s3 = xsimd::fma(load(x + i + 3 * kLanes), load(y + i + 3 * kLanes), s3);
    }
    for (; i + kLanes <= n; i += kLanes) s0 = xsimd::fma(load(x + i), load(y + i), s0);
    float s = xsimd::hadd((s0 + s1) + (s2 + s3));
    for (; i < n; ++i) s += scalar(x[i]) * scalar(y[i]);
    return s;
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
    return dot_generic(n, static_cast<const float*>(w), static_cast<const float*>(a), load_f32,
                       [](float v) { return v; });
}

float dot_f16_avx2(int64_t n, const void* w, const void* a) {
    return dot_generic(n, static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(a), load_f16,
                       fp16_to_fp32);
}

float dot_bf16_avx2(int64_t n, const void* w, const void* a) {
    return dot_generic(n, static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(a), load_bf16,
                       bf16_to_fp32);
}

float dot_q8_0_avx2(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ8_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    const __m256i ones = _mm256_set1_epi16(1);
    // |x| as unsigned times sign(x)·y as signed: maddubs needs one unsigned operand.
    auto block = [&](int64_t b) {
        const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
        const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs));
        const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx));
        return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
    };
    // Two blocks per step into independent accumulators; their four f16 scales are converted by
    // one vcvtph2ps (w0 a0 w1 a1, products in lanes 0 and 2).
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const int64_t nb = n / 32;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint64_t h = static_cast<uint64_t>(x[b].d) | static_cast<uint64_t>(y[b].d) << 16 |
                           static_cast<uint64_t>(x[b + 1].d) << 32 | static_cast<uint64_t>(y[b + 1].d) << 48;
        const __m128 f = _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<long long>(h)));
        const __m128 p = _mm_mul_ps(f, _mm_movehdup_ps(f));
        acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(p), block(b), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehl_ps(p, p)), block(b + 1), acc1);
    }
    if (b < nb) acc0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d)), block(b), acc0);
    return xsimd::hadd(Vf(_mm256_add_ps(acc0, acc1)));
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
