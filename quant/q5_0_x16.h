// Q5_0 matrices repacked at load into groups of 16 rows (quant/x16.h), the layout of the AVX-512
// batch quant/kernels/q5_0_x16_avx512.cpp: one row per i32 lane of a 512-bit register, so a decode
// step streams each group as one sequential run and a prompt batch loads each block's codes
// straight into lanes (no transposition, no gathered scales or high bits).
//
// Group g (rows 16g..16g+15) of a matrix of nb = cols/32 blocks per row is one run of block pairs
// (X16Pairs), 704 bytes each (11 cache lines); block b's 320-byte body holds
//   +0    eight u64 masks M_0..M_7 of the 5th bits: bit 4i+k of M_j = bit 4j+k of row i's qh (the
//         5th bit of element 4j+k), so M_j is the byte mask of code register j below;
//   +64   four 64-byte registers W_0..W_3 as Q4_0's (quant/q4_0_x16.h): lane i of W_j = bytes
//         4j..4j+3 of row i's qs (low nibbles: elements 4j..4j+3, high nibbles: 16+4j..16+4j+3).
// Code register j < 4 is W_j's low nibbles plus 16 where M_j is set, register 4 + j its high
// nibbles plus 16 where M_{4+j} is set: lane i of register j holds the 5-bit codes of row i's
// elements 4j..4j+3, the operand of one vpdpbusd against activation dword j.
// Rows past the last whole group stay in the original matrix (WeightView::data).
#pragma once

#include <cstdint>

#include "quant/x16.h"

namespace qlm {

constexpr X16Pairs kQ5_0x16Pairs{64 + 256};

// Bytes of one group of 16 rows of `cols` columns (a multiple of 64).
uint64_t q5_0_x16_group_bytes(int64_t cols);

// Rows [0, 16·groups) of a Q5_0 matrix (rows row_stride bytes apart) into dst, which holds
// groups · q5_0_x16_group_bytes(cols) bytes, 64-byte aligned.
void repack_q5_0_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst);

// Row r < 16·groups of a repacked matrix back into Q5_0 blocks, byte for byte (tests, and the
// layout's definition read the other way).
void unpack_q5_0_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row);

// The scalar reference of the repacked product (gemm_batch_x16's contract): for the rows·nt
// outputs, y[t·ys + r] = the scalar Q5_0 dot of row r with token t's Q8_0 row (a + as·t); groups
// are gs bytes apart.
void gemm_q5_0_x16_reference(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as,
                             int64_t nt, float* y, int64_t ys);

}  // namespace qlm
