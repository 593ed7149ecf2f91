// 4 weight rows x 3 activation rows of the quantized formats (prompt batches): every weight block
// is decoded once for three tokens and every activation block loaded once per row; the Q4_0/Q8_0
// tiles also for 1..4 tokens and the Q6_K tile for one row x 1..8 tokens, the batches of up to 8
// tokens (GemmBatchFn; AVX-512 has its own Q4_0/Q8_0 batches, gemm_batch_avx512.cpp). The per-block
// integer sums equal the vec_dot kernels'; only the float summation order differs. Compiled once
// per ISA (gemm_quant_avx2.cpp, gemm_quant_avx512.cpp) into namespace QLM_KERNEL_ISA.
#include <type_traits>

#include "quant/kernels/x86_int8_headers.h"
#include "quant/kernels/quant_x86.h"

namespace qlm::kernels::QLM_KERNEL_ISA {

namespace {
constexpr int R = 4, T = 3;

template <class B>
const B* row(const void* base, uint64_t stride, int i) {
    return reinterpret_cast<const B*>(static_cast<const uint8_t*>(base) + stride * static_cast<uint64_t>(i));
}

template <int NT>
void store_tile(__m256 (&acc)[R][NT], float* y, int64_t y_stride) {
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) y[t * y_stride + r] = hsum(acc[r][t]);
}

// The activation scales of NT ≤ 4 tokens' block b (lanes NT..3 zero).
template <int NT, class A>
__m128 act_scales(const A* const* a, int64_t b) {
    return f16x4(a[0][b].d, NT > 1 ? a[1][b].d : 0, NT > 2 ? a[2][b].d : 0, NT > 3 ? a[3][b].d : 0);
}

// Q4_0/Q5_0 (below) and Q4_1/Q5_1 (one scale and one min per 32-element block) reduce before
// converting: the four rows' i32 block sums for a token become one vector [row 0..3 over lanes
// 0-3 | row 0..3 over lanes 4-7] by three hadds (exact), so a block costs one conversion and one
// FMA per token, not per row and token. acc[t] holds both halves; the stored result is lane r + lane r+4.
inline __m256i reduce_rows(__m256i p0, __m256i p1, __m256i p2, __m256i p3) {
    return _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
}
template <int NT>
void store_reduced(const __m256 (&acc)[NT], const __m128 (&extra)[NT], float* y, int64_t y_stride) {
    for (int t = 0; t < NT; ++t) {
        float v[4];
        _mm_storeu_ps(v, _mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(acc[t]), _mm256_extractf128_ps(acc[t], 1)),
                                    extra[t]));
        for (int r = 0; r < R; ++r) y[t * y_stride + r] = v[r];
    }
}

