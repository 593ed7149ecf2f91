// The Q6_K batch on rows repacked in groups of 16 (quant/q6_k_x16.h), AVX-512 VNNI, for 1..8
// tokens: two rows per register, a row per 256-bit half, each group one sequential stream. Per
// super-block and pair of rows the 6-bit codes are assembled once (8 vectors of 64 codes) with
// their sub-block scales laid out per lane, then each token costs 8 vpmaddubsw and 9 vpdpwssd
// (the integer steps of gemm_batch_q6_k, on two rows at once).
//
// Each half computes what dot_q6_k and gemm_batch_q6_k compute for its row, lane for lane: lane k
// (of 8) of super-block b holds the exact integer Σ_c sc(c,k)·Σ_{e<4} q·q_a over the elements
// 32c + 4k + e of the eight 32-element chunks c (sc(c,k) the scale of sub-block 2c + k/4, q the
// stored code 0..63) minus 32·(bsums[2k]·sc_2k + bsums[2k+1]·sc_2k+1); it is added to the lane's
// float accumulator as fma(d·d_a, isum, acc), super-block after super-block, and the 8 lanes are
// summed at the end in hsum's order. So every output has their bits, for any number of tokens.
#include <algorithm>
#include <cstring>

#include "quant/kernels/x86_int8_headers.h"
#include "quant/q6_k_x16.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

QLM_AVX512_TARGET_BEGIN

namespace qlm::kernels::avx512 {

namespace {

constexpr int kPairs = static_cast<int>(kX16Rows / 2);
constexpr uint64_t kPrefetchBytes = 2048;

// vpermw indices: the i16 pair of dword 8r + k <- scales 2k, 2k+1 of row r (in the pair's scales
// widened to i16: the even sub-blocks at 16r + j/2, the odd ones at 16r + 8 + j/2), the order of
// the bsums.
struct PairIndex {
    alignas(64) int16_t idx[32];
    constexpr PairIndex() : idx{} {
        for (int r = 0; r < 2; ++r)
            for (int k = 0; k < 8; ++k) {
                idx[2 * (8 * r + k)] = static_cast<int16_t>(16 * r + k);
                idx[2 * (8 * r + k) + 1] = static_cast<int16_t>(16 * r + 8 + k);
            }
    }
};
constexpr PairIndex kPairIndex;

// vpshufb control of chunk c: i16 c of each 128-bit lane in both halves of every dword (lane k < 4
// of a row: sub-block 2c; k ≥ 4: 2c + 1).
inline __m512i chunk_scale_ctl(int c) {
    const uint32_t lo = 2u * static_cast<uint32_t>(c), hi = lo + 1;
    return _mm512_set1_epi32(static_cast<int>(lo | hi << 8 | lo << 16 | hi << 24));
}

// The 64 codes (0..63) of chunk c = 4h + s of both rows: ql's low nibbles (s = 0, 1) or high ones
// (s = 2, 3) and qh's bits 2s, 2s+1 as bits 4 and 5. The 16-bit shifts carry bits across bytes
// only where the masks drop them.
template <int S>
[[gnu::always_inline]] inline __m512i codes(__m512i qa, __m512i qb, __m512i qh) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i ql = S % 2 ? qb : qa;
    const __m512i lo = S < 2 ? ql : _mm512_srli_epi16(ql, 4);
    const __m512i hi = S == 0   ? _mm512_slli_epi16(qh, 4)
                       : S == 1 ? _mm512_slli_epi16(qh, 2)
                       : S == 2 ? qh
                                : _mm512_srli_epi16(qh, 2);
    // m4 ? lo : (hi & 0x30), bit by bit.
    return _mm512_ternarylogic_epi32(m4, lo, _mm512_and_si512(hi, m30), 0xCA);
}

// One super-block run blk of a group for NT tokens (a[t]: token t's Q8_K super-block):
// acc[p][t] += (d·d_a)·isum lane by lane for every pair p.
template <int NT>
[[gnu::always_inline]] inline void super_block(const uint8_t* blk, const BlockQ8_K* const* a, __m512 (*acc)[NT]) {
    const __m512 dall = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(blk)));
    for (int p = 0; p < kPairs; ++p) {
        const __m512i sc16 = _mm512_cvtepi8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(blk + 32 + 32 * p)));
        // The offset of the stored codes (+32) per lane: −32·sc as i16 pairs against the bsums.
        const __m512i scn = _mm512_mullo_epi16(_mm512_permutexvar_epi16(_mm512_load_si512(kPairIndex.idx), sc16),
                                               _mm512_set1_epi16(-32));
        __m512i sc[8], q[8];
