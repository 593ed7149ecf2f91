// Q8_0 weights x Q8_0 activations, 16 rows in the 16 i32 lanes of a register (AVX-512 VNNI), for
// decode steps of several sequences (the tied output head: tens of thousands of rows).
//
// The one-token dot keeps, per (row, token), 8 float lanes: lane l adds, block after block,
// fma(d_w·d_a, float(Σ of products 4l..4l+3), lane), and the lanes are summed at the end as hsum
// does: ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). Here lane l of a (row, token) lives in
// row r's i32 lane of accumulator l, so the same FMAs run 16 rows at a time: per block and token
// 8 vpdpbusd (one per dword l, the activation's dword broadcast), 8 conversions, 8 FMAs and one
// scale product, where the 4x4 token-pair tiles (gemm_batch_avx512.cpp) spend 8 of each, 8
// register copies and a scale decode per row. Every output is the dot's bits.
//
// The rows of a group are transposed (lanes_avx512.h), their codes biased to unsigned (+128, the
// −128·Σa term starts each sum) and their scales widened once per chunk of blocks into a buffer,
// then read by every token pair: the accumulators of two tokens (16) and one block's 8 code
// registers fill the register file.
#include <algorithm>
#include <cstring>
#include <vector>

#include "quant/kernels/x86_int8_headers.h"

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

constexpr int64_t kChunk = 32;  // blocks per transposed chunk (18 KiB of codes and scales)

struct Chunk {
    __m512i w[kChunk][8];  // block b's dword l of the 16 rows (lane i: row lane_row(i)), codes + 128
    __m512 dw[kChunk];     // the rows' scales
};

// The activations' part, the same for every group: per token and block, −128·Σ of each dword's 4
// codes (off[(t·nb + b)·8 + l]) and the scale (da[t·nb + b]).
struct Acts {
    const BlockQ8_0* const* a;
    int64_t nb;
    const int32_t* off;
    const float* da;
};

// Tokens t0 .. t0 + NT − 1 (NT = 1 or 2) over the chunk's nc blocks; acc[8·k + l] (token t0 + k,
// lane l) in and out, held in registers meanwhile (every loop unrolled).
template <int NT>
[[gnu::always_inline]] inline void chunk_tokens(const Chunk& c, int64_t nc, const Acts& A, int64_t b0, int t0,
                                                __m512* acc) {
    __m512 r[NT * 8];
#pragma GCC unroll 16
    for (int i = 0; i < NT * 8; ++i) r[i] = acc[i];
    for (int64_t b = 0; b < nc; ++b) {
        __m512i w[8];
#pragma GCC unroll 8
        for (int l = 0; l < 8; ++l) w[l] = _mm512_load_si512(&c.w[b][l]);
        const __m512 dw = _mm512_load_ps(&c.dw[b]);
#pragma GCC unroll 2
        for (int k = 0; k < NT; ++k) {
            const int64_t tb = (t0 + k) * A.nb + b0 + b;
            const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(A.da[tb]));
            // A Q8_0 block is 34 bytes, so its codes sit 2 bytes off any dword boundary: read each
            // dword with memcpy (one broadcast load), never through an int32_t pointer.
            const int8_t* ad = A.a[t0 + k][b0 + b].qs;
            const int32_t* off = A.off + tb * 8;
#pragma GCC unroll 8
            for (int l = 0; l < 8; ++l) {
                int32_t a4;
                std::memcpy(&a4, ad + 4 * l, 4);
                const __m512i sum = _mm512_dpbusd_epi32(_mm512_set1_epi32(off[l]), w[l], _mm512_set1_epi32(a4));
                r[k * 8 + l] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(sum), r[k * 8 + l]);
            }
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < NT * 8; ++i) acc[i] = r[i];
}