// Q8_0 activations against weights whose block decodes to 32 byte codes c (value c − kOffset) and
// an f16 scale d. kOffset > 0: c is unsigned and Σ (c − kOffset)·a = udot(c, a) − kOffset·Σ a, the
// second term once per token and block. kOffset = 0: c is signed and the sign trick applies.
//
// Q8_0 weights add in llama.cpp's order: each (row, token) keeps its own accumulator and adds
// every block's 8 lane sums with one FMA, as the dot kernel (sum_blocks_f16) and tinyBLAS do, so
// a prompt gives the bits of one-token decoding. llama.cpp repacks Q4_0 and runs its own tile
// order for Q5_0, so no order matches there; those tiles reduce the four rows' lane sums first
// (exact integer adds), then convert and add once per token: a quarter of the float work, and a
// register budget that fits AVX2's 16 registers.
template <class B, int kOffset, int NT, class Codes>
void gemm_q8_0_act(int64_t n, const void* wv, uint64_t ws, const void* av, uint64_t as, float* y, int64_t ys,
                   Codes codes) {
    const B* w[R];
    const BlockQ8_0* a[NT];
    for (int r = 0; r < R; ++r) w[r] = row<B>(wv, ws, r);
    for (int t = 0; t < NT; ++t) a[t] = row<BlockQ8_0>(av, as, t);
    if constexpr (std::is_same_v<B, BlockQ8_0>) {
        __m256 acc[R][NT];
        for (auto& rr : acc)
            for (auto& v : rr) v = _mm256_setzero_ps();
        const __m256i offset = _mm256_set1_epi8(static_cast<char>(kOffset));
        for (int64_t b = 0; b < n / 32; ++b) {
            const __m128 da4 = act_scales<NT>(a, b);
            const __m128 dw4 = f16x4(w[0][b].d, w[1][b].d, w[2][b].d, w[3][b].d);
            __m256 dw[R];
            __m256i c[R], sc[R];
            for (int r = 0; r < R; ++r) {
                dw[r] = lane(dw4, r);
                c[r] = codes(w[r][b]);
                if constexpr (kOffset == 0) sc[r] = _mm256_sign_epi8(c[r], c[r]);
            }
            for (int t = 0; t < NT; ++t) {
                const __m256 da = lane(da4, t);
                const __m256i ya = load32(a[t][b].qs);
                __m256i base = _mm256_setzero_si256();
                if constexpr (kOffset != 0) base = _mm256_sub_epi32(base, udot(offset, ya));
                for (int r = 0; r < R; ++r) {
                    __m256i p;
                    if constexpr (kOffset == 0)
                        p = udot(sc[r], _mm256_sign_epi8(ya, c[r]));
                    else
                        p = udot_add(base, c[r], ya);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw[r], da), _mm256_cvtepi32_ps(p), acc[r][t]);
                }
            }
        }
        store_tile(acc, y, ys);
    } else {
        __m256 acc[NT];
        __m128 none[NT];
        for (int t = 0; t < NT; ++t) {
            acc[t] = _mm256_setzero_ps();
            none[t] = _mm_setzero_ps();
        }
        static_assert(kOffset != 0, "Q4_0/Q5_0 codes are unsigned");
        const __m256i offset = _mm256_set1_epi8(static_cast<char>(kOffset));
        for (int64_t b = 0; b < n / 32; ++b) {
            const __m128 da4 = act_scales<NT>(a, b);
            const __m128 dw4 = f16x4(w[0][b].d, w[1][b].d, w[2][b].d, w[3][b].d);
            const __m256 dw8 = _mm256_set_m128(dw4, dw4);
            __m256i c[R];
            for (int r = 0; r < R; ++r) c[r] = codes(w[r][b]);
            for (int t = 0; t < NT; ++t) {
                const __m256i ya = load32(a[t][b].qs);
                const __m256i base = _mm256_sub_epi32(_mm256_setzero_si256(), udot(offset, ya));
                __m256i p[R];
                for (int r = 0; r < R; ++r) p[r] = udot_add(base, c[r], ya);
                const __m256 s = _mm256_mul_ps(dw8, lane(da4, t));
                acc[t] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(reduce_rows(p[0], p[1], p[2], p[3])), acc[t]);
            }
        }
        store_reduced(acc, none, y, ys);
    }
}

// Q8_1 activations against Q4_1/Q5_1 weights (unsigned codes): d_w·d_a·Σq·a per block plus the
// min term m_w·s_a, kept for the 4 rows of a token in one 128-bit accumulator.
template <class B, class Codes>
void gemm_q8_1_act(int64_t n, const void* wv, uint64_t ws, const void* av, uint64_t as, float* y, int64_t ys,
                   Codes codes) {
    const B* w[R];
    const BlockQ8_1* a[T];
    for (int r = 0; r < R; ++r) w[r] = row<B>(wv, ws, r);
    for (int t = 0; t < T; ++t) a[t] = row<BlockQ8_1>(av, as, t);
    __m256 acc[T];
    __m128 mins[T];
    for (int t = 0; t < T; ++t) {
        acc[t] = _mm256_setzero_ps();
        mins[t] = _mm_setzero_ps();
    }
    for (int64_t b = 0; b < n / 32; ++b) {
        const __m128 da4 = f16x4(a[0][b].d, a[1][b].d, a[2][b].d, 0);
        const __m128 sa4 = f16x4(a[0][b].s, a[1][b].s, a[2][b].s, 0);
        const __m128 dw4 = f16x4(w[0][b].d, w[1][b].d, w[2][b].d, w[3][b].d);
        const __m128 mw4 = f16x4(w[0][b].m, w[1][b].m, w[2][b].m, w[3][b].m);
        const __m256 dw8 = _mm256_set_m128(dw4, dw4);
        __m256i c[R];
        for (int r = 0; r < R; ++r) c[r] = codes(w[r][b]);
        for (int t = 0; t < T; ++t) {
            const __m256i ya = load32(a[t][b].qs);
            mins[t] = _mm_fmadd_ps(mw4, _mm_permutevar_ps(sa4, _mm_set1_epi32(t)), mins[t]);
            const __m256i sum = reduce_rows(udot(c[0], ya), udot(c[1], ya), udot(c[2], ya), udot(c[3], ya));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw8, lane(da4, t)), _mm256_cvtepi32_ps(sum), acc[t]);
        }
    }
    store_reduced(acc, mins, y, ys);
}
}  // namespace

