// The forward pass runs as one run of the context's thread pool per chunk; its work split depends
// only on the shapes, so the logits must be bit-identical for any thread count (1, 2, 3 and 7:
// more threads than this machine may have cores, and counts that split the work unevenly):
// prompt (all logits), then decode steps, with the exact and the flash attention kernel, F32 and
// Q8_0 weights, and a model wide enough (n_embd 256) that decode steps run on the whole team too.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/tiny_gguf.h"
#include "src/gguf/gguf_file.h"
#include "src/model/context.h"
#include "src/util/cpu_info.h"
#include "src/util/error.h"

namespace qlm {
namespace {

std::vector<float> run(const Model& model, int threads, bool flash) {
    InferenceContext ctx(model, {.n_ctx = 64, .n_batch = 16, .n_outputs = 37, .n_threads = threads, .flash_attn = flash});
    std::vector<int32_t> prompt;
    for (int i = 0; i < 37; ++i) prompt.push_back(3 + (i * 37) % 250);  // 37 tokens: 3 chunks of n_batch 16
    ctx.eval(prompt, true);
    std::vector<float> out;
    for (int64_t i = 0; i < ctx.n_outputs(); ++i) out.insert(out.end(), ctx.logits(i).begin(), ctx.logits(i).end());
    for (int32_t t : {5, 77, 260, 9}) {
        ctx.eval(std::span<const int32_t>(&t, 1), false);
        out.insert(out.end(), ctx.logits(0).begin(), ctx.logits(0).end());
    }
    return out;
}

// The model reads its weights from `bytes` (a parsed file does not copy them).
struct TinyLoaded {
    std::vector<uint8_t> bytes;
    std::unique_ptr<Model> model;
};

TinyLoaded tiny_model(GgmlType mt) {
    test::TinyModel m;
    m.matrix_type = mt;
    m.n_embd = 256;
    m.n_ff = 512;
    m.n_head = 4;
    m.n_head_kv = 2;
    m.n_layer = 2;
    m.n_ctx = 64;
    TinyLoaded t;
    t.bytes = m.writer().to_bytes();
    std::shared_ptr<const gguf::GgufFile> file = gguf::GgufFile::parse(t.bytes, "tiny.gguf");
    t.model = Model::load(file);
    return t;
}

TEST(ForwardThreads, LogitsIdenticalForAnyThreadCount) {
    for (GgmlType mt : {GgmlType::F32, GgmlType::Q8_0}) {
        const TinyLoaded t = tiny_model(mt);
        const auto& model = t.model;
        for (bool flash : {false, true}) {
            const std::vector<float> one = run(*model, 1, flash);
            ASSERT_EQ(one.size(), static_cast<size_t>((37 + 4) * model->hparams().n_vocab));
            for (int threads : {2, 3, 7})
                EXPECT_EQ(one, run(*model, threads, flash))
                    << type_name(mt) << (flash ? " flash" : " exact") << ", threads " << threads;
        }
    }
}

// Up to 4x the logical cores is accepted (threads then take turns on the cores); more is refused
// with a qlm::Error naming the limit, before any thread starts.
TEST(ForwardThreads, ThreadCountIsBounded) {
    const TinyLoaded t = tiny_model(GgmlType::F32);
    const auto& model = t.model;
    EXPECT_EQ(run(*model, max_threads(), false), run(*model, 1, false));
    for (int bad : {max_threads() + 1, 100000}) {
        try {
            InferenceContext ctx(*model, {.n_ctx = 64, .n_threads = bad});
            ADD_FAILURE() << bad << " threads accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("use at most " + std::to_string(max_threads())), std::string::npos)
                << e.what();
        }
    }
    EXPECT_THROW(InferenceContext(*model, {.n_ctx = 64, .n_threads = -1}), Error);
}

}  // namespace
}  // namespace qlm
