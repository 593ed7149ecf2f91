// The scalar kernel set: the end of every fallback chain. Its per-format dots and activation
// quantizers are the formats' reference rules (FormatOps::vec_dot_scalar and quantize_activation,
// from quant/format_*.h), which kernel_set() takes from the format table; it lists only the F32/F16
// batch dots and the row kernels, whose scalar references are here.
#include <cmath>
#include <cstring>

#include "quant/format_shared.h"
#include "quant/fp16.h"
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"

namespace qlm::kernels {

// llamafile's tinyBLAS order (llama.cpp's batched f32/f16 matmul, gemm4x3_*_avx2 per output): one
// 8-lane accumulator, lane i mod 8 over whole groups of 8, reduce_lanes8_tinyblas.
float dot_f32_batch_scalar(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    float l[8] = {};
    for (int64_t i = 0; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) l[k] = std::fma(x[i + k], y[i + k], l[k]);
    return reduce_lanes8_tinyblas(l);
}

// f16·f16 products are exact in f32, so they need no fused add.
float dot_f16_batch_scalar(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const uint16_t*>(a);
    float l[8] = {};
    for (int64_t i = 0; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) l[k] += fp16_to_fp32(x[i + k]) * fp16_to_fp32(y[i + k]);
    return reduce_lanes8_tinyblas(l);
}

namespace {
float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
uint32_t to_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
}  // namespace

// x = n·ln2 + b with n = round(x/ln2) (by the 1.5·2^23 shift) and b by a two-part ln2; exp(b) − 1
// ≈ j, a degree-5 polynomial; 2^n is built in the exponent bits, in two factors when |n| > 126.
void exp_ggml_scalar(const float* x, float* y, int64_t n) {
    constexpr float kShift = 0x1.8p23f;
    for (int64_t i = 0; i < n; ++i) {
        const float z = std::fma(x[i], 0x1.715476p+0f, kShift);
        const float m = z - kShift;
        const float b = std::fma(-m, 0x1.7f7d1cp-20f, std::fma(-m, 0x1.62e4p-1f, x[i]));
        const uint32_t e = to_bits(z) << 23;
        const float k = from_bits(e + to_bits(1.0f));
        const float u = b * b;
        const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                          std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                                 u, 0x1.ffffecp-1f * b);
        if (!(std::fabs(m) > 126.f)) {
            y[i] = std::fma(j, k, k);
            continue;
        }
        const uint32_t g = m <= 0.f ? 0x82000000u : 0u;
        const float s1 = from_bits(g + 0x7f000000u);
        y[i] = std::fabs(m) > 192.f ? s1 * s1 : std::fma(from_bits(e - g), j, from_bits(e - g)) * s1;
    }
}

void axpy_f16_scalar(int64_t n, float a, const uint16_t* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * fp16_to_fp32(x[i]);
}

// The f16 products are exact in f32 (both factors hold f16 values), as in dot_f16_batch_scalar.
void dot_f16_rows_scalar(int64_t n, const uint16_t* k, const float* const* q, int64_t rows, float* out) {
    for (int64_t r = 0; r < rows; ++r) {
        float l[8] = {};
        for (int64_t i = 0; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; ++j) l[j] += q[r][i + j] * fp16_to_fp32(k[i + j]);
        out[r] = reduce_lanes8_tinyblas(l);
    }
}

void dot_f16_span_scalar(int64_t n, int64_t count, const uint16_t* const* k, int64_t rows, const float* const* q,
                         float scale, int64_t at, float* const* out) {
    for (int64_t j = 0; j < count; ++j)
        for (int64_t r = 0; r < rows; ++r) {
            float d = 0.f;
            dot_f16_rows_scalar(n, k[j], q + r, 1, &d);
            out[r][at + j] = d * scale;
        }
}

void axpy_f16_lanes_scalar(int64_t n, int64_t count, const uint16_t* const* x, const float* p, int64_t lane0,
                           float* lanes) {
    for (int64_t k = 0; k < count; ++k) axpy_f16_scalar(n, p[k], x[k], lanes + (lane0 + k) % 8 * n);
}

void axpy_f16_seq_scalar(int64_t n, int64_t count, const uint16_t* const* x, const float* p, float* y) {
    for (int64_t k = 0; k < count; ++k) axpy_f16_scalar(n, p[k], x[k], y);
}

void axpy_f16_lanes_rows_scalar(int64_t n, int64_t count, const uint16_t* const* x, int64_t rows,
                                const float* const* p, int64_t lane0, float* const* lanes) {
    for (int64_t r = 0; r < rows; ++r) axpy_f16_lanes_scalar(n, count, x, p[r], lane0, lanes[r]);
}

constinit const KernelSet scalar_set = make_kernel_set(
    Isa::Scalar, nullptr,
    {.axpy_f16 = axpy_f16_scalar,
     .dot_f16_batch = dot_f16_batch_scalar,
     .exp_ggml = exp_ggml_scalar,
     .dot_f16_rows = dot_f16_rows_scalar,
     .dot_f16_span = dot_f16_span_scalar,
     .axpy_f16_lanes = axpy_f16_lanes_scalar,
     .axpy_f16_seq = axpy_f16_seq_scalar,
     .axpy_f16_lanes_rows = axpy_f16_lanes_rows_scalar},
    {
        {GgmlType::F32, {.batch_dot = dot_f32_batch_scalar}},
        {GgmlType::F16, {.batch_dot = dot_f16_batch_scalar}},
    });

}  // namespace qlm::kernels
