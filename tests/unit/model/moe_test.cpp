// Mixture-of-experts layers: the routing (softmax, top-k, normalised weights), the experts'
// products against a direct computation in double for one token and for a chunk grouped by
// expert, only the chosen experts read, and the expert hyperparameters with their errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/tiny_gguf.h"
#include "src/gguf/gguf_file.h"
#include "src/gguf/gguf_writer.h"
#include "src/model/hparams.h"
#include "src/model/context.h"
#include "src/model/matmul_observer.h"
#include "src/model/moe_ffn.h"
#include "src/util/error.h"

namespace qlm {
namespace {

Hparams moe_hparams(int64_t n_embd, int64_t n_ff_exp, int64_t n_expert, int64_t n_used) {
    Hparams hp;
    hp.arch = "qwen3moe";
    hp.n_embd = n_embd;
    hp.n_expert = n_expert;
    hp.n_expert_used = n_used;
    hp.n_ff_exp = n_ff_exp;
    return hp;
}

TEST(MoeRoute, PicksTheLargestBestFirstAndNormalises) {
    const Hparams hp = moe_hparams(4, 4, 5, 2);
    float logits[5] = {0.5f, 2.0f, -1.0f, 1.5f, 0.25f};
    const std::vector<double> l(logits, logits + 5);
    int32_t chosen[2];
    float weights[2];
    moe_route(hp, logits, chosen, weights);
    EXPECT_EQ(chosen[0], 1);
    EXPECT_EQ(chosen[1], 3);
    // softmax then renormalising the chosen two = a softmax over their logits alone.
    const double w1 = 1.0 / (1.0 + std::exp(l[3] - l[1]));
    EXPECT_NEAR(weights[0], w1, 1e-6);
    EXPECT_NEAR(weights[1], 1.0 - w1, 1e-6);
    double z = 0;
    for (double v : l) z += std::exp(v);
    EXPECT_NEAR(logits[4], std::exp(l[4]) / z, 1e-7);  // the logits become the probabilities
}

TEST(MoeRoute, ScalesTheWeightsWhenTheFileGivesAScale) {
    Hparams hp = moe_hparams(4, 4, 4, 3);
    hp.expert_weights_scale = 2.5f;
    float logits[4] = {1.f, 1.f, 3.f, 0.f};
    int32_t chosen[3];
    float weights[3];
    moe_route(hp, logits, chosen, weights);
    EXPECT_EQ(chosen[0], 2);
    EXPECT_NEAR(weights[0] + weights[1] + weights[2], 2.5, 1e-5);
    EXPECT_NE(chosen[1], chosen[2]);
    EXPECT_NE(std::min(chosen[1], chosen[2]), 3);  // expert 3 has the smallest logit
}

// Random F32 weights for a MoE layer, owned here.
struct Layer {
    Hparams hp;
    std::vector<float> router, gate, up, down;
    MoeWeights w;

    Layer(int64_t E, int64_t F, int64_t n_expert, int64_t k) : hp(moe_hparams(E, F, n_expert, k)) {
        std::mt19937 rng(7);
        std::normal_distribution<float> d(0.f, 0.5f);
        auto fill = [&](std::vector<float>& v, int64_t n) {
            v.resize(static_cast<size_t>(n));
            for (float& x : v) x = d(rng);
        };
        fill(router, E * n_expert);
        fill(gate, E * F * n_expert);
        fill(up, E * F * n_expert);
        fill(down, F * E * n_expert);
        w.router = view(router, E, n_expert);
        w.gate = experts(gate, E, F, n_expert);
        w.up = experts(up, E, F, n_expert);
        w.down = experts(down, F, E, n_expert);
    }
    static WeightView view(const std::vector<float>& v, int64_t cols, int64_t rows) {
        return WeightView{.type = GgmlType::F32, .data = v.data(), .cols = cols, .rows = rows,
                          .row_stride = static_cast<uint64_t>(cols) * sizeof(float)};
    }
    static ExpertMatrix experts(const std::vector<float>& v, int64_t cols, int64_t rows, int64_t n) {
        return ExpertMatrix{.first = view(v, cols, rows),
                            .expert_stride = static_cast<uint64_t>(cols * rows) * sizeof(float),
                            .n_expert = n};
    }

