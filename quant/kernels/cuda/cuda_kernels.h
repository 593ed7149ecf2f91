// The CUDA kernels (QLM_CUDA=ON): matrix-vector products that dequantize each weight block in
// registers, for the formats people download (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), and
// the forward pass's element-wise ops (RMSNorm, RoPE from a cos/sin table, SiLU-gated FFN), KV
// cache storage and attention over a paged device cache. Every
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

// The rest of a layer's steps (forward_kernels.cu).

// y[t·n + i] += b[i] for t < n_rows, i < n (a bias on each row).
cudaError_t add_bias(float* y, const float* b, int64_t n_rows, int64_t n, cudaStream_t stream);
// x[i] += y[i] for i < n (a residual).
cudaError_t add(float* x, const float* y, int64_t n, cudaStream_t stream);
// x[i] *= s for i < n.
cudaError_t scale(float* x, float s, int64_t n, cudaStream_t stream);
// x[i] = c · tanh(x[i] / c) for i < n (logit soft-capping, as ops::softcap).
cudaError_t softcap(float* x, float c, int64_t n, cudaStream_t stream);
// y[i·n + j] = x[rows[i]·n + j] for i < n_rows, j < n (the output rows of a chunk).
cudaError_t gather_rows(const float* x, const int64_t* rows, int64_t n_rows, int64_t n, float* y, cudaStream_t stream);

// A paged KV cache on the device, laid out as the host's (src/model/kv_cache.h): a layer's K (or
// V) blocks of block_size positions, each position row_values values of F32 or F16 (f16: true),
// position p of a sequence in slot (table[p >> block_shift] << block_shift) | (p & (block_size−1)).
struct DevKvLayer {
    uint8_t* k = nullptr;
    uint8_t* v = nullptr;
    bool f16 = true;
    int64_t row_values = 0;  // n_head_kv · head_dim
};

// Stores n rows of K and V (row_values floats each) in the layer's slots slots[0..n-1],
// converting to f16 (round to nearest even) for an f16 cache.
cudaError_t kv_store(const DevKvLayer& layer, const float* k, const float* v, const int64_t* slots, int64_t n,
                     cudaStream_t stream);

// The rows of one chunk for attention: row t is a token at position pos[t] of a sequence whose
// block table starts at tables + table_at[t].
struct DevAttentionRows {
    const int64_t* pos = nullptr;
    const int64_t* table_at = nullptr;
    const int32_t* tables = nullptr;
    int64_t n = 0;
    int block_shift = 0;
};

// out[t, h] = Σ_j softmax_j(q[t, h] · k_j · kq_scale) · v_j over positions j = 0..pos[t] of row
// t's sequence, k_j and v_j the rows of head h's kv head (h / (n_head / n_head_kv)), with an
// online softmax in f32 (one warp per row and head). head_dim at most 256. q and out: n rows of
// n_head · head_dim floats.
cudaError_t attention(const DevKvLayer& layer, const DevAttentionRows& rows, const float* q, float* out, int64_t n_head,
                      int64_t n_head_kv, int64_t head_dim, float kq_scale, cudaStream_t stream);
constexpr int64_t kMaxAttentionHeadDim = 256;

}  // namespace qlm::cuda
