// x86 dot kernels of Q8_0, the legacy 4/5-bit formats and the K-quants against their int8
// activation blocks (Q8_0, Q8_1, Q8_K), compiled once per ISA (dot_quant_avx2.cpp,
// dot_quant_avx512.cpp) into namespace QLM_KERNEL_ISA. Each computes the same per-block integer
// sums as the reference in quant/format_*.h (maddubs -> madd or vpdpbusd, exact in i16/i32 for
// every valid code, see the range notes) and differs only in the order of the float additions.
// Only called when the CPU has the ISA (cpu_supports(Isa)).
#include "quant/kernels/x86_int8_headers.h"
#include "quant/kernels/quant_x86.h"

namespace qlm::kernels::QLM_KERNEL_ISA {

namespace {
// Σ_b scale(b)·Σ lanes(isum(b)) over nb blocks, two blocks per step into independent
// accumulators (the FMA latency, not the port count, bounds a single chain).
template <class Scale, class Isum>
float sum_blocks(int64_t nb, Scale scale, Isum isum) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(scale(b)), _mm256_cvtepi32_ps(isum(b)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(scale(b + 1)), _mm256_cvtepi32_ps(isum(b + 1)), acc1);
    }
    if (b < nb) acc0 = _mm256_fmadd_ps(_mm256_set1_ps(scale(b)), _mm256_cvtepi32_ps(isum(b)), acc0);
    return hsum(_mm256_add_ps(acc0, acc1));
}

// The same for scale(b) = f16 d_w(b) · f16 d_a(b), in ggml's order for these formats (its vec_dot
// and llamafile's batched kernels alike): one accumulator, block after block, each lane adding
// its scaled i32 sum with one FMA; the 8 lanes reduced at the end. Two blocks' four halves are
// converted by one vcvtph2ps (assembled in a general-purpose register).
template <class Dw, class Da, class Isum>
float sum_blocks_f16(int64_t nb, Dw dw, Da da, Isum isum) {
    __m256 acc = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint64_t h = static_cast<uint64_t>(dw(b)) | static_cast<uint64_t>(da(b)) << 16 |
                           static_cast<uint64_t>(dw(b + 1)) << 32 | static_cast<uint64_t>(da(b + 1)) << 48;
        const __m128 f = _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<long long>(h)));  // w0 a0 w1 a1
        const __m128 p = _mm_mul_ps(f, _mm_movehdup_ps(f));                             // w0a0 . w1a1 .
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(p), _mm256_cvtepi32_ps(isum(b)), acc);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehl_ps(p, p)), _mm256_cvtepi32_ps(isum(b + 1)), acc);
    }
    if (b < nb) acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(dw(b)) * f16(da(b))), _mm256_cvtepi32_ps(isum(b)), acc);
    return hsum(acc);
}

// Q4_1/Q5_1 against Q8_1: d_w·d_a·Σq·a + m_w·s_a per block; the four halves d_w, d_a, m_w, s_a
// of a block go through one vcvtph2ps.
template <class B, class Isum>
float sum_blocks_min(int64_t nb, const B* x, const BlockQ8_1* y, Isum isum) {
    __m256 acc = _mm256_setzero_ps();
    __m128 mins = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint64_t h = static_cast<uint64_t>(x[b].d) | static_cast<uint64_t>(y[b].d) << 16 |
                           static_cast<uint64_t>(x[b].m) << 32 | static_cast<uint64_t>(y[b].s) << 48;
        const __m128 f = _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<long long>(h)));  // dw da m s
        const __m128 p = _mm_mul_ps(f, _mm_movehdup_ps(f));                             // dw·da . m·s .
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(p), _mm256_cvtepi32_ps(isum(b)), acc);
        mins = _mm_add_ps(mins, p);
    }
    return hsum(acc) + _mm_cvtss_f32(_mm_movehl_ps(mins, mins));
}

}  // namespace

float dot_q8_0(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ8_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    return sum_blocks_f16(
        n / 32, [&](int64_t b) { return x[b].d; }, [&](int64_t b) { return y[b].d; },
        [&](int64_t b) { return sdot(load32(x[b].qs), load32(y[b].qs)); });
}

float dot_q4_0(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    return sum_blocks_f16(
        n / 32, [&](int64_t b) { return x[b].d; }, [&](int64_t b) { return y[b].d; },
        [&](int64_t b) { return sdot(q4_0_codes(x[b].qs), load32(y[b].qs)); });
}

float dot_q4_1(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    return sum_blocks_min(n / 32, x, y, [&](int64_t b) {
        return udot(nibbles(x[b].qs), load32(y[b].qs));  // codes 0..15: no sign trick
    });
}

float dot_q5_0(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    return sum_blocks_f16(
        n / 32, [&](int64_t b) { return x[b].d; }, [&](int64_t b) { return y[b].d; },
        [&](int64_t b) { return sdot(q5_0_codes(x[b].qh, x[b].qs), load32(y[b].qs)); });  // -16..15
}

float dot_q5_1(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    return sum_blocks_min(n / 32, x, y, [&](int64_t b) {
        return udot(q5_codes(x[b].qh, x[b].qs), load32(y[b].qs));  // 0..31: 2·31·127 fits i16
    });
}

