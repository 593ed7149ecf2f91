// Small-batch products of Q4_K weights with Q8_K activations on AVX-512 VNNI: 16 weight rows in
// the 16 i32 lanes of a register, up to 8 tokens per weight-block decode, no horizontal sums.
//
// Each output adds its super-blocks in the scalar reference's order (KQuantAsym::vec_dot: per
// block (d·d_a)·isum − (dmin·d_a)·msum, then s += that, block after block), one (row, token) per
// lane, and its integer sums are exact: every output is the scalar reference's very bits. This
// file is compiled with -ffp-contract=off (quant/CMakeLists.txt), so no product is fused into an
// add the reference rounds separately. Below kQ4KLanesMinTokens tokens the 4x3 tile and the dot
// run (faster there: the lanes' transposes are paid for fewer tokens), whose float order differs.
#include <algorithm>

#include "quant/kernels/batch_tiles.h"
#include "quant/kernels/x86_int8_headers.h"

// GCC 12's 512-bit intrinsics start from self-initialised "undefined" vectors (_mm512_undefined_*),
// which its -Wuninitialized reports at every inlined use; nothing here reads an undefined lane.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

QLM_AVX512_TARGET_BEGIN
#include "quant/kernels/lanes_avx512.h"

namespace qlm::kernels::avx512 {

namespace {

inline int32_t load_i32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// acc[g][t] lane i -> y[t·ys + 16g + lane_row(i)], rows < `rows` only.
template <int G, int NT>
void store_lanes(const __m512 (&acc)[G][NT], float* y, int64_t ys, int64_t rows) {
    for (int g = 0; g < G; ++g)
        for (int t = 0; t < NT; ++t) {
            alignas(64) float out[kLanes];
            _mm512_store_ps(out, acc[g][t]);
            for (int i = 0; i < kLanes; ++i) {
                const int r = kLanes * g + lane_row(i);
                if (r < rows) y[t * ys + r] = out[i];
            }
        }
}

// One token's Q8_K block, as the lanes use it: its scale and the mins' activation sums
// bs_j = bsums[2j] + bsums[2j+1] (|bs_j| ≤ 32·128, an i16) paired as i16 halves of four dwords,
// (bs0, bs2), (bs1, bs3), (bs4, bs6), (bs5, bs7), the order of the rows' min pairs below.
struct ActBlock {
    float d;
    int32_t bs[4];
};
inline ActBlock act_block(const BlockQ8_K& a) {
    ActBlock r;
    r.d = a.d;
    int16_t bsums[16];
    std::memcpy(bsums, a.bsums, sizeof(bsums));
    uint32_t s[8];
    for (int j = 0; j < 8; ++j) s[j] = static_cast<uint16_t>(bsums[2 * j] + bsums[2 * j + 1]);
    r.bs[0] = static_cast<int32_t>(s[0] | s[2] << 16);
    r.bs[1] = static_cast<int32_t>(s[1] | s[3] << 16);
    r.bs[2] = static_cast<int32_t>(s[4] | s[6] << 16);
    r.bs[3] = static_cast<int32_t>(s[5] | s[7] << 16);
    return r;
}

// G groups of 16 rows (row p[16g + lane_row(i)] in lane i of group g) x NT tokens over nb
// super-blocks of 144 bytes. Per group and block: the header (d, dmin, the 12 scale bytes) is one
// transposed 16-byte word, whose lanes unpack the 6-bit scales and mins as kquant_scale_min does;
// each 64-element chunk (32 code bytes: low nibbles sub-block 2c, high nibbles 2c+1) is two, and
// every dword of codes meets one activation dword broadcast to all lanes in a vpdpbusd. The
// 16-element half sums (i16) times their sub-block's scale make isum (vpdpwssd); msum =
// Σ m_j·bs_j is four vpdpwssd on i16 pairs of mins and of bs. Rows past the end repeat the last
// row (not stored).
template <int G, int NT>
void q4_k_lanes(int64_t nb, const uint8_t* const* p, const BlockQ8_K* const* a, float* y, int64_t ys, int64_t rows) {
    __m512 acc[G][NT];
    for (auto& g : acc)
        for (auto& v : g) v = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F), m6 = _mm512_set1_epi8(0x3F), byte = _mm512_set1_epi32(0xFF);
    const __m512i pair_lo = _mm512_set1_epi32(0x00FF00FF);
    for (int64_t b = 0; b < nb; ++b) {
        ActBlock ab[NT];
        for (int t = 0; t < NT; ++t) ab[t] = act_block(a[t][b]);
        const uint64_t at = sizeof(BlockQ4_K) * static_cast<uint64_t>(b);
        for (int g = 0; g < G; ++g) {
            const uint8_t* const* pg = p + kLanes * g;
            __m512i h[4];
            transpose16([pg, at](int r) { return pg[r] + at; }, h);  // d | dmin << 16, scale words w0, w1, w2
            const __m512i sc_lo = _mm512_and_si512(h[1], m6);
            const __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(h[3], m4),
                                                  _mm512_and_si512(_mm512_srli_epi32(h[1], 2), _mm512_set1_epi8(0x30)));
            const __m512i mn_lo = _mm512_and_si512(h[2], m6);
            const __m512i mn_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(h[3], 4), m4),
                                                  _mm512_and_si512(_mm512_srli_epi32(h[2], 2), _mm512_set1_epi8(0x30)));
            const __m512i mp[4] = {_mm512_and_si512(mn_lo, pair_lo), _mm512_and_si512(_mm512_srli_epi32(mn_lo, 8), pair_lo),
                                   _mm512_and_si512(mn_hi, pair_lo), _mm512_and_si512(_mm512_srli_epi32(mn_hi, 8), pair_lo)};
            const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h[0]));
            const __m512 dm = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(h[0], 16)));
            __m512i isum[NT];
            for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
            for (int c = 0; c < 4; ++c) {
                __m512i q[2][4];
                transpose16([pg, o = at + 16 + 32 * c](int r) { return pg[r] + o; }, q[0]);
                transpose16([pg, o = at + 32 + 32 * c](int r) { return pg[r] + o; }, q[1]);
                const __m512i sw = c < 2 ? sc_lo : sc_hi;
                // Each scale in both i16 halves of its lane: (sc, sc) for vpdpwssd.
                const __m512i sa1 = _mm512_and_si512(_mm512_srli_epi32(sw, 16 * (c % 2)), byte);
                const __m512i sb1 = _mm512_and_si512(_mm512_srli_epi32(sw, 16 * (c % 2) + 8), byte);
                const __m512i sa = _mm512_or_si512(sa1, _mm512_slli_epi32(sa1, 16));
                const __m512i sb = _mm512_or_si512(sb1, _mm512_slli_epi32(sb1, 16));
                __m512i lo[2][4], hi[2][4];
                for (int k = 0; k < 2; ++k)
                    for (int j = 0; j < 4; ++j) {
                        lo[k][j] = _mm512_and_si512(q[k][j], m4);
                        hi[k][j] = _mm512_and_si512(_mm512_srli_epi16(q[k][j], 4), m4);
                    }
                for (int t = 0; t < NT; ++t) {
                    // Element 64c + 16k + 4j.. (low nibbles) and 64c + 32 + 16k + 4j.. (high).
                    const int8_t* qa = a[t][b].qs + 64 * c;
                    // Four independent chains (the vpdpbusd latency), two per sub-block.
                    __m512i s[2][2];
                    for (int k = 0; k < 2; ++k) {
                        s[0][k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[k][0], _mm512_set1_epi32(load_i32(qa + 16 * k)));
                        s[1][k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[k][0], _mm512_set1_epi32(load_i32(qa + 32 + 16 * k)));
                    }
                    for (int j = 1; j < 4; ++j)
                        for (int k = 0; k < 2; ++k) {
                            s[0][k] = _mm512_dpbusd_epi32(s[0][k], lo[k][j], _mm512_set1_epi32(load_i32(qa + 16 * k + 4 * j)));
                            s[1][k] = _mm512_dpbusd_epi32(s[1][k], hi[k][j], _mm512_set1_epi32(load_i32(qa + 32 + 16 * k + 4 * j)));
                        }
                    // Each 16-element sum fits an i16 (|Σ| ≤ 16·15·128 = 30720): the two halves of a
                    // sub-block as one i16 pair, times (sc, sc) and added to isum by one vpdpwssd.
                    const __m512i p0 = _mm512_mask_blend_epi16(0xAAAAAAAAu, s[0][0], _mm512_slli_epi32(s[0][1], 16));
                    const __m512i p1 = _mm512_mask_blend_epi16(0xAAAAAAAAu, s[1][0], _mm512_slli_epi32(s[1][1], 16));
                    isum[t] = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(isum[t], p0, sa), p1, sb);
                }
            }
            for (int t = 0; t < NT; ++t) {
                __m512i msum = _mm512_setzero_si512();
                for (int k = 0; k < 4; ++k) msum = _mm512_dpwssd_epi32(msum, mp[k], _mm512_set1_epi32(ab[t].bs[k]));
                const __m512 da = _mm512_set1_ps(ab[t].d);
                const __m512 x = _mm512_sub_ps(_mm512_mul_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum[t])),
                                               _mm512_mul_ps(_mm512_mul_ps(dm, da), _mm512_cvtepi32_ps(msum)));
                acc[g][t] = _mm512_add_ps(acc[g][t], x);
            }
        }
    }
    store_lanes(acc, y, ys, rows);
}

