// F16 matrices repacked at load into groups of 16 rows ("x16", quant/x16.h), the layout of the
// AVX-512 batch quant/kernels/f16_x16_avx512.cpp: a decode step streams each group as one
// sequential run, and every 32 bytes widen into one 512-bit register of two rows' 8 columns, so
// a row keeps the 8-lane accumulator of the F16 prompt batch (gemm_batch_f16: one lane per column
// mod 8) and one token is summed as a prompt's tokens are.
//
// Group g (rows 16g..16g+15) of a matrix of cols columns, n8 = cols/8 whole blocks of 8 columns:
//   blocks: n8 x 256 bytes, block b's at 256·b: eight 32-byte chunks, chunk p = rows 16g+2p and
//           16g+2p+1, columns 8b..8b+7 of each (f16, the even row first);
//   tail:   the cols − 8·n8 columns after the blocks, 32 bytes each: the 16 rows' f16 in row order;
//   padded to a multiple of 64 bytes.
// Rows past the last whole group stay in the original matrix (WeightView::data).
#pragma once

#include <cstdint>

#include "quant/x16.h"

namespace qlm {

// Bytes of one group of 16 rows of `cols` columns (a multiple of 64).
uint64_t f16_x16_group_bytes(int64_t cols);

// Rows [0, 16·groups) of an F16 matrix (rows row_stride bytes apart) into dst, which holds
// groups · f16_x16_group_bytes(cols) bytes, 64-byte aligned.
void repack_f16_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst);

// Row r < 16·groups of a repacked matrix back into cols f16 values (tests; the layout read the
// other way).
void unpack_f16_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row);

// The scalar reference of the repacked product (gemm_batch_x16's contract, groups gs bytes apart):
// y[t·ys + r] = kernels::dot_f16_batch_scalar of row r with token t's f16 row (a + as·t) over the
// whole groups of 8, then the columns after them added one fused product at a time.
void gemm_f16_x16_reference(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as,
                            int64_t nt, float* y, int64_t ys);

}  // namespace qlm
