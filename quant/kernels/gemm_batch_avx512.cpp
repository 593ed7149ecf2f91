// Small-batch products of Q4_0 and Q8_0 weights with Q8_0 activations on AVX-512 VNNI: up to 4
// weight rows x 8 tokens per weight-block decode (decode steps of 8 sequences, prompt batches).
// A 512-bit register holds one block of two tokens ([token t | token t+1], 8 i32 lanes each), so
// a weight block, decoded once into both halves, meets two tokens per vpdpbusd; 4 rows x 4 token
// pairs keep 16 accumulators and the 4 pairs' activations, offsets and scales in the other 16
// registers.
//
// Each (row, token) keeps its own 8 lanes and adds every block's lane sums with one FMA of
// d_w·d_a, then the lanes as hsum does: the order of the dot kernels (sum_blocks_f16), so Q8_0
// weights give the bits of one-token decoding (matmul's contract, see gemm_quant_x86.inl) and
// Q4_0 the same sums as its dot.
#include <algorithm>

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
void tile(int64_t nb, const B* const* w, const BlockQ8_0* const* a, int64_t nt, float* y, int64_t ys) {
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
void tile_tokens(int64_t nb, const B* const* w, const BlockQ8_0* const* a, int64_t nt, float* y, int64_t ys) {
    switch ((nt + 1) / 2) {
        case 1: tile<B, C, R, 1>(nb, w, a, nt, y, ys); break;
        case 2: tile<B, C, R, 2>(nb, w, a, nt, y, ys); break;
        case 3: tile<B, C, R, 3>(nb, w, a, nt, y, ys); break;
        default: tile<B, C, R, 4>(nb, w, a, nt, y, ys); break;
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
        tile_tokens<B, C, R>(nb, w, a, nt, y + r, ys);
    }
    for (; r < rows; ++r) {
        const B* w[1] = {row_at<B>(wv, ws, r)};
        tile_tokens<B, C, 1>(nb, w, a, nt, y + r, ys);
    }
}

}  // namespace

void gemm_batch_q4_0(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                     float* y, int64_t ys) {
    batch<BlockQ4_0, Q4_0Codes>(n, rows, w, ws, a, as, nt, y, ys);
}

void gemm_batch_q8_0(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                     float* y, int64_t ys) {
    batch<BlockQ8_0, Q8_0Codes>(n, rows, w, ws, a, as, nt, y, ys);
}

}  // namespace qlm::kernels::avx512
QLM_AVX512_TARGET_END
