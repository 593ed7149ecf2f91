// The Q5_0 batches, AVX-512 VNNI, one weight row per i32 lane: on rows repacked in groups of 16
// (quant/q5_0_x16.h, gemm_batch_q5_0_x16) and on the file's rows (gemm_batch_q5_0: the rows past
// the last whole group, and matrices that are not repacked), which are transposed into the same
// lanes on the fly. Decoding a block of 16 rows into eight registers of 5-bit codes (the nibbles,
// plus 16 under the byte masks of the 5th bits) is shared by the tokens; each token then costs 8
// vpdpbusd, one conversion and three float operations for the 16 rows, with no horizontal sums.
//
// Each lane computes exactly what the scalar reference (FormatQ5_0::vec_dot) computes for its
// row: the block's integer sum Σ (c − 16)·a (Σ c·a − 16·Σa: exact in i32, so the grouping of the
// adds does not matter), then s = s + float(sum)·(d_w·d_a) block after block, every product and
// sum rounded as written (this file is built without contraction into FMAs, quant/CMakeLists.txt).
// So every output is the reference's bits, for 1..8 tokens, repacked or not.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "quant/kernels/x86_int8_headers.h"
#include "quant/q5_0_x16.h"

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
constexpr const X16Pairs& kPairs = kQ5_0x16Pairs;

// One block of 16 rows, decoded: lane i of c[j] holds the codes 0..31 of row i's elements
// 4j..4j+3 (the operand of one vpdpbusd against activation dword j), lane i of dw row i's scale.
struct Codes16 {
    __m512i c[8];
    __m512 dw;
};

// The low nibbles of w[j] into c[j], its high nibbles into c[4 + j], each plus 16 in the bytes
// whose 5th bit is set (m[j], m[4 + j]).
[[gnu::always_inline]] inline void fifth_bits_into(const __m512i (&w)[4], const __mmask64 (&m)[8], Codes16& k) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
        const __m512i lo = _mm512_and_si512(w[j], m4), hi = _mm512_and_si512(_mm512_srli_epi16(w[j], 4), m4);
        k.c[j] = _mm512_mask_add_epi8(lo, m[j], lo, sixteen);
        k.c[4 + j] = _mm512_mask_add_epi8(hi, m[4 + j], hi, sixteen);
    }
}

// Block b of a repacked group: codes, masks and scales as they lie.
[[gnu::always_inline]] inline void decode_packed(const uint8_t* grp, int64_t b, Codes16& k) {
    const uint8_t* body = grp + kPairs.body_at(b);
    __m512i w[4];
    __mmask64 m[8];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) w[j] = _mm512_load_si512(body + 64 + 64 * j);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
        uint64_t bits;
        std::memcpy(&bits, body + 8 * j, 8);
        m[j] = _cvtu64_mask64(bits);
    }
    fifth_bits_into(w, m, k);
    k.dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(grp + kPairs.scales_at(b))));
}

// The 16 rows' block sums Σ c·a against one token's codes ad, starting from off (−16·Σa); two
// independent chains.
[[gnu::always_inline]] inline __m512i block_sums(const Codes16& k, const int8_t* ad, int32_t off) {
    __m512i s0 = _mm512_set1_epi32(off), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
        int32_t lo, hi;
        std::memcpy(&lo, ad + 4 * j, 4);
        std::memcpy(&hi, ad + 16 + 4 * j, 4);
        s0 = _mm512_dpbusd_epi32(s0, k.c[j], _mm512_set1_epi32(lo));
        s1 = _mm512_dpbusd_epi32(s1, k.c[4 + j], _mm512_set1_epi32(hi));
    }
    return _mm512_add_epi32(s0, s1);
}

// acc + float(sum)·(d_w·d_a), rounded as the reference's s += float(isum)·(d_w·d_a).
[[gnu::always_inline]] inline __m512 add_block(__m512 acc, const Codes16& k, __m512i sum, float da) {
    return _mm512_add_ps(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(k.dw, _mm512_set1_ps(da))));
}

// −16·Σa of block b for the 8 token rows of a.
inline __m256i act_offsets(const BlockQ8_0* const* a, int64_t b) {
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(q8_0_code_sums8(a, b), 4));
}

// G ≤ 4 repacked groups (gs bytes apart) x NT ≤ 2 tokens over all nb blocks; y[t·ys + 16g + i]
// for row 16g + i.
template <int G, int NT>
void x16_groups(int64_t nb, const uint8_t* w, uint64_t gs, const BlockQ8_0* const* a, float* y, int64_t ys) {
    __m512 acc[G][NT];
    for (auto& g : acc)
        for (auto& v : g) v = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        int32_t off[NT];
        float da[NT];
        for (int t = 0; t < NT; ++t) {
            off[t] = -16 * q8_0_code_sum(a[t][b].qs);
            da[t] = f16(a[t][b].d);
        }
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) {
            Codes16 k;
            decode_packed(w + gs * static_cast<uint64_t>(g), b, k);
#pragma GCC unroll 2
            for (int t = 0; t < NT; ++t) acc[g][t] = add_block(acc[g][t], k, block_sums(k, a[t][b].qs, off[t]), da[t]);
        }
    }
    for (int g = 0; g < G; ++g)
        for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y + t * ys + kLanes * g, acc[g][t]);
}

