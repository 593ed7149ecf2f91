// A layer's remaining steps on the device: biases, residuals, scales, soft-capping, the output
// rows' gather, KV cache storage and attention over the paged cache (one warp per query row and
// head, online softmax). Compiled, not yet run on a GPU.
#include <cuda_fp16.h>

#include "quant/kernels/cuda/cuda_kernels.h"

namespace qlm::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int kLaneValues = static_cast<int>(kMaxAttentionHeadDim / kWarp);  // a lane's share of a head

bool grid_for(int64_t n, unsigned& blocks) {
    const int64_t b = (n + kThreads - 1) / kThreads;
    if (b > 0x7fffffff) return false;
    blocks = static_cast<unsigned>(b);
    return true;
}

__global__ void add_bias_rows(float* y, const float* b, int64_t total, int64_t n) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < total) y[i] = __fadd_rn(y[i], b[i % n]);
}

__global__ void add_values(float* x, const float* y, int64_t n) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) x[i] = __fadd_rn(x[i], y[i]);
}

__global__ void scale_values(float* x, float s, int64_t n) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) x[i] = __fmul_rn(x[i], s);
}

__global__ void softcap_values(float* x, float c, int64_t n) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) x[i] = __fmul_rn(tanhf(__fmul_rn(x[i], __fdiv_rn(1.0f, c))), c);
}

__global__ void gather(const float* x, const int64_t* rows, int64_t total, int64_t n, float* y) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < total) y[i] = x[rows[i / n] * n + i % n];
}

__global__ void store_rows(DevKvLayer layer, const float* k, const float* v, const int64_t* slots, int64_t total) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= total) return;
    const int64_t t = i / layer.row_values, j = i % layer.row_values;
    const int64_t at = slots[t] * layer.row_values + j;
    if (layer.f16) {
        reinterpret_cast<__half*>(layer.k)[at] = __float2half_rn(k[i]);
        reinterpret_cast<__half*>(layer.v)[at] = __float2half_rn(v[i]);
    } else {
        reinterpret_cast<float*>(layer.k)[at] = k[i];
        reinterpret_cast<float*>(layer.v)[at] = v[i];
    }
}

__device__ __forceinline__ float kv_value(const DevKvLayer& layer, const uint8_t* base, int64_t at) {
    return layer.f16 ? __half2float(reinterpret_cast<const __half*>(base)[at]) : reinterpret_cast<const float*>(base)[at];
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// grid.x: query rows, grid.y: heads; one warp each. Lane l holds dimensions l, l+32, ... of the
// head's query and output.
__global__ void attend(DevKvLayer layer, DevAttentionRows rows, const float* q, float* out, int64_t n_head,
                       int64_t group, int64_t head_dim, float kq_scale) {
    const int64_t t = blockIdx.x, h = blockIdx.y, lane = threadIdx.x;
    const int64_t kvh = h / group, q_dim = n_head * head_dim;
    const float* qh = q + t * q_dim + h * head_dim;
    float qv[kLaneValues], acc[kLaneValues];
#pragma unroll
    for (int i = 0; i < kLaneValues; ++i) {
        const int64_t d = lane + i * kWarp;
        qv[i] = d < head_dim ? qh[d] : 0.f;
        acc[i] = 0.f;
    }
    const int32_t* table = rows.tables + rows.table_at[t];
    const int64_t mask = (int64_t{1} << rows.block_shift) - 1;
    float m = -INFINITY, l = 0.f;
    for (int64_t p = 0; p <= rows.pos[t]; ++p) {
        const int64_t slot = (static_cast<int64_t>(table[p >> rows.block_shift]) << rows.block_shift) | (p & mask);
        const int64_t base = slot * layer.row_values + kvh * head_dim;
        float dot = 0.f;
#pragma unroll
        for (int i = 0; i < kLaneValues; ++i) {
            const int64_t d = lane + i * kWarp;
            if (d < head_dim) dot = fmaf(qv[i], kv_value(layer, layer.k, base + d), dot);
        }
        const float s = warp_sum(dot) * kq_scale;
        const float m_new = fmaxf(m, s);
        const float corr = expf(m - m_new), e = expf(s - m_new);
        l = l * corr + e;
#pragma unroll
        for (int i = 0; i < kLaneValues; ++i) {
            const int64_t d = lane + i * kWarp;
            if (d < head_dim) acc[i] = fmaf(e, kv_value(layer, layer.v, base + d), acc[i] * corr);
        }
        m = m_new;
    }
    float* oh = out + t * q_dim + h * head_dim;
    const float inv = 1.f / l;
#pragma unroll
    for (int i = 0; i < kLaneValues; ++i) {
        const int64_t d = lane + i * kWarp;
        if (d < head_dim) oh[d] = acc[i] * inv;
    }
}

}  // namespace

