// The SIMD kernels of IQ4_NL (against Q8_0 activations) and IQ4_XS (against Q8_K): x86 dots and
// 4x3 prompt tiles from one source (dot_iq4_x86.inl) per ISA, the IQ4_NL dot for NEON. Called only
// through the kernel sets (quant/kernel_set.h); the scalar references are the formats' vec_dot
// (quant/format_iq4_nl.h, quant/format_iq4_xs.h). Signatures = qlm::VecDotFn / qlm::GemmTileFn.
#pragma once

#include <cstdint>

namespace qlm::kernels {

#define QLM_IQ4_KERNELS                                                                                \
    float dot_iq4_nl(int64_t n, const void* w, const void* a);                                         \
    float dot_iq4_xs(int64_t n, const void* w, const void* a);                                         \
    void gemm4x3_iq4_nl(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys); \
    void gemm4x3_iq4_xs(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys);
namespace avx2 {
QLM_IQ4_KERNELS
}  // namespace avx2
namespace avx512 {
QLM_IQ4_KERNELS
}  // namespace avx512
#undef QLM_IQ4_KERNELS

namespace neon {
float dot_iq4_nl(int64_t n, const void* w, const void* a);
}  // namespace neon

}  // namespace qlm::kernels
