// The Q4_K batch on rows repacked in groups of 16 (quant/q4_k_x16.h), AVX-512 VNNI, for 1..8
// tokens: one row per i32 lane, so a super-block costs per token 64 vpdpbusd, 8 vpdpwssd for the
// scales and 4 for the mins, for 16 rows, with no horizontal sums, no transposition and no
// bit-field decoding of the scales (unpacked at load): each group is one sequential stream.
//
// Each lane computes what the scalar reference (KQuantAsym::vec_dot) computes for its row: exact
// integer sums isum = Σ sc_j·Σ q·q_a and msum = Σ m_j·(bsums[2j] + bsums[2j+1]) (integers: the
// grouping of the adds does not matter), then s += (d·d_a)·isum − (dmin·d_a)·msum super-block
// after super-block, each product and add rounded as written: this file is compiled with
// -ffp-contract=off (quant/CMakeLists.txt). So every output is the reference's bits, for any
// number of tokens, as gemm_batch_q4_k's lanes from 4 tokens.
#include <algorithm>
#include <cstring>

#include "quant/kernels/x86_int8_headers.h"
#include "quant/q4_k_x16.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

QLM_AVX512_TARGET_BEGIN

namespace qlm::kernels::avx512 {

namespace {

constexpr int kLanes = static_cast<int>(kX16Rows);

inline __m512i broadcast_dword(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// vpshufb control: bytes b0 and b1 of each dword, zero-extended, as the dword's i16 pair.
inline __m512i pick_pair(int b0, int b1) {
    alignas(16) int8_t c[16];
    for (int q = 0; q < 4; ++q) {
        c[4 * q] = static_cast<int8_t>(4 * q + b0);
        c[4 * q + 1] = static_cast<int8_t>(0x80);
        c[4 * q + 2] = static_cast<int8_t>(4 * q + b1);
        c[4 * q + 3] = static_cast<int8_t>(0x80);
    }
    return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(c)));
}

// One super-block run p of a group for NT tokens (qa[t]: token t's codes, ab[t] its sums):
// acc[t] += (d·d_a)·isum − (dmin·d_a)·msum in every lane.
template <int NT>
[[gnu::always_inline]] inline void super_block(const uint8_t* p, const int8_t* const* qa, const Q4_KActBlock* ab,
                                               __m512 (&acc)[NT]) {
    const __m512i m_lo = _mm512_set1_epi8(0x0F), m_hi = _mm512_set1_epi8(static_cast<char>(0xF0));
    const __m512i pair01 = pick_pair(0, 1), pair23 = pick_pair(2, 3);
    __m512i isum[NT];
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
        // (sc_2c, sc_2c+1): the scales of this 64-element chunk's two sub-blocks, an i16 pair.
        const __m512i s = _mm512_load_si512(p + 64 + 64 * (c / 2));
        const __m512i scp = _mm512_shuffle_epi8(s, c % 2 ? pair23 : pair01);
#pragma GCC unroll 2
        for (int k = 0; k < 2; ++k) {
            // Elements 64c + 16k .. +15 (low nibbles, sub-block 2c) and the same + 32 (high
            // nibbles kept in place, 16·q: sub-block 2c+1, its sum shifted back below).
            __m512i lo[4], hi[4];
#pragma GCC unroll 4
            for (int j = 0; j < 4; ++j) {
                const __m512i x = _mm512_load_si512(p + 320 + 64 * (8 * c + 4 * k + j));
                lo[j] = _mm512_and_si512(x, m_lo);
                hi[j] = _mm512_and_si512(x, m_hi);
            }
#pragma GCC unroll 8
            for (int t = 0; t < NT; ++t) {
                const int8_t* q = qa[t] + 64 * c + 16 * k;
                __m512i sl = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[0], broadcast_dword(q));
                __m512i sh = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[0], broadcast_dword(q + 32));
#pragma GCC unroll 3
                for (int j = 1; j < 4; ++j) {
                    sl = _mm512_dpbusd_epi32(sl, lo[j], broadcast_dword(q + 4 * j));
                    sh = _mm512_dpbusd_epi32(sh, hi[j], broadcast_dword(q + 32 + 4 * j));
                }
                // Each 16-element sum fits an i16 (|Σ| ≤ 16·15·128): (sl, sh/16) as one i16 pair,
                // times (sc_2c, sc_2c+1) into isum by one vpdpwssd. Bits 16..31 of sh << 12 are
                // bits 4..19 of sh, i.e. those of sh/16 (exact: sh is a multiple of 16).
                const __m512i pair = _mm512_mask_blend_epi16(0xAAAAAAAAu, sl, _mm512_slli_epi32(sh, 12));
                isum[t] = _mm512_dpwssd_epi32(isum[t], pair, scp);
            }
        }
    }
    // (m_2k, m_2k+1) i16 pairs of the mins, against (bs_2k, bs_2k+1).
    const __m512i m0 = _mm512_load_si512(p + 192), m1 = _mm512_load_si512(p + 256);
    const __m512i mp[4] = {_mm512_shuffle_epi8(m0, pair01), _mm512_shuffle_epi8(m0, pair23),
                           _mm512_shuffle_epi8(m1, pair01), _mm512_shuffle_epi8(m1, pair23)};
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
    const __m512 dm = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p + 32)));
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
        __m512i msum = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) msum = _mm512_dpwssd_epi32(msum, mp[k], _mm512_set1_epi32(ab[t].bs[k]));
        const __m512 da = _mm512_set1_ps(ab[t].d);
        const __m512 x = _mm512_sub_ps(_mm512_mul_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum[t])),
                                       _mm512_mul_ps(_mm512_mul_ps(dm, da), _mm512_cvtepi32_ps(msum)));
        acc[t] = _mm512_add_ps(acc[t], x);
    }
}

