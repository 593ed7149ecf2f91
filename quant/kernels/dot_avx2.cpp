// AVX2/FMA/F16C float kernels (f32/f16/bf16 dots and tiles, f16 conversion and axpy), written with
// xsimd; the int8 kernels are in dot_quant_x86.inl. Only called when cpu_supports_avx2().
#include <immintrin.h>

#include <algorithm>

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

// The 8 lanes of v summed as llamafile's tinyBLAS (and ggml's hsum_float_8) reduce them:
// ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)).
inline float hsum_avx(Vf v) {
    const __m256 x = v;
    const __m128 a = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    const __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_add_ss(b, _mm_movehdup_ps(b)));
}

// x + y·z with the product rounded before the sum (no FMA), as ggml's f32 vec_dot adds its tail.
inline float add_product(float x, float y, float z) {
    return _mm_cvtss_f32(_mm_add_ss(_mm_set_ss(x), _mm_mul_ss(_mm_set_ss(y), _mm_set_ss(z))));
}

// 4 rows x 3 tokens in llamafile's tinyBLAS order (llama.cpp's f32/f16 matmul for prompt
// batches): one accumulator per output, lane i mod 8 over groups of 8, reduced by hsum_avx.
// n % 8 != 0 (which tinyBLAS declines; matmul only asks for whole groups) adds the rest after.
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
            float s = hsum_avx(acc[r][t]);
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
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    return simd::dot_float<Vf>(n, x, y, load_f32, [&](float s, int64_t i) {
        for (; i < n; ++i) s = add_product(s, x[i], y[i]);
        return s;
    });
}

float dot_f16_avx2(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const uint16_t*>(a);
    return simd::dot_f16<Vf>(n, x, y, load_f16);
}

float dot_f16_batch_avx2(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const uint16_t*>(a);
    Vf acc(0.f);
    for (int64_t i = 0; i + kLanes <= n; i += kLanes) acc = xsimd::fma(load_f16(x + i), load_f16(y + i), acc);
    return hsum_avx(acc);
}

float dot_bf16_avx2(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const uint16_t*>(a);
    return simd::dot_float<Vf>(n, x, y, load_bf16, [&](float s, int64_t i) {
        for (; i < n; ++i) s += bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]);
        return s;
    });
}

void convert_f32_to_f16_avx2(const float* x, void* yv, int64_t n) {
    auto* y = static_cast<uint16_t*>(yv);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void exp_ggml_avx2(const float* x, float* y, int64_t n) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 z = _mm256_fmadd_ps(v, _mm256_set1_ps(0x1.715476p+0f), shift);
        const __m256 m = _mm256_sub_ps(z, shift);
        const __m256 b = _mm256_fnmadd_ps(m, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                          _mm256_fnmadd_ps(m, _mm256_set1_ps(0x1.62e4p-1f), v));
        const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
        const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
        const __m256 abs_m = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), m);
        const __m256 big = _mm256_cmp_ps(abs_m, _mm256_set1_ps(126.f), _CMP_GT_OQ);
        const __m256 u = _mm256_mul_ps(b, b);
        const __m256 j = _mm256_fmadd_ps(
            _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                            _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
            u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
        __m256 r = _mm256_fmadd_ps(j, k, k);
        if (_mm256_movemask_ps(big)) {
            const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(m, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                               _mm256_set1_epi32(static_cast<int>(0x82000000u)));
            const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
            const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
            const __m256 huge = _mm256_cmp_ps(abs_m, _mm256_set1_ps(192.f), _CMP_GT_OQ);
            const __m256 scaled = _mm256_blendv_ps(_mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1), _mm256_mul_ps(s1, s1), huge);
            r = _mm256_blendv_ps(r, scaled, big);
        }
        _mm256_storeu_ps(y + i, r);
    }
    exp_ggml_scalar(x + i, y + i, n - i);
}

void axpy_f16_avx2(int64_t n, float a, const uint16_t* x, float* y) {
    const Vf va(a);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) xsimd::fma(va, load_f16(x + i), load_f32(y + i)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] += a * fp16_to_fp32(x[i]);
}

// R queries at a time share each converted group of K; each keeps its own accumulator, as
// dot_f16_batch_avx2 does (one FMA per group of 8, hsum_avx at the end). Eight rows keep eight
// independent FMA chains in flight (four are latency-bound).
template <int64_t R>
void dot_f16_rows_tile(int64_t n, const uint16_t* k, const float* const* q, float* out) {
    Vf acc[R];
    for (auto& a : acc) a = Vf(0.f);
    for (int64_t i = 0; i + kLanes <= n; i += kLanes) {
        const Vf kv = load_f16(k + i);
        for (int64_t t = 0; t < R; ++t) acc[t] = xsimd::fma(load_f32(q[t] + i), kv, acc[t]);
    }
    for (int64_t t = 0; t < R; ++t) out[t] = hsum_avx(acc[t]);
}