void gemm4x3_q4_1(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_q8_1_act<BlockQ4_1>(n, w, ws, a, as, y, ys, [](const BlockQ4_1& b) { return nibbles(b.qs); });
}

void gemm4x3_q5_1(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_q8_1_act<BlockQ5_1>(n, w, ws, a, as, y, ys, [](const BlockQ5_1& b) { return q5_codes(b.qh, b.qs); });
}

// Q8_0 weights: with VNNI, c + 128 as unsigned bytes (no saturation in vpdpbusd); maddubs would
// saturate on those (2·255·127 > 2^15), so AVX2 keeps the sign trick.
void gemm4x3_q8_0(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
#if QLM_KERNEL_VNNI
    gemm_q8_0_act<BlockQ8_0, 128, T>(n, w, ws, a, as, y, ys, [](const BlockQ8_0& b) {
        return _mm256_xor_si256(load32(b.qs), _mm256_set1_epi8(static_cast<char>(0x80)));
    });
#else
    gemm_q8_0_act<BlockQ8_0, 0, T>(n, w, ws, a, as, y, ys, [](const BlockQ8_0& b) { return load32(b.qs); });
#endif
}

// Q5_0: codes 0..31 (value − 16); maddubs pairs 2·31·127 and 2·16·127 fit i16.
void gemm4x3_q5_0(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_q8_0_act<BlockQ5_0, 16, T>(n, w, ws, a, as, y, ys, [](const BlockQ5_0& b) { return q5_codes(b.qh, b.qs); });
}

// Q4_0: codes 0..15 (value − 8).
void gemm4x3_q4_0(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_q8_0_act<BlockQ4_0, 8, T>(n, w, ws, a, as, y, ys, [](const BlockQ4_0& b) { return nibbles(b.qs); });
}

// Q4_K: per super-block and row, the scales are unpacked once and each 64-element chunk's nibbles
// split once, then used for all three tokens (three i32 accumulators live at a time).
// Q5_K is the same with the 5th bits (qh) or'ed into the nibbles.
namespace {
template <bool kFifthBit, class B>
void gemm_kquant_asym(int64_t n, const void* wv, uint64_t ws, const void* av, uint64_t as, float* y, int64_t ys) {
    const B* w[R];
    const BlockQ8_K* a[T];
    for (int r = 0; r < R; ++r) w[r] = row<B>(wv, ws, r);
    for (int t = 0; t < T; ++t) a[t] = row<BlockQ8_K>(av, as, t);
    __m256 acc[R][T];
    for (auto& rr : acc)
        for (auto& v : rr) v = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < n / 256; ++b) {
        __m256i bsums[T];
        __m256 da[T];
        for (int t = 0; t < T; ++t) {
            bsums[t] = load32(a[t][b].bsums);
            da[t] = _mm256_set1_ps(a[t][b].d);
        }
        for (int r = 0; r < R; ++r) {
            const B& x = w[r][b];
            uint8_t sc[8], mn[8];
            kquant_unpack_scales(x.scales, sc, mn);
            const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn)));
            const __m256i mpair = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
            const __m256i sc16 =
                _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc))));
            __m256i sumi[T];
            for (int t = 0; t < T; ++t) sumi[t] = _mm256_setzero_si256();
            __m256i hbits;
            if constexpr (kFifthBit) hbits = load32(x.qh);
            for (int c = 0; c < 4; ++c) {
                const __m256i q = load32(x.qs + 32 * c);
                __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if constexpr (kFifthBit) {
                    const __m256i one = _mm256_set1_epi8(1);
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4));
                    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4));
                    hbits = _mm256_srli_epi16(hbits, 2);
                }
                const __m256i s0 = splat16(sc16, 2 * c), s1 = splat16(sc16, 2 * c + 1);
                for (int t = 0; t < T; ++t) {
                    const __m256i p0 = _mm256_maddubs_epi16(lo, load32(a[t][b].qs + 64 * c));
                    const __m256i p1 = _mm256_maddubs_epi16(hi, load32(a[t][b].qs + 64 * c + 32));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_madd_epi16(p0, s0),
                                                                         _mm256_madd_epi16(p1, s1)));
                }
            }
            const __m256 d = _mm256_set1_ps(f16(x.d)), dmin = _mm256_set1_ps(f16(x.dmin));
            for (int t = 0; t < T; ++t) {
                const __m256i msum = _mm256_madd_epi16(bsums[t], mpair);
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(d, da[t]), _mm256_cvtepi32_ps(sumi[t]), acc[r][t]);
                acc[r][t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, da[t]), _mm256_cvtepi32_ps(msum), acc[r][t]);
            }
        }
    }
    store_tile(acc, y, ys);
}
}  // namespace

