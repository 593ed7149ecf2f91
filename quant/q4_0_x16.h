// Q4_0 matrices repacked at load into groups of 16 rows ("x16"), the layout of the AVX-512 batch
// kernel (quant/kernels/q4_0_x16_avx512.cpp): one row per i32 lane of a 512-bit register, each
// block's 16 scales and 16 x 16 code bytes contiguous, so a decode step streams one sequential
// run per group instead of 16 strided rows, and loads the codes straight into lanes. The AVX2
// batch (q4_0_x16_avx2.cpp) reads each group as two halves of 8 rows: the first and the second
// 32 bytes of each 64-byte register, the first and the second 8 scales of a block.
//
// Group g (rows 16g..16g+15) of a matrix of nb = cols/32 blocks per row:
//   scales: nb x 16 f16, block b's at 32·b (lane i = row 16g+i), padded to a multiple of 64 bytes;
//   codes:  nb x 256 bytes, block b's at scale_bytes + 256·b: four 64-byte registers W_0..W_3,
//           lane i of W_j = bytes 4j..4j+3 of row i's qs (low nibbles: elements 4j..4j+3, high
//           nibbles: elements 16+4j..16+4j+3).
// Rows past the last whole group stay in the original matrix (WeightView::data).
#pragma once

#include <cstdint>

#include "quant/x16.h"

namespace qlm {

// Bytes of one group of 16 rows of `cols` columns (a multiple of 64).
uint64_t q4_0_x16_group_bytes(int64_t cols);

// Rows [0, 16·groups) of a Q4_0 matrix (rows row_stride bytes apart) into dst, which holds
// groups · q4_0_x16_group_bytes(cols) bytes, 64-byte aligned.
void repack_q4_0_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst);

// Row r < 16·groups of a repacked matrix back into Q4_0 blocks (tests, and the layout's definition
// read the other way).
void unpack_q4_0_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row);

}  // namespace qlm