// One group of 16 rows (row r at w + r·ws) x nt tokens.
void group16(const uint8_t* w, uint64_t ws, const Acts& A, int64_t nt, float* y, int64_t ys, Chunk& c,
             __m512 (&accs)[8][8]) {
    const int64_t nb = A.nb;
    for (auto& t : accs)
        for (auto& v : t) v = _mm512_setzero_ps();
    alignas(64) int32_t d_offs[kLanes];
    for (int i = 0; i < kLanes; ++i) d_offs[i] = static_cast<int32_t>(static_cast<uint64_t>(lane_row(i)) * ws);
    const __m512i d_at = _mm512_load_si512(d_offs);
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    // The group's 16 rows are one run of 16·ws bytes, but read as 16 strided streams, more than the
    // hardware prefetcher follows: the run of the group four ahead is requested into L2, a share of
    // its lines with each block (rows past the call's own are harmless to request).
    const auto nbu = static_cast<uint64_t>(nb);
    const uint64_t run = 16 * ws, ahead = 4 * run, per_block = (run / 64 + nbu) / nbu;
    for (int64_t b0 = 0; b0 < nb; b0 += kChunk) {
        const int64_t nc = std::min(kChunk, nb - b0);
        for (int64_t b = 0; b < nc; ++b) {
            const uint64_t line0 = static_cast<uint64_t>(b0 + b) * per_block;
            for (uint64_t i = 0; i < per_block && (line0 + i) * 64 < run; ++i)
                _mm_prefetch(reinterpret_cast<const char*>(w + ahead + (line0 + i) * 64), _MM_HINT_T1);
            const uint8_t* blk = w + sizeof(BlockQ8_0) * static_cast<uint64_t>(b0 + b);
            __m512i lo[4], hi[4];
            transpose16([&](int r) { return blk + ws * static_cast<uint64_t>(r) + 2; }, lo);
            transpose16([&](int r) { return blk + ws * static_cast<uint64_t>(r) + 18; }, hi);
            for (int l = 0; l < 4; ++l) {
                _mm512_store_si512(&c.w[b][l], _mm512_xor_si512(lo[l], bias));
                _mm512_store_si512(&c.w[b][4 + l], _mm512_xor_si512(hi[l], bias));
            }
            // Each row's block starts with its f16 scale (the low half of its first dword).
            c.dw[b] = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(d_at, blk, 1)));
        }
        for (int t0 = 0; t0 < nt; t0 += 2) {
            if (t0 + 1 < nt)
                chunk_tokens<2>(c, nc, A, b0, t0, &accs[0][0] + t0 * 8);
            else
                chunk_tokens<1>(c, nc, A, b0, t0, &accs[0][0] + t0 * 8);
        }
    }
    for (int64_t t = 0; t < nt; ++t) {
        alignas(64) float out[kLanes];
        _mm512_store_ps(out, q8_0_lane_sums(accs[t]));
        for (int i = 0; i < kLanes; ++i) y[t * ys + lane_row(i)] = out[i];
    }
}

}  // namespace

int64_t gemm_q8_0_lanes(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                        float* y, int64_t ys) {
    const BlockQ8_0* act[8];
    for (int64_t t = 0; t < 8; ++t)
        act[t] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) +
                                                    as * static_cast<uint64_t>(std::min<int64_t>(t, nt - 1)));
    const int64_t nb = n / 32;
    if (rows < kLanes) return 0;
    std::vector<int32_t> off(static_cast<size_t>(nt * nb * 8));
    std::vector<float> da(static_cast<size_t>(nt * nb));
    for (int64_t t = 0; t < nt; ++t)
        for (int64_t b = 0; b < nb; ++b) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(off.data() + (t * nb + b) * 8),
                                q8_0_bias_offsets(act[t][b].qs));
            da[static_cast<size_t>(t * nb + b)] = f16(act[t][b].d);
        }
    const Acts A{act, nb, off.data(), da.data()};
    alignas(64) Chunk c;
    alignas(64) __m512 accs[8][8];
    const auto* wb = static_cast<const uint8_t*>(w);
    int64_t r = 0;
    for (; r + kLanes <= rows; r += kLanes) group16(wb + ws * static_cast<uint64_t>(r), ws, A, nt, y + r, ys, c, accs);
    return r;
}

}  // namespace qlm::kernels::avx512
QLM_AVX512_TARGET_END
