// The CUDA kernels (QLM_CUDA=ON): matrix-vector products that dequantize each weight block in
// registers, for the formats people download (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), and
// the forward pass's element-wise ops (RMSNorm, RoPE from a cos/sin table, SiLU-gated FFN). Every
// pointer is a device pointer; each call enqueues on `stream` and returns the launch's error
// (cudaSuccess, or cudaErrorInvalidValue for arguments it cannot run). Their scalar references
// are the block formats (quant/format_*.h) and src/model/ops.h; tests/cuda checks them against
// those. Compiled, not yet run on a GPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "quant/ggml_type.h"

namespace qlm::cuda {

// Whether matvec has a kernel for weights of this type.
bool has_matvec(GgmlType type);

// y[t·y_stride + r] = Σ_k w(r, k) · x[t·x_stride + k] for rows r < rows and tokens t < n_tokens:
// w is `rows` rows of `cols` values of `type`, row r at w + r·row_bytes (row_bytes: the type's
// bytes for cols values, or more). Each weight is dequantized exactly as the format's scalar
// dequantize_row does (bit for bit), and the products are summed in f32. cols is a multiple of
// the type's block size.
cudaError_t matvec(GgmlType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                   int64_t x_stride, float* y, int64_t y_stride, int64_t n_tokens, cudaStream_t stream);

// For each of n_rows rows of n values: y = x / sqrt(mean(x²) + eps) · w (w may be null), with the
// squares summed in double as ops::rmsnorm does. x and y may be the same buffer.
cudaError_t rmsnorm(const float* x, const float* w, float* y, int64_t n_rows, int64_t n, float eps,
                    cudaStream_t stream);

// Rotates n_heads heads of head_dim values in each of n_tokens rows (row t at x + t·row_stride),
// as ops::rope_apply: cs holds each token's n_rot/2 (cos, sin) pairs (n_rot values per token, from
// ops::rope_cache on the CPU, so that the angles are the CPU's), pairs (2i, 2i+1) for norm and
// (i, i + n_rot/2) for NeoX; dimensions >= n_rot are untouched.
cudaError_t rope(float* x, int64_t row_stride, const float* cs, int64_t n_tokens, int64_t n_heads, int64_t head_dim,
                 int64_t n_rot, bool neox, cudaStream_t stream);

// g[i] = silu(g[i]) · u[i] for i < n (the SiLU-gated FFN between its gate/up and down products).
cudaError_t swiglu(float* g, const float* u, int64_t n, cudaStream_t stream);

}  // namespace qlm::cuda