    // x + ffn(xn) for one token, in double, straight from the definition.
    std::vector<double> reference(const float* xn, const float* x) const {
        const int64_t E = hp.n_embd, F = hp.n_ff_exp, ne = hp.n_expert, k = hp.n_expert_used;
        std::vector<double> logit(static_cast<size_t>(ne));
        for (int64_t e = 0; e < ne; ++e)
            for (int64_t i = 0; i < E; ++i) logit[e] += static_cast<double>(router[e * E + i]) * xn[i];
        std::vector<int64_t> idx(static_cast<size_t>(ne));
        for (int64_t e = 0; e < ne; ++e) idx[e] = e;
        std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) { return logit[a] > logit[b]; });
        double z = 0;
        for (int64_t s = 0; s < k; ++s) z += std::exp(logit[idx[s]] - logit[idx[0]]);
        std::vector<double> out(x, x + E);
        for (int64_t s = 0; s < k; ++s) {
            const int64_t e = idx[s];
            const double wt = std::exp(logit[e] - logit[idx[0]]) / z;
            std::vector<double> h(static_cast<size_t>(F));
            for (int64_t f = 0; f < F; ++f) {
                double g = 0, u = 0;
                for (int64_t i = 0; i < E; ++i) {
                    g += static_cast<double>(gate[(e * F + f) * E + i]) * xn[i];
                    u += static_cast<double>(up[(e * F + f) * E + i]) * xn[i];
                }
                h[f] = g / (1.0 + std::exp(-g)) * u;
            }
            for (int64_t o = 0; o < E; ++o) {
                double y = 0;
                for (int64_t f = 0; f < F; ++f) y += static_cast<double>(down[(e * E + o) * F + f]) * h[f];
                out[o] += wt * y;
            }
        }
        return out;
    }
};

// The expert matrices a forward step multiplied (by their data pointers), and the rows read.
struct Recorder : MatmulObserver {
    std::set<const void*> seen;
    uint64_t bytes = 0;
    void on_matmul(const WeightView& w, const float*, int64_t) override {
        seen.insert(w.data);
        bytes += w.row_stride * static_cast<uint64_t>(w.rows);
    }
};

// Runs moe_ffn_team on n random tokens (on a pool of 2 threads) and checks every output against the
// reference.
void check_layer(const Layer& L, int64_t n, Recorder* rec = nullptr) {
    const Hparams& hp = L.hp;
    const int64_t E = hp.n_embd, F = hp.n_ff_exp;
    std::mt19937 rng(11 + static_cast<unsigned>(n));
    std::normal_distribution<float> d(0.f, 1.f);
    std::vector<float> xn(static_cast<size_t>(n * E)), x(static_cast<size_t>(n * E));
    for (float& v : xn) v = d(rng);
    for (float& v : x) v = d(rng);
    const std::vector<float> x0 = x;
    const MoeLayout layout = moe_layout(hp, std::max<int64_t>(n, 1));
    MoeBuffers buf(layout);
    const int64_t rows = moe_ffn_rows(hp, n);
    std::vector<float> gate(static_cast<size_t>(rows * F)), up(gate.size()), tmp(static_cast<size_t>(n * E));
    std::vector<uint8_t> act(1 << 16);
    ThreadPool pool(2);
    moe_ffn_team(pool, hp, L.w, n, {xn.data(), x.data(), gate.data(), up.data(), tmp.data(), act.data(), active_isa(), rec}, buf);
    for (int64_t t = 0; t < n; ++t) {
        const std::vector<double> ref = L.reference(xn.data() + t * E, x0.data() + t * E);
        for (int64_t i = 0; i < E; ++i)
            ASSERT_NEAR(x[t * E + i], ref[i], 1e-4 * (1 + std::fabs(ref[i]))) << "token " << t << " element " << i;
    }
}

