// 4 weight rows x 3 activation rows of the quantized formats (prompt batches): every weight block
// is decoded once for three tokens and every activation block loaded once per row. The per-block
// integer sums equal the vec_dot kernels'; only the float summation order differs.
#include <immintrin.h>

#include "quant/format_q4_0.h"
#include "quant/format_q4_1.h"
#include "quant/format_q4_k.h"
#include "quant/format_q5_0.h"
#include "quant/format_q5_1.h"
#include "quant/format_q5_k.h"
#include "quant/format_q6_k.h"
#include "quant/format_q8_0.h"
#include "quant/format_q8_1.h"
#include "quant/format_q8_k.h"
#include "quant/kernels/kernels.h"
#include "quant/kernels/quant_avx2.h"

namespace qlm::kernels {

using namespace avx2;

namespace {
constexpr int R = 4, T = 3;

template <class B>
const B* row(const void* base, uint64_t stride, int i) {
    return reinterpret_cast<const B*>(static_cast<const uint8_t*>(base) + stride * static_cast<uint64_t>(i));
}

void store_tile(__m256 (&acc)[R][T], float* y, int64_t y_stride) {
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * y_stride + r] = hsum(acc[r][t]);
}

// Q8_0 activations against weights whose block b of row r decodes to 32 signed codes + a scale.
template <class B, class Codes>
void gemm_q8_0_act(int64_t n, const void* wv, uint64_t ws, const void* av, uint64_t as, float* y, int64_t ys,
                   Codes codes) {
    const B* w[R];
    const BlockQ8_0* a[T];
    for (int r = 0; r < R; ++r) w[r] = row<B>(wv, ws, r);
    for (int t = 0; t < T; ++t) a[t] = row<BlockQ8_0>(av, as, t);
    __m256 acc[R][T];
    for (auto& rr : acc)
        for (auto& v : rr) v = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; ++b) {
        __m256i ya[T];
        __m256 da[T];
        const __m128 da4 = f16x4(a[0][b].d, a[1][b].d, a[2][b].d, 0);
        const __m128 dw4 = f16x4(w[0][b].d, w[1][b].d, w[2][b].d, w[3][b].d);
        for (int t = 0; t < T; ++t) {
            ya[t] = load32(a[t][b].qs);
            da[t] = lane(da4, t);
        }
        for (int r = 0; r < R; ++r) {
            const __m256i x = codes(w[r][b]);
            const __m256i ax = _mm256_sign_epi8(x, x);
            const __m256 dw = lane(dw4, r);
            for (int t = 0; t < T; ++t) {
                const __m256i p = udot(ax, _mm256_sign_epi8(ya[t], x));
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, da[t]), _mm256_cvtepi32_ps(p), acc[r][t]);
            }
        }
    }
    store_tile(acc, y, ys);
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
    __m256 acc[R][T];
    for (auto& rr : acc)
        for (auto& v : rr) v = _mm256_setzero_ps();
    __m128 mins[T];
    for (auto& m : mins) m = _mm_setzero_ps();
    for (int64_t b = 0; b < n / 32; ++b) {
        __m256i ya[T];
        __m256 da[T];
        const __m128 da4 = f16x4(a[0][b].d, a[1][b].d, a[2][b].d, 0);
        const __m128 sa4 = f16x4(a[0][b].s, a[1][b].s, a[2][b].s, 0);
        const __m128 dw4 = f16x4(w[0][b].d, w[1][b].d, w[2][b].d, w[3][b].d);
        const __m128 mw4 = f16x4(w[0][b].m, w[1][b].m, w[2][b].m, w[3][b].m);
        for (int t = 0; t < T; ++t) {
            ya[t] = load32(a[t][b].qs);
            da[t] = lane(da4, t);
            mins[t] = _mm_fmadd_ps(mw4, _mm_permutevar_ps(sa4, _mm_set1_epi32(t)), mins[t]);
        }
        for (int r = 0; r < R; ++r) {
            const __m256i q = codes(w[r][b]);
            const __m256 dw = lane(dw4, r);
            for (int t = 0; t < T; ++t)
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, da[t]), _mm256_cvtepi32_ps(udot(q, ya[t])), acc[r][t]);
        }
    }
    for (int t = 0; t < T; ++t) {
        float m[4];
        _mm_storeu_ps(m, mins[t]);
        for (int r = 0; r < R; ++r) y[t * ys + r] = hsum(acc[r][t]) + m[r];
    }
}
}  // namespace

void gemm4x3_q4_1_avx2(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_q8_1_act<BlockQ4_1>(n, w, ws, a, as, y, ys, [](const BlockQ4_1& b) { return nibbles(b.qs); });
}

