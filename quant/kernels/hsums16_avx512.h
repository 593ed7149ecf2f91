// The horizontal sums of eight 512-bit accumulators that each hold two 8-lane sums in their
// halves, taken together by shuffles in dot_avx2.cpp's hsum_avx order ((l0 + l4) + (l2 + l6)) +
// ((l1 + l5) + (l3 + l7)) per half. Include only after QLM_AVX512_TARGET_BEGIN (AVX-512 files).
#pragma once

#include <immintrin.h>

namespace qlm::kernels::avx512 {

// The 16 sums of acc[p] (sums 2p, 2p + 1 in its halves) in order.
inline __m512 hsums16(const __m512 (&acc)[8]) {
    __m512 s[4];
    for (int i = 0; i < 4; ++i) {
        // Quarters [A.lo, A'.lo, B.lo, B'.lo] + [A.hi, A'.hi, B.hi, B'.hi]: a_k = l_k + l_(4+k)
        // for sums 4i .. 4i + 3.
        const __m512 lo = _mm512_shuffle_f32x4(acc[2 * i], acc[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0));
        const __m512 hi = _mm512_shuffle_f32x4(acc[2 * i], acc[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1));
        s[i] = _mm512_add_ps(lo, hi);
    }
    // Quarter k: [b0, b1] of sums k and 4 + k (t0), 8 + k and 12 + k (t1); b0 = a0 + a2, b1 = a1 + a3.
    const __m512 t0 = _mm512_add_ps(_mm512_shuffle_ps(s[0], s[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_ps(s[0], s[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 t1 = _mm512_add_ps(_mm512_shuffle_ps(s[2], s[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_ps(s[2], s[3], _MM_SHUFFLE(3, 2, 3, 2)));
    // Element 4k + e: b0 + b1 of sum k + 4e.
    const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_permutexvar_ps(_mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0), r);
}

}  // namespace qlm::kernels::avx512
