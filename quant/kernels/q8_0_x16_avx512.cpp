// The Q8_0 batch on rows repacked in groups of 16 (quant/q8_0_x16.h), AVX-512 VNNI: one row per
// i32 lane, the codes already biased to unsigned and laid out as the registers want them, so a
// block costs per token 8 vpdpbusd (the activation's dwords broadcast from memory), 8 conversions
// and 8 FMAs for 16 rows, with no transposition, no gathered scales and one sequential stream per
// group.
//
// The scalar Q8_0 dot (FormatQ8_0::vec_dot, the order of ggml's) keeps 8 float lanes per output:
// lane l adds, block after block, fma(d_w·d_a, float(Σ of products 4l..4l+3), lane), and the lanes
// are summed at the end as reduce_lanes8_tinyblas does. Here lane l of row i lives in i32 lane i
// of accumulator l, so each lane does exactly the dot's operations: the block sums are exact
// integers (Σ (c+128)·a − 128·Σa), the FMAs and the final adds the same. Every output is the
// scalar reference's bits (and dot_q8_0's), for 1..8 tokens alike.
#include <algorithm>
#include <cstring>

#include "quant/kernels/x86_int8_headers.h"
#include "quant/q8_0_x16.h"

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
// Blocks per pass: their codes and scales (17 KiB a group) stay in L1 while each token pair reads
// them.
constexpr int64_t kChunk = 32;
// Groups sharing one pass's activation sums (the matmul's row tiles are two groups).
constexpr int64_t kSetGroups = 2;

// The activations' part of a chunk, the same for every group: per block c and token t, −128·Σ
// of each dword l's 4 codes (off[c][t][l]) and the scale (da[c][t]).
struct ChunkActs {
    alignas(64) int32_t off[kChunk][8][8];
    alignas(64) float da[kChunk][8];
};

void chunk_acts(const BlockQ8_0* const* a, int64_t b0, int64_t nc, int64_t nt, ChunkActs& A) {
    for (int64_t c = 0; c < nc; ++c)
        for (int64_t t = 0; t < nt; ++t) {
            const BlockQ8_0& blk = a[t][b0 + c];
            _mm256_store_si256(reinterpret_cast<__m256i*>(A.off[c][t]), q8_0_bias_offsets(blk.qs));
            A.da[c][t] = f16(blk.d);
        }
}

// Tokens t0 .. t0 + NT − 1 (NT = 1 or 2) over blocks b0 .. b0 + nc − 1 of the group at grp;
// acc[8·k + l] (token t0 + k, lane l) in and out, held in registers meanwhile.
template <int NT>
[[gnu::always_inline]] inline void chunk_tokens(const uint8_t* grp, int64_t nc,
                                                const ChunkActs& A, const BlockQ8_0* const* a, int64_t b0, int t0,
                                                __m512* acc) {
    __m512 r[NT * 8];
#pragma GCC unroll 16
    for (int i = 0; i < NT * 8; ++i) r[i] = acc[i];
    for (int64_t c = 0; c < nc; ++c) {
        const uint8_t* codes = grp + q8_0_x16_codes_at(b0 + c);
        const __m512 dw =
            _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(grp + q8_0_x16_scales_at(b0 + c))));
        __m512 s[NT];
        const int8_t* ad[NT];
        const int32_t* off[NT];
#pragma GCC unroll 2
        for (int k = 0; k < NT; ++k) {
            s[k] = _mm512_mul_ps(dw, _mm512_set1_ps(A.da[c][t0 + k]));
            ad[k] = a[t0 + k][b0 + c].qs;
            off[k] = A.off[c][t0 + k];
        }
        // One code register at a time, for the NT tokens: the accumulators, the scales and a few
        // temporaries fit the 32 registers (no spills).
