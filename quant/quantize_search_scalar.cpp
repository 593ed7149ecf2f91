// The searched quantizers' arithmetic on one lane (quantize_search_lanes.h): the reference every
// SIMD build reproduces bit for bit, and the build for CPUs without AVX2.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/fp16.h"
#include "quant/quantize_search_lanes.h"

namespace qlm::search {

namespace {

struct ScalarLanes {
    static constexpr int W = 1;
    using V = float;
    using M = bool;
    static V splat(float v) { return v; }
    static V load(const float* p) { return *p; }
    static void store(float* p, V v) { *p = v; }
    static V fma(V a, V b, V c) { return std::fma(a, b, c); }
    static V vmin(V a, V b) { return a < b ? a : b; }
    static V vmax(V a, V b) { return a > b ? a : b; }
    static V vabs(V a) { return std::fabs(a); }
    // Ties to even, as nearbyint under the default rounding mode (and roundps): |a| < 2^23 is
    // rounded by adding and subtracting 2^23 (IEEE arithmetic: the compiler keeps both steps);
    // larger magnitudes are integers already, and infinities and NaN pass unchanged.
    static V vround(V a) {
        const float m = std::fabs(a);
        if (!(m < 8388608.f)) return a;
        return std::copysign((m + 8388608.f) - 8388608.f, a);
    }
    static V vtrunc(V a) { return std::trunc(a); }
    static V f16r(V a) { return fp16_to_fp32(fp32_to_fp16(a)); }
    static M lt(V a, V b) { return a < b; }
    static M le(V a, V b) { return a <= b; }
    static M gt(V a, V b) { return a > b; }
    static M ge(V a, V b) { return a >= b; }
    static M eq(V a, V b) { return a == b; }
    static M ne(V a, V b) { return a != b; }
    static M finite(V a) { return std::fabs(a) < __builtin_huge_valf(); }
    static M mand(M a, M b) { return a && b; }
    static M mor(M a, M b) { return a || b; }
    static M mnot(M a) { return !a; }
    static V select(M m, V a, V b) { return m ? a : b; }
    static bool any(M m) { return m; }
};

#include "quant/quantize_search_lanes.inl"

void f16_row_scalar(const uint16_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

void gather_scalar(const float* src, int64_t stride, int n, float* x) {
    for (int e = 0; e < n; ++e) x[e] = src[e];
    (void)stride;
}

void codes_scalar(const float* q, int n, int8_t* out) {
    for (int e = 0; e < n; ++e) out[e] = static_cast<int8_t>(q[e]);
}

}  // namespace

const SearchKernel& search_kernel_scalar() {
    static constexpr SearchKernel k{1, search_group<ScalarLanes>, reference_group<ScalarLanes>, f16_row_scalar, gather_scalar, codes_scalar};
    return k;
}

}  // namespace qlm::search
