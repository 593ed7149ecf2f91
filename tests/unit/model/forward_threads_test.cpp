// The forward pass runs as one parallel region per chunk; its work split depends only on the
// shapes, so the logits must be bit-identical for any thread count: prompt (all logits), then
// decode steps, with the exact and the flash attention kernel, F32 and Q8_0 weights, and a model
// wide enough (n_embd 256) that decode steps run on the whole team too.
#include <gtest/gtest.h>
#include <omp.h>

#include <memory>
#include <vector>

#include "common/tiny_gguf.h"
#include "src/gguf/gguf_file.h"
#include "src/model/context.h"

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

TEST(ForwardThreads, LogitsIdenticalForOneAndTwoThreads) {
    for (GgmlType mt : {GgmlType::F32, GgmlType::Q8_0}) {
        test::TinyModel m;
        m.matrix_type = mt;
        m.n_embd = 256;
        m.n_ff = 512;
        m.n_head = 4;
        m.n_head_kv = 2;
        m.n_layer = 2;
        m.n_ctx = 64;
        const std::vector<uint8_t> bytes = m.writer().to_bytes();
        std::shared_ptr<const gguf::GgufFile> file = gguf::GgufFile::parse(bytes, "tiny.gguf");
        auto model = Model::load(file);
        for (bool flash : {false, true}) {
            const std::vector<float> one = run(*model, 1, flash), two = run(*model, 2, flash);
            ASSERT_EQ(one.size(), static_cast<size_t>((37 + 4) * model->hparams().n_vocab));
            EXPECT_EQ(one, two) << type_name(mt) << (flash ? " flash" : " exact");
        }
    }
}

}  // namespace
}  // namespace qlm

namespace qlm {
namespace {

// A context's thread count is its own: running one leaves OpenMP's process-wide default alone.
TEST(ForwardThreads, AContextDoesNotChangeTheProcessDefault) {
    test::TinyModel m;
    const std::vector<uint8_t> bytes = m.writer().to_bytes();
    std::shared_ptr<const gguf::GgufFile> file = gguf::GgufFile::parse(bytes, "tiny.gguf");
    auto model = Model::load(file);
    const int before = omp_get_max_threads();
    InferenceContext ctx(*model, {.n_ctx = 8, .n_threads = before + 2});
    EXPECT_EQ(ctx.layout().n_threads, before + 2);
    const std::vector<int32_t> prompt = {1, 2, 3};
    ctx.eval(prompt, false);
    EXPECT_EQ(omp_get_max_threads(), before);
}

}  // namespace
}  // namespace qlm
