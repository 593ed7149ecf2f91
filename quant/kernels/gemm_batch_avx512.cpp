// Small-batch products of Q4_0 and Q8_0 weights with Q8_0 activations on AVX-512 VNNI: up to 8
// tokens per weight-block decode (decode steps of 8 sequences, prompt batches in chunks of 8).
//
// Q8_0 (and Q4_0 rows past the last group of 16): a 512-bit register holds one block of two tokens
// ([token t | token t+1], 8 i32 lanes each), so a weight block, decoded once into both halves,
// meets two tokens per vpdpbusd; 4 rows x 4 token pairs keep 16 accumulators and the 4 pairs'
// activations, offsets and scales in the other 16 registers. Each (row, token) keeps its own 8
// lanes and adds every block's lane sums with one FMA of d_w·d_a, then the lanes as hsum does: the
// order of the dot kernels (sum_blocks_f16), so Q8_0 weights give the bits of one-token decoding
// (matmul's contract, see gemm_quant_x86.inl).
//
// Q4_0 in groups of 16 rows: one row per i32 lane (q4_0_lanes below), 8 vpdpbusd per block, token
// and 16 rows, no horizontal sums.
#include <algorithm>

#include "quant/kernels/batch_tiles.h"
#include "quant/kernels/x86_int8_headers.h"

// GCC 12's 512-bit intrinsics start from self-initialised "undefined" vectors (_mm512_undefined_*),
// which its -Wuninitialized reports at every inlined use; nothing here reads an undefined lane.
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

template <class B>
const B* row_at(const void* base, uint64_t stride, int64_t i) {
    return reinterpret_cast<const B*>(static_cast<const uint8_t*>(base) + stride * static_cast<uint64_t>(i));
}

// Q4_0: the 16 code bytes in all four 128-bit lanes; lanes 0 and 2 keep the low nibbles (elements
// 0..15), lanes 1 and 3 take the high ones (16..31): the block's 32 codes 0..15 in both halves.
struct Q4_0Codes {
    static constexpr int kOffset = 8;
    static __m512i codes(const BlockQ4_0& b) {
        const __m512i q = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)));
        return _mm512_and_si512(_mm512_mask_srli_epi16(q, 0xFF00FF00u, q, 4), _mm512_set1_epi8(0x0F));
    }
};
// Q8_0: the signed codes + 128 as unsigned bytes (vpdpbusd does not saturate), in both halves.
struct Q8_0Codes {
    static constexpr int kOffset = 128;
    static __m512i codes(const BlockQ8_0& b) {
        return _mm512_xor_si512(_mm512_broadcast_i64x4(load32(b.qs)), _mm512_set1_epi8(static_cast<char>(0x80)));
    }
};

// Horizontal sum of one 256-bit half, in hsum's order.
inline float hsum_lo(__m512 v) { return hsum(_mm512_castps512_ps256(v)); }
inline float hsum_hi(__m512 v) { return hsum(_mm512_extractf32x8_ps(v, 1)); }

// R rows x P token pairs over nb blocks; a holds 2P token rows (an odd count repeats its last,
// whose second result is not stored: nt is the number of tokens to store).
template <class B, class C, int R, int P>
void tile(int64_t nb, const B* const* w, uint64_t ws, const BlockQ8_0* const* a, int64_t nt, float* y, int64_t ys) {
    __m512 acc[R][P];
    for (auto& rr : acc)
        for (auto& v : rr) v = _mm512_setzero_ps();
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(C::kOffset));
    for (int64_t b = 0; b < nb; ++b) {
        alignas(16) uint16_t dh[8] = {};
        for (int t = 0; t < 2 * P; ++t) dh[t] = a[t][b].d;
        const __m512 da = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dh))));
        __m512i act[P], base[P];
        __m512 dpair[P];
        for (int p = 0; p < P; ++p) {
            act[p] = _mm512_inserti64x4(_mm512_castsi256_si512(load32(a[2 * p][b].qs)), load32(a[2 * p + 1][b].qs), 1);
            // Σ (c − kOffset)·a = Σ c·a − kOffset·Σ a: the second term, per lane, for all rows.
            base[p] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                       _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, act[p]));
            dpair[p] = _mm512_permutexvar_ps(
                _mm512_set_epi32(2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1,
                                 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p),
                da);
        }
        for (int r = 0; r < R; ++r) {
            // The same block of the rows the next call reads (R rows on), into L2: the hardware
            // prefetcher does not follow R streams of short rows far enough.
            _mm_prefetch(reinterpret_cast<const char*>(w[r] + b) + R * ws, _MM_HINT_T1);
            const __m512i c = C::codes(w[r][b]);
            const __m512 dw = _mm512_set1_ps(f16(w[r][b].d));
            for (int p = 0; p < P; ++p) {
                const __m512i sum = _mm512_dpbusd_epi32(base[p], c, act[p]);
                acc[r][p] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dpair[p]), _mm512_cvtepi32_ps(sum), acc[r][p]);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int p = 0; p < P; ++p) {
            y[2 * p * ys + r] = hsum_lo(acc[r][p]);
            if (2 * p + 1 < nt) y[(2 * p + 1) * ys + r] = hsum_hi(acc[r][p]);
        }
}

