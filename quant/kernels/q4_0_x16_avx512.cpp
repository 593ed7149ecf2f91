// The Q4_0 batch on rows repacked in groups of 16 (quant/q4_0_x16.h), AVX-512 VNNI: one row per i32
// lane, so a block costs per token 8 vpdpbusd, one conversion and one FMA for 16 rows, with no
// horizontal sums, no gathers and no transposition: the layout already holds each register's
// lanes, and every group is one sequential stream the hardware prefetcher follows.
//
// Each lane computes exactly what gemm_batch_avx512.cpp's q4_0_lanes computes for its row: the
// block's integer sum Σ (c − 8)·a (integers: the grouping of the adds does not matter), then
// acc = fma(d_w·d_a, float(sum), acc) block after block. So a repacked matrix gives the bits of
// the original one, for 1..8 tokens alike.
#include <algorithm>
#include <cstring>

#include "quant/kernels/x86_int8_headers.h"
#include "quant/q4_0_x16.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

QLM_AVX512_TARGET_BEGIN
#define QLM_KERNEL_ISA avx512
#define QLM_KERNEL_VNNI 1
#include "quant/kernels/quant_x86.h"
#include "quant/kernels/lanes_avx512.h"

namespace qlm::kernels::avx512 {

namespace {

static_assert(kLanes == kX16Rows, "a group of the layout is one register's lanes");

inline __m512i broadcast_dword(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// One block of a group (q: its four 64-byte registers): the low nibbles as they are and the high
// nibbles kept in place (16·c): their sum is exactly 16 times theirs, shifted back once per block.
[[gnu::always_inline]] inline void load_nibbles(const uint8_t* q, __m512i (&lo)[4], __m512i (&hi)[4]) {
    const __m512i m_lo = _mm512_set1_epi8(0x0F), m_hi = _mm512_set1_epi8(static_cast<char>(0xF0));
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
        const __m512i x = _mm512_load_si512(q + 64 * j);
        lo[j] = _mm512_and_si512(x, m_lo);
        hi[j] = _mm512_and_si512(x, m_hi);
    }
}

// The 16 rows' exact block sums Σ w·a against one token's codes ad, starting from off (−8·Σa).
[[gnu::always_inline]] inline __m512i block_sums(const __m512i (&lo)[4], const __m512i (&hi)[4], const int8_t* ad,
                                                int32_t off) {
    __m512i cl = _mm512_set1_epi32(off), ch = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
        cl = _mm512_dpbusd_epi32(cl, lo[j], broadcast_dword(ad + 4 * j));
        ch = _mm512_dpbusd_epi32(ch, hi[j], broadcast_dword(ad + 16 + 4 * j));
    }
    return _mm512_add_epi32(cl, _mm512_srai_epi32(ch, 4));
}

// Block b of a group (its four code lines and its scales) on its way into L1 ahead of use. With
// eight tokens a block is ~64 vpdpbusd of work, long enough that the hardware prefetcher, paced by
// the loads it sees, leaves the next blocks' misses exposed; asking some blocks ahead overlaps
// them with the arithmetic.
[[gnu::always_inline]] inline void prefetch_block(const uint8_t* grp, uint64_t scale_bytes, int64_t b) {
    const char* q = reinterpret_cast<const char*>(grp + scale_bytes + 256 * static_cast<uint64_t>(b));
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) _mm_prefetch(q + 64 * j, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(grp + 32 * static_cast<uint64_t>(b)), _MM_HINT_T0);
}

// G ≤ 4 groups (gs bytes apart) x NT tokens over nb blocks; y[t·ys + 16g + i] for row 16g + i.
template <int G, int NT>
void x16_groups(int64_t nb, const uint8_t* w, uint64_t gs, const BlockQ8_0* const* a, float* y, int64_t ys) {
    __m512 acc[G][NT];
    for (auto& g : acc)
        for (auto& v : g) v = _mm512_setzero_ps();
    const uint64_t scale_bytes = (static_cast<uint64_t>(nb) * 32 + 63) / 64 * 64;
    for (int64_t b = 0; b < nb; ++b) {
        // −8·Σa starts each token's block sum (the codes are unsigned 0..15).
        alignas(32) int32_t off[8];
        if constexpr (NT <= 2) {
            for (int t = 0; t < NT; ++t) off[t] = -8 * q8_0_code_sum(a[t][b].qs);
        } else {
            _mm256_store_si256(reinterpret_cast<__m256i*>(off), _mm256_slli_epi32(q8_0_code_sums8(a, b), 3));
            for (int t = 0; t < NT; ++t) off[t] = -off[t];
        }
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) {
            const uint8_t* grp = w + gs * static_cast<uint64_t>(g);
            const uint8_t* q = grp + scale_bytes + 256 * static_cast<uint64_t>(b);
            const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(grp + 32 * b)));
            __m512i lo[4], hi[4];
            load_nibbles(q, lo, hi);
