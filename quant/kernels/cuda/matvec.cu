// Matrix-vector products with the weights dequantized in registers: one warp per output row,
// its lanes striding over the row's block parts (block_decode.h), a warp-shuffle sum at the
// end. grid.y walks the tokens of a small batch. Compiled, not yet run on a GPU: the layout
// checks below are the part verified here.
#include <algorithm>
#include <cstddef>

#include "quant/format_bf16.h"
#include "quant/format_f16.h"
#include "quant/format_q4_0.h"
#include "quant/format_q4_k.h"
#include "quant/format_q5_k.h"
#include "quant/format_q6_k.h"
#include "quant/format_q8_0.h"
#include "quant/kernels/cuda/cuda_kernels.h"
#include "quant/kernels/cuda/block_decode.h"

namespace qlm::cuda {
namespace {

// The device structs read the host blocks' bytes at these offsets.
static_assert(sizeof(BlockQ4_0) == DevQ4_0::kBytes && offsetof(BlockQ4_0, qs) == 2);
static_assert(sizeof(BlockQ8_0) == DevQ8_0::kBytes && offsetof(BlockQ8_0, qs) == 2);
static_assert(sizeof(BlockQ4_K) == DevQ4_K::kBytes && offsetof(BlockQ4_K, dmin) == 2 &&
              offsetof(BlockQ4_K, scales) == 4 && offsetof(BlockQ4_K, qs) == 16);
static_assert(sizeof(BlockQ5_K) == DevQ5_K::kBytes && offsetof(BlockQ5_K, scales) == 4 &&
              offsetof(BlockQ5_K, qh) == 16 && offsetof(BlockQ5_K, qs) == 48);
static_assert(sizeof(BlockQ6_K) == DevQ6_K::kBytes && offsetof(BlockQ6_K, qh) == 128 &&
              offsetof(BlockQ6_K, scales) == 192 && offsetof(BlockQ6_K, d) == 208);
static_assert(FormatQ4_0::block_size == DevQ4_0::kBlock && FormatQ8_0::block_size == DevQ8_0::kBlock &&
              FormatQ4_K::block_size == DevQ4_K::kBlock && FormatQ5_K::block_size == DevQ5_K::kBlock &&
              FormatQ6_K::block_size == DevQ6_K::kBlock);

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 4;  // warps per thread block
constexpr int64_t kMaxGridY = 65535;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <class F>
__global__ void matvec_blocks(const uint8_t* w, size_t row_bytes, int64_t rows, int64_t n_blocks, const float* x,
                              int64_t x_stride, float* y, int64_t y_stride) {
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
    if (row >= rows) return;  // the whole warp leaves together
    const uint8_t* wr = w + row * row_bytes;
    const float* xt = x + static_cast<int64_t>(blockIdx.y) * x_stride;
    float acc = 0.f;
    for (int64_t i = threadIdx.x; i < n_blocks * F::kParts; i += kWarp) {
        const int64_t b = i / F::kParts;
        acc += F::dot_part(wr + b * F::kBytes, static_cast<int>(i % F::kParts), xt + b * F::kBlock);
    }
    acc = warp_sum(acc);
    if (threadIdx.x == 0) y[static_cast<int64_t>(blockIdx.y) * y_stride + row] = acc;
}

template <class F>
__global__ void matvec_values(const uint8_t* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                              int64_t x_stride, float* y, int64_t y_stride) {
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
    if (row >= rows) return;
    const uint8_t* wr = w + row * row_bytes;
    const float* xt = x + static_cast<int64_t>(blockIdx.y) * x_stride;
    float acc = 0.f;
    for (int64_t k = threadIdx.x; k < cols; k += kWarp) acc = fma_rn(F::load(wr, k), xt[k], acc);
    acc = warp_sum(acc);
    if (threadIdx.x == 0) y[static_cast<int64_t>(blockIdx.y) * y_stride + row] = acc;
}

template <class Launch>
cudaError_t over_tokens(int64_t rows, int64_t n_tokens, Launch launch) {
    const dim3 block(kWarp, kRowsPerBlock);
    const int64_t row_blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
    if (row_blocks > 0x7fffffff) return cudaErrorInvalidValue;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kMaxGridY) {
        const dim3 grid(static_cast<unsigned>(row_blocks), static_cast<unsigned>(std::min(kMaxGridY, n_tokens - t0)));
        launch(grid, block, t0);
        if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

template <class F>
cudaError_t blocks(const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
                   float* y, int64_t y_stride, int64_t n_tokens, cudaStream_t stream) {
    if (cols % F::kBlock != 0 || row_bytes < static_cast<size_t>(cols / F::kBlock) * F::kBytes) return cudaErrorInvalidValue;
    return over_tokens(rows, n_tokens, [&](dim3 grid, dim3 block, int64_t t0) {
        matvec_blocks<F><<<grid, block, 0, stream>>>(static_cast<const uint8_t*>(w), row_bytes, rows, cols / F::kBlock,
                                                     x + t0 * x_stride, x_stride, y + t0 * y_stride, y_stride);
    });
}

template <class F>
cudaError_t values(const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
                   float* y, int64_t y_stride, int64_t n_tokens, cudaStream_t stream) {
    if (row_bytes < static_cast<size_t>(cols) * F::kBytes) return cudaErrorInvalidValue;
    return over_tokens(rows, n_tokens, [&](dim3 grid, dim3 block, int64_t t0) {
        matvec_values<F><<<grid, block, 0, stream>>>(static_cast<const uint8_t*>(w), row_bytes, rows, cols,
                                                     x + t0 * x_stride, x_stride, y + t0 * y_stride, y_stride);
    });
}

}  // namespace

bool has_matvec(GgmlType type) {
    switch (type) {
        case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0: case GgmlType::Q4_0:
        case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K: return true;
        default: return false;
    }
}

cudaError_t matvec(GgmlType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                   int64_t x_stride, float* y, int64_t y_stride, int64_t n_tokens, cudaStream_t stream) {
    if (rows < 0 || cols < 0 || n_tokens < 0) return cudaErrorInvalidValue;
    if (rows == 0 || n_tokens == 0) return cudaSuccess;
    switch (type) {
        case GgmlType::F32: return values<DevF32>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, n_tokens, stream);
        case GgmlType::F16: return values<DevF16>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, n_tokens, stream);
        case GgmlType::BF16: return values<DevBF16>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, n_tokens, stream);
        case GgmlType::Q8_0: return blocks<DevQ8_0>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, n_tokens, stream);
        case GgmlType::Q4_0: return blocks<DevQ4_0>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, n_tokens, stream);
        case GgmlType::Q4_K: return blocks<DevQ4_K>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, n_tokens, stream);
        case GgmlType::Q5_K: return blocks<DevQ5_K>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, n_tokens, stream);
        case GgmlType::Q6_K: return blocks<DevQ6_K>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, n_tokens, stream);
        default: return cudaErrorInvalidValue;
    }
}

}  // namespace qlm::cuda
