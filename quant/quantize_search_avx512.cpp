// The searched quantizers' arithmetic on 16 lanes of AVX-512F (quantize_search_lanes.h): each
// lane does the scalar build's float operations (built with -ffp-contract=off: no fused
// products), with vrndscaleps for the rounding and vcvtps2ph for the f16 scales. The file is
// compiled with the AVX2 flags and switches to AVX-512 after its includes, so no inline function
// of a shared header is emitted with AVX-512 instructions.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "quant/quantize_search_lanes.h"

// GCC 12 warns that the _mm512_undefined_ps inside several AVX-512 intrinsics is uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Every function here has internal linkage: no 512-bit value crosses an ABI boundary.
#pragma GCC diagnostic ignored "-Wpsabi"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC target("avx512f")
#endif

namespace qlm::search {

namespace {

struct Avx512Lanes {
    static constexpr int W = 16;
    using V = __m512;
    using M = __mmask16;
    static V splat(float v) { return _mm512_set1_ps(v); }
    static V load(const float* p) { return _mm512_load_ps(p); }
    static void store(float* p, V v) { _mm512_store_ps(p, v); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V vmin(V a, V b) { return _mm512_min_ps(a, b); }
    static V vmax(V a, V b) { return _mm512_max_ps(a, b); }
    static V vabs(V a) { return _mm512_abs_ps(a); }
    static V vround(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static V vtrunc(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
    static V f16r(V a) { return _mm512_cvtph_ps(_mm512_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)); }
    static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    static M le(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
    static M gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
    static M ge(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
    static M eq(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
    static M ne(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ); }
    static M finite(V a) { return lt(vabs(a), _mm512_set1_ps(__builtin_huge_valf())); }
    static M mand(M a, M b) { return static_cast<M>(a & b); }
    static M mor(M a, M b) { return static_cast<M>(a | b); }
    static M mnot(M a) { return static_cast<M>(~a); }
    static V select(M m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }
    static bool any(M m) { return m != 0; }
};

#include "quant/quantize_search_lanes.inl"

void f16_row_avx512(const uint16_t* src, float* dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
    for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

void gather_avx512(const float* src, int64_t stride, int n, float* x) {
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(static_cast<int>(stride)));
    for (int e = 0; e < n; ++e) _mm512_store_ps(x + 16 * e, _mm512_i32gather_ps(idx, src + e, 4));
}

void codes_avx512(const float* q, int n, int8_t* out) {  // n is a multiple of 16
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(16));
    for (int l = 0; l < 16; ++l)
        for (int e = 0; e < n; e += 16) {
            const __m512i v = _mm512_cvttps_epi32(_mm512_i32gather_ps(idx, q + e * 16 + l, 4));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + l * n + e), _mm512_cvtepi32_epi8(v));
        }
}

}  // namespace

const SearchKernel& search_kernel_avx512() {
    static constexpr SearchKernel k{16, search_group<Avx512Lanes>, reference_group<Avx512Lanes>, f16_row_avx512, gather_avx512, codes_avx512};
    return k;
}

}  // namespace qlm::search

#if defined(__clang__)
#pragma clang attribute pop
#endif