// Block b of a group (its body's five cache lines and its scales) on its way into L1 ahead of use:
// with several tokens a block is long enough that the hardware prefetcher, paced by the loads it
// sees, leaves the next blocks' misses exposed.
[[gnu::always_inline]] inline void prefetch_block(const uint8_t* grp, int64_t b) {
    const char* body = reinterpret_cast<const char*>(grp + kPairs.body_at(b));
#pragma GCC unroll 5
    for (int l = 0; l < 5; ++l) _mm_prefetch(body + 64 * l, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(grp + kPairs.scales_at(b)), _MM_HINT_T0);
}

// The same for 3..8 tokens, one group at a time over chunks of blocks whose activation offsets
// and scales are computed once for all the groups (the 8 tokens' accumulators and a decoded block
// of two groups at once do not fit the 32 registers). Each group's accumulators go to y between
// chunks and come back unchanged.
constexpr int64_t kChunk = 64;
constexpr int64_t kPrefetch = 6;  // blocks: ~2 KiB ahead

template <int NT>
void x16_chunks(int64_t nb, int64_t groups, const uint8_t* w, uint64_t gs, const BlockQ8_0* const* a, float* y,
                int64_t ys) {
    alignas(64) int32_t off[kChunk][8];
    alignas(64) float da[kChunk][8];
    for (int64_t b0 = 0; b0 < nb; b0 += kChunk) {
        const int64_t nc = std::min(kChunk, nb - b0);
        for (int64_t c = 0; c < nc; ++c) {
            _mm256_store_si256(reinterpret_cast<__m256i*>(off[c]), act_offsets(a, b0 + c));
            for (int t = 0; t < NT; ++t) da[c][t] = f16(a[t][b0 + c].d);
        }
        for (int64_t g = 0; g < groups; ++g) {
            const uint8_t* grp = w + gs * static_cast<uint64_t>(g);
            float* yg = y + kLanes * g;
            __m512 acc[NT];
#pragma GCC unroll 8
            for (int t = 0; t < NT; ++t) acc[t] = b0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(yg + t * ys);
            for (int64_t c = 0; c < nc; ++c) {
                // The block kPrefetch ahead in this pass's order: later in this group's chunk, or
                // early in the next group's.
                const int64_t cp = c + kPrefetch;
                if (cp < nc) prefetch_block(grp, b0 + cp);
                else if (g + 1 < groups) prefetch_block(grp + gs, b0 + cp - nc);
                Codes16 k;
                decode_packed(grp, b0 + c, k);
#pragma GCC unroll 8
                for (int t = 0; t < NT; ++t)
                    acc[t] = add_block(acc[t], k, block_sums(k, a[t][b0 + c].qs, off[c][t]), da[c][t]);
            }
#pragma GCC unroll 8
            for (int t = 0; t < NT; ++t) _mm512_storeu_ps(yg + t * ys, acc[t]);
        }
    }
}

// Block b of 16 of the file's rows, lane i holding row lane_row(i): off[r] is row r's byte offset
// (rows past the last real one repeat it), at the same offsets in lane order (for the gathers of
// the scales and the 5th bits). The 5th-bit masks come from the gathered qh words: bytes j/2 of
// each lane's word spread over its four bytes, tested against bits 4(j mod 2)..4(j mod 2)+3.
[[gnu::always_inline]] inline void decode_rows(const uint8_t* w, const int32_t (&off)[kLanes], __m512i at, int64_t b,
                                               Codes16& k) {
    const uint8_t* blk = w + sizeof(BlockQ5_0) * static_cast<uint64_t>(b);
    __m512i q[4];
    transpose16([&](int r) { return blk + off[r] + offsetof(BlockQ5_0, qs); }, q);
    const __m512i qh = _mm512_i32gather_epi32(at, blk + offsetof(BlockQ5_0, qh), 1);
    __mmask64 m[8];
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p) {
        const int spread = 0x01010101 * p;
        const __m512i x = _mm512_shuffle_epi8(qh, _mm512_set4_epi32(0x0C0C0C0C + spread, 0x08080808 + spread,
                                                                    0x04040404 + spread, spread));
        m[2 * p] = _mm512_test_epi8_mask(x, _mm512_set1_epi32(0x08040201));
        m[2 * p + 1] = _mm512_test_epi8_mask(x, _mm512_set1_epi32(static_cast<int>(0x80402010u)));
    }
    fifth_bits_into(q, m, k);
    // Each row's first dword holds its f16 scale in the low half.
    k.dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(at, blk, 1)));
}

