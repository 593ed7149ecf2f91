// Q4_K matrices repacked at load into groups of 16 rows (quant/x16.h), the layout of the AVX-512
// kernel quant/kernels/q4_k_x16_avx512.cpp: one row per i32 lane, each super-block's 16 rows in
// one contiguous 2368-byte run, the 6-bit scale and min codes unpacked to bytes (what the file
// packs into 12 bytes a row takes 16 here: 2.8 % more bytes, no bit-field decoding per step).
//
// Group g (rows 16g..16g+15) of a matrix of nb = cols/256 super-blocks per row is nb runs of
// kQ4_Kx16BlockBytes; in super-block b's run, lane i being row 16g+i:
//   +0    d[16]    f16 (32 bytes), then dmin[16] f16 (32 bytes);
//   +64   S_0, S_1 (64 bytes each): lane i of S_k = scale codes 4k..4k+3 of row i, one a byte;
//   +192  M_0, M_1: the same for the min codes;
//   +320  W_0..W_31 (64 bytes each): lane i of W_r = bytes 4r..4r+3 of row i's qs (low nibbles:
//         elements 64·(r/8) + 4·(r%8)..+3, high nibbles: the same plus 32).
// Rows past the last whole group stay in the original matrix (WeightView::data).
#pragma once

#include <cstdint>
#include <cstring>

#include "quant/format_q8_k.h"
#include "quant/x16.h"

namespace qlm {

constexpr uint64_t kQ4_Kx16BlockBytes = 64 + 4 * 64 + 32 * 64;

// Bytes of one group of 16 rows of `cols` columns (a multiple of 64).
uint64_t q4_k_x16_group_bytes(int64_t cols);

// Rows [0, 16·groups) of a Q4_K matrix (rows row_stride bytes apart) into dst, which holds
// groups · q4_k_x16_group_bytes(cols) bytes, 64-byte aligned.
void repack_q4_k_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst);

// Row r < 16·groups of a repacked matrix back into Q4_K blocks, byte for byte (tests, and the
// layout's definition read the other way).
void unpack_q4_k_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row);

// The scalar reference of the repacked product (gemm_batch_x16's contract): for the rows·nt
// outputs, y[t·ys + r] = the scalar Q4_K dot of row r with token t's Q8_K row (a + as·t).
void gemm_q4_k_x16_reference(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as,
                             int64_t nt, float* y, int64_t ys);

// One token's Q8_K super-block as the batches' lanes use it (q4_k_x16_avx512.cpp and
// q4_k_x16_avx2.cpp): its scale, and the mins' activation sums bs_j = bsums[2j] + bsums[2j+1]
// (|bs_j| ≤ 32·128: an i16) as the i16 pairs (bs_2k, bs_2k+1) of each dword.
struct Q4_KActBlock {
    float d;
    int32_t bs[4];
};

inline Q4_KActBlock q4_k_act_block(const BlockQ8_K& a) {
    Q4_KActBlock r;
    r.d = a.d;
    int16_t bsums[16];
    std::memcpy(bsums, a.bsums, sizeof(bsums));
    for (int k = 0; k < 4; ++k) {
        const auto lo = static_cast<uint16_t>(bsums[4 * k] + bsums[4 * k + 1]);
        const auto hi = static_cast<uint16_t>(bsums[4 * k + 2] + bsums[4 * k + 3]);
        r.bs[k] = static_cast<int32_t>(lo | static_cast<uint32_t>(hi) << 16);
    }
    return r;
}

}  // namespace qlm