void gemm4x3_q5_1_avx2(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_q8_1_act<BlockQ5_1>(n, w, ws, a, as, y, ys, [](const BlockQ5_1& b) { return q5_codes(b.qh, b.qs); });
}

void gemm4x3_q8_0_avx2(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_q8_0_act<BlockQ8_0>(n, w, ws, a, as, y, ys, [](const BlockQ8_0& b) { return load32(b.qs); });
}

void gemm4x3_q5_0_avx2(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_q8_0_act<BlockQ5_0>(n, w, ws, a, as, y, ys, [](const BlockQ5_0& b) { return q5_0_codes(b.qh, b.qs); });
}

// Q4_0: Σ (q − 8)·a = Σ q·a − 8·Σ a with the codes q unsigned, so maddubs takes them as they are
// and the 8·a pair sums (once per token and block) are subtracted in i16 (|difference| ≤
// 2·15·127 + 2·8·127 fits); no sign trick per row and token.
void gemm4x3_q4_0_avx2(int64_t n, const void* wv, uint64_t ws, const void* av, uint64_t as, float* y, int64_t ys) {
    const BlockQ4_0* w[R];
    const BlockQ8_0* a[T];
    for (int r = 0; r < R; ++r) w[r] = row<BlockQ4_0>(wv, ws, r);
    for (int t = 0; t < T; ++t) a[t] = row<BlockQ8_0>(av, as, t);
    __m256 acc[R][T];
    for (auto& rr : acc)
        for (auto& v : rr) v = _mm256_setzero_ps();
    const __m256i eight = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < n / 32; ++b) {
        __m256i ya[T], corr[T];
        __m256 da[T];
        const __m128 da4 = f16x4(a[0][b].d, a[1][b].d, a[2][b].d, 0);
        const __m128 dw4 = f16x4(w[0][b].d, w[1][b].d, w[2][b].d, w[3][b].d);
        for (int t = 0; t < T; ++t) {
            ya[t] = load32(a[t][b].qs);
            corr[t] = _mm256_maddubs_epi16(eight, ya[t]);
            da[t] = lane(da4, t);
        }
        for (int r = 0; r < R; ++r) {
            const __m256i q = nibbles(w[r][b].qs);
            const __m256 dw = lane(dw4, r);
            for (int t = 0; t < T; ++t) {
                const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q, ya[t]), corr[t]);
                const __m256i p = _mm256_madd_epi16(p16, ones);
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, da[t]), _mm256_cvtepi32_ps(p), acc[r][t]);
            }
        }
    }
    store_tile(acc, y, ys);
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

void gemm4x3_q4_k_avx2(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_kquant_asym<false, BlockQ4_K>(n, w, ws, a, as, y, ys);
}

void gemm4x3_q5_k_avx2(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys) {
    gemm_kquant_asym<true, BlockQ5_K>(n, w, ws, a, as, y, ys);
}

// Q6_K: per super-block and row, the 6-bit codes of each 32-element chunk are assembled once
// (0..63, stored +32) and used for all three tokens; the −32 offset is 32·Σ_j sc_j·bsums[j].
void gemm4x3_q6_k_avx2(int64_t n, const void* wv, uint64_t ws, const void* av, uint64_t as, float* y, int64_t ys) {
    const BlockQ6_K* w[R];
    const BlockQ8_K* a[T];
    for (int r = 0; r < R; ++r) w[r] = row<BlockQ6_K>(wv, ws, r);
    for (int t = 0; t < T; ++t) a[t] = row<BlockQ8_K>(av, as, t);
    __m256 acc[R][T];
    for (auto& rr : acc)
        for (auto& v : rr) v = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < n / 256; ++b) {
        __m256 da[T];
        for (int t = 0; t < T; ++t) da[t] = _mm256_set1_ps(a[t][b].d);
        for (int r = 0; r < R; ++r) {
            const BlockQ6_K& x = w[r][b];
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
            __m256i sumi[T];
            for (int t = 0; t < T; ++t)
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
                    for (int t = 0; t < T; ++t) {
                        const __m256i p = _mm256_maddubs_epi16(codes, load32(a[t][b].qs + 128 * h + 32 * s));
                        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, scv));
                    }
                }
            }
            const __m256 d = _mm256_set1_ps(f16(x.d));
            for (int t = 0; t < T; ++t)
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(d, da[t]), _mm256_cvtepi32_ps(sumi[t]), acc[r][t]);
        }
    }
    store_tile(acc, y, ys);
}

}  // namespace qlm::kernels
