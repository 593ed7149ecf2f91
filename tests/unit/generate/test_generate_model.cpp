// The generate loop on a real model (stories260K, F32) through the model/tokenizer adapters:
// free-running greedy decoding must give llama.cpp's greedy ids and text, and the recorded prompt
// logits must match the reference (max |ours - ref| <= 1e-3 R, ../shared/golden/README.md).
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/loaded_model.h"
#include "common/test_support.h"
#include "src/generate/generate.h"
#include "src/generate/logits_json.h"
#include "src/generate/model_adapters.h"
#include "src/gguf/gguf_file.h"
#include "src/model/context.h"
#include "src/tokenizer/tokenizer.h"

namespace qlm {
namespace {


void expect_greedy_matches_golden(const std::string& golden_name) {
    const LogitsDump ref = logits_dump_from_json(
        qlm::test::read_json(qlm::test::shared_file("golden/" + golden_name)), golden_name);
    const qlm::test::LoadedModel l(ref.model);
    InferenceContext ctx(*l.model, {.n_ctx = 256,
                                    .n_batch = 64,
                                    .n_outputs = static_cast<int64_t>(ref.prompt_ids.size()),
                                    .n_threads = 1});
    ContextLogitsSource source(ctx);
    TokenizerDecoder decoder(*l.tok);
    SamplingParams sp;
    sp.temperature = 0.0f;
    Sampler sampler(sp);
    GenerateOptions opts;
    opts.n_predict = static_cast<int32_t>(ref.greedy.size());
    opts.ignore_eos = true;
    std::vector<std::vector<float>> prompt_logits;
    opts.on_prompt_logits = [&](int64_t, std::span<const float> v) { prompt_logits.emplace_back(v.begin(), v.end()); };
    GenerateResult r = generate(source, decoder, sampler, ref.prompt_ids, opts);

    EXPECT_EQ(r.tokens, ref.greedy) << golden_name;
    EXPECT_EQ(r.stop_reason, StopReason::MaxTokens);
    EXPECT_EQ(r.text, ref.greedy_bytes) << golden_name;
    EXPECT_EQ(r.timings.prompt_tokens, static_cast<int64_t>(ref.prompt_ids.size()));
    EXPECT_EQ(r.timings.generated_tokens, static_cast<int64_t>(ref.greedy.size()));

    ASSERT_EQ(prompt_logits.size(), ref.prompt_logits.size());
    for (size_t pos = 0; pos < prompt_logits.size(); ++pos) {
        const std::vector<float>& want = ref.prompt_logits[pos].full;
        ASSERT_EQ(prompt_logits[pos].size(), want.size()) << "position " << pos;
        double ss = 0.0, max_diff = 0.0;
        for (size_t i = 0; i < want.size(); ++i) {
            ss += static_cast<double>(want[i]) * want[i];
            max_diff = std::max(max_diff, std::fabs(static_cast<double>(prompt_logits[pos][i]) - want[i]));
        }
        const double rms = std::sqrt(ss / static_cast<double>(want.size()));
        EXPECT_LE(max_diff, 1e-3 * rms) << golden_name << " position " << pos;
    }
}

TEST(GenerateModel, Stories260KGreedyMatchesLlamaCpp1) { expect_greedy_matches_golden("stories260K-F32.story1.json"); }
TEST(GenerateModel, Stories260KGreedyMatchesLlamaCpp2) { expect_greedy_matches_golden("stories260K-F32.story2.json"); }
TEST(GenerateModel, Stories260KGreedyMatchesLlamaCpp3) { expect_greedy_matches_golden("stories260K-F32.story3.json"); }

TEST(GenerateModel, SameSeedSameSampledText) {
    const qlm::test::LoadedModel l("stories260K-F32.gguf");
    std::vector<int32_t> prompt = l.tok->encode("Once upon a time", {.add_bos = true});
    auto sample_once = [&](uint64_t seed) {
        InferenceContext ctx(*l.model, {.n_ctx = 128, .n_threads = 1});
        ContextLogitsSource source(ctx);
        TokenizerDecoder decoder(*l.tok);
        SamplingParams sp;
        sp.temperature = 1.0f;
        sp.seed = seed;
        Sampler sampler(sp);
        GenerateOptions opts;
        opts.n_predict = 40;
        opts.ignore_eos = true;
        return generate(source, decoder, sampler, prompt, opts).tokens;
    };
    std::vector<int32_t> a = sample_once(7), b = sample_once(7), c = sample_once(8);
    EXPECT_EQ(a.size(), 40u);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
}

TEST(GenerateModel, ContextFullOnARealModel) {
    const qlm::test::LoadedModel l("stories260K-F32.gguf");
    InferenceContext ctx(*l.model, {.n_ctx = 16, .n_threads = 1});
    ContextLogitsSource source(ctx);
    TokenizerDecoder decoder(*l.tok);
    SamplingParams sp;
    sp.temperature = 0.0f;
    Sampler sampler(sp);
    GenerateOptions opts;
    opts.ignore_eos = true;  // n_predict -1: until the context is full
    std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
    GenerateResult r = generate(source, decoder, sampler, prompt, opts);
    EXPECT_EQ(r.stop_reason, StopReason::ContextFull);
    EXPECT_EQ(r.tokens.size(), 16u - prompt.size() + 1);  // the last one is sampled, not fed
    EXPECT_EQ(ctx.n_past(), 16);
}

}  // namespace
}  // namespace qlm
