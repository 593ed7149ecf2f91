// The Q8_0 batch on rows repacked in groups of 16 (quant/q8_0_x16.h), AVX2: each group as two
// halves of 8 rows, one row per i32 lane of a 256-bit register -- the first and the second 32 bytes
// of each 64-byte code register of the layout, the first and the second 16 bytes of a block's
// scales -- so there are no horizontal sums, no transposition and no gathered scales. A decode step
// (one token) reads each group in one sequential pass, both halves side by side; a batch of
// tokens goes over each 32-block chunk of a group (in L1) once per half and token pair.
//
// The scalar Q8_0 dot (FormatQ8_0::vec_dot) keeps 8 float lanes per output: lane l adds, block
// after block, fma(d_w·d_a, float(Σ of products 4l..4l+3), lane); reduce_lanes8_tinyblas sums them
// at the end. Here lane l of row i lives in i32 lane i of accumulator l, so every lane does exactly
// the dot's operations, and every output is the scalar reference's bits (dot_q8_0's, and those of
// the AVX-512 repacked batch), for 1..8 tokens alike.
//
// Without VNNI the products go through maddubs (unsigned x signed bytes, pairs added in i16). The
// layout's codes are biased to unsigned (c + 128, up to 255), and 2·255·127 would saturate i16, so
// the bias is taken back out first (xor 0x80 gives c) and the sign trick used: |c| (at most 128,
// an unsigned byte) times sign(c)·a, pairs of magnitude at most 2·128·127 = 32512 < 2^15 (the
// activations are within ±127), then one madd widens each row's two pairs to the exact i32 sum.
#include <algorithm>
#include <cstring>

#include "quant/kernels/x86_int8_headers.h"
#include "quant/q8_0_x16.h"

#define QLM_KERNEL_ISA avx2
#define QLM_KERNEL_VNNI 0
#include "quant/kernels/quant_x86.h"

namespace qlm::kernels::avx2 {

namespace {

constexpr int64_t kHalfRows = kX16Rows / 2;
// Blocks per pass over a group: its 32 blocks' codes and scales (17 KiB) stay in L1 while the
// second half and every token pair read them again.
constexpr int64_t kChunk = 32;

// Each half's 8 lane accumulators per token between passes (a[h][t][l]: rows 8h..8h+7), and the
// tokens' block scales of the chunk (da[c][t]).
struct Accs {
    alignas(32) __m256 a[2][8][8];
    alignas(32) float da[kChunk][8];
};

inline __m256i broadcast_dword(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);  // a Q8_0 block's codes sit 2 bytes off a dword boundary
    return _mm256_set1_epi32(v);
}

// Tokens t0 .. t0 + NT − 1, lanes L0 .. L0 + 8/NT − 1 of half h of the group at grp, over blocks
// b0 .. b0 + nc − 1 (b0 even): 8 accumulators in registers (with the codes, the scales and the
// constants they fit AVX2's 16), each code register's |c| and c shared by the NT tokens.
template <int NT, int L0>
[[gnu::always_inline]] inline void pass(const uint8_t* grp, int h, int64_t b0, int64_t nc, const BlockQ8_0* const* a,
                                        int t0, Accs& A) {
    constexpr int kL = 8 / NT;
    __m256 acc[NT][kL];
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t)
#pragma GCC unroll 8
        for (int l = 0; l < kL; ++l) acc[t][l] = A.a[h][t0 + t][L0 + l];
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80)), ones = _mm256_set1_epi16(1);
    const BlockQ8_0* at[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) at[t] = a[t0 + t] + b0;
    // Block c of the chunk: its half's codes and scales at `codes` and `scales`.
    auto block = [&](const uint8_t* codes, const uint8_t* scales, int64_t c) {
        const __m256 dw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(scales)));
        __m256 s[NT];
#pragma GCC unroll 4
        for (int t = 0; t < NT; ++t) s[t] = _mm256_mul_ps(dw, _mm256_broadcast_ss(&A.da[c][t0 + t]));
#pragma GCC unroll 8
        for (int l = 0; l < kL; ++l) {
            const __m256i cw =
                _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(codes + 64 * (L0 + l))), bias);
            const __m256i u = _mm256_abs_epi8(cw);  // −128 -> 0x80, read as 128 by maddubs
#pragma GCC unroll 4
            for (int t = 0; t < NT; ++t) {
                const __m256i sa = _mm256_sign_epi8(broadcast_dword(at[t][c].qs + 4 * (L0 + l)), cw);
                const __m256i sum = _mm256_madd_epi16(_mm256_maddubs_epi16(u, sa), ones);
                acc[t][l] = _mm256_fmadd_ps(s[t], _mm256_cvtepi32_ps(sum), acc[t][l]);
            }
        }
    };
    const uint8_t* pair = grp + q8_0_x16_scales_at(b0);
    int64_t c = 0;
    for (; c + 2 <= nc; c += 2, pair += kQ8_0x16Pairs.pair_bytes()) {
        block(pair + 64 + 32 * h, pair + 16 * h, c);
        block(pair + 64 + 512 + 32 * h, pair + 32 + 16 * h, c + 1);
    }
    if (c < nc) block(pair + 64 + 32 * h, pair + 16 * h, c);
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t)
#pragma GCC unroll 8
        for (int l = 0; l < kL; ++l) A.a[h][t0 + t][L0 + l] = acc[t][l];
}

