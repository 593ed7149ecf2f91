// The float dot product shared by the xsimd kernel files (dot_avx2.cpp, dot_neon.cpp), each of
// which instantiates it with its own batch type Vf (so the ISAs' copies never mix).
#pragma once

#include <cstdint>

#include <xsimd/xsimd.hpp>

namespace qlm::kernels::simd {

// Σ x[i]·y[i]: four independent accumulators over four vectors per step, then one vector at a
// time, then a scalar tail. load(p) reads Vf::size elements as floats, scalar(v) one element.
template <class Vf, class T, class Load, class Scalar>
float dot_float(int64_t n, const T* x, const T* y, Load load, Scalar scalar) {
    constexpr auto kLanes = static_cast<int64_t>(Vf::size);
    Vf s0(0.f), s1(0.f), s2(0.f), s3(0.f);
    int64_t i = 0;
    for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
        s0 = xsimd::fma(load(x + i), load(y + i), s0);
        s1 = xsimd::fma(load(x + i + kLanes), load(y + i + kLanes), s1);
        s2 = xsimd::fma(load(x + i + 2 * kLanes), load(y + i + 2 * kLanes), s2);
        s3 = xsimd::fma(load(x + i + 3 * kLanes), load(y + i + 3 * kLanes), s3);
    }
    for (; i + kLanes <= n; i += kLanes) s0 = xsimd::fma(load(x + i), load(y + i), s0);
    float s = xsimd::hadd((s0 + s1) + (s2 + s3));
    for (; i < n; ++i) s += scalar(x[i]) * scalar(y[i]);
    return s;
}

}  // namespace qlm::kernels::simd
