// The searched quantizers' arithmetic on 8 lanes of AVX2 + F16C (quantize_search_lanes.h): each
// lane does the scalar build's float operations (the file is built with -ffp-contract=off, so no
// product is fused into an add), with roundps for the rounding and vcvtps2ph for the f16 scales.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "quant/quantize_search_lanes.h"

namespace qlm::search {

namespace {

struct Avx2Lanes {
    static constexpr int W = 8;
    using V = __m256;
    using M = __m256;
    static V splat(float v) { return _mm256_set1_ps(v); }
    static V load(const float* p) { return _mm256_load_ps(p); }
    static void store(float* p, V v) { _mm256_store_ps(p, v); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V vmin(V a, V b) { return _mm256_min_ps(a, b); }
    static V vmax(V a, V b) { return _mm256_max_ps(a, b); }
    static V vabs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
    static V vround(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static V vtrunc(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
    static V f16r(V a) { return _mm256_cvtph_ps(_mm256_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)); }
    static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    static M le(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
    static M gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    static M ge(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
    static M eq(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
    static M ne(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_NEQ_UQ); }
    static M finite(V a) { return lt(vabs(a), _mm256_set1_ps(__builtin_huge_valf())); }
    static M mand(M a, M b) { return _mm256_and_ps(a, b); }
    static M mor(M a, M b) { return _mm256_or_ps(a, b); }
    static M mnot(M a) { return _mm256_xor_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(-1))); }
    static V select(M m, V a, V b) { return _mm256_blendv_ps(b, a, m); }
    static bool any(M m) { return _mm256_movemask_ps(m) != 0; }
};

#include "quant/quantize_search_lanes.inl"

void f16_row_avx2(const uint16_t* src, float* dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
    for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

void gather_avx2(const float* src, int64_t stride, int n, float* x) {
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(stride)));
    for (int e = 0; e < n; ++e) _mm256_store_ps(x + 8 * e, _mm256_i32gather_ps(src + e, idx, 4));
}

void codes_avx2(const float* q, int n, int8_t* out) {  // n is a multiple of 32
    const __m256i idx = _mm256_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int l = 0; l < 8; ++l)
        for (int e = 0; e < n; e += 32) {
            __m256i v[4];
            for (int k = 0; k < 4; ++k)
                v[k] = _mm256_cvttps_epi32(_mm256_i32gather_ps(q + (e + 8 * k) * 8 + l, idx, 4));
            const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + l * n + e), _mm256_permutevar8x32_epi32(b, order));
        }
}

}  // namespace

const SearchKernel& search_kernel_avx2() {
    static constexpr SearchKernel k{8, search_group<Avx2Lanes>, reference_group<Avx2Lanes>, f16_row_avx2, gather_avx2, codes_avx2};
    return k;
}

}  // namespace qlm::search
