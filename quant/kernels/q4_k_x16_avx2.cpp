// The Q4_K batch on rows repacked in groups of 16 (quant/q4_k_x16.h), AVX2, for 1..8 tokens: each
// group as two halves of 8 rows, one row per i32 lane of a 256-bit register -- the first and the
// second 32 bytes of each 64-byte register of the layout -- so there are no horizontal sums, no
// transposition and no bit-field decoding of the scales (unpacked at load).
//
// Each lane computes what the scalar reference (KQuantAsym::vec_dot) computes for its row: exact
// integer sums isum = Σ sc_j·Σ q·q_a and msum = Σ m_j·(bsums[2j] + bsums[2j+1]) (integers: the
// grouping of the adds does not matter), then s += (d·d_a)·isum − (dmin·d_a)·msum super-block
// after super-block, each product and add rounded as written: this file is compiled with
// -ffp-contract=off (quant/CMakeLists.txt). So every output is the reference's bits (and those of
// the AVX-512 repacked batch), for any number of tokens.
//
// Without VNNI the products go through maddubs (unsigned nibble x signed activation, pairs added
// in i16: |pair| ≤ 2·15·128). Eight of them (a 64-element chunk's 32 low or 32 high nibbles, one
// sub-block) add up in i16 (|Σ| ≤ 8·3840 = 30720 < 2^15), and one madd by the sub-block's scale
// (both i16 of each dword) widens each row's sum to the exact i32 sc·Σ q·q_a.
#include <algorithm>
#include <cstring>

#include "quant/kernels/x86_int8_headers.h"
#include "quant/q4_k_x16.h"

#define QLM_KERNEL_ISA avx2
#define QLM_KERNEL_VNNI 0
#include "quant/kernels/quant_x86.h"

namespace qlm::kernels::avx2 {

namespace {

constexpr int64_t kHalfRows = kX16Rows / 2;
// Tokens per pass over a half super-block: 3 tokens' i16 sums and i32 totals in registers (with
// the codes and constants they fit AVX2's 16; 4 spill).
constexpr int kPassTokens = 3;

inline __m256i broadcast_dword(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// vpshufb control: bytes b0 and b1 of each dword, zero-extended, as the dword's i16 pair.
inline __m256i pick_pair(int b0, int b1) {
    alignas(16) int8_t c[16];
    for (int q = 0; q < 4; ++q) {
        c[4 * q] = static_cast<int8_t>(4 * q + b0);
        c[4 * q + 1] = static_cast<int8_t>(0x80);
        c[4 * q + 2] = static_cast<int8_t>(4 * q + b1);
        c[4 * q + 3] = static_cast<int8_t>(0x80);
    }
    return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(c)));
}

// Half h (rows 8h..8h+7) of super-block run p for NT tokens (qa[t]: token t's codes, ab[t] its
// sums): acc[t] += (d·d_a)·isum − (dmin·d_a)·msum in every lane. Not inlined: inlined for both
// halves, GCC shares the halves' activation broadcasts through the stack, slower than redoing them.
template <int NT>
[[gnu::noinline]] void half_block(const uint8_t* p, int h, const int8_t* const* qa, const Q4_KActBlock* ab,
                                              __m256* acc) {
    const uint8_t* ph = p + 32 * h;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i isum[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
        // Scales sc_2c (low nibbles) and sc_2c+1 (high), each in both i16 of every dword.
        const __m256i s = _mm256_load_si256(reinterpret_cast<const __m256i*>(ph + 64 + 64 * (c / 2)));
        const int b0 = 2 * (c % 2);
        const __m256i sc_lo = _mm256_shuffle_epi8(s, pick_pair(b0, b0));
        const __m256i sc_hi = _mm256_shuffle_epi8(s, pick_pair(b0 + 1, b0 + 1));
        __m256i lo16[NT], hi16[NT];
#pragma GCC unroll 4
        for (int t = 0; t < NT; ++t) lo16[t] = hi16[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
            // Elements 64c + 4j..+3 (low nibbles) and the same + 32 (high nibbles) of each row.
            const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(ph + 320 + 64 * (8 * c + j)));
            const __m256i lo = _mm256_and_si256(x, m4), hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
#pragma GCC unroll 4
            for (int t = 0; t < NT; ++t) {
                const int8_t* q = qa[t] + 64 * c + 4 * j;
                lo16[t] = _mm256_add_epi16(lo16[t], _mm256_maddubs_epi16(lo, broadcast_dword(q)));
                hi16[t] = _mm256_add_epi16(hi16[t], _mm256_maddubs_epi16(hi, broadcast_dword(q + 32)));
                // Keeps the adds a chain: GCC otherwise makes them a tree over the unrolled loop,
                // with every product alive at once (spilled to the stack).
                asm("" : "+x"(lo16[t]), "+x"(hi16[t]));
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < NT; ++t)
            isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(lo16[t], sc_lo),
                                                                 _mm256_madd_epi16(hi16[t], sc_hi)));
    }
    // (m_2k, m_2k+1) i16 pairs of the mins, against (bs_2k, bs_2k+1).
    const __m256i pair01 = pick_pair(0, 1), pair23 = pick_pair(2, 3);
    const __m256i m0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(ph + 192));
    const __m256i m1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(ph + 256));
    const __m256i mp[4] = {_mm256_shuffle_epi8(m0, pair01), _mm256_shuffle_epi8(m0, pair23),
                           _mm256_shuffle_epi8(m1, pair01), _mm256_shuffle_epi8(m1, pair23)};
    const __m256 dw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(p + 16 * h)));
    const __m256 dm = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(p + 32 + 16 * h)));
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) {
        __m256i msum = _mm256_madd_epi16(mp[0], _mm256_set1_epi32(ab[t].bs[0]));
#pragma GCC unroll 3
        for (int k = 1; k < 4; ++k) msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mp[k], _mm256_set1_epi32(ab[t].bs[k])));
        const __m256 da = _mm256_set1_ps(ab[t].d);
        const __m256 x = _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(isum[t])),
                                       _mm256_mul_ps(_mm256_mul_ps(dm, da), _mm256_cvtepi32_ps(msum)));
        acc[t] = _mm256_add_ps(acc[t], x);
    }
}

