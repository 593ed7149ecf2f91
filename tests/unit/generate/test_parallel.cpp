// generate_parallel on a real model (stories260K, F32): N samples of one prompt, each equal to
// generate() run alone with that sample's seed (greedy, and sampled at temperature 0.8); stop
// strings and n_predict per sequence; sequences that find no free KV block stop with a full
// context while the others go on; more sequences than the cache can start is an error naming
// the limit.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/loaded_model.h"
#include "common/test_support.h"
#include "src/generate/generate.h"
#include "src/generate/model_adapters.h"
#include "src/generate/parallel.h"
#include "src/gguf/gguf_file.h"
#include "src/model/context.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/error.h"

namespace qlm {
namespace {

struct Stories : test::LoadedModel {
    std::vector<int32_t> prompt() const { return encode("Once upon a time, a cat"); }
};

SamplingParams sampling(float temp, uint64_t seed) {
    SamplingParams sp;
    sp.temperature = temp;
    sp.seed = seed;
    return sp;
}

GenerateResult alone(const Stories& s, const SamplingParams& sp, const GenerateOptions& opts) {
    InferenceContext ctx(*s.model, {.n_ctx = 256, .n_threads = 2});
    ContextLogitsSource source(ctx);
    TokenizerDecoder decoder(*s.tok);
    Sampler sampler(sp);
    return generate(source, decoder, sampler, s.prompt(), opts);
}

ParallelResult parallel(const Stories& s, float temp, int64_t n, const GenerateOptions& opts, int64_t n_ctx = 256) {
    InferenceContext ctx(*s.model, {.n_ctx = n_ctx, .n_outputs = n, .n_threads = 2, .n_seq_max = n});
    TokenizerDecoder decoder(*s.tok);
    std::vector<Sampler> samplers;
    for (int64_t i = 0; i < n; ++i) samplers.emplace_back(sampling(temp, 100 + static_cast<uint64_t>(i)));
    return generate_parallel(ctx, decoder, samplers, s.prompt(), opts);
}

TEST(GenerateParallel, EachSequenceIsWhatItsSeedGivesAlone) {
    const Stories s;
    GenerateOptions opts;
    opts.n_predict = 40;
    for (float temp : {0.0f, 0.8f}) {
        const ParallelResult r = parallel(s, temp, 3, opts);
        ASSERT_EQ(r.sequences.size(), 3u);
        int64_t total = 0;
        for (size_t i = 0; i < 3; ++i) {
            const GenerateResult want = alone(s, sampling(temp, 100 + i), opts);
            EXPECT_EQ(r.sequences[i].tokens, want.tokens) << "temp " << temp << " sequence " << i;
            EXPECT_EQ(r.sequences[i].text, want.text) << "temp " << temp << " sequence " << i;
            EXPECT_EQ(r.sequences[i].stop_reason, want.stop_reason);
            total += static_cast<int64_t>(r.sequences[i].tokens.size());
        }
        EXPECT_EQ(r.timings.generated_tokens, total);
        EXPECT_EQ(r.timings.prompt_tokens, static_cast<int64_t>(s.prompt().size()));
        if (temp > 0) {
            EXPECT_NE(r.sequences[0].text, r.sequences[1].text);  // different seeds, different samples
        }
    }
}

TEST(GenerateParallel, StopStringsEndEachSequenceOnItsOwn) {
    const Stories s;
    GenerateOptions opts;
    opts.n_predict = 60;
    opts.stop = {"."};
    const ParallelResult r = parallel(s, 0.8f, 3, opts);
    for (size_t i = 0; i < 3; ++i) {
        const GenerateResult want = alone(s, sampling(0.8f, 100 + i), opts);
        EXPECT_EQ(r.sequences[i].text, want.text) << i;
        EXPECT_EQ(r.sequences[i].stop_reason, want.stop_reason) << i;
        EXPECT_EQ(r.sequences[i].text.find('.'), std::string::npos) << r.sequences[i].text;
    }
}

// 4 blocks of 16: the 9-token prompt's block is shared, each sequence's first token copies it
// (the last writes it in place), which leaves one free block: the first sequence takes it at
// position 16, the others stop there with 8 tokens (the 8th emitted, not fed back), and the
// first stops at position 32.
TEST(GenerateParallel, SequencesWithoutAFreeBlockStopAsAFullContext) {
    const Stories s;
    ASSERT_EQ(s.prompt().size(), 9u);
    GenerateOptions opts;
    opts.ignore_eos = true;
    const ParallelResult r = parallel(s, 0.8f, 3, opts, 64);
    ASSERT_EQ(r.sequences.size(), 3u);
    for (const GenerateResult& g : r.sequences) EXPECT_EQ(g.stop_reason, StopReason::ContextFull);
    EXPECT_EQ(r.sequences[0].tokens.size(), 32u - 9 + 1);
    EXPECT_EQ(r.sequences[1].tokens.size(), 16u - 9 + 1);
    EXPECT_EQ(r.sequences[2].tokens.size(), 16u - 9 + 1);
}

TEST(GenerateParallel, MoreSequencesThanBlocksIsAnError) {
    const Stories s;
    GenerateOptions opts;
    opts.n_predict = 4;
    try {
        parallel(s, 0.8f, 4, opts, 64);  // 4 blocks: the prompt's and 3 more
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("4 sequences do not fit in the KV cache"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("at most 3 sequences"), std::string::npos) << e.what();
    }
    EXPECT_EQ(max_parallel_sequences(kv_layout(s.model->hparams(), 64, KvType::F16), 16), 3);
    EXPECT_EQ(max_parallel_sequences(kv_layout(s.model->hparams(), 64, KvType::F16), 17), 2);
}

}  // namespace
}  // namespace qlm
