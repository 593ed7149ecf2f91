// Q8_0 matrices repacked at load into groups of 16 rows (quant/x16.h), the layout of the AVX-512
// batch quant/kernels/q8_0_x16_avx512.cpp: one row per i32 lane of a 512-bit register, each
// block's 16 scales and 16 x 32 code bytes contiguous, so a decode step streams one sequential run
// per group and a prompt batch loads each block's codes straight into lanes (no transposition, no
// gathered scales). The codes are stored biased to unsigned (c + 128, the unsigned operand of
// vpdpbusd); the kernel starts each sum from −128·Σa to take the bias back out. The AVX2 batch
// (quant/kernels/q8_0_x16_avx2.cpp) reads each 64-byte register as two halves of 8 rows and
// flips the bias back (maddubs needs the sign trick on the signed codes).
//
// Group g (rows 16g..16g+15) of a matrix of nb = cols/32 blocks per row is one run of block
// pairs (X16Pairs), 1088 bytes each (17 cache lines, a decode step reads it as a single stream): pair p holds
//   +0    blocks 2p and 2p+1's scales, 16 f16 each (lane i = row 16g+i);
//   +64   block 2p's codes, then +576 block 2p+1's: eight 64-byte registers W_0..W_7 each, lane i
//         of W_l = bytes 4l..4l+3 of row i's qs, each plus 128 (mod 256: xor 0x80).
// An odd last block makes a pair of 576 bytes (its second 32 scale bytes zero).
// Rows past the last whole group stay in the original matrix (WeightView::data).
#pragma once

#include <cstdint>

#include "quant/x16.h"

namespace qlm {

constexpr X16Pairs kQ8_0x16Pairs{512};

// Where block b's 16 scales and its codes start in a group.
inline uint64_t q8_0_x16_scales_at(int64_t b) { return kQ8_0x16Pairs.scales_at(b); }
inline uint64_t q8_0_x16_codes_at(int64_t b) { return kQ8_0x16Pairs.body_at(b); }

// Bytes of one group of 16 rows of `cols` columns (a multiple of 64).
uint64_t q8_0_x16_group_bytes(int64_t cols);

// Rows [0, 16·groups) of a Q8_0 matrix (rows row_stride bytes apart) into dst, which holds
// groups · q8_0_x16_group_bytes(cols) bytes, 64-byte aligned.
void repack_q8_0_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst);

// Row r < 16·groups of a repacked matrix back into Q8_0 blocks, byte for byte (tests, and the
// layout's definition read the other way).
void unpack_q8_0_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row);

// The scalar reference of the repacked product (gemm_batch_x16's contract): for the rows·nt
// outputs, y[t·ys + r] = the scalar Q8_0 dot of row r with token t's Q8_0 row (a + as·t); groups
// are gs bytes apart.
void gemm_q8_0_x16_reference(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as,
                             int64_t nt, float* y, int64_t ys);

}  // namespace qlm