#pragma GCC unroll 8
            for (int t = 0; t < NT; ++t) {
                const __m512i s = block_sums(lo, hi, a[t][b].qs, off[t]);
                acc[g][t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(f16(a[t][b].d))), _mm512_cvtepi32_ps(s),
                                            acc[g][t]);
            }
        }
    }
    for (int g = 0; g < G; ++g)
        for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y + t * ys + kLanes * g, acc[g][t]);
}

// The same for 3..8 tokens, one group at a time over chunks of blocks whose activation offsets
// and scales are computed once for all the groups: the 8 tokens' broadcast activations, offsets
// and accumulators of two groups at once do not fit the 32 registers. Each group's accumulators
// go to y between chunks and come back unchanged.
constexpr int64_t kChunk = 64;
constexpr int64_t kPrefetch = 8;  // blocks: ~2 KiB ahead

template <int NT>
void x16_chunks(int64_t nb, int64_t groups, const uint8_t* w, uint64_t gs, const BlockQ8_0* const* a, float* y,
                int64_t ys) {
    const uint64_t scale_bytes = (static_cast<uint64_t>(nb) * 32 + 63) / 64 * 64;
    alignas(64) int32_t off[kChunk][8];
    alignas(64) float da[kChunk][8];
    for (int64_t b0 = 0; b0 < nb; b0 += kChunk) {
        const int64_t nc = std::min(kChunk, nb - b0);
        for (int64_t c = 0; c < nc; ++c) {
            _mm256_store_si256(reinterpret_cast<__m256i*>(off[c]),
                               _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(q8_0_code_sums8(a, b0 + c), 3)));
            for (int t = 0; t < NT; ++t) da[c][t] = f16(a[t][b0 + c].d);
        }
        for (int64_t g = 0; g < groups; ++g) {
            const uint8_t* grp = w + gs * static_cast<uint64_t>(g);
            float* yg = y + kLanes * g;
            __m512 acc[NT];
#pragma GCC unroll 8
            for (int t = 0; t < NT; ++t) acc[t] = b0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(yg + t * ys);
            for (int64_t c = 0; c < nc; ++c) {
                const int64_t b = b0 + c;
                // The block kPrefetch ahead in this pass's order: later in this group's chunk, or
                // early in the next group's.
                const int64_t cp = c + kPrefetch;
                if (cp < nc) prefetch_block(grp, scale_bytes, b0 + cp);
                else if (g + 1 < groups) prefetch_block(grp + gs, scale_bytes, b0 + cp - nc);
                const uint8_t* q = grp + scale_bytes + 256 * static_cast<uint64_t>(b);
                const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(grp + 32 * b)));
                __m512i lo[4], hi[4];
                load_nibbles(q, lo, hi);
#pragma GCC unroll 8
                for (int t = 0; t < NT; ++t) {
                    const __m512i sum = block_sums(lo, hi, a[t][b].qs, off[c][t]);
                    acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(da[c][t])), _mm512_cvtepi32_ps(sum), acc[t]);
                }
            }
#pragma GCC unroll 8
            for (int t = 0; t < NT; ++t) _mm512_storeu_ps(yg + t * ys, acc[t]);
        }
    }
}

}  // namespace

void gemm_batch_q4_0_x16(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys) {
    using Fn = void (*)(int64_t, const uint8_t*, uint64_t, const BlockQ8_0* const*, float*, int64_t);
    static constexpr Fn kPairs[2] = {x16_groups<2, 1>, x16_groups<2, 2>};
    static constexpr Fn kSingles[2] = {x16_groups<1, 1>, x16_groups<1, 2>};
    using ChunkFn = void (*)(int64_t, int64_t, const uint8_t*, uint64_t, const BlockQ8_0* const*, float*, int64_t);
    static constexpr ChunkFn kChunks[8] = {nullptr,          nullptr,          x16_chunks<3>, x16_chunks<4>,
                                           x16_chunks<5>, x16_chunks<6>, x16_chunks<7>, x16_chunks<8>};
    const BlockQ8_0* act[8];
    for (int64_t t = 0; t < 8; ++t)
        act[t] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) +
                                                    as * static_cast<uint64_t>(std::min<int64_t>(t, nt - 1)));
    const auto* wb = static_cast<const uint8_t*>(w);
    if (nt > 2) {
        kChunks[nt - 1](n / 32, rows / kLanes, wb, gs, act, y, ys);
        return;
    }
    int64_t r = 0;
    // One token: four groups per pass, four sequential streams in flight instead of two (from
    // memory, measured faster; the single-token batch waits on the read, not the arithmetic).
    if (nt == 1)
        for (; r + 4 * kLanes <= rows; r += 4 * kLanes)
            x16_groups<4, 1>(n / 32, wb + gs * static_cast<uint64_t>(r / kLanes), gs, act, y + r, ys);
    for (; r + 2 * kLanes <= rows; r += 2 * kLanes)
        kPairs[nt - 1](n / 32, wb + gs * static_cast<uint64_t>(r / kLanes), gs, act, y + r, ys);
    for (; r + kLanes <= rows; r += kLanes)
        kSingles[nt - 1](n / 32, wb + gs * static_cast<uint64_t>(r / kLanes), gs, act, y + r, ys);
}

}  // namespace qlm::kernels::avx512
QLM_AVX512_TARGET_END