template <class B, class C, int R>
void tile_tokens(int64_t nb, const B* const* w, uint64_t ws, const BlockQ8_0* const* a, int64_t nt, float* y,
                 int64_t ys) {
    switch ((nt + 1) / 2) {
        case 1: tile<B, C, R, 1>(nb, w, ws, a, nt, y, ys); break;
        case 2: tile<B, C, R, 2>(nb, w, ws, a, nt, y, ys); break;
        case 3: tile<B, C, R, 3>(nb, w, ws, a, nt, y, ys); break;
        default: tile<B, C, R, 4>(nb, w, ws, a, nt, y, ys); break;
    }
}

// Q4_0, 16 rows in the 16 i32 lanes (no horizontal sums): row r's 16 code bytes are four dwords;
// loaded four rows to a register and transposed, lane i holds dword j of row rho(i) = 4·(i mod 4)
// + i/4 in register W_j. Its low nibbles are codes 4j..4j+3 and its high nibbles codes
// 16+4j..16+4j+3, so each vpdpbusd against one activation dword broadcast to all lanes adds 4
// products to all 16 rows, and one block costs per token 8 vpdpbusd, one conversion and one FMA
// for 16 rows. The −8·Σa term of the unsigned codes starts each token's block sum. The float
// order (one block sum per FMA) differs from the dot's, as the Q4_0 tiles' does.

// −8·Σ a of block b for the 8 tokens, as eight i32 (hadd tree over the eight tokens' lane sums).
inline __m256i act_offsets(const BlockQ8_0* const* a, int64_t b) {
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(q8_0_code_sums8(a, b), 3));
}

// G groups of 16 rows (rows g·16 + rho(i) in lane i of group g) x NT tokens. The activations'
// offsets and scales of a block are computed once for all G·16 rows.
template <int G, int NT>
void q4_0_lanes(int64_t nb, const uint8_t* w, uint64_t ws, const BlockQ8_0* const* a, float* y, int64_t ys) {
    __m512 acc[G][NT];
    for (auto& g : acc)
        for (auto& v : g) v = _mm512_setzero_ps();
    alignas(64) int32_t offs[kLanes];
    for (int i = 0; i < kLanes; ++i) offs[i] = static_cast<int32_t>(static_cast<uint64_t>(lane_row(i)) * ws);
    const __m512i d_at = _mm512_load_si512(offs);
    // Each token's f16 scale at its block's first dword (low half), for one 8-lane gather.
    alignas(32) int32_t a_offs[8];
    for (int t = 0; t < 8; ++t)
        a_offs[t] = static_cast<int32_t>(reinterpret_cast<const uint8_t*>(a[t]) - reinterpret_cast<const uint8_t*>(a[0]));
    const __m256i a_at = _mm256_load_si256(reinterpret_cast<const __m256i*>(a_offs));
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b) {
        alignas(32) int32_t off[8];
        alignas(32) float da[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(off), act_offsets(a, b));
        _mm256_store_ps(da, _mm256_cvtph_ps(_mm256_cvtepi32_epi16(
                                _mm256_i32gather_epi32(reinterpret_cast<const int*>(a[0] + b), a_at, 1))));
        for (int g = 0; g < G; ++g) {
            const uint8_t* blk = w + ws * static_cast<uint64_t>(kLanes * g) + sizeof(BlockQ4_0) * static_cast<uint64_t>(b);
            // 16 (or 32) streams are more than the hardware prefetcher follows, and a row is short
            // (18 blocks in a 576-wide matrix), so a few blocks ahead is mostly past its end: the
            // same block of the rows the next call reads (G·16 rows on), into L2, every other
            // block (36 bytes, so no cache line is missed). Past the matrix it prefetches what
            // follows it, harmless.
            if ((b & 1) == 0)
                for (int r = 0; r < kLanes; ++r)
                    _mm_prefetch(reinterpret_cast<const char*>(blk + ws * static_cast<uint64_t>(r + G * kLanes)),
                                 _MM_HINT_T1);
            __m512i q[4];
            transpose16([&](int r) { return blk + ws * static_cast<uint64_t>(r) + 2; }, q);
            __m512i lo[4], hi[4];
            for (int j = 0; j < 4; ++j) {
                lo[j] = _mm512_and_si512(q[j], m4);
                hi[j] = _mm512_and_si512(_mm512_srli_epi16(q[j], 4), m4);
            }
            // Each row's first dword holds its f16 scale in the low half.
            const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(d_at, blk, 1)));
            for (int t = 0; t < NT; ++t) {
                // Activation dword j broadcast straight from memory (an embedded broadcast of the
                // vpdpbusd, not a general register moved over).
                const int8_t* ad = a[t][b].qs;
                auto act = [&](int j) { return _mm512_broadcastd_epi32(_mm_loadu_si32(ad + 4 * j)); };
                // Four independent chains (one is latency-bound); integer sums, so the same result.
                __m512i c[4];
                for (int j = 0; j < 4; ++j) {
                    c[j] = _mm512_dpbusd_epi32(j == 0 ? _mm512_set1_epi32(off[t]) : _mm512_setzero_si512(), lo[j],
                                               act(j));
                    c[j] = _mm512_dpbusd_epi32(c[j], hi[j], act(4 + j));
                }
                const __m512i s = _mm512_add_epi32(_mm512_add_epi32(c[0], c[1]), _mm512_add_epi32(c[2], c[3]));
                acc[g][t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(da[t])), _mm512_cvtepi32_ps(s), acc[g][t]);
            }
        }
    }
    for (int g = 0; g < G; ++g)
        for (int t = 0; t < NT; ++t) {
            alignas(64) float out[kLanes];
            _mm512_store_ps(out, acc[g][t]);
            for (int i = 0; i < kLanes; ++i) y[t * ys + kLanes * g + lane_row(i)] = out[i];
        }
}

