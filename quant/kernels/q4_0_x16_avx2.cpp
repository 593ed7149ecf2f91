// The Q4_0 batch on rows repacked in groups of 16 (quant/q4_0_x16.h), AVX2: each group as two
// halves of 8 rows, one row per i32 lane of a 256-bit register -- the first and the second 32 bytes
// of each 64-byte code register of the layout, the first and the second 16 bytes of a block's
// scales -- so a block costs per token and 8 rows 8 maddubs, one madd, one conversion and one FMA,
// with no horizontal sums and no transposition, and a decode step streams each group in order.
//
// Without VNNI the products go through maddubs: codes 0..15 (the high nibbles shifted down) times
// the token's codes (−128..127) give i16 pairs of magnitude at most 2·15·128 = 3840, so a block's
// eight pairs per lane add up exactly in i16 (at most 30720) and one madd widens them to i32.
//
// Each lane computes what q4_0_x16_avx512.cpp computes for its row: the block's exact integer sum
// Σ (c − 8)·a, then acc = fma(d_w·d_a, float(sum), acc) block after block. So a repacked matrix
// gives the bits of the AVX-512 set, for 1..8 tokens alike (and of the scalar rule
// q4_0_x16_reference in the unit test).
#include <algorithm>

#include "quant/kernels/x86_int8_headers.h"
#include "quant/q4_0_x16.h"

#define QLM_KERNEL_ISA avx2
#define QLM_KERNEL_VNNI 0
#include "quant/kernels/quant_x86.h"

namespace qlm::kernels::avx2 {

namespace {

constexpr int64_t kHalfRows = kX16Rows / 2;
// Blocks whose activation offsets and scales are computed once for all the rows of a call; each
// row's accumulators go to y between chunks and come back unchanged.
constexpr int64_t kChunk = 64;

struct Chunk {
    int64_t b0 = 0, nc = 0;
    alignas(32) int32_t off[kChunk][8];  // −8·Σa of block b0 + c for token t (the codes are 0..15)
    alignas(32) float da[kChunk][8];     // the token's block scale
};

inline int32_t sum_codes(const int8_t* qs) {
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), load32(qs)), _mm256_set1_epi16(1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

// One token: how far ahead in a group's codes each block prefetches (8 blocks). Two groups'
// code and scale runs read side by side otherwise leave a step waiting on memory (a 38 MB matrix
// read at 10-11 GB/s without, 12-14 with, in a one-token microbenchmark).
constexpr int kPrefetchBytes = 2048;
inline __m256i broadcast_dword(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// NH halves (8 rows each; half u is rows 8u..8u+7 of the call, in group u/2) x NT tokens from t0,
// over the chunk's blocks; y[t·ys + 8u + i] for row 8u + i.
template <int NH, int NT>
void halves(const uint8_t* w, uint64_t gs, uint64_t scale_bytes, int64_t u0, const Chunk& ch,
            const BlockQ8_0* const* a, int t0, float* y, int64_t ys) {
    __m256 acc[NH][NT];
#pragma GCC unroll 4
    for (int h = 0; h < NH; ++h)
#pragma GCC unroll 4
        for (int t = 0; t < NT; ++t)
            acc[h][t] = ch.b0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(y + (t0 + t) * ys + kHalfRows * (u0 + h));
    // Half h's scales at 32·b + 16·(u mod 2) of its group, its codes at scale_bytes + 256·b + 32·(u mod 2).
    const uint8_t* scales[NH];
    const uint8_t* codes[NH];
    for (int h = 0; h < NH; ++h) {
        const uint8_t* grp = w + gs * static_cast<uint64_t>((u0 + h) / 2);
        scales[h] = grp + 16 * ((u0 + h) % 2);
        codes[h] = grp + scale_bytes + 32 * ((u0 + h) % 2);
    }
    const __m256i m = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    for (int64_t c = 0; c < ch.nc; ++c) {
        const int64_t b = ch.b0 + c;
#pragma GCC unroll 4
        for (int h = 0; h < NH; ++h) {
            const uint8_t* q = codes[h] + 256 * static_cast<uint64_t>(b);
            if (NT == 1 && h % 2 == 0) {
#pragma GCC unroll 4
                for (int j = 0; j < 4; ++j)
                    _mm_prefetch(reinterpret_cast<const char*>(q + kPrefetchBytes + 64 * j), _MM_HINT_T0);
            }
            __m256i s16[NT];
#pragma GCC unroll 4
            for (int t = 0; t < NT; ++t) s16[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int j = 0; j < 4; ++j) {
                const __m256i x = load32(q + 64 * j);
                const __m256i lo = _mm256_and_si256(x, m), hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m);
#pragma GCC unroll 4
                for (int t = 0; t < NT; ++t) {
                    const int8_t* ad = a[t0 + t][b].qs;
                    s16[t] = _mm256_add_epi16(s16[t], _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast_dword(ad + 4 * j)),
                                                                       _mm256_maddubs_epi16(hi, broadcast_dword(ad + 16 + 4 * j))));
                }
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales[h] + 32 * b)));
#pragma GCC unroll 4
            for (int t = 0; t < NT; ++t) {
                const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(s16[t], ones), _mm256_set1_epi32(ch.off[c][t0 + t]));
                acc[h][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(ch.da[c][t0 + t])), _mm256_cvtepi32_ps(s),
                                            acc[h][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int h = 0; h < NH; ++h)
#pragma GCC unroll 4
        for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + (t0 + t) * ys + kHalfRows * (u0 + h), acc[h][t]);
}

}  // namespace

