// Rows in lanes, shared by the AVX-512 batches that put 16 weight rows in the 16 i32 lanes of a
// register (gemm_batch_avx512.cpp, gemm_batch_kquant_avx512.cpp). Include it only inside an
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

}  // namespace qlm::kernels::avx512