// `groups` groups (gs bytes apart) x NT tokens, over chunks of super-blocks whose activation sums
// are computed once for all the groups; each group's accumulators go to y between chunks and come
// back unchanged. y[t·ys + 16g + i] for row 16g + i.
constexpr int64_t kChunk = 32;

template <int NT>
void x16_chunks(int64_t nb, int64_t groups, const uint8_t* w, uint64_t gs, const BlockQ8_K* const* a, float* y,
                int64_t ys) {
    Q4_KActBlock ab[kChunk][NT];
    for (int64_t b0 = 0; b0 < nb; b0 += kChunk) {
        const int64_t nc = std::min(kChunk, nb - b0);
        for (int64_t c = 0; c < nc; ++c)
            for (int t = 0; t < NT; ++t) ab[c][t] = q4_k_act_block(a[t][b0 + c]);
        for (int64_t g = 0; g < groups; ++g) {
            const uint8_t* grp = w + gs * static_cast<uint64_t>(g);
            float* yg = y + kLanes * g;
            __m512 acc[NT];
#pragma GCC unroll 8
            for (int t = 0; t < NT; ++t) acc[t] = b0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(yg + t * ys);
            for (int64_t c = 0; c < nc; ++c) {
                const int64_t b = b0 + c;
                const int8_t* qa[NT];
                for (int t = 0; t < NT; ++t) qa[t] = a[t][b].qs;
                super_block<NT>(grp + kQ4_Kx16BlockBytes * static_cast<uint64_t>(b), qa, ab[c], acc);
            }
#pragma GCC unroll 8
            for (int t = 0; t < NT; ++t) _mm512_storeu_ps(yg + t * ys, acc[t]);
        }
    }
}

}  // namespace

void gemm_batch_q4_k_x16(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys) {
    using Fn = void (*)(int64_t, int64_t, const uint8_t*, uint64_t, const BlockQ8_K* const*, float*, int64_t);
    static constexpr Fn kByTokens[8] = {x16_chunks<1>, x16_chunks<2>, x16_chunks<3>, x16_chunks<4>,
                                        x16_chunks<5>, x16_chunks<6>, x16_chunks<7>, x16_chunks<8>};
    const BlockQ8_K* act[8];
    for (int64_t t = 0; t < 8; ++t)
        act[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) +
                                                    as * static_cast<uint64_t>(std::min<int64_t>(t, nt - 1)));
    kByTokens[nt - 1](n / 256, rows / kLanes, static_cast<const uint8_t*>(w), gs, act, y, ys);
}

}  // namespace qlm::kernels::avx512
QLM_AVX512_TARGET_END