void gemm4x3_q4_k(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_kquant_asym<false, BlockQ4_K>(n, w, ws, a, as, y, ys);
}

void gemm4x3_q5_k(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_kquant_asym<true, BlockQ5_K>(n, w, ws, a, as, y, ys);
}

// Q6_K: per super-block and row, the 6-bit codes of each 32-element chunk are assembled once
// (0..63, stored +32) and used for all NT tokens; the −32 offset is 32·Σ_j sc_j·bsums[j].
// NR rows x NT tokens (4x3: the prompt tile; 1x8: the batch, whose accumulators are touched once
// per super-block, so they may live in memory).
namespace {
template <int NR, int NT>
void gemm_q6_k(int64_t n, const void* wv, uint64_t ws, const void* av, uint64_t as, float* y, int64_t ys) {
    const BlockQ6_K* w[NR];
    const BlockQ8_K* a[NT];
    for (int r = 0; r < NR; ++r) w[r] = row<BlockQ6_K>(wv, ws, r);
    for (int t = 0; t < NT; ++t) a[t] = row<BlockQ8_K>(av, as, t);
    __m256 acc[NR][NT];
    for (auto& rr : acc)
        for (auto& v : rr) v = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < n / 256; ++b) {
        __m256 da[NT];
        for (int t = 0; t < NT; ++t) da[t] = _mm256_set1_ps(a[t][b].d);
        for (int r = 0; r < NR; ++r) {
            const BlockQ6_K& x = w[r][b];
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
            __m256i sumi[NT];
            for (int t = 0; t < NT; ++t)
                sumi[t] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                           _mm256_slli_epi32(_mm256_madd_epi16(load32(a[t][b].bsums), sc16), 5));
            for (int h = 0; h < 2; ++h) {
                const __m256i ql0 = load32(x.ql + 64 * h), ql1 = load32(x.ql + 64 * h + 32);
                const __m256i qh = load32(x.qh + 32 * h);
                for (int s = 0; s < 4; ++s) {
                    const __m256i ql = s % 2 ? ql1 : ql0;
                    const __m256i lo = _mm256_and_si256(s < 2 ? ql : _mm256_srli_epi16(ql, 4), m4);
                    const __m256i hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), m2), 4);
                    const __m256i codes = _mm256_or_si256(lo, hi);
                    const int j = 8 * h + 2 * s;
                    const __m256i scv = pair_scales16(sc16, j);
                    for (int t = 0; t < NT; ++t) {
                        // Pairs of code·a (at most 2·63·128, no saturation), then the pairs by their
                        // scales into the sums: one vpdpwssd on VNNI for madd + add, the same integers.
                        const __m256i p = _mm256_maddubs_epi16(codes, load32(a[t][b].qs + 128 * h + 32 * s));
#if QLM_KERNEL_VNNI
                        sumi[t] = _mm256_dpwssd_epi32(sumi[t], p, scv);
#else
                        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, scv));