#pragma GCC unroll 8
        for (int l = 0; l < 8; ++l) {
            const __m512i w = _mm512_load_si512(codes + 64 * l);
#pragma GCC unroll 2
            for (int k = 0; k < NT; ++k) {
                // A Q8_0 block is 34 bytes, so its codes sit 2 bytes off any dword boundary: each
                // dword is read with memcpy (one broadcast load), never through an int32_t pointer.
                int32_t a4;
                std::memcpy(&a4, ad[k] + 4 * l, 4);
                const __m512i sum = _mm512_dpbusd_epi32(_mm512_set1_epi32(off[k][l]), w, _mm512_set1_epi32(a4));
                r[k * 8 + l] = _mm512_fmadd_ps(s[k], _mm512_cvtepi32_ps(sum), r[k * 8 + l]);
            }
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < NT * 8; ++i) acc[i] = r[i];
}

// ng <= kSetGroups groups (gs bytes apart) x nt tokens over nb blocks; y[t·ys + 16g + i].
void group_set(int64_t nb, int64_t ng, const uint8_t* w, uint64_t gs, const BlockQ8_0* const* a, int64_t nt,
               float* y, int64_t ys, ChunkActs& A) {
    alignas(64) __m512 accs[kSetGroups][8][8];
    for (int64_t g = 0; g < ng; ++g)
        for (int64_t t = 0; t < nt; ++t)
            for (auto& v : accs[g][t]) v = _mm512_setzero_ps();
    for (int64_t b0 = 0; b0 < nb; b0 += kChunk) {
        const int64_t nc = std::min(kChunk, nb - b0);
        chunk_acts(a, b0, nc, nt, A);
        for (int64_t g = 0; g < ng; ++g) {
            const uint8_t* grp = w + gs * static_cast<uint64_t>(g);
            int t0 = 0;
            for (; t0 + 1 < nt; t0 += 2) chunk_tokens<2>(grp, nc, A, a, b0, t0, &accs[g][t0][0]);
            if (t0 < nt) chunk_tokens<1>(grp, nc, A, a, b0, t0, &accs[g][t0][0]);
        }
    }
    for (int64_t g = 0; g < ng; ++g)
        for (int64_t t = 0; t < nt; ++t) _mm512_storeu_ps(y + t * ys + kLanes * g, q8_0_lane_sums(accs[g][t]));
}

// One token (a decode step), one group over all nb blocks in one pass: its codes stream from
// memory once, so nothing is gained by chunks (two groups side by side read slower).
void group_one_token(int64_t nb, const uint8_t* grp, const BlockQ8_0* a, float* y) {
    __m512 acc[8];
    for (auto& v : acc) v = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        alignas(32) int32_t off[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(off), q8_0_bias_offsets(a[b].qs));
        const uint8_t* codes = grp + q8_0_x16_codes_at(b);
        const __m512 dw =
            _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(grp + q8_0_x16_scales_at(b))));
        const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(f16(a[b].d)));
#pragma GCC unroll 8
        for (int l = 0; l < 8; ++l) {
            int32_t a4;
            std::memcpy(&a4, a[b].qs + 4 * l, 4);
            const __m512i sum = _mm512_dpbusd_epi32(_mm512_set1_epi32(off[l]), _mm512_load_si512(codes + 64 * l),
                                                    _mm512_set1_epi32(a4));
            acc[l] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(sum), acc[l]);
        }
    }
    _mm512_storeu_ps(y, q8_0_lane_sums(acc));
}

}  // namespace

void gemm_batch_q8_0_x16(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys) {
    const BlockQ8_0* act[8];
    for (int64_t t = 0; t < 8; ++t)
        act[t] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) +
                                                    as * static_cast<uint64_t>(std::min<int64_t>(t, nt - 1)));
    const auto* wb = static_cast<const uint8_t*>(w);
    const int64_t groups = rows / kLanes;
    if (nt == 1) {
        for (int64_t g = 0; g < groups; ++g)
            group_one_token(n / 32, wb + gs * static_cast<uint64_t>(g), act[0], y + kLanes * g);
        return;
    }
    alignas(64) ChunkActs A;
    for (int64_t g = 0; g < groups; g += kSetGroups)
        group_set(n / 32, std::min(kSetGroups, groups - g), wb + gs * static_cast<uint64_t>(g), gs, act, nt,
                  y + kLanes * g, ys, A);
}

}  // namespace qlm::kernels::avx512
QLM_AVX512_TARGET_END
