// The forward pass's ops seam (layer_ops.h): a context hands the layers and the head a device
// names to that device's ops set, and the rest to the CPU's. A stand-in device with buffers,
// threads and a forward state of its own (the CPU's kernels behind it) must give logits and
// hidden states bit-identical to the CPU alone for every placement, which holds only when the
// rows cross to it and back at each change of set (and nowhere else) and each op reads what the
// one before it wrote.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/tiny_gguf.h"
#include "quant/thread_pool.h"
#include "src/gguf/gguf_file.h"
#include "src/model/context.h"
#include "src/model/cpu_ops.h"
#include "src/model/forward.h"
#include "src/model/layer_ops.h"
#include "src/util/error.h"

namespace qlm {
namespace {

struct Counts {
    int enter = 0, to_host = 0, output = 0;
    std::set<int64_t> layers;  // the layers whose ops ran here
};

// A device's ops set as the seam sees it: its own buffers and threads, so that nothing reaches
// it but through enter, and nothing leaves it but through to_host and output.
class MirrorOps final : public LayerOps {
public:
    MirrorOps(const Model& model, const ContextLayout& layout, KvCache& kv, Counts& counts)
        : buf_(layout), pool_(layout.n_threads), inner_(model, kv, buf_, pool_, nullptr), counts_(counts) {}

