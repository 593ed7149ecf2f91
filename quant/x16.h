// Matrices repacked at load into groups of 16 rows ("x16"), one row per i32 lane of a 512-bit
// register, for the AVX-512 batches that read them (FormatKernels::gemm_batch_x16): a decode step
// streams each group as one sequential run instead of 16 strided rows. Each format with such a
// layout (quant/q4_0_x16.h, quant/q4_k_x16.h, quant/q6_k_x16.h, quant/q8_0_x16.h,
// quant/f16_x16.h) is listed here, so
// the loader and matmul handle them alike.
#pragma once

#include <cstdint>
#include <memory>

#include "quant/ggml_type.h"

namespace qlm {

constexpr int64_t kX16Rows = 16;

struct X16Layout {
    // Bytes of one group of 16 rows of `cols` columns (a multiple of 64).
    uint64_t (*group_bytes)(int64_t cols);
    // Rows [0, 16·groups) of a matrix (rows row_stride bytes apart) into dst, which holds
    // groups · group_bytes(cols) bytes, 64-byte aligned.
    void (*repack)(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst);
    // Row r < 16·groups of a repacked matrix back into the format's blocks, byte for byte.
    void (*unpack_row)(const void* packed, int64_t cols, int64_t r, void* dst_row);
};

// The repacked layout of format t, or nullptr where it has none.
const X16Layout* x16_layout(GgmlType t);

// A byte buffer aligned to `align` (a power of two, at least 64), its size rounded up to it.
struct AlignedFree {
    void operator()(void* p) const;
};
using AlignedBytes = std::unique_ptr<uint8_t[], AlignedFree>;
AlignedBytes make_aligned_bytes(uint64_t n, uint64_t align = 64);

}  // namespace qlm
