// Comparison of our logits with llama.cpp's golden JSON files (../shared/golden/README.md):
//   F32 weights: max|ours - ref| <= 1e-3 R per position;  F16 weights: rms(ours - ref) <= 1e-2 R;
//   same argmax where the reference's top two differ by more than 1e-2 R;
//   quantized: rms(ours - ref_f32) <= 1.05 rms(ref_q - ref_f32) and rms(ours - ref_q) <= rms(ref_q - ref_f32);
//   greedy: feed the reference's continuation one token at a time and compare the argmax ids.
// R is the rms of the reference logits at that position. For "top" files (vocab > 600, only the
// 20 largest reference logits are stored) differences are taken at those ids, and R is the rms of
// our full logit vector (the reference's full vector is not stored; ours approximates it).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <span>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "src/gguf/gguf_file.h"
#include "src/model/context.h"
#include "src/model/layer_ops.h"

namespace qlm::test {

// A reference position: (id, logit) pairs (all ids for "full").
struct RefLogits {
    std::vector<int32_t> ids;
    std::vector<float> values;
    bool full = false;
};

struct Golden {
    std::vector<int32_t> prompt;
    std::vector<RefLogits> positions;
    std::vector<int32_t> greedy;
};

inline Golden load_golden(const std::string& name) {
    const nlohmann::json j = read_json(shared_file("golden/" + name));
    Golden g;
    for (const auto& id : j.at("prompt_ids")) g.prompt.push_back(id.get<int32_t>());
    for (const auto& id : j.at("greedy")) g.greedy.push_back(id.get<int32_t>());
    for (const auto& p : j.at("prompt_logits")) {
        RefLogits r;
        if (p.contains("full")) {
            r.full = true;
            int32_t i = 0;
            for (const auto& v : p.at("full")) {
                r.ids.push_back(i++);
                r.values.push_back(v.get<float>());
            }
        } else {
            for (const auto& e : p.at("top")) {
                r.ids.push_back(e.at(0).get<int32_t>());
                r.values.push_back(e.at(1).get<float>());
            }
        }
        g.positions.push_back(std::move(r));
    }
    return g;
}

inline double rms(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x * x;
    return v.empty() ? 0.0 : std::sqrt(s / static_cast<double>(v.size()));
}

inline int32_t argmax(std::span<const float> v) {
    return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

struct ModelRun {
    std::vector<std::vector<float>> prompt_logits;  // per prompt position, n_vocab each
    std::vector<int32_t> greedy;                    // our argmax at each greedy step
    std::vector<double> greedy_gap;                 // our top-two logit gap / rms of the logits, per step
};

// (top1 - top2) / rms of a logits row: below 1e-2 the row is a near-tie for the argmax rule.
inline double top2_gap_over_rms(std::span<const float> l) {
    std::vector<double> v(l.begin(), l.end());
    std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<double>());
    std::vector<double> all(l.begin(), l.end());
    return (v[0] - v[1]) / rms(all);
}

// The device a run hands some layers to (layer_ops.h), made for the loaded model and the
// context's options; empty: every layer on the CPU.
using DeviceFactory = std::function<std::unique_ptr<DeviceOffload>(const Model&, const ContextOptions&)>;

// Runs the prompt as one batch, then the reference's greedy continuation one token at a time.
inline ModelRun run_model(const std::string& model_path, const Golden& g, KvType kv = KvType::F16,
                          int64_t n_batch = 512, bool flash_attn = false, const DeviceFactory& make_device = {}) {
    // QLM_GOLDEN_KV=f32 runs the comparisons with an F32 KV cache (for measuring; F16 is llama.cpp's default).
    if (const char* e = std::getenv("QLM_GOLDEN_KV"); e && std::string(e) == "f32") kv = KvType::F32;
    // QLM_GOLDEN_THREADS=N runs them on N threads (default 0: one per physical core).
    int n_threads = 0;
    if (const char* e = std::getenv("QLM_GOLDEN_THREADS")) n_threads = std::atoi(e);
    auto file = std::shared_ptr<gguf::GgufFile>(gguf::GgufFile::open(model_path));
    auto model = Model::load(file);
    const int64_t n_ctx = std::min<int64_t>(model->hparams().n_ctx_train,
                                            static_cast<int64_t>(g.prompt.size() + g.greedy.size() + 8));
    ContextOptions opts{.n_ctx = n_ctx,
                        .n_batch = n_batch,
                        .n_outputs = static_cast<int64_t>(g.prompt.size()),
                        .n_threads = n_threads,
                        .kv_type = kv,
                        .flash_attn = flash_attn};
    const std::unique_ptr<DeviceOffload> device = make_device ? make_device(*model, opts) : nullptr;
    opts.device = device.get();
    InferenceContext ctx(*model, opts);
    ModelRun r;
    ctx.eval(g.prompt, true);
    for (int64_t i = 0; i < ctx.n_outputs(); ++i) {
        auto l = ctx.logits(i);
        r.prompt_logits.emplace_back(l.begin(), l.end());
    }
    r.greedy.push_back(argmax(ctx.logits(ctx.n_outputs() - 1)));
    r.greedy_gap.push_back(top2_gap_over_rms(ctx.logits(ctx.n_outputs() - 1)));
    for (size_t s = 0; s + 1 < g.greedy.size(); ++s) {
        const int32_t tok = g.greedy[s];
        ctx.eval(std::span<const int32_t>(&tok, 1), false);
        r.greedy.push_back(argmax(ctx.logits(0)));
        r.greedy_gap.push_back(top2_gap_over_rms(ctx.logits(0)));
    }
    return r;
}

enum class Tolerance { MaxAbs1e3, Rms1e2 };

// Returns the worst per-position error relative to its tolerance (<= 1 passes) and records
// failures (worst position and token) with gtest.
inline double compare_prompt(const std::string& label, const Golden& g, const ModelRun& r, Tolerance tol) {
    EXPECT_EQ(r.prompt_logits.size(), g.positions.size()) << label;
    double worst = 0;
    size_t worst_pos = 0;
    int32_t worst_tok = -1;
    for (size_t p = 0; p < std::min(r.prompt_logits.size(), g.positions.size()); ++p) {
        const RefLogits& ref = g.positions[p];
        const std::vector<float>& ours = r.prompt_logits[p];
        std::vector<double> refv(ref.values.begin(), ref.values.end());
        std::vector<double> oursall(ours.begin(), ours.end());
        const double R = ref.full ? rms(refv) : rms(oursall);
        std::vector<double> diff;
        double maxabs = 0;
        int32_t maxtok = -1;
        for (size_t i = 0; i < ref.ids.size(); ++i) {
            const double d = static_cast<double>(ours.at(static_cast<size_t>(ref.ids[i]))) - ref.values[i];
            diff.push_back(d);
            if (std::fabs(d) > maxabs) {
                maxabs = std::fabs(d);
                maxtok = ref.ids[i];
            }
        }
        const double ratio = tol == Tolerance::MaxAbs1e3 ? maxabs / (1e-3 * R) : rms(diff) / (1e-2 * R);
        if (std::getenv("QLM_GOLDEN_VERBOSE"))
            std::cout << label << " position " << p << ": " << ratio << " x tolerance (R = " << R << ")\n";
        if (ratio > worst) {
            worst = ratio;
            worst_pos = p;
            worst_tok = maxtok;
        }
        // Same argmax wherever the reference's top two are clearly apart.
        std::vector<size_t> order(ref.values.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::partial_sort(order.begin(), order.begin() + 2, order.end(),
                          [&](size_t a, size_t b) { return ref.values[a] > ref.values[b]; });
        if (ref.values[order[0]] - ref.values[order[1]] > 1e-2 * R) {
            EXPECT_EQ(argmax(ours), ref.ids[order[0]]) << label << ": argmax differs at prompt position " << p;
        }
    }
    EXPECT_LE(worst, 1.0) << label << ": worst position " << worst_pos << " (largest difference at token "
                          << worst_tok << ") is " << worst << " x the tolerance";
    return worst;
}

inline void compare_greedy(const std::string& label, const Golden& g, const ModelRun& r) {
    EXPECT_EQ(r.greedy.size(), g.greedy.size());
    if (r.greedy.size() != g.greedy.size()) return;
    for (size_t i = 0; i < g.greedy.size(); ++i)
        EXPECT_EQ(r.greedy[i], g.greedy[i]) << label << ": greedy step " << i << " differs";
}

// Greedy ids equal the reference's at every step except near-ties, where our own top two logits
// are within 1e-2·R (the argmax rule of compare_prompt; the reference's tokens are fed back, so
// one flipped tie does not shift the later steps).
inline void compare_greedy_except_ties(const std::string& label, const Golden& g, const ModelRun& r) {
    ASSERT_EQ(r.greedy.size(), g.greedy.size());
    for (size_t i = 0; i < g.greedy.size(); ++i) {
        if (r.greedy[i] != g.greedy[i]) {
            EXPECT_LT(r.greedy_gap[i], 1e-2) << label << ": greedy step " << i << " differs and is not a near-tie";
        }
    }
}

// rms over all prompt positions and reference ids of (a - b) where a is ours or a reference.
inline double rms_vs(const Golden& ref, const std::function<float(size_t pos, size_t k)>& value) {
    std::vector<double> d;
    for (size_t p = 0; p < ref.positions.size(); ++p)
        for (size_t k = 0; k < ref.positions[p].ids.size(); ++k)
            d.push_back(static_cast<double>(value(p, k)) - ref.positions[p].values[k]);
    return rms(d);
}

inline void report(const std::string& label, const std::string& what, double value) {
    std::cout << "[golden] " << label << ": " << what << " = " << value << std::endl;
    ::testing::Test::RecordProperty(what, std::to_string(value));
}

}  // namespace qlm::test
