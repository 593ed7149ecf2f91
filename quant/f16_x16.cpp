#include "quant/f16_x16.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "quant/fp16.h"
#include "quant/kernels/kernels.h"

namespace qlm {

namespace {
// Byte offset of (row i of the group, column c) in a group of `cols` columns.
uint64_t offset(int64_t cols, int64_t i, int64_t c) {
    const int64_t n8 = cols / 8;
    if (c < 8 * n8) return static_cast<uint64_t>(256 * (c / 8) + 32 * (i / 2) + 16 * (i % 2) + 2 * (c % 8));
    return static_cast<uint64_t>(256 * n8 + 32 * (c - 8 * n8) + 2 * i);
}
}  // namespace

uint64_t f16_x16_group_bytes(int64_t cols) { return (32 * static_cast<uint64_t>(cols) + 63) / 64 * 64; }

void repack_f16_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst) {
    const uint64_t gb = f16_x16_group_bytes(cols);
    const int64_t n8 = cols / 8;
    for (int64_t g = 0; g < groups; ++g) {
        uint8_t* out = static_cast<uint8_t*>(dst) + gb * static_cast<uint64_t>(g);
        std::memset(out + 32 * static_cast<uint64_t>(cols), 0, gb - 32 * static_cast<uint64_t>(cols));
        for (int64_t i = 0; i < kX16Rows; ++i) {
            const uint8_t* row = static_cast<const uint8_t*>(src) + row_stride * static_cast<uint64_t>(g * kX16Rows + i);
            for (int64_t b = 0; b < n8; ++b) std::memcpy(out + offset(cols, i, 8 * b), row + 16 * b, 16);
            for (int64_t c = 8 * n8; c < cols; ++c) std::memcpy(out + offset(cols, i, c), row + 2 * c, 2);
        }
    }
}

void unpack_f16_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row) {
    const uint8_t* in = static_cast<const uint8_t*>(packed) + f16_x16_group_bytes(cols) * static_cast<uint64_t>(r / kX16Rows);
    auto* out = static_cast<uint8_t*>(dst_row);
    for (int64_t c = 0; c < cols; ++c) std::memcpy(out + 2 * c, in + offset(cols, r % kX16Rows, c), 2);
}

void gemm_f16_x16_reference(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as,
                            int64_t nt, float* y, int64_t ys) {
    std::vector<uint16_t> row(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
        const auto* grp = static_cast<const uint8_t*>(w) + gs * static_cast<uint64_t>(r / kX16Rows);
        unpack_f16_x16_row(grp, n, r % kX16Rows, row.data());
        for (int64_t t = 0; t < nt; ++t) {
            const auto* at = reinterpret_cast<const uint16_t*>(static_cast<const uint8_t*>(a) + as * static_cast<uint64_t>(t));
            float s = kernels::dot_f16_batch_scalar(n, row.data(), at);
            for (int64_t j = n / 8 * 8; j < n; ++j) s = std::fma(fp16_to_fp32(row[static_cast<size_t>(j)]), fp16_to_fp32(at[j]), s);
            y[t * ys + r] = s;
        }
    }
}

}  // namespace qlm