cudaError_t add_bias(float* y, const float* b, int64_t n_rows, int64_t n, cudaStream_t stream) {
    unsigned blocks = 0;
    if (n_rows < 0 || n < 1 || !grid_for(n_rows * n, blocks)) return cudaErrorInvalidValue;
    if (n_rows == 0) return cudaSuccess;
    add_bias_rows<<<blocks, kThreads, 0, stream>>>(y, b, n_rows * n, n);
    return cudaGetLastError();
}

cudaError_t add(float* x, const float* y, int64_t n, cudaStream_t stream) {
    unsigned blocks = 0;
    if (n < 0 || !grid_for(n, blocks)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    add_values<<<blocks, kThreads, 0, stream>>>(x, y, n);
    return cudaGetLastError();
}

cudaError_t scale(float* x, float s, int64_t n, cudaStream_t stream) {
    unsigned blocks = 0;
    if (n < 0 || !grid_for(n, blocks)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    scale_values<<<blocks, kThreads, 0, stream>>>(x, s, n);
    return cudaGetLastError();
}

cudaError_t softcap(float* x, float c, int64_t n, cudaStream_t stream) {
    unsigned blocks = 0;
    if (n < 0 || !(c > 0.f) || !grid_for(n, blocks)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    softcap_values<<<blocks, kThreads, 0, stream>>>(x, c, n);
    return cudaGetLastError();
}

cudaError_t gather_rows(const float* x, const int64_t* rows, int64_t n_rows, int64_t n, float* y, cudaStream_t stream) {
    unsigned blocks = 0;
    if (n_rows < 0 || n < 1 || !grid_for(n_rows * n, blocks)) return cudaErrorInvalidValue;
    if (n_rows == 0) return cudaSuccess;
    gather<<<blocks, kThreads, 0, stream>>>(x, rows, n_rows * n, n, y);
    return cudaGetLastError();
}

cudaError_t kv_store(const DevKvLayer& layer, const float* k, const float* v, const int64_t* slots, int64_t n,
                     cudaStream_t stream) {
    unsigned blocks = 0;
    if (n < 0 || layer.row_values < 1 || !grid_for(n * layer.row_values, blocks)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    store_rows<<<blocks, kThreads, 0, stream>>>(layer, k, v, slots, n * layer.row_values);
    return cudaGetLastError();
}

cudaError_t attention(const DevKvLayer& layer, const DevAttentionRows& rows, const float* q, float* out, int64_t n_head,
                      int64_t n_head_kv, int64_t head_dim, float kq_scale, cudaStream_t stream) {
    if (rows.n < 0 || rows.n > 0x7fffffff || n_head < 1 || n_head > 65535 || n_head_kv < 1 || n_head % n_head_kv != 0 ||
        head_dim < 1 || head_dim > kMaxAttentionHeadDim || layer.row_values != n_head_kv * head_dim)
        return cudaErrorInvalidValue;
    if (rows.n == 0) return cudaSuccess;
    attend<<<dim3(static_cast<unsigned>(rows.n), static_cast<unsigned>(n_head)), kWarp, 0, stream>>>(
        layer, rows, q, out, n_head, n_head / n_head_kv, head_dim, kq_scale);
    return cudaGetLastError();
}

}  // namespace qlm::cuda