TEST(MoeFfn, OneTokenMatchesTheDirectComputation) { check_layer(Layer(32, 24, 6, 2), 1); }
TEST(MoeFfn, AChunkGroupedByExpertMatchesTheDirectComputation) { check_layer(Layer(32, 24, 6, 2), 9); }
// More experts per token than one decode pass shares (8) and more than the chunk's tokens.
TEST(MoeFfn, ManyExpertsPerToken) {
    check_layer(Layer(32, 16, 12, 10), 1);
    check_layer(Layer(32, 16, 12, 10), 3);
}

// A decode step multiplies the router and the chosen experts only: k of each expert tensor.
TEST(MoeFfn, ReadsOnlyTheChosenExperts) {
    const Layer L(32, 24, 8, 2);
    Recorder rec;
    check_layer(L, 1, &rec);
    const uint64_t expert = L.w.gate.expert_bytes();
    EXPECT_EQ(rec.bytes, 32u * 8 * 4 + 2 * 3 * expert);  // the router and two experts' three matrices
    std::set<int64_t> experts;
    for (const void* p : rec.seen)
        if (p != L.w.router.data)
            for (const ExpertMatrix* m : {&L.w.gate, &L.w.up, &L.w.down})
                for (int64_t e = 0; e < 8; ++e)
                    if (m->expert(e).data == p) experts.insert(e);
    EXPECT_EQ(experts.size(), 2u);
}

// Expert hyperparameters from metadata (a file of metadata only; the parsed file refers to `bytes`).
struct MetaFile {
    std::vector<uint8_t> bytes;
    std::unique_ptr<gguf::GgufFile> file;
    const gguf::GgufFile& operator*() const { return *file; }
};
MetaFile metadata(const std::string& arch, int64_t n_expert, int64_t n_used,
                                         int64_t n_ff_exp = 0) {
    gguf::GgufWriter w;
    w.set_string("general.architecture", arch);
    auto key = [&](const char* s) { return arch + "." + s; };
    w.set_u32(key("embedding_length"), 16);
    w.set_u32(key("block_count"), 1);
    w.set_u32(key("feed_forward_length"), 48);
    w.set_u32(key("attention.head_count"), 2);
    w.set_u32(key("context_length"), 64);
    w.set_f32(key("attention.layer_norm_rms_epsilon"), 1e-6f);
    if (n_expert >= 0) w.set_u32(key("expert_count"), static_cast<uint32_t>(n_expert));
    if (n_used >= 0) w.set_u32(key("expert_used_count"), static_cast<uint32_t>(n_used));
    if (n_ff_exp > 0) w.set_u32(key("expert_feed_forward_length"), static_cast<uint32_t>(n_ff_exp));
    w.set_string_array("tokenizer.ggml.tokens", {"a", "b", "c"});
    MetaFile m{w.to_bytes(), nullptr};
    m.file = gguf::GgufFile::parse(m.bytes, "moe.gguf");
    return m;
}

