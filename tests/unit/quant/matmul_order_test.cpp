// MatmulOrder: the experts' product (MulMatId) adds every output in the order of a single token's
// dot, as ggml_mul_mat_id's vec_dot does, for f32 and f16 weights and any batch; the dense product
// (MulMat) of 2+ tokens takes the tiles (tinyBLAS's order), which differ in rounding.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "quant/formats.h"
#include "quant/matmul.h"
#include "quant/thread_pool.h"

namespace qlm {
namespace {

std::vector<float> product(const WeightView& w, const std::vector<float>& x, int64_t n, MatmulOrder order) {
    const WeightView* ws[1] = {&w};
    std::vector<float> y(static_cast<size_t>(w.rows * n));
    float* ys[1] = {y.data()};
    std::vector<uint8_t> scratch(matmul_scratch_bytes(ws, n) + 64);
    ThreadPool alone;
    matmul_team(alone, ws, ys, x.data(), n, scratch.data(), active_isa(), order);
    return y;
}

TEST(MatmulOrder, ExpertsProductEqualsOneDotPerToken) {
    const int64_t cols = 256, rows = 32, n = 7;
    for (GgmlType t : {GgmlType::F32, GgmlType::F16}) {
        const FormatOps& f = format_ops(t);
        std::mt19937 rng(3);
        std::normal_distribution<float> d(0.f, 1.f);
        std::vector<float> wf(static_cast<size_t>(cols * rows)), x(static_cast<size_t>(cols * n));
        for (float& v : wf) v = d(rng);
        for (float& v : x) v = d(rng);
        const uint64_t rb = format_row_bytes(f, cols);
        std::vector<uint8_t> wb(rb * rows);
        for (int64_t r = 0; r < rows; ++r) f.quantize_row(wf.data() + r * cols, wb.data() + r * rb, cols);
        const WeightView w{t, wb.data(), cols, rows, rb};

        const std::vector<float> id = product(w, x, n, MatmulOrder::MulMatId);
        const std::vector<float> dense = product(w, x, n, MatmulOrder::MulMat);
        int differ = 0;
        for (int64_t tok = 0; tok < n; ++tok) {
            const std::vector<float> xt(x.begin() + tok * cols, x.begin() + (tok + 1) * cols);
            const std::vector<float> one = product(w, xt, 1, MatmulOrder::MulMat);  // one token: the dot
            for (int64_t r = 0; r < rows; ++r) {
                const float a = id[static_cast<size_t>(tok * rows + r)], b = one[static_cast<size_t>(r)];
                ASSERT_EQ(std::memcmp(&a, &b, 4), 0) << type_name(t) << " token " << tok << " row " << r;
                differ += dense[static_cast<size_t>(tok * rows + r)] != b;
                EXPECT_NEAR(dense[static_cast<size_t>(tok * rows + r)], b, 1e-3f);
            }
        }
        // The dense batch went through the tiles: another order, so some outputs round differently.
        EXPECT_GT(differ, 0) << type_name(t);
    }
}

}  // namespace
}  // namespace qlm
