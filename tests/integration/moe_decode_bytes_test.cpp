// A MoE decode step reads the router and the experts the router picks, not every expert: the
// matrices multiplied during one step of moe-mini (8 experts, 2 used) and mixtral-mini (4, 2)
// add up to qlm bench's bytes-per-token figure, and their expert part is used/total of the
// expert tensors' bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "src/bench/model_bench.h"
#include "src/model/context.h"
#include "src/model/matmul_observer.h"
#include "src/model/model_loader.h"
#include "src/model/weights.h"

namespace qlm::test {
namespace {

struct ByteCounter : MatmulObserver {
    const ModelWeights* w = nullptr;
    uint64_t all = 0, experts = 0;
    void on_matmul(const WeightView& v, const float*, int64_t) override {
        const uint64_t b = v.row_stride * static_cast<uint64_t>(v.rows);
        all += b;
        for (const LayerWeights& L : w->layers)
            for (const ExpertMatrix* m : {&L.moe.gate, &L.moe.up, &L.moe.down}) {
                const auto* p = static_cast<const uint8_t*>(v.data);
                const auto* base = static_cast<const uint8_t*>(m->first.data);
                if (p >= base && p < base + m->expert_stride * static_cast<uint64_t>(m->n_expert)) experts += b;
            }
    }
};

void check_decode_bytes(const std::string& model_file) {
    const LoadedModel m = load_model(synth_model(model_file).string(), {.tokenizer = TokenizerNeed::None});
    const Hparams& hp = m.model->hparams();
    const ModelWeights& w = m.model->weights();
    ASSERT_TRUE(hp.is_moe());
    ByteCounter counter;
    counter.w = &w;
    InferenceContext ctx(*m.model, {.n_ctx = 64, .n_threads = 2, .matmul_observer = &counter});
    const std::vector<int32_t> prompt = {1, 45, 300, 12, 7};
    ctx.eval(prompt, false);
    uint64_t expert_tensor_bytes = 0;
    for (const LayerWeights& L : w.layers)
        for (const ExpertMatrix* em : {&L.moe.gate, &L.moe.up, &L.moe.down})
            expert_tensor_bytes += em->expert_bytes() * static_cast<uint64_t>(em->n_expert);
    for (int32_t tok : {3, 99, 250}) {
        counter.all = counter.experts = 0;
        ctx.eval(std::vector<int32_t>{tok}, false);
        EXPECT_EQ(counter.all, bench::weight_bytes_per_token(*m.model)) << model_file;
        EXPECT_EQ(counter.experts * static_cast<uint64_t>(hp.n_expert),
                  expert_tensor_bytes * static_cast<uint64_t>(hp.n_expert_used))
            << model_file;
    }
}

TEST(MoeDecodeBytes, Qwen3MoeReadsTwoOfEightExperts) { check_decode_bytes("moe-mini-f32.gguf"); }
TEST(MoeDecodeBytes, MixtralReadsTwoOfFourExperts) { check_decode_bytes("mixtral-mini-f32.gguf"); }

}  // namespace
}  // namespace qlm::test
