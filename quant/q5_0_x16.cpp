#include "quant/q5_0_x16.h"

#include <cstring>
#include <vector>

#include "quant/format_q5_0.h"

namespace qlm {

uint64_t q5_0_x16_group_bytes(int64_t cols) { return kQ5_0x16Pairs.group_bytes(cols / 32); }

void repack_q5_0_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst) {
    const int64_t nb = cols / 32;
    const uint64_t gb = q5_0_x16_group_bytes(cols);
    for (int64_t g = 0; g < groups; ++g) {
        uint8_t* out = static_cast<uint8_t*>(dst) + gb * static_cast<uint64_t>(g);
        if (nb % 2) std::memset(out + kQ5_0x16Pairs.scales_at(nb), 0, 32);  // the odd last pair's unused half
        for (int64_t b = 0; b < nb; ++b) {
            uint8_t* body = out + kQ5_0x16Pairs.body_at(b);
            uint64_t masks[8] = {};
            for (int64_t i = 0; i < kX16Rows; ++i) {
                const auto* blk = reinterpret_cast<const BlockQ5_0*>(static_cast<const uint8_t*>(src) +
                                                                     row_stride * static_cast<uint64_t>(g * kX16Rows + i)) + b;
                std::memcpy(out + kQ5_0x16Pairs.scales_at(b) + 2 * i, &blk->d, 2);
                uint32_t qh;
                std::memcpy(&qh, blk->qh, 4);
                for (int j = 0; j < 8; ++j) masks[j] |= static_cast<uint64_t>((qh >> (4 * j)) & 15u) << (4 * i);
                for (int j = 0; j < 4; ++j) std::memcpy(body + 64 + 64 * j + 4 * i, blk->qs + 4 * j, 4);
            }
            std::memcpy(body, masks, sizeof(masks));
        }
    }
}

void unpack_q5_0_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row) {
    const int64_t nb = cols / 32, g = r / kX16Rows, i = r % kX16Rows;
    const uint8_t* in = static_cast<const uint8_t*>(packed) + q5_0_x16_group_bytes(cols) * static_cast<uint64_t>(g);
    auto* row = static_cast<BlockQ5_0*>(dst_row);
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* body = in + kQ5_0x16Pairs.body_at(b);
        std::memcpy(&row[b].d, in + kQ5_0x16Pairs.scales_at(b) + 2 * i, 2);
        uint64_t masks[8];
        std::memcpy(masks, body, sizeof(masks));
        uint32_t qh = 0;
        for (int j = 0; j < 8; ++j) qh |= static_cast<uint32_t>((masks[j] >> (4 * i)) & 15u) << (4 * j);
        std::memcpy(row[b].qh, &qh, 4);
        for (int j = 0; j < 4; ++j) std::memcpy(row[b].qs + 4 * j, body + 64 + 64 * j + 4 * i, 4);
    }
}

void gemm_q5_0_x16_reference(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as,
                             int64_t nt, float* y, int64_t ys) {
    std::vector<BlockQ5_0> row(static_cast<size_t>(n / 32));
    for (int64_t r = 0; r < rows; ++r) {
        const auto* grp = static_cast<const uint8_t*>(w) + gs * static_cast<uint64_t>(r / kX16Rows);
        unpack_q5_0_x16_row(grp, n, r % kX16Rows, row.data());
        for (int64_t t = 0; t < nt; ++t)
            y[t * ys + r] = FormatQ5_0::vec_dot(
                n, row.data(), reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + as * static_cast<uint64_t>(t)));
    }
}

}  // namespace qlm
