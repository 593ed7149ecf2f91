// The F16 batch on rows repacked in groups of 16 (quant/f16_x16.h; = qlm::GemmBatchFn with ws the
// bytes between groups, rows a multiple of 16) for 1..8 tokens: every output the bits of
// gemm_batch_f16 (and of the scalar dot_f16_batch over the whole groups of 8, the tail after
// them added one fused product at a time). Each row's 8 columns of a block widen into one 8-lane
// register (lane j: the columns j mod 8, one FMA per block, blocks in order), reduced in
// hsum_avx's order by hsums16. One token: 16 rows' accumulators, a group read as one sequential
// run, one activation conversion per 16 FMAs. Several: passes of 4 rows x up to 6 tokens, each
// widened weight vector shared by the tokens. Conversions
// stay 256-bit: on Zen 4 a 512-bit vcvtph2ps costs more than two 256-bit ones.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/fp16.h"
#include "quant/kernels/kernels.h"
#include "quant/kernels/x86_int8_headers.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

QLM_AVX512_TARGET_BEGIN

#include "quant/kernels/hsums16_avx512.h"

namespace qlm::kernels::avx512 {

namespace {

constexpr int kMaxTokens = 6;  // tokens per pass of 4 rows: 24 accumulators, 4 weights, 1 activation
constexpr int kMaxBatch = 8;    // tokens per group_tokens call

// The 8 f16 activations of block b of a row, widened.
inline __m256 act8(const uint16_t* a, int64_t b) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 8 * b)));
}

// The sums of 16 8-lane accumulators (hsum_avx's order) in order.
inline __m512 hsums(const __m256 (&acc)[16]) {
    __m512 pairs[8];
    for (int p = 0; p < 8; ++p) pairs[p] = _mm512_insertf32x8(_mm512_castps256_ps512(acc[2 * p]), acc[2 * p + 1], 1);
    return hsums16(pairs);
}

// Output (row r of the group, token t) after the whole blocks: the tail columns one fused product
// at a time (f16 products are exact, so as the vector FMA).
inline float tail(float s, int64_t n, const uint8_t* group, int64_t r, const uint16_t* a) {
    const int64_t n8 = n / 8 * 8;
    for (int64_t c = n8; c < n; ++c) {
        uint16_t h;
        std::memcpy(&h, group + 32 * c + 2 * r, 2);
        s = std::fma(fp16_to_fp32(h), fp16_to_fp32(a[c]), s);
    }
    return s;
}

// One token, the 16 rows of one group: 16 accumulators, one weight conversion per FMA.
void group_one(int64_t n, const uint8_t* group, const uint16_t* a, float* y) {
    __m256 acc[16];
    for (auto& v : acc) v = _mm256_setzero_ps();
    const int64_t nb = n / 8;
    const uint8_t* blk = group;
    for (int64_t b = 0; b < nb; ++b, blk += 256) {
        const __m256 av = act8(a, b);
        for (int r = 0; r < 16; ++r)
            acc[r] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * r))), av,
                                     acc[r]);
    }
    alignas(64) float s[16];
    _mm512_store_ps(s, hsums(acc));
    if (n % 8)
        for (int r = 0; r < 16; ++r) s[r] = tail(s[r], n, group, r, a);
    _mm512_storeu_ps(y, _mm512_load_ps(s));
}

// Accumulators of a group for up to kMaxBatch tokens: [quarter][token][row of the quarter][lane].
using GroupAcc = float[4][kMaxBatch][4][8];

// The nb blocks of one group for tokens t0..t0+T-1 (rows at[0..T-1]), in four passes of 4 rows x
// T tokens: every widened weight vector meets the T tokens.
template <int T>
void token_pass(const uint8_t* group, int64_t nb, const uint16_t* const* at, GroupAcc& acc, int64_t t0) {
    for (int q = 0; q < 4; ++q) {
        __m256 v[T][4];
        for (int t = 0; t < T; ++t)
            for (int r = 0; r < 4; ++r) v[t][r] = _mm256_load_ps(acc[q][t0 + t][r]);
        const uint8_t* blk = group + 64 * q;
        for (int64_t b = 0; b < nb; ++b, blk += 256) {
            __m256 w[4];
            for (int r = 0; r < 4; ++r) w[r] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * r)));
            for (int t = 0; t < T; ++t) {
                const __m256 av = act8(at[t], b);
                for (int r = 0; r < 4; ++r) v[t][r] = _mm256_fmadd_ps(w[r], av, v[t][r]);
            }
        }
        for (int t = 0; t < T; ++t)
            for (int r = 0; r < 4; ++r) _mm256_store_ps(acc[q][t0 + t][r], v[t][r]);
    }
}

// 2..kMaxBatch tokens (rows as bytes apart), all 16 rows of one group; y[t·ys + r]. Passes of
// equal token counts: 8 tokens as 4 + 4, which keep more FMAs per conversion than 6 + 2. (Column
// chunks that stay in L1 across the passes measured no faster: the passes read whole lines.)
void group_tokens(int64_t n, const uint8_t* group, const uint8_t* a, uint64_t as, int64_t nt, float* y, int64_t ys) {
    alignas(32) GroupAcc acc = {};
    const uint16_t* at[kMaxBatch];
    for (int64_t t = 0; t < nt; ++t) at[t] = reinterpret_cast<const uint16_t*>(a + as * static_cast<uint64_t>(t));
    const int64_t nb = n / 8, passes = (nt + kMaxTokens - 1) / kMaxTokens;
    for (int64_t t = 0, p = 0; t < nt; ++p) {
        const int64_t count = (nt - t + (passes - p) - 1) / (passes - p);
        switch (count) {
            case 6: token_pass<6>(group, nb, at + t, acc, t); break;
            case 5: token_pass<5>(group, nb, at + t, acc, t); break;
            case 4: token_pass<4>(group, nb, at + t, acc, t); break;
            case 3: token_pass<3>(group, nb, at + t, acc, t); break;
            case 2: token_pass<2>(group, nb, at + t, acc, t); break;
            default: token_pass<1>(group, nb, at + t, acc, t); break;
        }
        t += count;
    }
    for (int64_t t = 0; t < nt; ++t) {
        __m256 rows[16];
        for (int r = 0; r < 16; ++r) rows[r] = _mm256_load_ps(acc[r / 4][t][r % 4]);
        alignas(64) float s[16];
        _mm512_store_ps(s, hsums(rows));
        for (int r = 0; r < 16; ++r) y[t * ys + r] = n % 8 ? tail(s[r], n, group, r, at[t]) : s[r];
    }
}

}  // namespace

void gemm_batch_f16_x16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                        float* y, int64_t ys) {
    if (n <= 0 || rows <= 0 || nt <= 0) return;
    const auto* groups = static_cast<const uint8_t*>(w);
    const auto* act = static_cast<const uint8_t*>(a);
    for (int64_t g = 0; g < rows / 16; ++g) {
        const uint8_t* group = groups + ws * static_cast<uint64_t>(g);
        if (nt == 1) {
            group_one(n, group, reinterpret_cast<const uint16_t*>(act), y + 16 * g);
            continue;
        }
        for (int64_t t = 0; t < nt; t += kMaxBatch)
            group_tokens(n, group, act + as * static_cast<uint64_t>(t), as, std::min<int64_t>(kMaxBatch, nt - t),
                         y + t * ys + 16 * g, ys);
    }
}

}  // namespace qlm::kernels::avx512

QLM_AVX512_TARGET_END
