// Q8_0 weights x 1..8 Q8_0 tokens on AVX-512 VNNI with 16 weight rows in the 16 i32 lanes, meant
// for single tokens too (a token's outputs the same bits in any batch); not in the kernel set (see
// kernels.h: it does not keep llama.cpp's logits on long prompts): row r's 32 codes are eight dwords; loaded four rows to a register and transposed, lane i
// of register W_j holds dword j of row rho(i) = 4·(i mod 4) + i/4, and one vpdpbusd against
// activation dword j broadcast from memory adds 4 products to all 16 rows. The codes go in as
// unsigned bytes (+128, vpdpbusd does not saturate) and each token's block sum starts at −128·Σa,
// so every block sum is the exact integer Σ w·a. Per block, token and 16 rows: 8 vpdpbusd (four
// chains), one conversion and one FMA of d_w·d_a; no horizontal sums. The float order (one FMA per
// block, acc = fma(d_w·d_a, float(Σ w·a), acc)) is q8_0_lanes_reference's, not the dot's (8 lanes
// per block, reduced at the end): the reference is in kernels_batch_test.cpp.
//
// Rows past the last group of 16 run the same kernel with the missing lanes reading the last row
// (not stored), so every output, whatever the row count or token count, has the reference's bits.
#include <algorithm>

#include "quant/kernels/x86_int8_headers.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

QLM_AVX512_TARGET_BEGIN
#define QLM_KERNEL_ISA avx512
#define QLM_KERNEL_VNNI 1
#include "quant/kernels/quant_x86.h"

namespace qlm::kernels::avx512 {

namespace {

constexpr int kLanes = 16;
inline int lane_row(int i) { return 4 * (i % 4) + i / 4; }

// Dwords 4h..4h+3 of the 16 rows at row offsets ro[0..15] (bytes from blk), transposed: w[k] holds
// dword 4h+k of row rho(i) in lane i.
inline void transpose_half(const uint8_t* blk, const uint64_t* ro, int h, __m512i* w) {
    __m512i z[4];
    for (int q = 0; q < 4; ++q) {
        auto qs = [&](int r) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + ro[r] + 2 + 16 * h)); };
        z[q] = _mm512_inserti32x4(
            _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(qs(4 * q)), qs(4 * q + 1), 1), qs(4 * q + 2), 2),
            qs(4 * q + 3), 3);
    }
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    w[0] = _mm512_unpacklo_epi64(t0, t2);
    w[1] = _mm512_unpackhi_epi64(t0, t2);
    w[2] = _mm512_unpacklo_epi64(t1, t3);
    w[3] = _mm512_unpackhi_epi64(t1, t3);
}

// −128·Σa of block b for the 8 token rows, as eight i32 (hadd tree over the tokens' lane sums).
inline __m256i act_offsets(const BlockQ8_0* const* a, int64_t b) {
    __m256i v[8];
    for (int t = 0; t < 8; ++t) {
        // Σ 1·a per dword (vpdpbusd: unsigned ones times the signed codes).
        v[t] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), load32(a[t][b].qs));
    }
    const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    const __m256i sums = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sums, 7));
}

