// Rows in lanes, shared by the AVX-512 batches that put 16 weight rows in the 16 i32 lanes of a
// register (gemm_batch_avx512.cpp, gemm_batch_kquant_avx512.cpp, gemm_q8_0_lanes_avx512.cpp,
// q4_0_x16_avx512.cpp, q5_0_x16_avx512.cpp, q8_0_x16_avx512.cpp). Include it only inside an
// AVX-512 target region (after QLM_AVX512_TARGET_BEGIN), as those files do.
#pragma once

#include <cstdint>

#include "quant/kernels/x86_int8_headers.h"

namespace qlm::kernels::avx512 {

inline constexpr int kLanes = 16;

// Four rows' 16 bytes at a time go into the four 128-bit lanes of a register and are transposed
// as 4x4 dwords, so lane i of word j holds dword j of row lane_row(i).
inline int lane_row(int i) { return 4 * (i % 4) + i / 4; }

// The 16 bytes at row(r) for r = 0..15 -> w[j]: lane i = dword j of row(lane_row(i)).
template <class Row>
inline void transpose16(Row row, __m512i (&w)[4]) {
    __m512i z[4];
    for (int q = 0; q < 4; ++q) {
        auto ld = [&](int r) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(row(r))); };
        z[q] = _mm512_inserti32x4(
            _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(ld(4 * q)), ld(4 * q + 1), 1), ld(4 * q + 2), 2),
            ld(4 * q + 3), 3);
    }
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    w[0] = _mm512_unpacklo_epi64(t0, t2);
    w[1] = _mm512_unpackhi_epi64(t0, t2);
    w[2] = _mm512_unpacklo_epi64(t1, t3);
    w[3] = _mm512_unpackhi_epi64(t1, t3);
}

// −128·Σ of each dword of a Q8_0 block's 32 codes: where a block sum over codes biased to unsigned
// (c + 128, for vpdpbusd) starts, so that it ends at the exact Σ c·a.
inline __m256i q8_0_bias_offsets(const int8_t* qs) {
    const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(static_cast<char>(0x80)),
                                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs)));
    return _mm256_sub_epi32(_mm256_setzero_si256(), s);
}

// Σ of one Q8_0 block's 32 codes (the unsigned 4/5-bit formats' offset term: Σ (c − o)·a =
// Σ c·a − o·Σ a).
inline int32_t q8_0_code_sum(const int8_t* qs) {
    const __m256i v = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1),
                                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs)));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

// The same for block b of the 8 token rows a[0..7] (lane t: token t), one hadd tree.
template <class Block>
inline __m256i q8_0_code_sums8(const Block* const* a, int64_t b) {
    __m256i v[8];
    for (int t = 0; t < 8; ++t)
        v[t] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1),
                                   _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t][b].qs)));
    const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
}

// The 8 lane accumulators of the Q8_0 dot's order (lane l: products 4l..4l+3 of every block)
// summed as reduce_lanes8_tinyblas sums them, 16 rows at once.
inline __m512 q8_0_lane_sums(const __m512* l) {
    return _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(l[0], l[4]), _mm512_add_ps(l[2], l[6])),
                         _mm512_add_ps(_mm512_add_ps(l[1], l[5]), _mm512_add_ps(l[3], l[7])));
}

}  // namespace qlm::kernels::avx512
