#include "quant/q8_0_x16.h"

#include <cstring>
#include <vector>

#include "quant/format_q8_0.h"

namespace qlm {

namespace {
// c + 128 as an unsigned byte, and back: both flip the top bit.
void flip_copy(uint8_t* dst, const void* src, int n) {
    std::memcpy(dst, src, static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) dst[k] ^= 0x80;
}
}  // namespace

uint64_t q8_0_x16_group_bytes(int64_t cols) {
    return kQ8_0x16Pairs.group_bytes(cols / 32);
}

void repack_q8_0_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst) {
    const int64_t nb = cols / 32;
    const uint64_t gb = q8_0_x16_group_bytes(cols);
    for (int64_t g = 0; g < groups; ++g) {
        uint8_t* out = static_cast<uint8_t*>(dst) + gb * static_cast<uint64_t>(g);
        if (nb % 2) std::memset(out + q8_0_x16_scales_at(nb), 0, 32);  // the odd last pair's unused half
        for (int64_t i = 0; i < kX16Rows; ++i) {
            const auto* row = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(src) +
                                                                 row_stride * static_cast<uint64_t>(g * kX16Rows + i));
            for (int64_t b = 0; b < nb; ++b) {
                std::memcpy(out + q8_0_x16_scales_at(b) + 2 * i, &row[b].d, 2);
                uint8_t* codes = out + q8_0_x16_codes_at(b);
                for (int l = 0; l < 8; ++l) flip_copy(codes + 64 * l + 4 * i, row[b].qs + 4 * l, 4);
            }
        }
    }
}

void unpack_q8_0_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row) {
    const int64_t nb = cols / 32, g = r / kX16Rows, i = r % kX16Rows;
    const uint8_t* in = static_cast<const uint8_t*>(packed) + q8_0_x16_group_bytes(cols) * static_cast<uint64_t>(g);
    auto* row = static_cast<BlockQ8_0*>(dst_row);
    for (int64_t b = 0; b < nb; ++b) {
        std::memcpy(&row[b].d, in + q8_0_x16_scales_at(b) + 2 * i, 2);
        const uint8_t* codes = in + q8_0_x16_codes_at(b);
        for (int l = 0; l < 8; ++l) flip_copy(reinterpret_cast<uint8_t*>(row[b].qs) + 4 * l, codes + 64 * l + 4 * i, 4);
    }
}

void gemm_q8_0_x16_reference(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as,
                             int64_t nt, float* y, int64_t ys) {
    std::vector<BlockQ8_0> row(static_cast<size_t>(n / 32));
    for (int64_t r = 0; r < rows; ++r) {
        const auto* grp = static_cast<const uint8_t*>(w) + gs * static_cast<uint64_t>(r / kX16Rows);
        unpack_q8_0_x16_row(grp, n, r % kX16Rows, row.data());
        for (int64_t t = 0; t < nt; ++t)
            y[t * ys + r] = FormatQ8_0::vec_dot(
                n, row.data(), reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + as * static_cast<uint64_t>(t)));
    }
}

}  // namespace qlm
