// The IQ4 search's inner step (iq4_assign of quant/quantize_iq4.h) on AVX2: eight elements a
// step, the same float and double operations as the scalar version in the same order, so the
// searched blocks' bytes do not depend on the ISA (tests/unit/quant/quantize_search_isa_test.cpp).
// Built with -ffp-contract=off (quant/CMakeLists.txt): no product may be fused into a sum.
#include <immintrin.h>

#include <cstring>

#include "quant/format_iq4_nl.h"
#include "quant/quantize_iq4.h"

namespace qlm {

namespace {

// The grid's midpoints m_i = (v_i + v_{i+1}) / 2 (multiples of 1/2, exact in float) and values:
// the nearest index of v is the number of midpoints below v (the lower index at a midpoint, 0 for
// NaN: iq4_nearest_index).
struct Grid {
    float mid[15], value[16];
};
constexpr Grid kGrid = [] {
    Grid g{};
    for (int i = 0; i < 15; ++i) g.mid[i] = static_cast<float>(kIq4Values[i] + kIq4Values[i + 1]) / 2.f;
    for (int i = 0; i < 16; ++i) g.value[i] = static_cast<float>(kIq4Values[i]);
    return g;
}();

}  // namespace

double iq4_assign_avx2(const float* x, const float* w, float d, uint8_t* idx, Iq4Moments* moments) {
    if (d == 0.f) return iq4_assign_scalar(x, w, d, idx, moments);
    const __m256 id = _mm256_set1_ps(1.f / d), vd = _mm256_set1_ps(d);
    const __m256 kLow = _mm256_loadu_ps(kGrid.value), kHigh = _mm256_loadu_ps(kGrid.value + 8);
    // Lane k: the scalar version's partial sums of j ≡ k mod 4 (error, w·v·x, w·v²).
    __m256d acc = _mm256_setzero_pd(), acc_vx = _mm256_setzero_pd(), acc_vv = _mm256_setzero_pd();
    for (int j = 0; j < 32; j += 8) {
        const __m256 xs = _mm256_loadu_ps(x + j);
        const __m256 v = _mm256_mul_ps(id, xs);
        // Σ [v > m_i] as a tree of sums of the compare masks (−1 each), so no long dependency chain.
        __m256i c[15];
        for (int i = 0; i < 15; ++i)
            c[i] = _mm256_castps_si256(_mm256_cmp_ps(v, _mm256_set1_ps(kGrid.mid[i]), _CMP_GT_OQ));
        for (int i = 0; i < 7; ++i) c[i] = _mm256_add_epi32(c[i], c[i + 8]);  // c[0..6] + c[8..14]; c[7] stays
        for (int i = 0; i < 4; ++i) c[i] = _mm256_add_epi32(c[i], c[i + 4]);  // c[3] + c[7]
        c[0] = _mm256_add_epi32(_mm256_add_epi32(c[0], c[2]), _mm256_add_epi32(c[1], c[3]));
        const __m256i k = _mm256_sub_epi32(_mm256_setzero_si256(), c[0]);
        // The grid value of index k (0..15): one of two 8-entry tables by k's low 3 bits.
        const __m256 lo = _mm256_permutevar8x32_ps(kLow, k), hi = _mm256_permutevar8x32_ps(kHigh, k);
        const __m256 val = _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(k, 28)));
        const __m128i k16 = _mm_packs_epi32(_mm256_castsi256_si128(k), _mm256_extracti128_si256(k, 1));
        const __m128i k8 = _mm_packus_epi16(k16, k16);
        std::memcpy(idx + j, &k8, 8);
        const __m256 dv = _mm256_mul_ps(vd, val);
        const __m256 ws = _mm256_loadu_ps(w + j);
        for (int h = 0; h < 2; ++h) {
            const __m128 xh = h ? _mm256_extractf128_ps(xs, 1) : _mm256_castps256_ps128(xs);
            const __m128 dh = h ? _mm256_extractf128_ps(dv, 1) : _mm256_castps256_ps128(dv);
            const __m128 wh = h ? _mm256_extractf128_ps(ws, 1) : _mm256_castps256_ps128(ws);
            const __m256d xd = _mm256_cvtps_pd(xh), wd = _mm256_cvtps_pd(wh);
            const __m256d r = _mm256_sub_pd(xd, _mm256_cvtps_pd(dh));
            acc = _mm256_add_pd(acc, _mm256_mul_pd(_mm256_mul_pd(wd, r), r));
            if (moments) {
                const __m256d v = _mm256_cvtps_pd(h ? _mm256_extractf128_ps(val, 1) : _mm256_castps256_ps128(val));
                const __m256d wv = _mm256_mul_pd(wd, v);
                acc_vx = _mm256_add_pd(acc_vx, _mm256_mul_pd(wv, xd));
                acc_vv = _mm256_add_pd(acc_vv, _mm256_mul_pd(wv, v));
            }
        }
    }
    alignas(32) double e[4];
    if (moments) {
        _mm256_store_pd(e, acc_vx);
        moments->vx = (e[0] + e[1]) + (e[2] + e[3]);
        _mm256_store_pd(e, acc_vv);
        moments->vv = (e[0] + e[1]) + (e[2] + e[3]);
    }
    _mm256_store_pd(e, acc);
    return (e[0] + e[1]) + (e[2] + e[3]);
}

}  // namespace qlm
