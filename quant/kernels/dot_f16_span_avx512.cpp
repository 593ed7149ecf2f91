// Attention's K·Q over a span of f16 K rows on AVX-512 (= qlm::DotF16SpanFn): every K row of the
// span against every query, each score dot_f16_batch's bits times the scale. Per 16 positions the
// K rows are widened to f32 once for all queries, two positions per register ([k_p | k_p+1], 8
// elements each, zeros past the span); each query's group of 8 elements is broadcast to both
// halves and meets 8 such registers, so each (query, position) keeps dot_f16_batch's 8-lane
// accumulator (one FMA per group, groups in order). The 16 accumulators' horizontal sums are taken
// together by shuffles in hsum_avx's order ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)):
// about 1/3 of the instructions of one dot_f16_rows call per position.
#include <algorithm>

#include "quant/kernels/x86_int8_headers.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

QLM_AVX512_TARGET_BEGIN

#include "quant/kernels/hsums16_avx512.h"

namespace qlm::kernels::avx512 {

namespace {

constexpr int64_t kSpan = 16;       // positions per widened chunk (8 registers of two)
constexpr int64_t kMaxGroups = 32;  // head sizes up to 256 widen into the stack buffer

}  // namespace

void dot_f16_span(int64_t n, int64_t count, const uint16_t* const* k, int64_t rows, const float* const* q, float scale,
                  int64_t at, float* const* out) {
    const int64_t groups = n / 8;
    if (groups > kMaxGroups) {
        dot_f16_span_avx2(n, count, k, rows, q, scale, at, out);
        return;
    }
    alignas(64) float kf[kSpan / 2][kMaxGroups][16];
    const __m512 sc = _mm512_set1_ps(scale);
    for (int64_t j0 = 0; j0 < count; j0 += kSpan) {
        const int64_t m = std::min(kSpan, count - j0);
        for (int64_t p = 0; p < kSpan / 2; ++p) {
            const int64_t ja = j0 + 2 * p, jb = ja + 1;
            for (int64_t g = 0; g < groups; ++g) {
                const __m128i lo = ja < count ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(k[ja] + 8 * g))
                                              : _mm_setzero_si128();
                const __m128i hi = jb < count ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(k[jb] + 8 * g))
                                              : _mm_setzero_si128();
                _mm512_store_ps(kf[p][g], _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1)));
            }
        }
        const __mmask16 mask = static_cast<__mmask16>((1u << m) - 1);
        for (int64_t r = 0; r < rows; ++r) {
            __m512 acc[8];
            for (auto& a : acc) a = _mm512_setzero_ps();
            for (int64_t g = 0; g < groups; ++g) {
                const __m512 qv = _mm512_broadcast_f32x8(_mm256_loadu_ps(q[r] + 8 * g));
                for (int p = 0; p < 8; ++p) acc[p] = _mm512_fmadd_ps(qv, _mm512_load_ps(kf[p][g]), acc[p]);
            }
            _mm512_mask_storeu_ps(out[r] + at + j0, mask, _mm512_mul_ps(hsums16(acc), sc));
        }
    }
}

}  // namespace qlm::kernels::avx512
QLM_AVX512_TARGET_END
