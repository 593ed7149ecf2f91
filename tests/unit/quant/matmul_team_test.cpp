// matmul_team: several weights of different formats sharing one input, computed on a thread pool,
// must give exactly what one matmul per weight gives (the per-row work is the same whatever the
// split), for decode and prompt shapes, more weights than one pass holds, pools of 2, 3 and 7
// threads, and the calling thread alone.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "quant/formats.h"
#include "quant/matmul.h"
#include "quant/thread_pool.h"

namespace qlm {
namespace {

struct OwnedWeight {
    std::vector<uint8_t> bytes;
    WeightView view;
};

OwnedWeight random_weight(GgmlType t, int64_t cols, int64_t rows, std::mt19937& rng) {
    const FormatOps& f = format_ops(t);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(cols));
    OwnedWeight w;
    const uint64_t rb = format_row_bytes(f, cols);
    w.bytes.resize(rb * static_cast<uint64_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        for (auto& v : x) v = normal(rng);
        if (f.quantize_row) f.quantize_row(x.data(), w.bytes.data() + rb * static_cast<uint64_t>(r), cols);
    }
    w.view = WeightView{t, w.bytes.data(), cols, rows, rb};
    return w;
}

void check_group(const std::vector<GgmlType>& types, int64_t cols, int64_t n_tokens, int threads, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<OwnedWeight> ws;
    for (size_t k = 0; k < types.size(); ++k) ws.push_back(random_weight(types[k], cols, 5 + 7 * static_cast<int64_t>(k), rng));
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(cols * n_tokens));
    for (auto& v : x) v = normal(rng);

    std::vector<const WeightView*> views;
    std::vector<std::vector<float>> got(ws.size()), want(ws.size());
    std::vector<float*> ys;
    for (size_t k = 0; k < ws.size(); ++k) {
        views.push_back(&ws[k].view);
        got[k].assign(static_cast<size_t>(ws[k].view.rows * n_tokens), -1.f);
        want[k].assign(got[k].size(), -2.f);
        ys.push_back(got[k].data());
        matmul(ws[k].view, x.data(), n_tokens, want[k].data());
    }
    std::vector<uint8_t> scratch(matmul_scratch_bytes(views, n_tokens));
    ThreadPool pool(threads);
    matmul_team(pool, views, ys, x.data(), n_tokens, scratch.data(), active_isa());
    for (size_t k = 0; k < ws.size(); ++k)
        EXPECT_EQ(got[k], want[k]) << "weight " << k << " (" << type_name(types[k]) << "), tokens " << n_tokens
                                   << ", threads " << threads;
}

TEST(MatmulTeam, MixedFormatsMatchOneMatmulEach) {
    const std::vector<GgmlType> mixed = {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::F16, GgmlType::Q4_1, GgmlType::F32};
    for (int64_t n_tokens : {1, 2, 3, 7, 50}) {
        check_group(mixed, 64, n_tokens, 2, 1);
        check_group(mixed, 64, n_tokens, 1, 2);
        check_group(mixed, 64, n_tokens, 3, 8);
        check_group(mixed, 64, n_tokens, 7, 9);
    }
    // K-quants need 256 columns; Q6_K and Q4_K share the Q8_K activation conversion.
    check_group({GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q5_0}, 256, 4, 2, 3);
    check_group({GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q5_0}, 256, 1, 2, 4);
}

TEST(MatmulTeam, MoreWeightsThanOnePassHolds) {
    std::vector<GgmlType> many;
    for (int k = 0; k < 11; ++k) many.push_back(k % 2 ? GgmlType::Q8_0 : GgmlType::Q4_0);
    check_group(many, 96, 5, 2, 5);
    check_group(many, 96, 1, 1, 6);
}

TEST(MatmulTeam, ScratchCountsEachActivationTypeOnce) {
    std::mt19937 rng(7);
    auto a = random_weight(GgmlType::Q4_0, 64, 3, rng), b = random_weight(GgmlType::Q8_0, 64, 3, rng);
    auto c = random_weight(GgmlType::F32, 64, 3, rng), d = random_weight(GgmlType::F16, 64, 3, rng);
    const WeightView* same[] = {&a.view, &b.view};  // both Q8_0 activations
    const WeightView* f32[] = {&c.view};             // no conversion
    const WeightView* two[] = {&a.view, &d.view};    // Q8_0 + F16
    const uint64_t q8 = format_row_bytes(format_ops(GgmlType::Q8_0), 64);
    EXPECT_EQ(matmul_scratch_bytes(same, 10), q8 * 10);
    EXPECT_EQ(matmul_scratch_bytes(f32, 10), 0u);
    EXPECT_EQ(matmul_scratch_bytes(two, 10), (q8 + 64 * 2) * 10);
}

}  // namespace
}  // namespace qlm