using LanesFn = void (*)(int64_t, const uint8_t* const*, const BlockQ8_K* const*, float*, int64_t, int64_t);
template <int G>
constexpr LanesFn kByTokens[8] = {q4_k_lanes<G, 1>, q4_k_lanes<G, 2>, q4_k_lanes<G, 3>, q4_k_lanes<G, 4>,
                                  q4_k_lanes<G, 5>, q4_k_lanes<G, 6>, q4_k_lanes<G, 7>, q4_k_lanes<G, 8>};

// rows x nt (≥ 1) tokens: pairs of 16-row groups, then single groups; the last group repeats the
// last row in its empty lanes.
void lanes_batch(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                 float* y, int64_t ys) {
    const auto* wb = static_cast<const uint8_t*>(w);
    const BlockQ8_K* act[8];
    for (int64_t t = 0; t < 8; ++t)
        act[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) +
                                                    as * static_cast<uint64_t>(std::min<int64_t>(t, nt - 1)));
    const uint8_t* p[2 * kLanes];
    auto rows_from = [&](int64_t r0, int count) {
        for (int i = 0; i < count; ++i) p[i] = wb + ws * static_cast<uint64_t>(std::min<int64_t>(r0 + i, rows - 1));
    };
    int64_t r = 0;
    for (; r + 2 * kLanes <= rows; r += 2 * kLanes) {
        rows_from(r, 2 * kLanes);
        kByTokens<2>[nt - 1](n / 256, p, act, y + r, ys, 2 * kLanes);
    }
    for (; r < rows; r += kLanes) {
        rows_from(r, kLanes);
        kByTokens<1>[nt - 1](n / 256, p, act, y + r, ys, std::min<int64_t>(kLanes, rows - r));
    }
}

}  // namespace

void gemm_batch_q4_k(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                     float* y, int64_t ys) {
    if (nt >= kQ4KLanesMinTokens) {
        lanes_batch(n, rows, w, ws, a, as, nt, y, ys);
        return;
    }
    // Fewer tokens: 4x3 tiles where they fit, the dot elsewhere (as matmul without a batch). From
    // main memory (decode steps of several sequences) the lanes lose to them at 3 tokens.
    tiles_then_dots(gemm4x3_q4_k, dot_q4_k, n, rows, w, ws, a, as, nt, y, ys);
}

}  // namespace qlm::kernels::avx512
QLM_AVX512_TARGET_END