void dot_f16_rows_avx2(int64_t n, const uint16_t* k, const float* const* q, int64_t rows, float* out) {
    int64_t r = 0;
    for (; r + 8 <= rows; r += 8) dot_f16_rows_tile<8>(n, k, q + r, out + r);
    for (; r + 4 <= rows; r += 4) dot_f16_rows_tile<4>(n, k, q + r, out + r);
    for (; r < rows; ++r) dot_f16_rows_tile<1>(n, k, q + r, out + r);
}

void dot_f16_span_avx2(int64_t n, int64_t count, const uint16_t* const* k, int64_t rows, const float* const* q,
                       float scale, int64_t at, float* const* out) {
    float d[64];
    for (int64_t r0 = 0; r0 < rows; r0 += 64) {
        const int64_t nr = std::min<int64_t>(64, rows - r0);
        for (int64_t j = 0; j < count; ++j) {
            dot_f16_rows_avx2(n, k[j], q + r0, nr, d);
            for (int64_t r = 0; r < nr; ++r) out[r0 + r][at + j] = d[r] * scale;
        }
    }
}

// Per group of 8 elements the 8 lanes stay in registers while every row is added to its lane, with
// axpy_f16_avx2's FMA: rows before the first lane 0 and after the last whole group of 8 one by one
// (a switch names the register), the rest 8 at a time with the lanes in order.
void axpy_f16_lanes_avx2(int64_t n, int64_t count, const uint16_t* const* x, const float* p, int64_t lane0,
                         float* lanes) {
    const int64_t head = std::min(count, (8 - (lane0 & 7)) & 7);
    const int64_t body = head + (count - head) / 8 * 8;
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        Vf l[8];
        for (int t = 0; t < 8; ++t) l[t] = load_f32(lanes + t * n + i);
        auto one = [&](int64_t k) {
            const Vf a(p[k]), v = load_f16(x[k] + i);
            switch ((lane0 + k) & 7) {
                case 0: l[0] = xsimd::fma(a, v, l[0]); break;
                case 1: l[1] = xsimd::fma(a, v, l[1]); break;
                case 2: l[2] = xsimd::fma(a, v, l[2]); break;
                case 3: l[3] = xsimd::fma(a, v, l[3]); break;
                case 4: l[4] = xsimd::fma(a, v, l[4]); break;
                case 5: l[5] = xsimd::fma(a, v, l[5]); break;
                case 6: l[6] = xsimd::fma(a, v, l[6]); break;
                default: l[7] = xsimd::fma(a, v, l[7]); break;
            }
        };
        for (int64_t k = 0; k < head; ++k) one(k);
        for (int64_t k = head; k < body; k += 8)
            for (int t = 0; t < 8; ++t) l[t] = xsimd::fma(Vf(p[k + t]), load_f16(x[k + t] + i), l[t]);
        for (int64_t k = body; k < count; ++k) one(k);
        for (int t = 0; t < 8; ++t) l[t].store_unaligned(lanes + t * n + i);
    }
    if (i < n)
        for (int64_t k = 0; k < count; ++k) {
            float* y = lanes + ((lane0 + k) & 7) * n;
            for (int64_t t = i; t < n; ++t) y[t] += p[k] * fp16_to_fp32(x[k][t]);
        }
}

// axpy_f16_avx2 of each row in turn, 32 elements of y in registers across all the rows (then 8 at a
// time); the elements after the last group of 8 as axpy_f16_avx2 adds them.
void axpy_f16_seq_avx2(int64_t n, int64_t count, const uint16_t* const* x, const float* p, float* y) {
    int64_t i = 0;
    for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
        Vf o[4];
        for (int c = 0; c < 4; ++c) o[c] = load_f32(y + i + c * kLanes);
        for (int64_t k = 0; k < count; ++k) {
            const Vf a(p[k]);
            for (int c = 0; c < 4; ++c) o[c] = xsimd::fma(a, load_f16(x[k] + i + c * kLanes), o[c]);
        }
        for (int c = 0; c < 4; ++c) o[c].store_unaligned(y + i + c * kLanes);
    }
    for (; i + kLanes <= n; i += kLanes) {
        Vf o = load_f32(y + i);
        for (int64_t k = 0; k < count; ++k) o = xsimd::fma(Vf(p[k]), load_f16(x[k] + i), o);
        o.store_unaligned(y + i);
    }
    if (i < n)
        for (int64_t k = 0; k < count; ++k) axpy_f16_avx2(n - i, p[k], x[k] + i, y + i);
}

// Row by row: the V rows (at most a few KiB) stay in L1 while every row adds them.
void axpy_f16_lanes_rows_avx2(int64_t n, int64_t count, const uint16_t* const* x, int64_t rows,
                              const float* const* p, int64_t lane0, float* const* lanes) {
    for (int64_t r = 0; r < rows; ++r) axpy_f16_lanes_avx2(n, count, x, p[r], lane0, lanes[r]);
}

}  // namespace qlm::kernels
