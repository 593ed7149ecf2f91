// Matrices repacked at load into groups of 16 rows ("x16"), one row per i32 lane of a 512-bit
// register, for the AVX-512 batches that read them (FormatKernels::gemm_batch_x16): a decode step
// streams each group as one sequential run instead of 16 strided rows. Each format with such a
// layout (quant/q4_0_x16.h, quant/q4_k_x16.h, quant/q5_0_x16.h, quant/q6_k_x16.h, quant/q8_0_x16.h,
// quant/f16_x16.h) is listed here, so the loader and matmul handle them alike.
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

// Groups stored as one run of block pairs (Q8_0, Q5_0), so a decode step reads each group as a
// single stream of whole cache lines: pair p holds blocks 2p and 2p+1's 16 f16 scales (32 bytes
// each, lane i = row 16g+i), then block 2p's `body` bytes and block 2p+1's (body a multiple of 64).
// An odd last block makes a pair of 64 + body bytes, its second 32 scale bytes zero.
struct X16Pairs {
    uint64_t body;

    constexpr uint64_t pair_bytes() const { return 64 + 2 * body; }
    constexpr uint64_t scales_at(int64_t b) const {
        return static_cast<uint64_t>(b / 2) * pair_bytes() + 32 * static_cast<uint64_t>(b % 2);
    }
    constexpr uint64_t body_at(int64_t b) const {
        return static_cast<uint64_t>(b / 2) * pair_bytes() + 64 + body * static_cast<uint64_t>(b % 2);
    }
    constexpr uint64_t group_bytes(int64_t nb) const {
        return static_cast<uint64_t>(nb / 2) * pair_bytes() + (nb % 2 ? 64 + body : 0);
    }
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