// The 8 lane accumulators of the dot's order summed as reduce_lanes8_tinyblas sums them, 8 rows at
// once.
inline __m256 lane_sums(const __m256* l) {
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(l[0], l[4]), _mm256_add_ps(l[2], l[6])),
                         _mm256_add_ps(_mm256_add_ps(l[1], l[5]), _mm256_add_ps(l[3], l[7])));
}

// One token (a decode step), one group over all nb blocks in one pass, so the group streams from
// memory as one sequential run (a second pass over each chunk for the other half, as the batch
// does, reads slower): half 0's accumulators in registers, half 1's in memory (acc1).
void group_one_token(int64_t nb, const uint8_t* grp, const BlockQ8_0* a, float* y) {
    __m256 acc0[8];
    alignas(32) __m256 acc1[8];
    for (int l = 0; l < 8; ++l) acc0[l] = acc1[l] = _mm256_setzero_ps();
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80)), ones = _mm256_set1_epi16(1);
    // The exact i32 sums of 8 rows' 4 biased codes at w times the activation dword av.
    auto row_sums = [&](const uint8_t* w, __m256i av) {
        const __m256i cw = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(w)), bias);
        return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(cw), _mm256_sign_epi8(av, cw)), ones);
    };
    auto block = [&](const uint8_t* codes, const uint8_t* scales, const BlockQ8_0& ab) {
        const __m256 da = _mm256_set1_ps(f16(ab.d));
        const __m256 s0 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(scales))), da);
        const __m256 s1 =
            _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(scales + 16))), da);
#pragma GCC unroll 8
        for (int l = 0; l < 8; ++l) {
            const __m256i av = broadcast_dword(ab.qs + 4 * l);
            acc0[l] = _mm256_fmadd_ps(s0, _mm256_cvtepi32_ps(row_sums(codes + 64 * l, av)), acc0[l]);
            float* a1 = reinterpret_cast<float*>(&acc1[l]);
            const __m256 f1 = _mm256_cvtepi32_ps(row_sums(codes + 64 * l + 32, av));
            _mm256_store_ps(a1, _mm256_fmadd_ps(s1, f1, _mm256_load_ps(a1)));
        }
    };
    const uint8_t* pair = grp;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2, pair += kQ8_0x16Pairs.pair_bytes()) {
        block(pair + 64, pair, a[b]);
        block(pair + 64 + 512, pair + 32, a[b + 1]);
    }
    if (b < nb) block(pair + 64, pair, a[b]);
    _mm256_storeu_ps(y, lane_sums(acc0));
    _mm256_storeu_ps(y + kHalfRows, lane_sums(acc1));
}

// One group of 16 rows x nt tokens over nb blocks; y[t·ys + i] for row i of the group.
void group(int64_t nb, const uint8_t* grp, const BlockQ8_0* const* a, int64_t nt, float* y, int64_t ys, Accs& A) {
    for (auto& half : A.a)
        for (int64_t t = 0; t < nt; ++t)
            for (auto& v : half[t]) v = _mm256_setzero_ps();
    for (int64_t b0 = 0; b0 < nb; b0 += kChunk) {
        const int64_t nc = std::min(kChunk, nb - b0);
        for (int64_t c = 0; c < nc; ++c)
            for (int64_t t = 0; t < nt; ++t) A.da[c][t] = f16(a[t][b0 + c].d);
        for (int h = 0; h < 2; ++h) {
            int t0 = 0;
            for (; t0 + 2 <= nt; t0 += 2) {
                pass<2, 0>(grp, h, b0, nc, a, t0, A);
                pass<2, 4>(grp, h, b0, nc, a, t0, A);
            }
            if (t0 < nt) pass<1, 0>(grp, h, b0, nc, a, t0, A);
        }
    }
    for (int h = 0; h < 2; ++h)
        for (int64_t t = 0; t < nt; ++t) _mm256_storeu_ps(y + t * ys + kHalfRows * h, lane_sums(A.a[h][t]));
}

}  // namespace

void gemm_batch_q8_0_x16(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys) {
    const BlockQ8_0* act[8];
    for (int64_t t = 0; t < 8; ++t)
        act[t] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) +
                                                    as * static_cast<uint64_t>(std::min<int64_t>(t, nt - 1)));
    const auto* wb = static_cast<const uint8_t*>(w);
    if (nt == 1) {
        for (int64_t g = 0; g < rows / kX16Rows; ++g)
            group_one_token(n / 32, wb + gs * static_cast<uint64_t>(g), act[0], y + kX16Rows * g);
        return;
    }
    Accs A;
    for (int64_t g = 0; g < rows / kX16Rows; ++g)
        group(n / 32, wb + gs * static_cast<uint64_t>(g), act, nt, y + kX16Rows * g, ys, A);
}

}  // namespace qlm::kernels::avx2
