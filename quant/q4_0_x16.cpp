#include "quant/q4_0_x16.h"

#include <cstring>

#include "quant/format_q4_0.h"

namespace qlm {

namespace {
constexpr uint64_t kScaleBytes = 2 * kX16Rows;   // one block's 16 f16 scales
constexpr uint64_t kCodeBytes = 16 * kX16Rows;   // one block's 16 rows of 16 code bytes

uint64_t scale_region(int64_t nb) { return (static_cast<uint64_t>(nb) * kScaleBytes + 63) / 64 * 64; }
}  // namespace

uint64_t q4_0_x16_group_bytes(int64_t cols) {
    const int64_t nb = cols / 32;
    return scale_region(nb) + static_cast<uint64_t>(nb) * kCodeBytes;
}

void repack_q4_0_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst) {
    const int64_t nb = cols / 32;
    const uint64_t gb = q4_0_x16_group_bytes(cols), sr = scale_region(nb);
    for (int64_t g = 0; g < groups; ++g) {
        uint8_t* out = static_cast<uint8_t*>(dst) + gb * static_cast<uint64_t>(g);
        std::memset(out + static_cast<uint64_t>(nb) * kScaleBytes, 0, sr - static_cast<uint64_t>(nb) * kScaleBytes);
        for (int64_t i = 0; i < kX16Rows; ++i) {
            const auto* row = reinterpret_cast<const BlockQ4_0*>(static_cast<const uint8_t*>(src) +
                                                                 row_stride * static_cast<uint64_t>(g * kX16Rows + i));
            for (int64_t b = 0; b < nb; ++b) {
                std::memcpy(out + kScaleBytes * static_cast<uint64_t>(b) + 2 * i, &row[b].d, 2);
                uint8_t* codes = out + sr + kCodeBytes * static_cast<uint64_t>(b);
                for (int j = 0; j < 4; ++j) std::memcpy(codes + 64 * j + 4 * i, row[b].qs + 4 * j, 4);
            }
        }
    }
}

void unpack_q4_0_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row) {
    const int64_t nb = cols / 32, g = r / kX16Rows, i = r % kX16Rows;
    const uint8_t* in = static_cast<const uint8_t*>(packed) + q4_0_x16_group_bytes(cols) * static_cast<uint64_t>(g);
    auto* row = static_cast<BlockQ4_0*>(dst_row);
    for (int64_t b = 0; b < nb; ++b) {
        std::memcpy(&row[b].d, in + kScaleBytes * static_cast<uint64_t>(b) + 2 * i, 2);
        const uint8_t* codes = in + scale_region(nb) + kCodeBytes * static_cast<uint64_t>(b);
        for (int j = 0; j < 4; ++j) std::memcpy(row[b].qs + 4 * j, codes + 64 * j + 4 * i, 4);
    }
}

}  // namespace qlm