template <class B, class C>
void batch(int64_t n, int64_t rows, const void* wv, uint64_t ws, const void* av, uint64_t as, int64_t nt, float* y,
           int64_t ys) {
    constexpr int R = 4;
    const BlockQ8_0* a[8];
    for (int64_t t = 0; t < 8; ++t) a[t] = row_at<BlockQ8_0>(av, as, std::min<int64_t>(t, nt - 1));
    const int64_t nb = n / 32;
    int64_t r = 0;
    for (; r + R <= rows; r += R) {
        const B* w[R];
        for (int k = 0; k < R; ++k) w[k] = row_at<B>(wv, ws, r + k);
        tile_tokens<B, C, R>(nb, w, ws, a, nt, y + r, ys);
    }
    for (; r < rows; ++r) {
        const B* w[1] = {row_at<B>(wv, ws, r)};
        tile_tokens<B, C, 1>(nb, w, ws, a, nt, y + r, ys);
    }
}

}  // namespace

void gemm_batch_q4_0(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                     float* y, int64_t ys) {
    using Fn = void (*)(int64_t, const uint8_t*, uint64_t, const BlockQ8_0* const*, float*, int64_t);
    static constexpr Fn kPairs[8] = {q4_0_lanes<2, 1>, q4_0_lanes<2, 2>, q4_0_lanes<2, 3>, q4_0_lanes<2, 4>,
                                     q4_0_lanes<2, 5>, q4_0_lanes<2, 6>, q4_0_lanes<2, 7>, q4_0_lanes<2, 8>};
    static constexpr Fn kSingles[8] = {q4_0_lanes<1, 1>, q4_0_lanes<1, 2>, q4_0_lanes<1, 3>, q4_0_lanes<1, 4>,
                                       q4_0_lanes<1, 5>, q4_0_lanes<1, 6>, q4_0_lanes<1, 7>, q4_0_lanes<1, 8>};
    const BlockQ8_0* act[8];
    for (int64_t t = 0; t < 8; ++t) act[t] = row_at<BlockQ8_0>(a, as, std::min<int64_t>(t, nt - 1));
    const auto* wb = static_cast<const uint8_t*>(w);
    int64_t r = 0;
    for (; r + 2 * kLanes <= rows; r += 2 * kLanes) kPairs[nt - 1](n / 32, wb + ws * static_cast<uint64_t>(r), ws, act, y + r, ys);
    for (; r + kLanes <= rows; r += kLanes) kSingles[nt - 1](n / 32, wb + ws * static_cast<uint64_t>(r), ws, act, y + r, ys);
    // Fewer than 16 rows left: 4 rows x token pairs.
    if (r < rows) batch<BlockQ4_0, Q4_0Codes>(n, rows - r, wb + ws * static_cast<uint64_t>(r), ws, a, as, nt, y + r, ys);
}

// From kQ8_0LanesMinTokens tokens on, whole groups of 16 rows in the lanes (gemm_q8_0_lanes), the
// rest as below. Below 6 tokens the 4x3 tiles and dots (the same bits) are faster than the 4x4
// pair tiles: their 256-bit lanes waste no half-empty token pair and carry less per-block overhead.
void gemm_batch_q8_0(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                     float* y, int64_t ys) {
    if (nt >= kQ8_0LanesMinTokens) {
        const int64_t done = gemm_q8_0_lanes(n, rows, w, ws, a, as, nt, y, ys);
        w = static_cast<const uint8_t*>(w) + ws * static_cast<uint64_t>(done);
        y += done;
        rows -= done;
        if (rows == 0) return;
    }
    if (nt >= 6) {
        batch<BlockQ8_0, Q8_0Codes>(n, rows, w, ws, a, as, nt, y, ys);
        return;
    }
    tiles_then_dots(gemm4x3_q8_0, dot_q8_0, n, rows, w, ws, a, as, nt, y, ys);
}

}  // namespace qlm::kernels::avx512
QLM_AVX512_TARGET_END
