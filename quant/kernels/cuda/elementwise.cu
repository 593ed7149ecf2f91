// The forward pass's element-wise ops on the device, rounded as their CPU references in
// src/model/ops.cpp (no contraction where the CPU has none, the RMS sum in double).
// Compiled, not yet run on a GPU.
#include "quant/kernels/cuda/cuda_kernels.h"

namespace qlm::cuda {
namespace {

constexpr int kNormThreads = 256;

__global__ void rmsnorm_rows(const float* x, const float* w, float* y, int64_t n, float eps) {
    const float* xr = x + static_cast<int64_t>(blockIdx.x) * n;
    float* yr = y + static_cast<int64_t>(blockIdx.x) * n;
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += kNormThreads) sum += static_cast<double>(__fmul_rn(xr[i], xr[i]));
#pragma unroll
    for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    __shared__ double warp_sums[kNormThreads / 32];
    __shared__ float scale;
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        double total = 0.0;
        for (int i = 0; i < kNormThreads / 32; ++i) total += warp_sums[i];
        const float mean = static_cast<float>(total / static_cast<double>(n));
        scale = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(mean, eps)));
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += kNormThreads)
        yr[i] = w ? __fmul_rn(__fmul_rn(xr[i], scale), w[i]) : __fmul_rn(xr[i], scale);
}

__global__ void rope_heads(float* x, int64_t row_stride, const float* cs, int64_t n_heads, int64_t head_dim,
                           int64_t n_rot, bool neox) {
    const int64_t t = blockIdx.y, half = n_rot / 2;
    const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  // head · half + i
    if (idx >= n_heads * half) return;
    const int64_t head = idx / half, i = idx % half;
    float* h = x + t * row_stride + head * head_dim;
    const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    const float c = cs[t * n_rot + 2 * i], s = cs[t * n_rot + 2 * i + 1];
    const float x0 = h[a], x1 = h[b];
    h[a] = __fmaf_rn(x0, c, -__fmul_rn(x1, s));
    h[b] = __fmaf_rn(x0, s, __fmul_rn(x1, c));
}

__global__ void swiglu_values(float* g, const float* u, int64_t n) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float e = expf(-g[i]);
    g[i] = __fmul_rn(__fdiv_rn(g[i], __fadd_rn(1.0f, e)), u[i]);
}

}  // namespace

cudaError_t rmsnorm(const float* x, const float* w, float* y, int64_t n_rows, int64_t n, float eps, cudaStream_t stream) {
    if (n_rows < 0 || n < 1 || n_rows > 0x7fffffff) return cudaErrorInvalidValue;
    if (n_rows == 0) return cudaSuccess;
    rmsnorm_rows<<<static_cast<unsigned>(n_rows), kNormThreads, 0, stream>>>(x, w, y, n, eps);
    return cudaGetLastError();
}

cudaError_t rope(float* x, int64_t row_stride, const float* cs, int64_t n_tokens, int64_t n_heads, int64_t head_dim,
                 int64_t n_rot, bool neox, cudaStream_t stream) {
    if (n_tokens < 0 || n_heads < 0 || n_rot < 0 || n_rot % 2 != 0 || n_rot > head_dim || n_tokens > 65535)
        return cudaErrorInvalidValue;
    const int64_t pairs = n_heads * (n_rot / 2);
    if (n_tokens == 0 || pairs == 0) return cudaSuccess;
    constexpr int kThreads = 128;
    const int64_t blocks = (pairs + kThreads - 1) / kThreads;
    if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
    rope_heads<<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(n_tokens)), kThreads, 0, stream>>>(
        x, row_stride, cs, n_heads, head_dim, n_rot, neox);
    return cudaGetLastError();
}

cudaError_t swiglu(float* g, const float* u, int64_t n, cudaStream_t stream) {
    if (n < 0) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    constexpr int kThreads = 256;
    const int64_t blocks = (n + kThreads - 1) / kThreads;
    if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
    swiglu_values<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(g, u, n);
    return cudaGetLastError();
}

}  // namespace qlm::cuda
