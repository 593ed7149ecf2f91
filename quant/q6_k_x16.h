// Q6_K matrices repacked at load into groups of 16 rows (quant/x16.h), the layout of the AVX-512
// kernel quant/kernels/q6_k_x16_avx512.cpp: the rows in pairs, one pair per 512-bit register (a
// row per 256-bit half), each super-block's 16 rows in one contiguous 3360-byte run of the file's
// own bytes (no byte more than the file's 210 a row), only the scales in another order.
//
// Why pairs and not a row per i32 lane as the other x16 layouts: the Q6_K dot (dot_q6_k,
// gemm_batch_q6_k) keeps eight i32 partial sums per row, lane k of each 32-element chunk being its
// elements 4k..4k+3, and rounds each lane into its own float accumulator before the final sum.
// Two rows per register keep exactly those eight lanes per row, so the kernel gives their bits.
//
// Group g (rows 16g..16g+15) of a matrix of nb = cols/256 super-blocks per row is nb runs of
// kQ6_Kx16BlockBytes, then 32 bytes of padding where nb is odd (groups start 64-byte aligned, the
// runs 32-byte aligned); in super-block b's run, row i = 16g + i, pair p = rows 2p, 2p+1:
//   +0    d[16]        f16, row i at 2i;
//   +32   scales[16]   the row's 16 i8 sub-block scales, row i at 32 + 16i, the even sub-blocks'
//                      (0, 2, .., 14) first, then the odd ones: widened to i16, each 128-bit lane
//                      of a pair's register holds the scales one lane k < 4 or k ≥ 4 of a row
//                      uses, chunk c's at i16 c;
//   +288  pair p at 288 + 384p: for h = 0, 1 three 64-byte vectors, each the two rows' 32 bytes
//         (row 2p, then 2p+1): ql[64h .. 64h+31], ql[64h+32 .. 64h+63], qh[32h .. 32h+31].
// Rows past the last whole group stay in the original matrix (WeightView::data).
#pragma once

#include <cstdint>

#include "quant/x16.h"

namespace qlm {

constexpr uint64_t kQ6_Kx16BlockBytes = 32 + 256 + 8 * 384;

// Bytes of one group of 16 rows of `cols` columns (a multiple of 256).
uint64_t q6_k_x16_group_bytes(int64_t cols);

// Rows [0, 16·groups) of a Q6_K matrix (rows row_stride bytes apart) into dst, which holds
// groups · q6_k_x16_group_bytes(cols) bytes, 64-byte aligned.
void repack_q6_k_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst);

// Row r < 16·groups of a repacked matrix back into Q6_K blocks, byte for byte (tests, tied output
// heads' token lookups, and the layout's definition read the other way).
void unpack_q6_k_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row);

// The scalar reference of the repacked product: y[t·ys + r] = the scalar Q6_K dot
// (FormatQ6_K::vec_dot) of row r with token t's Q8_K row (a + as·t). The same integers as the
// AVX-512 kernel, added in another float order (the kernel gives dot_q6_k's bits instead).
void gemm_q6_k_x16_reference(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as,
                             int64_t nt, float* y, int64_t ys);

}  // namespace qlm