    std::string_view name() const override { return "mirror"; }
    void enter(const ChunkInput& chunk, ForwardBuffers& host) override {
        ++counts_.enter;
        // Whatever the last chunk left here must not matter: poison it first.
        std::fill(buf_.x.begin(), buf_.x.end(), 1e30f);
        std::copy(host.x.begin(), host.x.end(), buf_.x.begin());
        std::copy(host.rope_cs.begin(), host.rope_cs.end(), buf_.rope_cs.begin());
        inner_.enter(chunk, buf_);
    }
    void to_host(ForwardBuffers& host) override {
        ++counts_.to_host;
        std::copy(buf_.x.begin(), buf_.x.end(), host.x.begin());
    }
    void attention_norm(int64_t l) override { ran(l), inner_.attention_norm(l); }
    void matmul(int64_t l, LayerMatmul m) override { ran(l), inner_.matmul(l, m); }
    void prepare_qkv(int64_t l) override { ran(l), inner_.prepare_qkv(l); }
    void store_kv(int64_t l) override { ran(l), inner_.store_kv(l); }
    void attention(int64_t l) override { ran(l), inner_.attention(l); }
    void attention_residual(int64_t l) override { ran(l), inner_.attention_residual(l); }
    void ffn_activation(int64_t l) override { ran(l), inner_.ffn_activation(l); }
    void ffn_residual(int64_t l) override { ran(l), inner_.ffn_residual(l); }
    void moe_ffn(int64_t l) override { ran(l), inner_.moe_ffn(l); }
    void output(float* logits) override {
        ++counts_.output;
        inner_.output(logits);
    }

private:
    void ran(int64_t l) { counts_.layers.insert(l); }
    ForwardBuffers buf_;
    ThreadPool pool_;
    CpuOps inner_;
    Counts& counts_;
};

class MirrorOffload final : public DeviceOffload {
public:
    MirrorOffload(const Model& model, int64_t first_layer, bool head) : model_(model), first_(first_layer), head_(head) {}
    std::string_view name() const override { return "mirror"; }
    bool runs_layer(int64_t l) const override { return l >= first_; }
    bool runs_head() const override { return head_; }
    std::unique_ptr<LayerOps> make_ops(const ContextLayout& layout, KvCache& kv) const override {
        return std::make_unique<MirrorOps>(model_, layout, kv, counts);
    }
    mutable Counts counts;

private:
    const Model& model_;
    int64_t first_;
    bool head_;
};

struct TinyLoaded {
    std::vector<uint8_t> bytes;
    std::unique_ptr<Model> model;
};

TinyLoaded tiny_model(int64_t n_expert) {
    test::TinyModel m;
    m.n_embd = 64;
    m.n_ff = 96;
    m.n_head = 4;
    m.n_head_kv = 2;
    m.n_layer = 3;
    m.n_ctx = 64;
    m.n_expert = n_expert;
    TinyLoaded t;
    t.bytes = m.writer().to_bytes();
    t.model = Model::load(gguf::GgufFile::parse(t.bytes, "tiny.gguf"));
    return t;
}

// Sequence 0's prompt of 37 tokens (three chunks of 16, every logit), sequence 1 forked from
// its first 20 positions, then decode steps of both in one batch.
std::vector<float> run(const Model& model, const DeviceOffload* device) {
    InferenceContext ctx(model, {.n_ctx = 64, .n_batch = 16, .n_outputs = 37, .n_threads = 2, .n_seq_max = 2,
                                 .device = device});
    std::vector<int32_t> prompt;
    for (int i = 0; i < 37; ++i) prompt.push_back(3 + (i * 37) % 250);
    ctx.eval(prompt, true);
    std::vector<float> out;
    const auto keep = [&] {
        for (int64_t i = 0; i < ctx.n_outputs(); ++i) out.insert(out.end(), ctx.logits(i).begin(), ctx.logits(i).end());
    };
    keep();
    ctx.seq_cp(0, 1, 20);
    for (int32_t t : {5, 77, 260}) {
        Batch b;
        b.add(t, ctx.n_pos(0), 0, true);
        b.add(t + 1, ctx.n_pos(1), 1, true);
        ctx.decode(b);
        keep();
    }
    return out;
}

TEST(LayerOps, EveryPlacementGivesTheCpuLogitsBitForBit) {
    for (int64_t n_expert : {0, 4}) {
        const TinyLoaded t = tiny_model(n_expert);
        const Model& model = *t.model;
        const std::vector<float> cpu = run(model, nullptr);
        ASSERT_EQ(cpu.size(), static_cast<size_t>((37 + 3 * 2) * model.hparams().n_vocab));
        for (int64_t first : {0, 1, 2, 3})
            for (bool head : {false, true}) {
                SCOPED_TRACE(::testing::Message() << "experts " << n_expert << ", device from layer " << first
                                                  << (head ? " with the head" : ""));
                const MirrorOffload device(model, first, head);
                EXPECT_EQ(run(model, &device), cpu);
                const Counts& c = device.counts;
                std::set<int64_t> placed;
                for (int64_t l = first; l < 3; ++l) placed.insert(l);
                EXPECT_EQ(c.layers, placed);
                // 3 prompt chunks and 3 decode batches: each enters the device once where it runs
                // anything, and leaves it once where the head is the CPU's.
                const bool used = first < 3 || head;
                EXPECT_EQ(c.enter, used ? 6 : 0);
                EXPECT_EQ(c.output, head ? 6 : 0);
                EXPECT_EQ(c.to_host, first < 3 && !head ? 6 : 0);
            }
    }
}

TEST(LayerOps, TheContextNamesEachLayersOpsSet) {
    const TinyLoaded t = tiny_model(0);
    const MirrorOffload device(*t.model, 2, false);
    InferenceContext ctx(*t.model, {.n_ctx = 32, .n_threads = 1, .device = &device});
    EXPECT_EQ(ctx.layer_ops_name(0), "cpu");
    EXPECT_EQ(ctx.layer_ops_name(1), "cpu");
    EXPECT_EQ(ctx.layer_ops_name(2), "mirror");
    EXPECT_EQ(ctx.head_ops_name(), "cpu");
    EXPECT_THROW((void)ctx.layer_ops_name(3), Error);
    InferenceContext plain(*t.model, {.n_ctx = 32, .n_threads = 1});
    for (int64_t l = 0; l < 3; ++l) EXPECT_EQ(plain.layer_ops_name(l), "cpu");
    EXPECT_EQ(plain.head_ops_name(), "cpu");
}

// A range of layers that ends on the device hands its hidden state back through to_host.
TEST(LayerOps, ALayerRangeEndingOnTheDeviceReturnsItsHiddenState) {
    const TinyLoaded t = tiny_model(0);
    const Model& model = *t.model;
    const int64_t E = model.hparams().n_embd;
    const auto hidden_after_two = [&](const DeviceOffload* device) {
        InferenceContext ctx(model, {.n_ctx = 32, .n_batch = 8, .n_threads = 2, .device = device});
        Batch b;
        for (int i = 0; i < 11; ++i) b.add(3 + i * 7, i, 0, i == 10);
        std::vector<float> hidden(static_cast<size_t>(11 * E));
        ctx.decode(b, {.begin = 0, .end = 2, .hidden_out = hidden.data()});
        return hidden;
    };
    const MirrorOffload device(model, 1, false);
    EXPECT_EQ(hidden_after_two(&device), hidden_after_two(nullptr));
    EXPECT_EQ(device.counts.enter, 2);  // two chunks of up to 8 rows
    EXPECT_EQ(device.counts.to_host, 2);  // the hidden state, which the CPU's head then reads
}

TEST(LayerOps, AnObserverAndADeviceDoNotGoTogether) {
    struct Seen : MatmulObserver {
        void on_matmul(const WeightView&, const float*, int64_t) override {}
    } seen;
    const TinyLoaded t = tiny_model(0);
    const MirrorOffload device(*t.model, 0, true);
    try {
        InferenceContext ctx(*t.model, {.n_ctx = 32, .n_threads = 1, .matmul_observer = &seen, .device = &device});
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("a matmul observer sees the CPU's layers only"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace qlm
