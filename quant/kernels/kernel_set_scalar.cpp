// The scalar kernel set: the end of every fallback chain. Its per-format kernels are the formats'
// reference rules (FormatOps::vec_dot_scalar and quantize_activation, from quant/format_*.h), which
// kernel_set() takes from the format table, so it lists no format here.
#include "quant/fp16.h"
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"

namespace qlm::kernels {

void axpy_f16_scalar(int64_t n, float a, const uint16_t* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * fp16_to_fp32(x[i]);
}

constinit const KernelSet scalar_set = make_kernel_set(Isa::Scalar, nullptr, axpy_f16_scalar, {});

}  // namespace qlm::kernels