std::string hparams_error(const gguf::GgufFile& f) {
    try {
        read_hparams(f);
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

TEST(MoeHparams, Qwen3MoeExpertsAndQkNorm) {
    const Hparams hp = read_hparams(*metadata("qwen3moe", 8, 2, 24));
    EXPECT_TRUE(hp.is_moe());
    EXPECT_EQ(hp.n_expert, 8);
    EXPECT_EQ(hp.n_expert_used, 2);
    EXPECT_EQ(hp.n_ff_exp, 24);
    EXPECT_EQ(hp.ffn_width(), 24);
    EXPECT_TRUE(hp.qk_norm);
    EXPECT_EQ(hp.rope_style, RopeStyle::Neox);
    // Without expert_feed_forward_length: n_ff / expert_used_count, as llama.cpp.
    EXPECT_EQ(read_hparams(*metadata("qwen3moe", 8, 2)).n_ff_exp, 24);
}

TEST(MoeHparams, MixtralIsLlamaWithExpertsOfTheFeedForwardWidth) {
    const Hparams hp = read_hparams(*metadata("llama", 4, 2, 999));
    EXPECT_EQ(hp.n_expert, 4);
    EXPECT_EQ(hp.n_ff_exp, 48);
    EXPECT_FALSE(hp.qk_norm);
    EXPECT_FALSE(read_hparams(*metadata("llama", 0, -1)).is_moe());
    EXPECT_FALSE(read_hparams(*metadata("llama", -1, -1)).is_moe());
}

TEST(MoeHparams, ErrorsNameTheKey) {
    EXPECT_NE(hparams_error(*metadata("qwen3moe", 8, -1)).find("qwen3moe.expert_used_count"), std::string::npos);
    EXPECT_NE(hparams_error(*metadata("qwen3moe", -1, 2)).find("qwen3moe.expert_count"), std::string::npos);
    EXPECT_NE(hparams_error(*metadata("llama", 4, 5)).find("llama.expert_used_count = 5"), std::string::npos);
    EXPECT_NE(hparams_error(*metadata("llama", 4, 0)).find("llama.expert_used_count = 0"), std::string::npos);
    EXPECT_NE(hparams_error(*metadata("llama", 100000, 2)).find("llama.expert_count"), std::string::npos);
}

// A tiny Mixtral-style file whose metadata and tensors disagree: one line naming the tensor.
std::string load_error(const test::TinyModel& m, const std::function<void(gguf::GgufWriter&)>& edit) {
    gguf::GgufWriter w = m.writer();
    edit(w);
    const std::vector<uint8_t> bytes = w.to_bytes();
    try {
        Model::load(gguf::GgufFile::parse(bytes, "tiny-moe.gguf"));
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

TEST(MoeWeights, ShapeErrorsNameTheTensor) {
    test::TinyModel m;
    m.n_expert = 4;
    EXPECT_EQ(load_error(m, [](gguf::GgufWriter&) {}), "");
    // Five experts promised, four stored: the router is checked first.
    const std::string e = load_error(m, [](gguf::GgufWriter& w) { w.set_u32("llama.expert_count", 5); });
    EXPECT_NE(e.find("blk.0.ffn_gate_inp.weight' has shape [8, 4], expected [8, 5]"), std::string::npos) << e;
    // A feed-forward width the experts do not have.
    const std::string f = load_error(m, [](gguf::GgufWriter& w) { w.set_u32("llama.feed_forward_length", 12); });
    EXPECT_NE(f.find("blk.0.ffn_gate_exps.weight' has shape [8, 16, 4], expected [8, 12, 4] (4 experts)"),
              std::string::npos)
        << f;
}

// The tiny model runs its experts in every batch size alike: a prompt in one chunk, in chunks of
// one token (each a decode-style step) and of three give the same logits.
TEST(MoeWeights, ChunkSizesGiveTheSameLogits) {
    test::TinyModel m;
    m.n_expert = 4;
    m.n_layer = 2;
    const std::vector<uint8_t> bytes = m.writer().to_bytes();
    auto model = Model::load(gguf::GgufFile::parse(bytes, "tiny-moe.gguf"));
    const std::vector<int32_t> prompt = {1, 260, 263, 40, 7, 99, 12};
    std::vector<std::vector<float>> runs;
    for (int64_t nb : {7, 1, 3}) {
        InferenceContext ctx(*model, {.n_ctx = 16, .n_batch = nb, .n_outputs = 7, .n_threads = 2});
        ctx.eval(prompt, true);
        runs.emplace_back();
        for (int64_t i = 0; i < 7; ++i) runs.back().insert(runs.back().end(), ctx.logits(i).begin(), ctx.logits(i).end());
    }
    for (size_t r = 1; r < runs.size(); ++r)
        for (size_t i = 0; i < runs[0].size(); ++i) ASSERT_NEAR(runs[r][i], runs[0][i], 1e-4f) << "run " << r << " at " << i;
}

}  // namespace
}  // namespace qlm