void gemm_batch_q4_0_x16(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys) {
    using Fn = void (*)(const uint8_t*, uint64_t, uint64_t, int64_t, const Chunk&, const BlockQ8_0* const*, int, float*,
                        int64_t);
    // 16 registers: the accumulators and i16 sums of NH·NT ≤ 4 row-token pairs fit with the codes.
    static constexpr Fn kSingles[4] = {halves<1, 1>, halves<1, 2>, halves<1, 3>, halves<1, 4>};
    const BlockQ8_0* act[8];
    for (int64_t t = 0; t < 8; ++t)
        act[t] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) +
                                                    as * static_cast<uint64_t>(std::min<int64_t>(t, nt - 1)));
    const auto* wb = static_cast<const uint8_t*>(w);
    const int64_t nb = n / 32, units = rows / kHalfRows;
    const uint64_t scale_bytes = (static_cast<uint64_t>(nb) * 32 + 63) / 64 * 64;
    Chunk ch;
    for (ch.b0 = 0; ch.b0 < nb; ch.b0 += kChunk) {
        ch.nc = std::min(kChunk, nb - ch.b0);
        for (int64_t c = 0; c < ch.nc; ++c)
            for (int64_t t = 0; t < nt; ++t) {
                ch.off[c][t] = -8 * sum_codes(act[t][ch.b0 + c].qs);
                ch.da[c][t] = f16(act[t][ch.b0 + c].d);
            }
        int64_t u = 0;
        if (nt == 1) {
            for (; u + 4 <= units; u += 4) halves<4, 1>(wb, gs, scale_bytes, u, ch, act, 0, y, ys);
            for (; u + 2 <= units; u += 2) halves<2, 1>(wb, gs, scale_bytes, u, ch, act, 0, y, ys);
        } else if (nt == 2) {
            for (; u + 2 <= units; u += 2) halves<2, 2>(wb, gs, scale_bytes, u, ch, act, 0, y, ys);
        }
        for (; u < units; ++u)
            for (int t0 = 0; t0 < nt; t0 += 4)
                kSingles[std::min<int64_t>(4, nt - t0) - 1](wb, gs, scale_bytes, u, ch, act, t0, y, ys);
    }
}

}  // namespace qlm::kernels::avx2
