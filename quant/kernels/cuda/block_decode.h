// The weight formats for the CUDA kernels: each block's values dequantized in registers exactly as
// the scalar dequantize_row of quant/format_*.h computes them (the same f32 products in the same
// order, rounded without contraction), `kParts` slices per block so that a warp's lanes share a
// block. The byte offsets are the packed host structs' (checked in matvec.cu).
//
// Host and device code: nvcc compiles it into the kernels, and a host compiler into
// tests/unit/quant/cuda_block_decode_test.cpp, which checks every element's value and the parts'
// dot products against the scalar references on any machine, with no GPU.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define QLM_HD __host__ __device__ __forceinline__
#else
#include "quant/fp16.h"
#define QLM_HD inline
#endif
#if defined(__CUDA_ARCH__)
#define QLM_UNROLL _Pragma("unroll")
#else
#define QLM_UNROLL
#endif

namespace qlm::cuda {

// f32 arithmetic rounded once per operation on both sides (the host build is ISO C++, which GCC
// compiles without contracting a*b+c).
QLM_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
QLM_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}
QLM_HD float fma_rn(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
    return __fmaf_rn(a, b, c);
#else
    return std::fma(a, b, c);
#endif
}

QLM_HD uint32_t load_u32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
           (static_cast<uint32_t>(p[3]) << 24);
}
QLM_HD float bits_to_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, 4);
    return f;
#endif
}
QLM_HD float load_f16(const uint8_t* p) {
    const auto h = static_cast<unsigned short>(p[0] | (p[1] << 8));
#if defined(__CUDA_ARCH__)
    return __half2float(__ushort_as_half(h));
#else
    return fp16_to_fp32(h);
#endif
}
QLM_HD float load_bf16(const uint8_t* p) { return bits_to_f32(static_cast<uint32_t>(p[0] | (p[1] << 8)) << 16); }
QLM_HD float load_f32(const uint8_t* p) { return bits_to_f32(load_u32(p)); }

// Q4_K and Q5_K sub-block j's 6-bit scale and min codes (format_q4_k.h: kquant_scale_min).
QLM_HD void scale_min_k4(const uint8_t* s, int j, int& sc, int& m) {
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// Q4_0: {f16 d; u8 qs[16]}, x = (code − 8)·d; a part is qs[4p..4p+3]: elements 4p..4p+3 (low
// nibbles) and 16+4p..16+4p+3 (high nibbles).
struct DevQ4_0 {
    static constexpr int kBlock = 32, kBytes = 18, kParts = 4;
    QLM_HD static float dot_part(const uint8_t* b, int p, const float* x) {
        const float d = load_f16(b);
        const uint8_t* qs = b + 2 + 4 * p;
        float s = 0.f;
        QLM_UNROLL
        for (int i = 0; i < 4; ++i) {
            const float lo = mul_rn(static_cast<float>((qs[i] & 15) - 8), d);
            const float hi = mul_rn(static_cast<float>((qs[i] >> 4) - 8), d);
            s = fma_rn(lo, x[4 * p + i], s);
            s = fma_rn(hi, x[16 + 4 * p + i], s);
        }
        return s;
    }
};

// Q8_0: {f16 d; i8 qs[32]}, x = code·d; a part is 8 consecutive elements.
struct DevQ8_0 {
    static constexpr int kBlock = 32, kBytes = 34, kParts = 4;
    QLM_HD static float dot_part(const uint8_t* b, int p, const float* x) {
        const float d = load_f16(b);
        const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2) + 8 * p;
        float s = 0.f;
        QLM_UNROLL
        for (int i = 0; i < 8; ++i) s = fma_rn(mul_rn(static_cast<float>(qs[i]), d), x[8 * p + i], s);
        return s;
    }
};

// Q4_K/Q5_K: the scales d·sc and offsets dmin·m of sub-blocks 2c and 2c+1, rounded as the
// scalar reference rounds them.
QLM_HD void sub_block_pair_k4(const uint8_t* b, int c, float& d0, float& n0, float& d1, float& n1) {
    const float d = load_f16(b), dmin = load_f16(b + 2);
    int sc0, m0, sc1, m1;
    scale_min_k4(b + 4, 2 * c, sc0, m0);
    scale_min_k4(b + 4, 2 * c + 1, sc1, m1);
    d0 = mul_rn(d, static_cast<float>(sc0));
    n0 = mul_rn(dmin, static_cast<float>(m0));
    d1 = mul_rn(d, static_cast<float>(sc1));
    n1 = mul_rn(dmin, static_cast<float>(m1));
}

