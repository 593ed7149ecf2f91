// Gemma 3's sliding-window layers on gemma3-mini (window 16, layers 0-4 slide, layer 5 is global):
// each sequence keeps the 16-position blocks of window − 1 + n_batch positions in them whatever
// the context, and prompts in chunks smaller than the 66-token golden prompt (so their blocks are
// dropped and reused several times), decode steps and truncation still compute llama.cpp's logits.
#include <gtest/gtest.h>

#include "golden_compare.h"
#include "src/model/memory_plan.h"
#include "src/model/model_loader.h"
#include "src/model/weights.h"

namespace qlm::test {
namespace {

const char* kModel = "gemma3-mini-f32.gguf";
const char* kGolden = "gemma3-mini-f32.long1.json";

TEST(SlidingWindow, SlidingLayersCacheOnlyTheirWindow) {
    const LoadedModel m = load_model(synth_model(kModel).string(), {.tokenizer = TokenizerNeed::None});
    const Hparams& hp = m.model->hparams();
    ASSERT_EQ(hp.n_swa, 16);
    ASSERT_EQ(hp.n_layer, 6);
    const uint64_t head_row = 2 * static_cast<uint64_t>(hp.n_head_kv * hp.head_dim);  // f16 bytes of one position
    for (const int64_t n_ctx : {512, 4096}) {
        InferenceContext ctx(*m.model, {.n_ctx = n_ctx, .n_batch = 32, .n_threads = 1});
        const KvLayout& kv = ctx.layout().kv;
        // Any 16 − 1 + 32 = 47 positions touch at most 4 blocks of 16.
        for (int64_t l = 0; l < 5; ++l) EXPECT_EQ(kv.cells(l), 64) << "layer " << l;
        EXPECT_EQ(kv.cells(5), n_ctx);
        // K and V of five 4-block windows and one whole context: the sliding layers' share does
        // not grow with the context.
        EXPECT_EQ(kv.bytes, 2 * (5 * 64 + static_cast<uint64_t>(n_ctx)) * head_row);
        const MemoryPlan plan = plan_memory(hp, m.model->weights().matmul_groups(), 0,
                                            {.n_ctx = n_ctx, .n_batch = 32, .n_threads = 1});
        EXPECT_EQ(ctx.allocated_bytes(), plan.context.total_bytes);
    }
}

// The golden prompt in chunks of 4 tokens (windows of 19 positions: 3 blocks) and 32 greedy steps, against the
// same criterion as the one-batch run.
TEST(SlidingWindow, SmallChunksWrapTheRingAndMatchLlamaCpp) {
    const Golden g = load_golden(kGolden);
    const ModelRun r = run_model(synth_model(kModel).string(), g, KvType::F16, 4);
    report("gemma3-mini n_batch=4", "worst_maxabs_over_tolerance",
           compare_prompt("gemma3-mini n_batch=4", g, r, Tolerance::MaxAbs1e3));
    compare_greedy_except_ties("gemma3-mini n_batch=4", g, r);
}

// Cutting back to a position whose window the sliding layers still hold keeps the cache; further back, the
// cache is emptied (n_past 0) rather than left with overwritten positions; either way re-running
// the rest gives the first run's logits (within the F32 criterion: the chunks differ, and so does
// the rounding of their matrix products).
TEST(SlidingWindow, TruncateKeepsOrEmptiesTheCache) {
    const Golden g = load_golden(kGolden);
    const LoadedModel m = load_model(synth_model(kModel).string(), {.tokenizer = TokenizerNeed::None});
    InferenceContext ctx(*m.model, {.n_ctx = 128, .n_batch = 8, .n_threads = 2});
    const std::vector<int32_t>& ids = g.prompt;  // 66 tokens; windows of 16 − 1 + 8 = 23 positions: 3 blocks
    ctx.eval(ids, false);
    const std::vector<float> want(ctx.logits(0).begin(), ctx.logits(0).end());
    const double tolerance = 1e-3 * rms(std::vector<double>(want.begin(), want.end()));
    auto rerun_from = [&](int64_t kept) {
        ctx.eval(std::span<const int32_t>(ids).subspan(static_cast<size_t>(kept)), false);
        for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(ctx.logits(0)[i], want[i], tolerance) << "kept " << kept;
    };
    ctx.seq_rm(0, 60);  // position 60 sees 45..60; the sliding layers hold blocks 2..4 (32 onwards)
    EXPECT_EQ(ctx.n_past(), 60);
    rerun_from(60);
    ctx.seq_rm(0, 40);  // 40 would see 25..40, and block 1 is gone
    EXPECT_EQ(ctx.n_past(), 0);
    rerun_from(0);
}

}  // namespace
}  // namespace qlm::test