// G groups of 16 rows x NT tokens; group g's rows start at w + g·16·ws, and only the first `valid`
// rows of the last group exist (the others read its row valid − 1 and are not stored).
template <int G, int NT>
void lanes(int64_t nb, const uint8_t* w, uint64_t ws, int valid, const BlockQ8_0* const* a, float* y, int64_t ys) {
    __m512 acc[G][NT];
    for (auto& g : acc)
        for (auto& v : g) v = _mm512_setzero_ps();
    uint64_t ro[G][kLanes];  // byte offset of lane-order row r (rho-indexed by transpose_half)
    alignas(64) int32_t offs[G][kLanes];
    for (int g = 0; g < G; ++g) {
        const int n = g == G - 1 ? valid : kLanes;
        for (int r = 0; r < kLanes; ++r) ro[g][r] = ws * static_cast<uint64_t>(kLanes * g + std::min(r, n - 1));
        for (int i = 0; i < kLanes; ++i) offs[g][i] = static_cast<int32_t>(ro[g][lane_row(i)]);
    }
    // Each token's f16 scale at its block's first dword (low half), for one 8-lane gather.
    alignas(32) int32_t a_offs[8];
    for (int t = 0; t < 8; ++t)
        a_offs[t] = static_cast<int32_t>(reinterpret_cast<const uint8_t*>(a[t]) - reinterpret_cast<const uint8_t*>(a[0]));
    const __m256i a_at = _mm256_load_si256(reinterpret_cast<const __m256i*>(a_offs));
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    const uint64_t next = ws * static_cast<uint64_t>(G * kLanes);
    for (int64_t b = 0; b < nb; ++b) {
        alignas(32) int32_t off[8];
        alignas(32) float da[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(off), act_offsets(a, b));
        _mm256_store_ps(da, _mm256_cvtph_ps(_mm256_cvtepi32_epi16(
                                _mm256_i32gather_epi32(reinterpret_cast<const int*>(a[0] + b), a_at, 1))));
        for (int g = 0; g < G; ++g) {
            const uint8_t* blk = w + sizeof(BlockQ8_0) * static_cast<uint64_t>(b);
            // The same block of the rows the next call reads (G·16 rows on), into L2: 16 streams
            // of short rows are more than the hardware prefetcher follows. Past the matrix it
            // prefetches what follows it, harmless.
            for (int r = 0; r < kLanes; ++r)
                _mm_prefetch(reinterpret_cast<const char*>(blk + ro[g][r] + next), _MM_HINT_T1);
            __m512i q[8];
            transpose_half(blk, ro[g], 0, q);
            transpose_half(blk, ro[g], 1, q + 4);
            for (auto& v : q) v = _mm512_xor_si512(v, flip);
            const __m512 dw = _mm512_cvtph_ps(
                _mm512_cvtepi32_epi16(_mm512_i32gather_epi32(_mm512_load_si512(offs[g]), blk, 1)));
            for (int t = 0; t < NT; ++t) {
                const int8_t* ad = a[t][b].qs;
                // Activation dword j broadcast straight from memory.
                auto act = [&](int j) { return _mm512_broadcastd_epi32(_mm_loadu_si32(ad + 4 * j)); };
                // Four independent chains (one is latency-bound); integer sums, so the same result.
                __m512i c[4];
                for (int j = 0; j < 4; ++j) {
                    c[j] = _mm512_dpbusd_epi32(j == 0 ? _mm512_set1_epi32(off[t]) : _mm512_setzero_si512(), q[j],
                                               act(j));
                    c[j] = _mm512_dpbusd_epi32(c[j], q[4 + j], act(4 + j));
                }
                const __m512i s = _mm512_add_epi32(_mm512_add_epi32(c[0], c[1]), _mm512_add_epi32(c[2], c[3]));
                acc[g][t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(da[t])), _mm512_cvtepi32_ps(s), acc[g][t]);
            }
        }
    }
    for (int g = 0; g < G; ++g) {
        const int n = g == G - 1 ? valid : kLanes;
        for (int t = 0; t < NT; ++t) {
            alignas(64) float out[kLanes];
            _mm512_store_ps(out, acc[g][t]);
            for (int i = 0; i < kLanes; ++i)
                if (lane_row(i) < n) y[t * ys + kLanes * g + lane_row(i)] = out[i];
        }
    }
}

}  // namespace

void gemm_batch_q8_0_lanes(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                           float* y, int64_t ys) {
    using Fn = void (*)(int64_t, const uint8_t*, uint64_t, int, const BlockQ8_0* const*, float*, int64_t);
    static constexpr Fn kPairs[8] = {lanes<2, 1>, lanes<2, 2>, lanes<2, 3>, lanes<2, 4>,
                                     lanes<2, 5>, lanes<2, 6>, lanes<2, 7>, lanes<2, 8>};
    static constexpr Fn kSingles[8] = {lanes<1, 1>, lanes<1, 2>, lanes<1, 3>, lanes<1, 4>,
                                       lanes<1, 5>, lanes<1, 6>, lanes<1, 7>, lanes<1, 8>};
    const BlockQ8_0* act[8];
    for (int64_t t = 0; t < 8; ++t)
        act[t] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) +
                                                    as * static_cast<uint64_t>(std::min<int64_t>(t, nt - 1)));
    const auto* wb = static_cast<const uint8_t*>(w);
    int64_t r = 0;
    for (; r + 2 * kLanes <= rows; r += 2 * kLanes)
        kPairs[nt - 1](n / 32, wb + ws * static_cast<uint64_t>(r), ws, kLanes, act, y + r, ys);
    for (; r < rows; r += kLanes) {
        const int valid = static_cast<int>(std::min<int64_t>(kLanes, rows - r));
        kSingles[nt - 1](n / 32, wb + ws * static_cast<uint64_t>(r), ws, valid, act, y + r, ys);
    }
}

}  // namespace qlm::kernels::avx512
QLM_AVX512_TARGET_END
