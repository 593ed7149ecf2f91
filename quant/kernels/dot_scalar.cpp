// Scalar reference kernels: thin wrappers over the format traits.
#include "quant/format_bf16.h"
#include "quant/format_f16.h"
#include "quant/format_f32.h"
#include "quant/format_q8_0.h"
#include "quant/kernels/kernels.h"

namespace qlm::kernels {

namespace {
template <class F>
float dot(int64_t n, const void* w, const void* a) {
    return F::vec_dot(n, static_cast<const typename F::Block*>(w), static_cast<const typename F::Block*>(a));
}
}  // namespace

float dot_f32_scalar(int64_t n, const void* w, const void* a) { return dot<FormatF32>(n, w, a); }
float dot_f16_scalar(int64_t n, const void* w, const void* a) { return dot<FormatF16>(n, w, a); }
float dot_bf16_scalar(int64_t n, const void* w, const void* a) { return dot<FormatBF16>(n, w, a); }
float dot_q8_0_scalar(int64_t n, const void* w, const void* a) { return dot<FormatQ8_0>(n, w, a); }

void axpy_f16_scalar(int64_t n, float a, const uint16_t* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * fp16_to_fp32(x[i]);
}

}  // namespace qlm::kernels
