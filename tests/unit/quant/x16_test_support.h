// What the tests of the repacked layouts (quant/x16.h) share: activations of five kinds (random,
// all codes +127 or −127, outliers, alternating signs), Q4_0 matrices of random or extreme codes,
// and a matrix view with its groups of 16 rows repacked by the format's layout.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "quant/format_q4_0.h"
#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/matmul.h"
#include "quant/x16.h"

namespace qlm::x16_test {

inline std::vector<float> activations(int64_t n_tokens, int64_t cols, int kind, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(n_tokens * cols));
    for (size_t i = 0; i < x.size(); ++i) {
        switch (kind) {
            case 0: x[i] = normal(rng); break;
            case 1: x[i] = 1.f; break;   // codes +127
            case 2: x[i] = -1.f; break;  // codes −127
            case 3: x[i] = i % 37 == 5 ? 1e4f : normal(rng); break;  // outliers
            default: x[i] = i % 2 ? -1.f : 1.f; break;
        }
    }
    return x;
}

enum class Q4_0Fill { Random, AllOnes, AllZero };

// rows x nb Q4_0 blocks, row_stride bytes apart (>= the row's bytes).
inline std::vector<uint8_t> q4_0_matrix(int64_t rows, int64_t nb, uint64_t row_stride, Q4_0Fill fill,
                                        std::mt19937& rng) {
    std::vector<uint8_t> m(row_stride * static_cast<uint64_t>(rows), 0xA5);
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    for (int64_t r = 0; r < rows; ++r) {
        auto* row = reinterpret_cast<BlockQ4_0*>(m.data() + row_stride * static_cast<uint64_t>(r));
        for (int64_t b = 0; b < nb; ++b) {
            row[b].d = fp32_to_fp16(fill == Q4_0Fill::Random ? u(rng) : 1.f);
            for (uint8_t& q : row[b].qs)
                q = fill == Q4_0Fill::Random ? static_cast<uint8_t>(rng()) : fill == Q4_0Fill::AllOnes ? 0xFF : 0x00;
        }
    }
    return m;
}

struct Packed {
    AlignedBytes bytes;
    WeightView view;
};

// w with view.x16 set to its whole groups of 16 rows in w.type's layout.
inline Packed repacked(const WeightView& w) {
    const X16Layout& layout = *x16_layout(w.type);
    const int64_t groups = w.rows / kX16Rows;
    Packed p{make_aligned_bytes(layout.group_bytes(w.cols) * static_cast<uint64_t>(std::max<int64_t>(groups, 1))), w};
    layout.repack(w.data, w.row_stride, w.cols, groups, p.bytes.get());
    p.view.x16 = p.bytes.get();
    return p;
}

// Repacks the first 3 groups (48 rows) of m (rows row_stride bytes apart, row_bytes each) by the
// layout of `type` and reads every row back through its unpack_row: each must be the file's bytes.
inline void expect_round_trip(GgmlType type, const std::vector<uint8_t>& m, uint64_t row_stride, int64_t cols,
                              size_t row_bytes) {
    const X16Layout& layout = *x16_layout(type);
    EXPECT_EQ(layout.group_bytes(cols) % 64, 0u);
    auto buf = make_aligned_bytes(layout.group_bytes(cols) * 3);
    layout.repack(m.data(), row_stride, cols, 3, buf.get());
    std::vector<uint8_t> row(row_bytes);
    for (int64_t r = 0; r < 3 * kX16Rows; ++r) {
        layout.unpack_row(buf.get(), cols, r, row.data());
        ASSERT_EQ(std::memcmp(row.data(), m.data() + row_stride * static_cast<uint64_t>(r), row_bytes), 0)
            << "cols=" << cols << " row=" << r;
    }
}

// Every output of got (nt tokens x w.rows, token-major) has the bits of the format's scalar dot of
// w's row with that token's activation row (x: nt rows of w.cols floats).
inline void expect_scalar_dot_bits(const WeightView& w, const std::vector<float>& x, int64_t nt,
                                   const std::vector<float>& got) {
    const FormatOps& f = format_ops(w.type);
    const FormatOps& af = format_ops(f.vec_dot_type);
    const auto* m = static_cast<const uint8_t*>(w.data);
    std::vector<uint8_t> a(format_row_bytes(af, w.cols));
    for (int64_t t = 0; t < nt; ++t) {
        af.quantize_activation(x.data() + t * w.cols, a.data(), w.cols);
        for (int64_t r = 0; r < w.rows; ++r) {
            const float want = f.vec_dot_scalar(w.cols, m + w.row_stride * static_cast<uint64_t>(r), a.data());
            const float g = got[static_cast<size_t>(t * w.rows + r)];
            ASSERT_EQ(std::memcmp(&g, &want, sizeof(float)), 0)
                << "rows=" << w.rows << " cols=" << w.cols << " tokens=" << nt << " t=" << t << " r=" << r << ": " << g
                << " vs " << want;
        }
    }
}

// Token lookups through dequantize_row (a tied output head's embedding) read the groups' rows from
// the repacked copy, whatever the original rows hold by then (overwritten here), and the rows past
// the last group from the original: every row is w's own.
inline void expect_lookups_read_the_copy(const WeightView& w) {
    const auto rows = static_cast<size_t>(w.rows), cols = static_cast<size_t>(w.cols);
    std::vector<float> want(rows * cols), got(want.size());
    for (int64_t r = 0; r < w.rows; ++r) dequantize_row(w, r, want.data() + r * w.cols);
    const Packed p = repacked(w);
    const uint64_t grouped = w.row_stride * static_cast<uint64_t>(w.rows / kX16Rows * kX16Rows);
    std::vector<uint8_t> gone(w.row_stride * rows, 0x55);
    std::memcpy(gone.data() + grouped, static_cast<const uint8_t*>(w.data) + grouped, gone.size() - grouped);
    WeightView v = p.view;
    v.data = gone.data();
    for (int64_t r = 0; r < w.rows; ++r) dequantize_row(v, r, got.data() + r * w.cols);
    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
}

}  // namespace qlm::x16_test
