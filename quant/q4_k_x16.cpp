#include "quant/q4_k_x16.h"

#include <cstring>
#include <vector>

#include "quant/format_q4_k.h"

namespace qlm {

namespace {
constexpr uint64_t kScales = 64, kMins = 192, kCodes = 320;  // offsets in a super-block's run
}  // namespace

uint64_t q4_k_x16_group_bytes(int64_t cols) { return static_cast<uint64_t>(cols / 256) * kQ4_Kx16BlockBytes; }

void repack_q4_k_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst) {
    const int64_t nb = cols / 256;
    const uint64_t gb = q4_k_x16_group_bytes(cols);
    for (int64_t g = 0; g < groups; ++g) {
        for (int64_t i = 0; i < kX16Rows; ++i) {
            const auto* row = reinterpret_cast<const BlockQ4_K*>(static_cast<const uint8_t*>(src) +
                                                                 row_stride * static_cast<uint64_t>(g * kX16Rows + i));
            for (int64_t b = 0; b < nb; ++b) {
                uint8_t* out = static_cast<uint8_t*>(dst) + gb * static_cast<uint64_t>(g) +
                               kQ4_Kx16BlockBytes * static_cast<uint64_t>(b);
                std::memcpy(out + 2 * i, &row[b].d, 2);
                std::memcpy(out + 32 + 2 * i, &row[b].dmin, 2);
                for (int j = 0; j < 8; ++j) {
                    int sc, m;
                    kquant_scale_min(row[b].scales, j, sc, m);
                    out[kScales + 64 * (j / 4) + 4 * i + j % 4] = static_cast<uint8_t>(sc);
                    out[kMins + 64 * (j / 4) + 4 * i + j % 4] = static_cast<uint8_t>(m);
                }
                for (int r = 0; r < 32; ++r) std::memcpy(out + kCodes + 64 * r + 4 * i, row[b].qs + 4 * r, 4);
            }
        }
    }
}

void unpack_q4_k_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row) {
    const int64_t nb = cols / 256, g = r / kX16Rows, i = r % kX16Rows;
    auto* row = static_cast<BlockQ4_K*>(dst_row);
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* in = static_cast<const uint8_t*>(packed) + q4_k_x16_group_bytes(cols) * static_cast<uint64_t>(g) +
                            kQ4_Kx16BlockBytes * static_cast<uint64_t>(b);
        std::memcpy(&row[b].d, in + 2 * i, 2);
        std::memcpy(&row[b].dmin, in + 32 + 2 * i, 2);
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; ++j) {
            sc[j] = in[kScales + 64 * (j / 4) + 4 * i + j % 4];
            m[j] = in[kMins + 64 * (j / 4) + 4 * i + j % 4];
        }
        // kquant_scale_min read the other way: the low 6 bits of bytes 0..7 hold codes 0..3, their
        // top 2 bits and bytes 8..11 the rest of codes 4..7.
        for (int j = 0; j < 4; ++j) {
            row[b].scales[j] = static_cast<uint8_t>(sc[j] | (sc[j + 4] >> 4) << 6);
            row[b].scales[j + 4] = static_cast<uint8_t>(m[j] | (m[j + 4] >> 4) << 6);
            row[b].scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
        }
        for (int k = 0; k < 32; ++k) std::memcpy(row[b].qs + 4 * k, in + kCodes + 64 * k + 4 * i, 4);
    }
}

void gemm_q4_k_x16_reference(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as,
                             int64_t nt, float* y, int64_t ys) {
    std::vector<BlockQ4_K> row(static_cast<size_t>(n / 256));
    for (int64_t r = 0; r < rows; ++r) {
        // Groups are gs bytes apart: the row's group from there, then the row within it.
        const auto* grp = static_cast<const uint8_t*>(w) + gs * static_cast<uint64_t>(r / kX16Rows);
        unpack_q4_k_x16_row(grp, n, r % kX16Rows, row.data());
        for (int64_t t = 0; t < nt; ++t)
            y[t * ys + r] = FormatQ4_K::vec_dot(
                n, row.data(), reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + as * static_cast<uint64_t>(t)));
    }
}

}  // namespace qlm