// Tokens in passes of up to kPassTokens over each half of one super-block run (in L1 across the
// passes): acc[h][t] for half h, token t.
template <int NT>
[[gnu::always_inline]] inline void pass(const uint8_t* p, const int8_t* const* qa, const Q4_KActBlock* ab, int t0,
                                        __m256 (&acc)[2][8]) {
    for (int h = 0; h < 2; ++h) half_block<NT>(p, h, qa + t0, ab + t0, acc[h] + t0);
}

// `groups` groups (gs bytes apart) x nt tokens, over chunks of super-blocks whose activation sums
// are computed once for all the groups; each group's accumulators go to y between chunks and come
// back unchanged. y[t·ys + 16g + i] for row 16g + i.
constexpr int64_t kChunk = 32;

void x16_chunks(int64_t nb, int64_t groups, const uint8_t* w, uint64_t gs, const BlockQ8_K* const* a, int nt,
                float* y, int64_t ys) {
    Q4_KActBlock ab[kChunk][8];
    for (int64_t b0 = 0; b0 < nb; b0 += kChunk) {
        const int64_t nc = std::min(kChunk, nb - b0);
        for (int64_t c = 0; c < nc; ++c)
            for (int t = 0; t < nt; ++t) ab[c][t] = q4_k_act_block(a[t][b0 + c]);
        for (int64_t g = 0; g < groups; ++g) {
            const uint8_t* grp = w + gs * static_cast<uint64_t>(g);
            float* yg = y + kX16Rows * g;
            __m256 acc[2][8];
            for (int h = 0; h < 2; ++h)
                for (int t = 0; t < nt; ++t)
                    acc[h][t] = b0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(yg + t * ys + kHalfRows * h);
            for (int64_t c = 0; c < nc; ++c) {
                const int64_t b = b0 + c;
                const uint8_t* p = grp + kQ4_Kx16BlockBytes * static_cast<uint64_t>(b);
                const int8_t* qa[8];
                for (int t = 0; t < nt; ++t) qa[t] = a[t][b].qs;
                int t0 = 0;
                for (; t0 + kPassTokens <= nt; t0 += kPassTokens) pass<kPassTokens>(p, qa, ab[c], t0, acc);
                switch (nt - t0) {
                    case 1: pass<1>(p, qa, ab[c], t0, acc); break;
                    case 2: pass<2>(p, qa, ab[c], t0, acc); break;
                    default: break;
                }
            }
            for (int h = 0; h < 2; ++h)
                for (int t = 0; t < nt; ++t) _mm256_storeu_ps(yg + t * ys + kHalfRows * h, acc[h][t]);
        }
    }
}

}  // namespace

void gemm_batch_q4_k_x16(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys) {
    const BlockQ8_K* act[8];
    for (int64_t t = 0; t < 8; ++t)
        act[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) +
                                                    as * static_cast<uint64_t>(std::min<int64_t>(t, nt - 1)));
    x16_chunks(n / 256, rows / kX16Rows, static_cast<const uint8_t*>(w), gs, act, static_cast<int>(nt), y, ys);
}

}  // namespace qlm::kernels::avx2
