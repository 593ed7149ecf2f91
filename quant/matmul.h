// The one matmul entry point for every weight format and ISA.
//
//   y[t][n] = sum_k W[n][k] * x[t][k]      for t < n_tokens, n < w.rows, k < w.cols
//
// W is a GGUF weight (ne0 = cols = input dim, ne1 = rows = output dim) in any computable format;
// x is n_tokens rows of cols floats, y is n_tokens rows of w.rows floats (both row-major).
// Each format plugs in as a traits file (quant/format_*.h); the kernels below are chosen per ISA.
#pragma once

#include <cstdint>

#include "quant/formats.h"
#include "quant/ggml_type.h"

namespace qlm {

struct WeightView {
    GgmlType type = GgmlType::F32;
    const void* data = nullptr;
    int64_t cols = 0;  // ne0, input dimension; a multiple of the type's block size
    int64_t rows = 0;  // ne1, output dimension
    uint64_t row_stride = 0;  // bytes between rows
};

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y);
// The same on an explicit ISA (tests compare the AVX2 kernels with the scalar reference).
void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, Isa isa);

// Dequantize row r of w into out[cols].
void dequantize_row(const WeightView& w, int64_t r, float* out);

}  // namespace qlm
