// AVX2 activation quantizers (f32 -> Q8_0 / Q8_1 / Q8_K as matmul converts activations). Each
// produces the same bytes as the scalar rule in quant/format_q8_*.h for every non-NaN input: the
// same products (x·id in f32), the same rounding (nearbyint = round half to even under the
// default rounding mode, as lrintf), the same f16/f32 scale arithmetic.
#include <immintrin.h>

#include <cmath>

#include "quant/format_q8_0.h"
#include "quant/format_q8_1.h"
#include "quant/format_q8_k.h"
#include "quant/fp16.h"
#include "quant/kernels/kernels.h"

namespace qlm::kernels {

namespace {
inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

inline float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// max |x| over 32 floats.
inline float absmax32(const float* x) {
    __m256 m = abs_ps(_mm256_loadu_ps(x));
    for (int i = 8; i < 32; i += 8) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + i)));
    return hmax(m);
}

// round_half_even(x[i]·scale) for 32 floats -> 32 int8 in element order (|x·scale| ≤ 127 + ulp:
// the saturating packs never change a value except 128 -> 127, which the rules clamp too).
inline __m256i round_pack32(const float* x, __m256 scale) {
    __m256i v[4];
    for (int k = 0; k < 4; ++k) {
        const __m256 p = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), scale);
        v[k] = _mm256_cvtps_epi32(_mm256_round_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    const __m256i s01 = _mm256_packs_epi32(v[0], v[1]), s23 = _mm256_packs_epi32(v[2], v[3]);
    const __m256i b = _mm256_packs_epi16(s01, s23);
    // packs interleave the 128-bit lanes: dwords (0 4 1 5 2 6 3 7) -> restore element order.
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline int32_t sum_i8(__m256i q) {
    const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);
    const __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}
}  // namespace

void quantize_q8_0_activation_avx2(const float* x, void* yv, int64_t n) {
    auto* y = static_cast<BlockQ8_0*>(yv);
    for (int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        const float amax = absmax32(xb);
        const float id = amax != 0.f ? 127.f / amax : 0.f;
        y[b].d = fp32_to_fp16(amax / 127.f);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), round_pack32(xb, _mm256_set1_ps(id)));
    }
}

void quantize_q8_1_activation_avx2(const float* x, void* yv, int64_t n) {
    auto* y = static_cast<BlockQ8_1*>(yv);
    for (int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        const float amax = absmax32(xb);
        const float d = amax / 127.f;
        const float id = amax != 0.f ? 127.f / amax : 0.f;
        const __m256i q = round_pack32(xb, _mm256_set1_ps(id));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), q);
        y[b].d = fp32_to_fp16(d);
        y[b].s = fp32_to_fp16(d * static_cast<float>(sum_i8(q)));
    }
}

void quantize_q8_k_avx2(const float* x, void* yv, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(yv);
    for (int64_t b = 0; b < n / 256; ++b) {
        const float* xb = x + b * 256;
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 256; i += 8) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(xb + i)));
        const float amax = hmax(m);
        BlockQ8_K& o = y[b];
        if (amax == 0.f) {
            o.d = 0.f;
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs), _mm256_setzero_si256());
            for (int i = 32; i < 256; i += 32) _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs + i), _mm256_setzero_si256());
            for (int j = 0; j < 16; ++j) o.bsums[j] = 0;
            continue;
        }
        // The signed value of the first element of largest magnitude (the reference's strict >).
        float max = 0.f;
        for (int e = 0; e < 256; ++e)
            if (std::fabs(xb[e]) == amax) {
                max = xb[e];
                break;
            }
        const float iscale = -127.f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        for (int c = 0; c < 8; ++c) {
            __m256i v[4];
            for (int k = 0; k < 4; ++k)  // cvtps rounds half to even, as nearest_int's lrintf
                v[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + 32 * c + 8 * k), vs));
            const __m256i s01 = _mm256_packs_epi32(v[0], v[1]), s23 = _mm256_packs_epi32(v[2], v[3]);
            const __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(s01, s23),
                                                          _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs + 32 * c), q);
        }
        o.d = 1.f / iscale;
        for (int j = 0; j < 16; ++j) {
            const __m128i q16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(o.qs + 16 * j));
            const __m128i s = _mm_madd_epi16(_mm_maddubs_epi16(_mm_set1_epi8(1), q16), _mm_set1_epi16(1));
            __m128i t = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
            o.bsums[j] = static_cast<int16_t>(_mm_cvtsi128_si32(t));
        }
    }
}

}  // namespace qlm::kernels
