// Shared x86 building blocks of the int8 kernels (dot_quant_x86.inl, gemm_quant_x86.inl), compiled
// once per ISA: QLM_KERNEL_ISA names the namespace (avx2 or avx512), so each ISA's copies of these
// inline functions stay apart. On AVX-512 (VL + VNNI) the u8·s8 dot is one vpdpbusd instead of
// maddubs → madd; both give the same exact i32 sums (maddubs never saturates on the codes used).
// Include only from the per-ISA kernel files (dot_quant_avx2.cpp, dot_quant_avx512.cpp, ...).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

// The including file defines both (GCC's target pragma does not define the __AVX512*__ macros).
#if !defined(QLM_KERNEL_ISA) || !defined(QLM_KERNEL_VNNI)
#error "define QLM_KERNEL_ISA (avx2 or avx512) and QLM_KERNEL_VNNI (0 or 1) before including quant_x86.h"
#endif

namespace qlm::kernels::QLM_KERNEL_ISA {

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline float f16(uint16_t h) { return _cvtsh_ss(h); }  // exact, like fp16_to_fp32

// Four f16 values -> four floats with one vcvtph2ps (the halves assembled in a 64-bit register).
inline __m128 f16x4(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
    const uint64_t h = static_cast<uint64_t>(a) | static_cast<uint64_t>(b) << 16 | static_cast<uint64_t>(c) << 32 |
                       static_cast<uint64_t>(d) << 48;
    return _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<long long>(h)));
}
// Lane k of v in all eight lanes.
inline __m256 lane(__m128 v, int k) {
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v), _mm256_set1_epi32(k));
}

inline float hsum(__m256 v) {
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

// Σ of 4 neighbouring products per i32 lane: unsigned bytes u (codes < 64) times signed bytes s.
// maddubs adds pairs in i16: |pair| ≤ 2·63·127 (or 2·127·127 for the sign form) never saturates.
inline __m256i udot(__m256i u, __m256i s) {
#if QLM_KERNEL_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}
// acc + udot(u, s).
inline __m256i udot_add(__m256i acc, __m256i u, __m256i s) {
#if QLM_KERNEL_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, udot(u, s));
#endif
}
// The same for two signed operands (|x| ≤ 127): |x| as the unsigned side, sign(x)·y as the signed.
inline __m256i sdot(__m256i x, __m256i y) { return udot(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x)); }

// 16 bytes of nibbles -> 32 codes 0..15 in element order (low nibbles first, then high).
inline __m256i nibbles(const uint8_t* qs) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}
inline __m256i q4_0_codes(const uint8_t* qs) { return _mm256_sub_epi8(nibbles(qs), _mm256_set1_epi8(8)); }

// Bit e of the little-endian u32 at qh -> 0xFF in byte e (the 5th bits of Q5_0/Q5_1 codes).
inline __m256i fifth_mask(const uint8_t* qh) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}
// The same as 0x10 in byte e.
inline __m256i fifth_bits(const uint8_t* qh) { return _mm256_and_si256(fifth_mask(qh), _mm256_set1_epi8(0x10)); }
inline __m256i q5_codes(const uint8_t* qh, const uint8_t* qs) { return _mm256_or_si256(nibbles(qs), fifth_bits(qh)); }
// Q5_0 codes minus 16 as signed bytes: nibble | 0xF0 where the 5th bit is clear (= nibble − 16).
inline __m256i q5_0_codes(const uint8_t* qh, const uint8_t* qs) {
    return _mm256_or_si256(nibbles(qs), _mm256_andnot_si256(fifth_mask(qh), _mm256_set1_epi8(static_cast<char>(0xF0))));
}


// Sixteen i16 sub-block scales v (lanes: 0..7 | 8..15) -> madd weights for the 32-byte chunk
// holding sub-blocks j, j+1 (j even): v[j] on the low lane, v[j+1] on the high lane. Two
// shuffles (lane select, then byte shuffle) instead of two scalar broadcasts.
inline __m256i pair_scales16(__m256i v, int j) {
    const __m256i half = j < 8 ? _mm256_permute2x128_si256(v, v, 0x00) : _mm256_permute2x128_si256(v, v, 0x11);
    const char k = static_cast<char>(2 * (j % 8));
    const __m256i mask = _mm256_setr_epi8(k, k + 1, k, k + 1, k, k + 1, k, k + 1, k, k + 1, k, k + 1, k, k + 1, k,
                                          k + 1, k + 2, k + 3, k + 2, k + 3, k + 2, k + 3, k + 2, k + 3, k + 2, k + 3,
                                          k + 2, k + 3, k + 2, k + 3, k + 2, k + 3);
    return _mm256_shuffle_epi8(half, mask);
}
// Eight i16 values in both lanes of v -> v[e] in all sixteen i16 lanes.
inline __m256i splat16(__m256i v, int e) {
    const char k = static_cast<char>(2 * e);
    return _mm256_shuffle_epi8(v, _mm256_setr_epi8(k, k + 1, k, k + 1, k, k + 1, k, k + 1, k, k + 1, k, k + 1, k, k + 1,
                                                   k, k + 1, k, k + 1, k, k + 1, k, k + 1, k, k + 1, k, k + 1, k, k + 1,
                                                   k, k + 1, k, k + 1));
}

// The eight 6-bit scale and min codes of a Q4_K/Q5_K block (as kquant_scale_min), word-wise.
inline void kquant_unpack_scales(const uint8_t* s, uint8_t* sc, uint8_t* mn) {
    uint32_t w0, w1, w2;
    std::memcpy(&w0, s, 4);
    std::memcpy(&w1, s + 4, 4);
    std::memcpy(&w2, s + 8, 4);
    const uint32_t sc_lo = w0 & 0x3f3f3f3fu, sc_hi = (w2 & 0x0f0f0f0fu) | ((w0 >> 2) & 0x30303030u);
    const uint32_t m_lo = w1 & 0x3f3f3f3fu, m_hi = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 2) & 0x30303030u);
    std::memcpy(sc, &sc_lo, 4);
    std::memcpy(sc + 4, &sc_hi, 4);
    std::memcpy(mn, &m_lo, 4);
    std::memcpy(mn + 4, &m_hi, 4);
}

// The sixteen signed scales s_j − 32 of a Q3_K block (as FormatQ3_K::scale_code − 32) as i16.
inline __m256i q3_k_scales16(const uint8_t* s) {
    uint32_t w0, w1, w2;
    std::memcpy(&w0, s, 4);
    std::memcpy(&w1, s + 4, 4);
    std::memcpy(&w2, s + 8, 4);
    const __m128i codes = _mm_setr_epi32(static_cast<int>((w0 & 0x0f0f0f0fu) | ((w2 & 0x03030303u) << 4)),
                                         static_cast<int>((w1 & 0x0f0f0f0fu) | (((w2 >> 2) & 0x03030303u) << 4)),
                                         static_cast<int>(((w0 >> 4) & 0x0f0f0f0fu) | (((w2 >> 4) & 0x03030303u) << 4)),
                                         static_cast<int>(((w1 >> 4) & 0x0f0f0f0fu) | (((w2 >> 6) & 0x03030303u) << 4)));
    return _mm256_cvtepi8_epi16(_mm_sub_epi8(codes, _mm_set1_epi8(32)));
}

}  // namespace qlm::kernels::QLM_KERNEL_ISA
