// F16 and F32 weight batches on AVX-512 (= qlm::GemmBatchFn): prompt batches of f32/f16 weights,
// 4 rows x 4 tokens per register tile. Each output keeps the order of the AVX2 4x3 tile and of the
// scalar batch_dot (dot_f16_batch_scalar, dot_f32_batch_scalar): one 8-lane accumulator over the
// whole groups of 8, one FMA per group, reduced as hsum_avx, so the bits are the same whatever tile
// an output comes from. What the wider tile buys: the 4x3 tile converts 7 f16 vectors for 12 FMAs,
// this one 8 for 16, and with AVX-512's 32 vector registers (used at 256 bits, EVEX-encoded) the
// 16 accumulators, 4 weight vectors and the activation never spill. Elements after the last whole
// group (matmul asks for none) are added after the reduction, one fused product at a time.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "quant/fp16.h"
#include "quant/kernels/kernels.h"
#include "quant/kernels/x86_int8_headers.h"

QLM_AVX512_TARGET_BEGIN

namespace qlm::kernels::avx512 {

namespace {

constexpr int64_t kLanes = 8;

inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline float scalar(float v) { return v; }
inline float scalar(uint16_t v) { return fp16_to_fp32(v); }

// ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)), as dot_avx2.cpp's hsum_avx.
inline float hsum8(__m256 x) {
    const __m128 a = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    const __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_add_ss(b, _mm_movehdup_ps(b)));
}

// R rows x T tokens: y[t·ys + r] = Σ w_r·a_t.
template <class T, int R, int NT>
void tile(int64_t n, const T* w, uint64_t ws, const T* a, uint64_t as, float* y, int64_t ys) {
    const T* wr[R];
    const T* at[NT];
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const T*>(reinterpret_cast<const uint8_t*>(w) + r * ws);
    for (int t = 0; t < NT; ++t) at[t] = reinterpret_cast<const T*>(reinterpret_cast<const uint8_t*>(a) + t * as);
    __m256 acc[R][NT];
    for (auto& row : acc)
        for (auto& v : row) v = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        __m256 wv[R];
        for (int r = 0; r < R; ++r) wv[r] = load8(wr[r] + i);
        for (int t = 0; t < NT; ++t) {
            const __m256 av = load8(at[t] + i);
            for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], av, acc[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) {
            float s = hsum8(acc[r][t]);
            for (int64_t j = i; j < n; ++j) s = std::fma(scalar(wr[r][j]), scalar(at[t][j]), s);
            y[t * ys + r] = s;
        }
}

// R rows (4, or 1 for the last rows) x nt tokens in passes of 4, the last pass of 1..3.
template <class T, int R>
void tokens(int64_t n, const T* w, uint64_t ws, const T* a, uint64_t as, int64_t nt, float* y, int64_t ys) {
    int64_t t = 0;
    for (; t + 4 <= nt; t += 4)
        tile<T, R, 4>(n, w, ws, reinterpret_cast<const T*>(reinterpret_cast<const uint8_t*>(a) + t * as), as,
                      y + t * ys, ys);
    const T* rest = reinterpret_cast<const T*>(reinterpret_cast<const uint8_t*>(a) + t * as);
    switch (nt - t) {
        case 3: tile<T, R, 3>(n, w, ws, rest, as, y + t * ys, ys); break;
        case 2: tile<T, R, 2>(n, w, ws, rest, as, y + t * ys, ys); break;
        case 1: tile<T, R, 1>(n, w, ws, rest, as, y + t * ys, ys); break;
        default: break;
    }
}

template <class T>
void batch(int64_t n, int64_t rows, const void* wv, uint64_t ws, const void* av, uint64_t as, int64_t nt, float* y,
           int64_t ys) {
    const auto* w = static_cast<const uint8_t*>(wv);
    const auto* a = static_cast<const T*>(av);
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) tokens<T, 4>(n, reinterpret_cast<const T*>(w + r * ws), ws, a, as, nt, y + r, ys);
    for (; r < rows; ++r) tokens<T, 1>(n, reinterpret_cast<const T*>(w + r * ws), ws, a, as, nt, y + r, ys);
}

}  // namespace

void gemm_batch_f16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                    float* y, int64_t ys) {
    batch<uint16_t>(n, rows, w, ws, a, as, nt, y, ys);
}

void gemm_batch_f32(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                    float* y, int64_t ys) {
    batch<float>(n, rows, w, ws, a, as, nt, y, ys);
}

}  // namespace qlm::kernels::avx512

QLM_AVX512_TARGET_END
