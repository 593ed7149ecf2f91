// Matrix products of weights in any computable format with f32 activations:
//
//   y[t][n] = sum_k W[n][k] * x[t][k]      for t < n_tokens, n < w.rows, k < w.cols
//
// W is a GGUF weight (ne0 = cols = input dim, ne1 = rows = output dim); x is n_tokens rows of cols
// floats, y is n_tokens rows of w.rows floats (both row-major). The activations are converted to
// the format's vec_dot_type, then the dots and 4x3 tiles of one ISA's kernel set
// (quant/kernel_set.h) run.
#pragma once

#include <cstdint>
#include <span>

#include "quant/formats.h"
#include "quant/ggml_type.h"
#include "quant/thread_pool.h"

namespace qlm {

struct WeightView {
    GgmlType type = GgmlType::F32;
    const void* data = nullptr;
    int64_t cols = 0;  // ne0, input dimension; a multiple of the type's block size
    int64_t rows = 0;  // ne1, output dimension
    uint64_t row_stride = 0;  // bytes between rows
    // Q4_0, Q4_K, F16: the rows' whole groups of 16 repacked at load for the active kernel set's
    // gemm_batch_x16 (quant/x16.h), or nullptr. `data` stays valid for every row.
    const void* x16 = nullptr;
};

// On the calling thread (tests and one-off products; the forward pass uses matmul_team).
void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y);
// The same on an explicit ISA (tests compare the SIMD kernels with the scalar reference).
void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, Isa isa);

// Which of llama.cpp's products a matmul stands for, so that it adds in the same order: ggml_mul_mat
// (f32/f16 weights times 2 or more tokens by llamafile's tinyBLAS, whose order our tiles follow)
// or ggml_mul_mat_id, the experts' product of a mixture of experts (ggml's vec_dot for every output).
enum class MatmulOrder { MulMat, MulMatId };

// On the threads of `pool` (called by its owner): ys[k] = x · ws[k]ᵀ for weights that share the
// input x (all with the same cols). x is converted once per distinct activation type into
// `scratch` (matmul_scratch_bytes(ws, n_tokens) bytes), then one loop covers the work of all
// weights. Shapes must have passed check_matmul_shape (nothing here throws).
void matmul_team(ThreadPool& pool, std::span<const WeightView* const> ws, std::span<float* const> ys, const float* x,
                 int64_t n_tokens, uint8_t* scratch, Isa isa, MatmulOrder order = MatmulOrder::MulMat);
uint64_t matmul_scratch_bytes(std::span<const WeightView* const> ws, int64_t n_tokens);
// Throws qlm::Error when w's columns are not whole blocks of its format and activation format.
void check_matmul_shape(const WeightView& w);

// Whether matmul multiplies a matrix of this format and shape through a batch kernel, so a copy
// repacked at load (quant/x16.h) would be read: always for the int8 formats; f32/f16 weights only
// in whole groups of 4 rows and 8 columns (llama.cpp's tinyBLAS condition; the others keep ggml's
// dot, whose order the repacked batch does not have).
bool matmul_uses_batch(GgmlType type, int64_t rows, int64_t cols);

// Dequantize row r of w into out[cols].
void dequantize_row(const WeightView& w, int64_t r, float* out);

}  // namespace qlm
