// The float dot product shared by the xsimd kernel files (dot_avx2.cpp, dot_neon.cpp), each of
// which instantiates it with its own batch type Vf (so the ISAs' copies never mix).
#pragma once

#include <cstdint>

#include <xsimd/xsimd.hpp>

#include "quant/fp16.h"

namespace qlm::kernels::simd {

// Σ x[i]·y[i] in the order of ggml's vec_dot_f32/vec_dot_f16: four accumulators over groups of
// four vectors, reduced as (s0 + s2) + (s1 + s3), then across lanes (hadd); the elements after
// the last whole group are added by tail(sum, i) from index i on (ggml: in f32 for f32 data, in
// double for f16). load(p) reads Vf::size elements as floats.
template <class Vf, class T, class Load, class Tail>
float dot_float(int64_t n, const T* x, const T* y, Load load, Tail tail) {
    constexpr auto kLanes = static_cast<int64_t>(Vf::size);
    Vf s0(0.f), s1(0.f), s2(0.f), s3(0.f);
    int64_t i = 0;
    for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
        s0 = xsimd::fma(load(x + i), load(y + i), s0);
        s1 = xsimd::fma(load(x + i + kLanes), load(y + i + kLanes), s1);
        s2 = xsimd::fma(load(x + i + 2 * kLanes), load(y + i + 2 * kLanes), s2);
        s3 = xsimd::fma(load(x + i + 3 * kLanes), load(y + i + 3 * kLanes), s3);
    }
    return tail(xsimd::hadd((s0 + s2) + (s1 + s3)), i);
}

// ggml's vec_dot_f16: the groups as dot_float, the elements after them added in double.
template <class Vf, class Load>
float dot_f16(int64_t n, const uint16_t* x, const uint16_t* y, Load load) {
    return dot_float<Vf>(n, x, y, load, [&](float s, int64_t i) {
        double d = s;
        for (; i < n; ++i) d += static_cast<double>(fp16_to_fp32(x[i]) * fp16_to_fp32(y[i]));
        return static_cast<float>(d);
    });
}

}  // namespace qlm::kernels::simd
