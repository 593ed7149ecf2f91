// x86 dots and 4x3 prompt tiles of IQ4_NL (against Q8_0) and IQ4_XS (against Q8_K), compiled
// once per ISA (dot_iq4_avx2.cpp, dot_iq4_avx512.cpp) into namespace QLM_KERNEL_ISA. The 16 grid
// values sit in one register and pshufb looks each 4-bit index up, giving the weights' signed
// values (−127..113) as bytes; they meet the activations through the sign trick (|w| unsigned,
// sign(w)·a signed: maddubs pairs ≤ 2·127·127 never saturate). The integer sums are the scalar
// references' (quant/format_iq4_*.h); only the float summation order differs.
#include "quant/format_iq4_nl.h"
#include "quant/format_iq4_xs.h"
#include "quant/kernels/kernels_iq4.h"
#include "quant/kernels/x86_int8_headers.h"
#include "quant/kernels/quant_x86.h"

namespace qlm::kernels::QLM_KERNEL_ISA {

namespace {
constexpr int R = 4, T = 3;

inline __m256i iq4_table() {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4Values)));
}
// 16 bytes of indices (one 32-element group) -> its 32 grid values in element order.
inline __m256i iq4_values(__m256i table, const uint8_t* qs) { return _mm256_shuffle_epi8(table, nibbles(qs)); }

// The eight signed sub-block scales s_j − 32 of an IQ4_XS block.
inline void iq4_xs_scales(const BlockIQ4_XS& b, int* s) {
    uint32_t lo;
    std::memcpy(&lo, b.scales_l, 4);
    const uint32_t hi = b.scales_h;
    for (int j = 0; j < 8; ++j) s[j] = static_cast<int>(((lo >> (4 * j)) & 15) | (((hi >> (2 * j)) & 3) << 4)) - 32;
}

// Σ of 4 neighbouring products w·a per i32 lane, times the sub-block scale s, with ax = |w| and
// the scale from scale_vec(s): maddubs -> madd by s (|pair·s| ≤ 32258·32·2) or vpdpbusd -> mullo.
inline __m256i scale_vec(int s) {
#if QLM_KERNEL_VNNI
    return _mm256_set1_epi32(s);
#else
    return _mm256_set1_epi16(static_cast<short>(s));
#endif
}
inline __m256i sdot_scaled(__m256i ax, __m256i w, __m256i a, __m256i scale) {
#if QLM_KERNEL_VNNI
    return _mm256_mullo_epi32(udot(ax, _mm256_sign_epi8(a, w)), scale);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(a, w)), scale);
#endif
}

template <class B>
const B* row(const void* base, uint64_t stride, int i) {
    return reinterpret_cast<const B*>(static_cast<const uint8_t*>(base) + stride * static_cast<uint64_t>(i));
}
}  // namespace

// Two blocks per step into independent accumulators; the four f16 scales of two blocks go
// through one vcvtph2ps.
float dot_iq4_nl(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockIQ4_NL*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    const __m256i table = iq4_table();
    auto isum = [&](int64_t b) { return sdot(iq4_values(table, x[b].qs), load32(y[b].qs)); };
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const int64_t nb = n / 32;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const __m128 f = f16x4(x[b].d, y[b].d, x[b + 1].d, y[b + 1].d);
        const __m128 p = _mm_mul_ps(f, _mm_movehdup_ps(f));  // w0·a0 . w1·a1 .
        acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(p), _mm256_cvtepi32_ps(isum(b)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehl_ps(p, p)), _mm256_cvtepi32_ps(isum(b + 1)), acc1);
    }
    if (b < nb) acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[b].d) * f16(y[b].d)), _mm256_cvtepi32_ps(isum(b)), acc0);
    return hsum(_mm256_add_ps(acc0, acc1));
}