#pragma GCC unroll 8
        for (int c = 0; c < 8; ++c) sc[c] = _mm512_shuffle_epi8(sc16, chunk_scale_ctl(c));
        const uint8_t* qp = blk + 288 + 384 * p;
        if constexpr (NT >= 4) {
            // From 4 tokens a pair is long enough work that the hardware prefetcher, paced by the
            // loads it sees, leaves misses exposed: the stream ~2 KiB ahead into L1 (7 lines per
            // pair cover a run's 52.5 lines).
#pragma GCC unroll 7
            for (int j = 0; j < 7; ++j)
                _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetchBytes + 448 * p + 64 * j), _MM_HINT_T0);
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            const __m512i qa = _mm512_loadu_si512(qp + 192 * h), qb = _mm512_loadu_si512(qp + 192 * h + 64);
            const __m512i qh = _mm512_loadu_si512(qp + 192 * h + 128);
            q[4 * h] = codes<0>(qa, qb, qh);
            q[4 * h + 1] = codes<1>(qa, qb, qh);
            q[4 * h + 2] = codes<2>(qa, qb, qh);
            q[4 * h + 3] = codes<3>(qa, qb, qh);
        }
        const __m512 dp = _mm512_permutexvar_ps(
            _mm512_set_epi32(2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1,
                             2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p),
            dall);
#pragma GCC unroll 8
        for (int t = 0; t < NT; ++t) {
            const __m512i bs = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t]->bsums)));
            __m512i isum = _mm512_dpwssd_epi32(_mm512_setzero_si512(), bs, scn);
#pragma GCC unroll 8
            for (int c = 0; c < 8; ++c) {
                // Pairs of code·q_a (|Σ| ≤ 2·63·128: no saturation), times the lane's scale.
                const __m512i qa = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t]->qs + 32 * c)));
                isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q[c], qa), sc[c]);
            }
            acc[p][t] = _mm512_fmadd_ps(_mm512_mul_ps(dp, _mm512_set1_ps(a[t]->d)), _mm512_cvtepi32_ps(isum), acc[p][t]);
        }
    }
}

// The 8 lanes of each half in hsum's order (lane i + lane i+4, then those pairs, then the two).
inline void store_rows(__m512 v, float* y) {
    alignas(64) float l[16];
    _mm512_store_ps(l, v);
    for (int r = 0; r < 2; ++r) {
        const float* x = l + 8 * r;
        const float s0 = x[0] + x[4], s1 = x[1] + x[5], s2 = x[2] + x[6], s3 = x[3] + x[7];
        y[r] = (s0 + s2) + (s1 + s3);
    }
}

// `groups` groups (gs bytes apart) x NT tokens: y[t·ys + 16g + i] for row 16g + i.
template <int NT>
void x16_groups(int64_t nb, int64_t groups, const uint8_t* w, uint64_t gs, const BlockQ8_K* const* a, float* y,
                int64_t ys) {
    for (int64_t g = 0; g < groups; ++g) {
        const uint8_t* grp = w + gs * static_cast<uint64_t>(g);
        __m512 acc[kPairs][NT];
        for (auto& pa : acc)
            for (__m512& v : pa) v = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            const BlockQ8_K* ab[NT];
            for (int t = 0; t < NT; ++t) ab[t] = a[t] + b;
            super_block<NT>(grp + kQ6_Kx16BlockBytes * static_cast<uint64_t>(b), ab, acc);
        }
        for (int p = 0; p < kPairs; ++p)
            for (int t = 0; t < NT; ++t) store_rows(acc[p][t], y + t * ys + kX16Rows * g + 2 * p);
    }
}

}  // namespace

void gemm_batch_q6_k_x16(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys) {
    using Fn = void (*)(int64_t, int64_t, const uint8_t*, uint64_t, const BlockQ8_K* const*, float*, int64_t);
    static constexpr Fn kByTokens[8] = {x16_groups<1>, x16_groups<2>, x16_groups<3>, x16_groups<4>,
                                        x16_groups<5>, x16_groups<6>, x16_groups<7>, x16_groups<8>};
    const BlockQ8_K* act[8];
    for (int64_t t = 0; t < 8; ++t)
        act[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) +
                                                    as * static_cast<uint64_t>(std::min<int64_t>(t, nt - 1)));
    kByTokens[nt - 1](n / 256, rows / kX16Rows, static_cast<const uint8_t*>(w), gs, act, y, ys);
}

}  // namespace qlm::kernels::avx512
QLM_AVX512_TARGET_END