// `valid` ≤ 16 of the file's rows (ws bytes apart) x NT tokens; y[t·ys + r] for r < valid.
template <int NT>
void rows_lanes(int64_t nb, const uint8_t* w, uint64_t ws, int64_t valid, const BlockQ8_0* const* a, float* y,
                int64_t ys) {
    int32_t off[kLanes];
    alignas(64) int32_t at[kLanes];
    for (int r = 0; r < kLanes; ++r) off[r] = static_cast<int32_t>(ws * static_cast<uint64_t>(std::min<int64_t>(r, valid - 1)));
    for (int i = 0; i < kLanes; ++i) at[i] = off[lane_row(i)];
    const __m512i at_v = _mm512_load_si512(at);
    __m512 acc[NT];
    for (auto& v : acc) v = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        alignas(32) int32_t o[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(o), act_offsets(a, b));
        Codes16 k;
        decode_rows(w, off, at_v, b, k);
#pragma GCC unroll 8
        for (int t = 0; t < NT; ++t) acc[t] = add_block(acc[t], k, block_sums(k, a[t][b].qs, o[t]), f16(a[t][b].d));
    }
    for (int t = 0; t < NT; ++t) {
        alignas(64) float out[kLanes];
        _mm512_store_ps(out, acc[t]);
        for (int i = 0; i < kLanes; ++i)
            if (lane_row(i) < valid) y[t * ys + lane_row(i)] = out[i];
    }
}

// a's 8 token rows (the last repeated past nt).
void token_rows(const void* a, uint64_t as, int64_t nt, const BlockQ8_0* (&act)[8]) {
    for (int64_t t = 0; t < 8; ++t)
        act[t] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) +
                                                    as * static_cast<uint64_t>(std::min<int64_t>(t, nt - 1)));
}

}  // namespace

void gemm_batch_q5_0_x16(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys) {
    using Fn = void (*)(int64_t, const uint8_t*, uint64_t, const BlockQ8_0* const*, float*, int64_t);
    static constexpr Fn kQuads[2] = {x16_groups<4, 1>, x16_groups<4, 2>};
    static constexpr Fn kPairsFn[2] = {x16_groups<2, 1>, x16_groups<2, 2>};
    static constexpr Fn kSingles[2] = {x16_groups<1, 1>, x16_groups<1, 2>};
    using ChunkFn = void (*)(int64_t, int64_t, const uint8_t*, uint64_t, const BlockQ8_0* const*, float*, int64_t);
    static constexpr ChunkFn kChunks[8] = {nullptr,       nullptr,       x16_chunks<3>, x16_chunks<4>,
                                           x16_chunks<5>, x16_chunks<6>, x16_chunks<7>, x16_chunks<8>};
    const BlockQ8_0* act[8];
    token_rows(a, as, nt, act);
    const auto* wb = static_cast<const uint8_t*>(w);
    if (nt > 2) {
        kChunks[nt - 1](n / 32, rows / kLanes, wb, gs, act, y, ys);
        return;
    }
    int64_t r = 0;
    // Four groups per pass, four sequential streams in flight: from memory one and two tokens read
    // faster so than two groups at a time (two tokens ~20 % in a one-thread microbenchmark).
    for (; r + 4 * kLanes <= rows; r += 4 * kLanes)
        kQuads[nt - 1](n / 32, wb + gs * static_cast<uint64_t>(r / kLanes), gs, act, y + r, ys);
    for (; r + 2 * kLanes <= rows; r += 2 * kLanes)
        kPairsFn[nt - 1](n / 32, wb + gs * static_cast<uint64_t>(r / kLanes), gs, act, y + r, ys);
    for (; r + kLanes <= rows; r += kLanes)
        kSingles[nt - 1](n / 32, wb + gs * static_cast<uint64_t>(r / kLanes), gs, act, y + r, ys);
}

void gemm_batch_q5_0(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                     float* y, int64_t ys) {
    using Fn = void (*)(int64_t, const uint8_t*, uint64_t, int64_t, const BlockQ8_0* const*, float*, int64_t);
    static constexpr Fn kRows[8] = {rows_lanes<1>, rows_lanes<2>, rows_lanes<3>, rows_lanes<4>,
                                    rows_lanes<5>, rows_lanes<6>, rows_lanes<7>, rows_lanes<8>};
    const BlockQ8_0* act[8];
    token_rows(a, as, nt, act);
    const auto* wb = static_cast<const uint8_t*>(w);
    for (int64_t r = 0; r < rows; r += kLanes)
        kRows[nt - 1](n / 32, wb + ws * static_cast<uint64_t>(r), ws, std::min<int64_t>(kLanes, rows - r), act, y + r, ys);
}

}  // namespace qlm::kernels::avx512
QLM_AVX512_TARGET_END