float dot_iq4_xs(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockIQ4_XS*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    const __m256i table = iq4_table();
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 256; ++b) {
        int s[8];
        iq4_xs_scales(x[b], s);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 8; ++j) {
            const __m256i v = iq4_values(table, x[b].qs + 16 * j);
            sumi = _mm256_add_epi32(sumi, sdot_scaled(_mm256_sign_epi8(v, v), v, load32(y[b].qs + 32 * j), scale_vec(s[j])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[b].d) * y[b].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc);
}

// IQ4_NL tile: each weight block's values (and their magnitudes) are looked up once for the three
// tokens; the four rows' i32 block sums of a token are reduced into one vector by three hadds
// (rows 0..3 over lanes 0-3 and again over lanes 4-7), so a block costs one conversion and one
// FMA per token.
void gemm4x3_iq4_nl(int64_t n, const void* wv, uint64_t ws, const void* av, uint64_t as, float* y, int64_t ys) {
    const BlockIQ4_NL* w[R];
    const BlockQ8_0* a[T];
    for (int r = 0; r < R; ++r) w[r] = row<BlockIQ4_NL>(wv, ws, r);
    for (int t = 0; t < T; ++t) a[t] = row<BlockQ8_0>(av, as, t);
    const __m256i table = iq4_table();
    __m256 acc[T];
    for (auto& v : acc) v = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; ++b) {
        const __m128 da4 = f16x4(a[0][b].d, a[1][b].d, a[2][b].d, 0);
        const __m128 dw4 = f16x4(w[0][b].d, w[1][b].d, w[2][b].d, w[3][b].d);
        const __m256 dw8 = _mm256_set_m128(dw4, dw4);
        __m256i v[R], av_abs[R];
        for (int r = 0; r < R; ++r) {
            v[r] = iq4_values(table, w[r][b].qs);
            av_abs[r] = _mm256_sign_epi8(v[r], v[r]);
        }
        for (int t = 0; t < T; ++t) {
            const __m256i ya = load32(a[t][b].qs);
            __m256i p[R];
            for (int r = 0; r < R; ++r) p[r] = udot(av_abs[r], _mm256_sign_epi8(ya, v[r]));
            const __m256i sum = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw8, lane(da4, t)), _mm256_cvtepi32_ps(sum), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) {
        float v[4];
        _mm_storeu_ps(v, _mm_add_ps(_mm256_castps256_ps128(acc[t]), _mm256_extractf128_ps(acc[t], 1)));
        for (int r = 0; r < R; ++r) y[t * ys + r] = v[r];
    }
}

// IQ4_XS tile: per super-block and row, the scales are unpacked and each sub-block's values
// looked up once, then used for all three tokens.
void gemm4x3_iq4_xs(int64_t n, const void* wv, uint64_t ws, const void* av, uint64_t as, float* y, int64_t ys) {
    const BlockIQ4_XS* w[R];
    const BlockQ8_K* a[T];
    for (int r = 0; r < R; ++r) w[r] = row<BlockIQ4_XS>(wv, ws, r);
    for (int t = 0; t < T; ++t) a[t] = row<BlockQ8_K>(av, as, t);
    const __m256i table = iq4_table();
    __m256 acc[R][T];
    for (auto& rr : acc)
        for (auto& v : rr) v = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 256; ++b) {
        for (int r = 0; r < R; ++r) {
            const BlockIQ4_XS& x = w[r][b];
            int s[8];
            iq4_xs_scales(x, s);
            __m256i sumi[T];
            for (auto& v : sumi) v = _mm256_setzero_si256();
            for (int j = 0; j < 8; ++j) {
                const __m256i v = iq4_values(table, x.qs + 16 * j), ax = _mm256_sign_epi8(v, v);
                const __m256i scale = scale_vec(s[j]);
                for (int t = 0; t < T; ++t)
                    sumi[t] = _mm256_add_epi32(sumi[t], sdot_scaled(ax, v, load32(a[t][b].qs + 32 * j), scale));
            }
            const float d = f16(x.d);
            for (int t = 0; t < T; ++t)
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a[t][b].d), _mm256_cvtepi32_ps(sumi[t]), acc[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * ys + r] = hsum(acc[r][t]);
}

}  // namespace qlm::kernels::QLM_KERNEL_ISA