// Q4_K/Q5_K share everything but the 5th bit: per 64-element chunk c, the low nibbles of 32 code
// bytes are sub-block 2c and the high nibbles sub-block 2c+1; each sub-block's maddubs pairs are
// weighted by its 6-bit scale in madd (|pair| ≤ 2·31·127, ·63·2 stays far inside i32).
template <bool kFifthBit, class B>
float dot_kquant_asym(int64_t n, const B* x, const BlockQ8_K* y) {
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < n / 256; ++b) {
        uint8_t sc[8], mn[8];
        kquant_unpack_scales(x[b].scales, sc, mn);
        // Σ_j m_j·(bsums[2j] + bsums[2j+1]) as eight i32 lanes.
        const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn)));
        const __m256i mpair = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
        const __m256i msum = _mm256_madd_epi16(load32(y[b].bsums), mpair);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[b].dmin) * y[b].d), _mm256_cvtepi32_ps(msum), accm);

        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc))));
        __m256i hbits;
        if constexpr (kFifthBit) hbits = load32(x[b].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            const __m256i q = load32(x[b].qs + 32 * c);
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if constexpr (kFifthBit) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4));
                hbits = _mm256_srli_epi16(hbits, 2);
            }
            const __m256i p0 = _mm256_maddubs_epi16(lo, load32(y[b].qs + 64 * c));
            const __m256i p1 = _mm256_maddubs_epi16(hi, load32(y[b].qs + 64 * c + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p0, splat16(sc16, 2 * c)));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, splat16(sc16, 2 * c + 1)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[b].d) * y[b].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - hsum(accm);
}

float dot_q4_k(int64_t n, const void* w, const void* a) {
    return dot_kquant_asym<false>(n, static_cast<const BlockQ4_K*>(w), static_cast<const BlockQ8_K*>(a));
}

float dot_q5_k(int64_t n, const void* w, const void* a) {
    return dot_kquant_asym<true>(n, static_cast<const BlockQ5_K*>(w), static_cast<const BlockQ8_K*>(a));
}

float dot_q6_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 256; ++b) {
        // Codes are stored +32 (0..63): Σ (q−32)·a = Σ q·a − 32·bsum per 16-element sub-block.
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales)));
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(),
                                        _mm256_slli_epi32(_mm256_madd_epi16(load32(y[b].bsums), sc16), 5));
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0 = load32(x[b].ql + 64 * h), ql1 = load32(x[b].ql + 64 * h + 32);
            const __m256i qh = load32(x[b].qh + 32 * h);
            const __m256i lows[4] = {_mm256_and_si256(ql0, m4), _mm256_and_si256(ql1, m4),
                                     _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                     _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4)};
            for (int s = 0; s < 4; ++s) {
                const __m256i hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), m2), 4);
                const __m256i codes = _mm256_or_si256(lows[s], hi);  // 0..63: 2·63·127 fits i16
                const __m256i p = _mm256_maddubs_epi16(codes, load32(y[b].qs + 128 * h + 32 * s));
                const int j = 8 * h + 2 * s;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair_scales16(sc16, j)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[b].d) * y[b].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc);
}

float dot_q3_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ3_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    const __m256i m2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 256; ++b) {
        // Codes are stored +4 (0..7): Σ (q−4)·a = Σ q·a − 4·bsum per sub-block.
        const __m256i sc16 = q3_k_scales16(x[b].scales);
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(),
                                        _mm256_slli_epi32(_mm256_madd_epi16(load32(y[b].bsums), sc16), 2));
        __m256i hm = load32(x[b].hmask);
        for (int h = 0; h < 2; ++h) {
            const __m256i qs = load32(x[b].qs + 32 * h);
            for (int s = 0; s < 4; ++s) {
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * s), m2);
                const __m256i hi = _mm256_slli_epi16(_mm256_and_si256(hm, one), 2);
                hm = _mm256_srli_epi16(hm, 1);
                const __m256i p = _mm256_maddubs_epi16(_mm256_or_si256(lo, hi), load32(y[b].qs + 128 * h + 32 * s));
                const int j = 8 * h + 2 * s;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair_scales16(sc16, j)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[b].d) * y[b].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc);
}

float dot_q2_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ2_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    const __m256i m2 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 256; ++b) {
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales));
        const __m128i mins = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
        const __m256i msum = _mm256_madd_epi16(load32(y[b].bsums), _mm256_cvtepu8_epi16(mins));
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(0x0F)));
        accm = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[b].dmin) * y[b].d), _mm256_cvtepi32_ps(msum), accm);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i qs = load32(x[b].qs + 32 * h);
            for (int s = 0; s < 4; ++s) {
                const __m256i codes = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * s), m2);
                const __m256i p = _mm256_maddubs_epi16(codes, load32(y[b].qs + 128 * h + 32 * s));
                const int j = 8 * h + 2 * s;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair_scales16(sc16, j)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[b].d) * y[b].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - hsum(accm);
}

}  // namespace qlm::kernels::QLM_KERNEL_ISA
