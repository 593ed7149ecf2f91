#include "quant/q6_k_x16.h"

#include <cstring>
#include <vector>

#include "quant/format_q6_k.h"

namespace qlm {

namespace {
constexpr uint64_t kScales = 32, kCodes = 288, kPairBytes = 384;  // offsets in a super-block's run

// Where row i's 32-byte pieces of a super-block lie in its run: the pair's six vectors, the row's
// half of each (q = 0, 1, 2: ql's first half, ql's second half, qh; of h = 0, 1).
inline uint64_t piece(int64_t i, int h, int q) {
    return kCodes + kPairBytes * static_cast<uint64_t>(i / 2) + 64 * static_cast<uint64_t>(3 * h + q) +
           32 * static_cast<uint64_t>(i % 2);
}

// Super-block b's run of group g.
inline uint64_t run(uint64_t gb, int64_t g, int64_t b) {
    return gb * static_cast<uint64_t>(g) + kQ6_Kx16BlockBytes * static_cast<uint64_t>(b);
}
}  // namespace

uint64_t q6_k_x16_group_bytes(int64_t cols) {
    return (static_cast<uint64_t>(cols / 256) * kQ6_Kx16BlockBytes + 63) / 64 * 64;
}

void repack_q6_k_x16(const void* src, uint64_t row_stride, int64_t cols, int64_t groups, void* dst) {
    const int64_t nb = cols / 256;
    const uint64_t gb = q6_k_x16_group_bytes(cols);
    for (int64_t g = 0; g < groups; ++g) {
        // The padding of an odd run count: zeros, never read.
        std::memset(static_cast<uint8_t*>(dst) + run(gb, g, nb), 0, gb - kQ6_Kx16BlockBytes * static_cast<uint64_t>(nb));
        for (int64_t i = 0; i < kX16Rows; ++i) {
            const auto* row = reinterpret_cast<const BlockQ6_K*>(static_cast<const uint8_t*>(src) +
                                                                 row_stride * static_cast<uint64_t>(g * kX16Rows + i));
            for (int64_t b = 0; b < nb; ++b) {
                uint8_t* out = static_cast<uint8_t*>(dst) + run(gb, g, b);
                std::memcpy(out + 2 * i, &row[b].d, 2);
                for (int j = 0; j < 16; ++j)
                    out[kScales + 16 * i + j % 2 * 8 + j / 2] = static_cast<uint8_t>(row[b].scales[j]);
                for (int h = 0; h < 2; ++h) {
                    std::memcpy(out + piece(i, h, 0), row[b].ql + 64 * h, 32);
                    std::memcpy(out + piece(i, h, 1), row[b].ql + 64 * h + 32, 32);
                    std::memcpy(out + piece(i, h, 2), row[b].qh + 32 * h, 32);
                }
            }
        }
    }
}

void unpack_q6_k_x16_row(const void* packed, int64_t cols, int64_t r, void* dst_row) {
    const int64_t nb = cols / 256, g = r / kX16Rows, i = r % kX16Rows;
    const uint64_t gb = q6_k_x16_group_bytes(cols);
    auto* row = static_cast<BlockQ6_K*>(dst_row);
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* in = static_cast<const uint8_t*>(packed) + run(gb, g, b);
        std::memcpy(&row[b].d, in + 2 * i, 2);
        for (int j = 0; j < 16; ++j) row[b].scales[j] = static_cast<int8_t>(in[kScales + 16 * i + j % 2 * 8 + j / 2]);
        for (int h = 0; h < 2; ++h) {
            std::memcpy(row[b].ql + 64 * h, in + piece(i, h, 0), 32);
            std::memcpy(row[b].ql + 64 * h + 32, in + piece(i, h, 1), 32);
            std::memcpy(row[b].qh + 32 * h, in + piece(i, h, 2), 32);
        }
    }
}

void gemm_q6_k_x16_reference(int64_t n, int64_t rows, const void* w, uint64_t gs, const void* a, uint64_t as,
                             int64_t nt, float* y, int64_t ys) {
    std::vector<BlockQ6_K> row(static_cast<size_t>(n / 256));
    for (int64_t r = 0; r < rows; ++r) {
        // Groups are gs bytes apart: the row's group from there, then the row within it.
        const auto* grp = static_cast<const uint8_t*>(w) + gs * static_cast<uint64_t>(r / kX16Rows);
        unpack_q6_k_x16_row(grp, n, r % kX16Rows, row.data());
        for (int64_t t = 0; t < nt; ++t)
            y[t * ys + r] = FormatQ6_K::vec_dot(
                n, row.data(), reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + as * static_cast<uint64_t>(t)));
    }
}

}  // namespace qlm
