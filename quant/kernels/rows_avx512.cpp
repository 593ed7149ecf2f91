// Attention's V·P lane kernels on AVX-512: axpy_f16_lanes (many f16 V rows into one output row's
// 8 lanes) and axpy_f16_lanes_rows (the same V rows into many output rows' lanes). 16 elements per
// register; a last group of 8 elements with the upper half masked off, and a tail of fewer than 8
// as axpy_f16_avx2 adds it (no FMA), so every element gets the bits of axpy_f16 on the AVX2 set.
#include <algorithm>

#include "quant/fp16.h"
#include "quant/kernels/x86_int8_headers.h"

// GCC 12's 512-bit intrinsics start from self-initialised "undefined" vectors, which its
// -Wuninitialized reports at every inlined use; nothing here reads an undefined lane.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

QLM_AVX512_TARGET_BEGIN

namespace qlm::kernels::avx512 {

namespace {

// Elements [i, i + 16·C) of the row's 8 lanes (only those of masks m), every V row added to its
// lane: rows before the first lane 0 and after the last whole group of 8 one by one (a switch
// names the registers), the rest 8 at a time with the lanes in order. C = 2 shares each V row's
// coefficient between two registers of elements. v(k, c): register c of V row k's elements.
template <int C, class V>
inline void lanes_chunk(int64_t n, int64_t i, const __mmask16 (&m)[C], int64_t count, int64_t head, int64_t body,
                        V v, const float* p, int64_t lane0, float* lanes) {
    __m512 l[8][C];
    for (int t = 0; t < 8; ++t)
        for (int c = 0; c < C; ++c) l[t][c] = _mm512_maskz_loadu_ps(m[c], lanes + t * n + i + 16 * c);
    auto add = [&](__m512 (&acc)[C], int64_t k) {
        const __m512 a = _mm512_set1_ps(p[k]);
        for (int c = 0; c < C; ++c) acc[c] = _mm512_fmadd_ps(a, v(k, c), acc[c]);
    };
    auto one = [&](int64_t k) {
        switch ((lane0 + k) & 7) {
            case 0: add(l[0], k); break;
            case 1: add(l[1], k); break;
            case 2: add(l[2], k); break;
            case 3: add(l[3], k); break;
            case 4: add(l[4], k); break;
            case 5: add(l[5], k); break;
            case 6: add(l[6], k); break;
            default: add(l[7], k); break;
        }
    };
    for (int64_t k = 0; k < head; ++k) one(k);
    for (int64_t k = head; k < body; k += 8)
        for (int t = 0; t < 8; ++t) add(l[t], k + t);
    for (int64_t k = body; k < count; ++k) one(k);
    for (int t = 0; t < 8; ++t)
        for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(lanes + t * n + i + 16 * c, m[c], l[t][c]);
}

inline int64_t head_of(int64_t count, int64_t lane0) { return std::min(count, (8 - (lane0 & 7)) & 7); }
inline int64_t body_of(int64_t count, int64_t lane0) {
    const int64_t head = head_of(count, lane0);
    return head + (count - head) / 8 * 8;
}

// Elements [i, n) of one row's lanes.
inline void lanes_row(int64_t n, int64_t i, int64_t count, const uint16_t* const* x, const float* p, int64_t lane0,
                      float* lanes) {
    const int64_t head = head_of(count, lane0), body = body_of(count, lane0);
    const __mmask16 full2[2] = {0xFFFF, 0xFFFF}, full[1] = {0xFFFF}, half[1] = {0x00FF};
    auto f16 = [&](const __mmask16* m) {
        return [=](int64_t k, int c) {
            return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m[c], x[k] + i + 16 * c));
        };
    };
    for (; i + 32 <= n; i += 32) lanes_chunk<2>(n, i, full2, count, head, body, f16(full2), p, lane0, lanes);
    for (; i + 16 <= n; i += 16) lanes_chunk<1>(n, i, full, count, head, body, f16(full), p, lane0, lanes);
    if (i + 8 <= n) {
        lanes_chunk<1>(n, i, half, count, head, body, f16(half), p, lane0, lanes);
        i += 8;
    }
    if (i < n)
        for (int64_t k = 0; k < count; ++k) {
            float* y = lanes + ((lane0 + k) & 7) * n;
            for (int64_t t = i; t < n; ++t) y[t] += p[k] * fp16_to_fp32(x[k][t]);
        }
}

}  // namespace

void axpy_f16_lanes(int64_t n, int64_t count, const uint16_t* const* x, const float* p, int64_t lane0,
                    float* lanes) {
    lanes_row(n, 0, count, x, p, lane0, lanes);
}

// 32 elements at a time: the span's V rows widened once (up to kSpan rows, 8 KiB) for all rows,
// whose FMAs then read them as f32; the last elements (fewer than 32) row by row as above.
void axpy_f16_lanes_rows(int64_t n, int64_t count, const uint16_t* const* x, int64_t rows, const float* const* p,
                         int64_t lane0, float* const* lanes) {
    constexpr int64_t kSpan = 64;
    int64_t i = 0;
    if (rows > 1 && count <= kSpan) {
        const int64_t head = head_of(count, lane0), body = body_of(count, lane0);
        const __mmask16 full2[2] = {0xFFFF, 0xFFFF};
        alignas(64) float w[kSpan * 32];
        auto f32 = [&](int64_t k, int c) { return _mm512_load_ps(w + k * 32 + 16 * c); };
        for (; i + 32 <= n; i += 32) {
            for (int64_t k = 0; k < count; ++k)
                for (int c = 0; c < 2; ++c)
                    _mm512_store_ps(w + k * 32 + 16 * c, _mm512_cvtph_ps(_mm256_loadu_si256(
                                                             reinterpret_cast<const __m256i*>(x[k] + i + 16 * c))));
            for (int64_t r = 0; r < rows; ++r) lanes_chunk<2>(n, i, full2, count, head, body, f32, p[r], lane0, lanes[r]);
        }
    }
    for (int64_t r = 0; r < rows; ++r) lanes_row(n, i, count, x, p[r], lane0, lanes[r]);
}

}  // namespace qlm::kernels::avx512

QLM_AVX512_TARGET_END
