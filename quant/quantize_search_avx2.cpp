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

void search_avx2(GgmlType t, const BlockGroup& g) { Search<Avx2Lanes>::run(t, g); }

}  // namespace

const SearchKernel& search_kernel_avx2() {
    static constexpr SearchKernel k{8, search_avx2};
    return k;
}

}  // namespace qlm::search