// Q4_K: {f16 d, dmin; u8 scales[12]; u8 qs[128]}, x = (d·sc_j)·q − dmin·m_j for sub-block j = e/32;
// q(e) = (qs[32·(e/64) + e%32] >> 4·((e/32)%2)) & 15. A part is 4 bytes of qs: four elements of
// sub-block 2c (low nibbles) and four of 2c+1 (high nibbles), c = p/8.
struct DevQ4_K {
    static constexpr int kBlock = 256, kBytes = 144, kParts = 32;
    QLM_HD static float dot_part(const uint8_t* b, int p, const float* x) {
        const int c = p / 8, u = p % 8;
        float d0, n0, d1, n1;
        sub_block_pair_k4(b, c, d0, n0, d1, n1);
        const uint8_t* qs = b + 16 + 32 * c + 4 * u;
        const float* x0 = x + 64 * c + 4 * u;
        float s = 0.f;
        QLM_UNROLL
        for (int i = 0; i < 4; ++i) {
            s = fma_rn(sub_rn(mul_rn(d0, static_cast<float>(qs[i] & 15)), n0), x0[i], s);
            s = fma_rn(sub_rn(mul_rn(d1, static_cast<float>(qs[i] >> 4)), n1), x0[32 + i], s);
        }
        return s;
    }
};

// Q5_K: {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: Q4_K's codes with a fifth bit,
// element e's at bit e/32 of qh[e%32].
struct DevQ5_K {
    static constexpr int kBlock = 256, kBytes = 176, kParts = 32;
    QLM_HD static float dot_part(const uint8_t* b, int p, const float* x) {
        const int c = p / 8, u = p % 8;
        float d0, n0, d1, n1;
        sub_block_pair_k4(b, c, d0, n0, d1, n1);
        const uint8_t* qh = b + 16 + 4 * u;
        const uint8_t* qs = b + 48 + 32 * c + 4 * u;
        const float* x0 = x + 64 * c + 4 * u;
        float s = 0.f;
        QLM_UNROLL
        for (int i = 0; i < 4; ++i) {
            const int q0 = (qs[i] & 15) | (((qh[i] >> (2 * c)) & 1) << 4);
            const int q1 = (qs[i] >> 4) | (((qh[i] >> (2 * c + 1)) & 1) << 4);
            s = fma_rn(sub_rn(mul_rn(d0, static_cast<float>(q0)), n0), x0[i], s);
            s = fma_rn(sub_rn(mul_rn(d1, static_cast<float>(q1)), n1), x0[32 + i], s);
        }
        return s;
    }
};

// Q6_K: {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}, x = (d·scales[e/16])·q with e = 128h + 32s + l,
// q = ((ql[64h + 32(s%2) + l] >> 4(s/2)) & 15 | ((qh[32h + l] >> 2s) & 3) << 4) − 32. A part is
// h = p/8 and four l = 4(p%8) .. +3, for each of the four s.
struct DevQ6_K {
    static constexpr int kBlock = 256, kBytes = 210, kParts = 16;
    QLM_HD static float dot_part(const uint8_t* b, int p, const float* x) {
        const int h = p / 8, l0 = 4 * (p % 8);
        const float d = load_f16(b + 208);
        const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
        const uint8_t* ql = b + 64 * h;
        const uint8_t* qh = b + 128 + 32 * h;
        float s = 0.f;
        QLM_UNROLL
        for (int sub = 0; sub < 4; ++sub) {
            const int e0 = 128 * h + 32 * sub + l0;
            const float dl = mul_rn(d, static_cast<float>(scales[e0 / 16]));
            QLM_UNROLL
            for (int i = 0; i < 4; ++i) {
                const int l = l0 + i;
                const int lo = (ql[32 * (sub % 2) + l] >> (4 * (sub / 2))) & 15;
                const int hi = (qh[l] >> (2 * sub)) & 3;
                s = fma_rn(mul_rn(dl, static_cast<float>((lo | (hi << 4)) - 32)), x[e0 + i], s);
            }
        }
        return s;
    }
};

// One value per element: F32, F16, BF16.
struct DevF32 {
    static constexpr int kBytes = 4;
    QLM_HD static float load(const uint8_t* row, int64_t k) { return load_f32(row + 4 * k); }
};
struct DevF16 {
    static constexpr int kBytes = 2;
    QLM_HD static float load(const uint8_t* row, int64_t k) { return load_f16(row + 2 * k); }
};
struct DevBF16 {
    static constexpr int kBytes = 2;
    QLM_HD static float load(const uint8_t* row, int64_t k) { return load_bf16(row + 2 * k); }
};

}  // namespace qlm::cuda