#endif
                    }
                }
            }
            const __m256 d = _mm256_set1_ps(f16(x.d));
            for (int t = 0; t < NT; ++t)
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(d, da[t]), _mm256_cvtepi32_ps(sumi[t]), acc[r][t]);
        }
    }
    for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) y[t * ys + r] = hsum(acc[r][t]);
}
}  // namespace

void gemm4x3_q6_k(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_q6_k<R, T>(n, w, ws, a, as, y, ys);
}

// One row at a time, all tokens: the six-bit codes are assembled once per row for up to 8 tokens.
void gemm_batch_q6_k(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                     float* y, int64_t ys) {
    using Fn = void (*)(int64_t, const void*, uint64_t, const void*, uint64_t, float*, int64_t);
    static constexpr Fn kByTokens[8] = {gemm_q6_k<1, 1>, gemm_q6_k<1, 2>, gemm_q6_k<1, 3>, gemm_q6_k<1, 4>,
                                        gemm_q6_k<1, 5>, gemm_q6_k<1, 6>, gemm_q6_k<1, 7>, gemm_q6_k<1, 8>};
    const Fn f = kByTokens[nt - 1];
    for (int64_t r = 0; r < rows; ++r) f(n, static_cast<const uint8_t*>(w) + ws * static_cast<uint64_t>(r), ws, a, as, y + r, ys);
}

#if !QLM_KERNEL_VNNI
// Q4_0/Q8_0 batches on AVX2 (16 registers): 4 rows x 4 tokens per weight decode, the tiles above
// with NT = 4 and the token tail; rows past the last group of 4 by the dots.
namespace {
template <class B, int kOffset, class Codes>
void batch_q8_0_act(int64_t n, int64_t rows, const void* wv, uint64_t ws, const void* av, uint64_t as, int64_t nt,
                    float* y, int64_t ys, Codes codes,
                    float (*dot)(int64_t, const void*, const void*)) {
    const auto* wb = static_cast<const uint8_t*>(wv);
    const auto* ab = static_cast<const uint8_t*>(av);
    int64_t r = 0;
    for (; r + R <= rows; r += R) {
        const uint8_t* w = wb + ws * static_cast<uint64_t>(r);
        int64_t t = 0;
        for (; t + 4 <= nt; t += 4)
            gemm_q8_0_act<B, kOffset, 4>(n, w, ws, ab + as * static_cast<uint64_t>(t), as, y + t * ys + r, ys, codes);
        const uint8_t* a = ab + as * static_cast<uint64_t>(t);
        switch (nt - t) {
            case 3: gemm_q8_0_act<B, kOffset, 3>(n, w, ws, a, as, y + t * ys + r, ys, codes); break;
            case 2: gemm_q8_0_act<B, kOffset, 2>(n, w, ws, a, as, y + t * ys + r, ys, codes); break;
            case 1: gemm_q8_0_act<B, kOffset, 1>(n, w, ws, a, as, y + t * ys + r, ys, codes); break;
            default: break;
        }
    }
    for (; r < rows; ++r)
        for (int64_t t = 0; t < nt; ++t)
            y[t * ys + r] = dot(n, wb + ws * static_cast<uint64_t>(r), ab + as * static_cast<uint64_t>(t));
}
}  // namespace

void gemm_batch_q4_0(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                     float* y, int64_t ys) {
    batch_q8_0_act<BlockQ4_0, 8>(
        n, rows, w, ws, a, as, nt, y, ys, [](const BlockQ4_0& b) { return nibbles(b.qs); }, dot_q4_0);
}

void gemm_batch_q8_0(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                     float* y, int64_t ys) {
    batch_q8_0_act<BlockQ8_0, 0>(
        n, rows, w, ws, a, as, nt, y, ys, [](const BlockQ8_0& b) { return load32(b.qs); }, dot_q8_0);
}
#endif

}  // namespace qlm::kernels::QLM_KERNEL_ISA
