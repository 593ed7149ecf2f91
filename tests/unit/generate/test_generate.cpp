// The generation loop on a scripted fake model: stop reasons, stop strings held back while
// undecided, UTF-8 characters split across tokens, cancellation, logits recording.
#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "src/generate/generate.h"
#include "src/util/error.h"
#include "unit/generate/fakes.h"

namespace qlm {
namespace {

using namespace qlm::test;

SamplingParams greedy() {
    SamplingParams p;
    p.temperature = 0.0f;
    return p;
}

struct Outcome {
    GenerateResult result;
    std::vector<std::string> chunks;  // what on_text received, call by call
    std::vector<int64_t> chunk_fed;   // tokens fed to the model when each chunk arrived
};

Outcome run(FakeSource& src, std::vector<int32_t> prompt, GenerateOptions opts,
        SamplingParams params = greedy()) {
    FakeDecoder dec;
    Sampler sampler(params);
    Outcome r;
    opts.on_text = [&](std::string_view s) {
        r.chunks.emplace_back(s);
        r.chunk_fed.push_back(static_cast<int64_t>(src.fed.size()));
    };
    r.result = generate(src, dec, sampler, prompt, opts);
    std::string joined;
    for (const auto& c : r.chunks) joined += c;
    EXPECT_EQ(joined, r.result.text);  // result.text is exactly what was streamed
    return r;
}

TEST(Generate, PrefillsInOneBatchAndStopsAtNPredict) {
    FakeSource src({kHel, kLo, kWor, kLd, kNewline}, 64);
    GenerateOptions o;
    o.n_predict = 4;
    Outcome r = run(src, {kS, kX, kS}, o);
    EXPECT_EQ(r.result.tokens, (std::vector<int32_t>{kHel, kLo, kWor, kLd}));
    EXPECT_EQ(r.result.text, "Hello world");
    EXPECT_EQ(r.result.stop_reason, StopReason::MaxTokens);
    // One prompt batch of 3, then the first three generated tokens fed back one at a time.
    EXPECT_EQ(src.eval_sizes, (std::vector<int64_t>{3, 1, 1, 1}));
    EXPECT_EQ(r.result.timings.prompt_tokens, 3);
    EXPECT_EQ(r.result.timings.generated_tokens, 4);
    EXPECT_GE(r.result.timings.prompt_seconds, 0.0);
    EXPECT_GE(r.result.timings.generation_seconds, 0.0);
}

TEST(Generate, NPredictZeroAndOne) {
    FakeSource a({kHel, kLo}, 64);
    GenerateOptions o;
    o.n_predict = 0;
    Outcome r0 = run(a, {kS}, o);
    EXPECT_TRUE(r0.result.tokens.empty());
    EXPECT_EQ(r0.result.stop_reason, StopReason::MaxTokens);
    EXPECT_EQ(r0.result.text, "");

    FakeSource b({kHel, kLo}, 64);
    o.n_predict = 1;
    Outcome r1 = run(b, {kS}, o);
    EXPECT_EQ(r1.result.tokens, (std::vector<int32_t>{kHel}));
    EXPECT_EQ(b.eval_sizes, (std::vector<int64_t>{1}));  // the last token is not fed back
}

TEST(Generate, EosEndsGenerationUnlessIgnored) {
    FakeSource a({kHel, kLo, kEos, kWor}, 64);
    GenerateOptions o;
    Outcome r = run(a, {kS}, o);
    EXPECT_EQ(r.result.tokens, (std::vector<int32_t>{kHel, kLo}));
    EXPECT_EQ(r.result.text, "Hello");
    EXPECT_EQ(r.result.stop_reason, StopReason::EndOfGeneration);
    EXPECT_EQ(r.result.end_token, kEos);

    FakeSource b({kHel, kLo, kEos, kWor}, 64);
    o.ignore_eos = true;
    o.n_predict = 4;
    Outcome ri = run(b, {kS}, o);
    // EOS is never sampled: the next most likely token (kX, the highest-id filler) takes its place.
    EXPECT_EQ(ri.result.tokens, (std::vector<int32_t>{kHel, kLo, kX, kWor}));
    EXPECT_EQ(ri.result.text, "Hellox wor");
    EXPECT_EQ(ri.result.stop_reason, StopReason::MaxTokens);
    EXPECT_EQ(ri.result.end_token, -1);
}

TEST(Generate, StopStringSplitAcrossTokensIsNeverPrinted) {
    FakeSource src({kHel, kSt, kOp, kWor, kLd}, 64);
    GenerateOptions o;
    o.stop = {"STOP"};
    Outcome r = run(src, {kS}, o);
    EXPECT_EQ(r.result.text, "Hel");
    EXPECT_EQ(r.result.stop_reason, StopReason::StopString);
    EXPECT_EQ(r.result.tokens, (std::vector<int32_t>{kHel, kSt, kOp}));
    for (const auto& c : r.chunks) EXPECT_EQ(c.find('S'), std::string::npos) << c;
}

TEST(Generate, StopStringInsideOneTokenCutsTheToken) {
    FakeSource src({kHel, kLo, kWor, kLd}, 64);
    GenerateOptions o;
    o.stop = {"xyz", "lo w"};
    Outcome r = run(src, {kS}, o);
    EXPECT_EQ(r.result.text, "Hel");
    EXPECT_EQ(r.result.stop_reason, StopReason::StopString);
    EXPECT_EQ(r.result.tokens.size(), 3u);
}

TEST(Generate, PartialStopPrefixIsHeldBackThenPrintedInFull) {
    FakeSource src({kHel, kSt, kX, kLo}, 64);
    GenerateOptions o;
    o.stop = {"STOP"};
    o.n_predict = 4;
    Outcome r = run(src, {kS}, o);
    EXPECT_EQ(r.result.text, "HelSTxlo");
    EXPECT_EQ(r.result.stop_reason, StopReason::MaxTokens);
    // "ST" was held back until "x" showed it is not "STOP".
    EXPECT_EQ(r.chunks, (std::vector<std::string>{"Hel", "STx", "lo"}));
}

TEST(Generate, HeldBackPrefixIsFlushedAtTheEnd) {
    FakeSource src({kHel, kSt, kEos}, 64);
    GenerateOptions o;
    o.stop = {"STOP"};
    Outcome r = run(src, {kS}, o);
    EXPECT_EQ(r.result.text, "HelST");
    EXPECT_EQ(r.result.stop_reason, StopReason::EndOfGeneration);
    EXPECT_EQ(r.chunks, (std::vector<std::string>{"Hel", "ST"}));
}

TEST(Generate, EmptyStopStringIsRejected) {
    FakeSource src({kHel}, 64);
    GenerateOptions o;
    o.stop = {""};
    EXPECT_THROW(run(src, {kS}, o), Error);
}

TEST(Generate, ContextFullEndsCleanly) {
    // n_ctx 6, prompt 3: positions 3, 4, 5 take generated tokens 1-3; token 4 is sampled from the
    // logits after position 5 and cannot be fed back.
    FakeSource src({kHel, kLo, kWor, kLd, kNewline, kHel}, 6);
    GenerateOptions o;
    Outcome r = run(src, {kS, kS, kS}, o);
    EXPECT_EQ(r.result.stop_reason, StopReason::ContextFull);
    EXPECT_EQ(r.result.tokens, (std::vector<int32_t>{kHel, kLo, kWor, kLd}));
    EXPECT_EQ(r.result.text, "Hello world");
    EXPECT_EQ(src.n_past(), 6);
}

TEST(Generate, MaxTokensWinsWhenItCoincidesWithAFullContext) {
    FakeSource src({kHel, kLo, kWor, kLd}, 4);
    GenerateOptions o;
    o.n_predict = 2;
    Outcome r = run(src, {kS, kS, kS}, o);
    EXPECT_EQ(r.result.stop_reason, StopReason::MaxTokens);
    EXPECT_EQ(r.result.tokens.size(), 2u);
}

TEST(Generate, PromptThatDoesNotFitOrIsEmptyIsAnError) {
    FakeSource a({kHel}, 2);
    EXPECT_THROW(run(a, {kS, kS, kS}, {}), Error);
    FakeSource b({kHel}, 8);
    EXPECT_THROW(run(b, {}, {}), Error);
    FakeSource c({kHel}, 8);
    GenerateOptions o;
    o.n_predict = -2;
    EXPECT_THROW(run(c, {kS}, o), Error);
}

TEST(Generate, Utf8CharacterSplitAcrossTokensIsStreamedWhole) {
    FakeSource src({kHel, kEuroHead, kEuroTail, kLo}, 64);
    GenerateOptions o;
    o.n_predict = 4;
    Outcome r = run(src, {kS}, o);
    EXPECT_EQ(r.result.text, "Hel\xE2\x82\xAClo");
    EXPECT_EQ(r.chunks, (std::vector<std::string>{"Hel", "\xE2\x82\xAC", "lo"}));
    // The euro sign arrived only after its last byte was generated (2 prompt+fed tokens before).
    EXPECT_EQ(r.chunk_fed[1], 3);
}

TEST(Generate, CancellationStopsBeforeTheNextToken) {
    FakeSource src({kHel, kLo, kWor, kLd}, 64);
    FakeDecoder dec;
    Sampler sampler(greedy());
    std::atomic<bool> cancel{false};
    GenerateOptions o;
    o.cancel = &cancel;
    int calls = 0;
    o.on_text = [&](std::string_view) {
        ++calls;
        cancel = true;  // as a Ctrl-C handler would, after the first piece
    };
    std::vector<int32_t> prompt = {kS};
    GenerateResult r = generate(src, dec, sampler, prompt, o);
    EXPECT_EQ(r.stop_reason, StopReason::Cancelled);
    EXPECT_EQ(r.tokens, (std::vector<int32_t>{kHel}));
    EXPECT_EQ(r.text, "Hel");
    EXPECT_EQ(calls, 1);

    FakeSource src2({kHel}, 64);
    GenerateResult r2 = generate(src2, dec, sampler, prompt, o);  // already cancelled
    EXPECT_EQ(r2.stop_reason, StopReason::Cancelled);
    EXPECT_TRUE(r2.tokens.empty());
}

TEST(Generate, SamplerSeesPromptAndOutputAsHistory) {
    // The fake always prefers kX past the script; with no-repeat-ngram 1, once kX is in the
    // history the next best logit (highest id among the rest: kS) wins.
    FakeSource src({}, 64);
    GenerateOptions o;
    o.n_predict = 2;
    SamplingParams p = greedy();
    p.no_repeat_ngram = 1;
    Outcome r = run(src, {kX}, o, p);
    EXPECT_EQ(r.result.tokens, (std::vector<int32_t>{kS, kEuroTail}));
}

TEST(Generate, RecordsPromptAndGeneratedLogits) {
    FakeSource src({kHel, kLo, kWor}, 64);
    GenerateOptions o;
    o.n_predict = 3;
    std::vector<std::pair<int64_t, std::vector<float>>> prompt_l, gen_l;
    o.on_prompt_logits = [&](int64_t i, std::span<const float> l) { prompt_l.emplace_back(i, std::vector<float>(l.begin(), l.end())); };
    o.on_generated_logits = [&](int64_t i, std::span<const float> l) { gen_l.emplace_back(i, std::vector<float>(l.begin(), l.end())); };
    Outcome r = run(src, {kS, kX}, o);
    ASSERT_EQ(prompt_l.size(), 2u);
    ASSERT_EQ(gen_l.size(), 3u);  // the last token is fed back too while recording
    for (size_t i = 0; i < prompt_l.size(); ++i) {
        EXPECT_EQ(prompt_l[i].first, static_cast<int64_t>(i));
        EXPECT_EQ(prompt_l[i].second, src.logits_at(static_cast<int64_t>(i)));
    }
    for (size_t i = 0; i < gen_l.size(); ++i) {
        EXPECT_EQ(gen_l[i].first, static_cast<int64_t>(i));
        EXPECT_EQ(gen_l[i].second, src.logits_at(2 + static_cast<int64_t>(i)));
    }
    EXPECT_EQ(src.eval_sizes, (std::vector<int64_t>{2, 1, 1, 1}));
    EXPECT_EQ(r.result.tokens.size(), 3u);
}

TEST(Generate, StopReasonNames) {
    EXPECT_STREQ(to_string(StopReason::EndOfGeneration), "eos");
    EXPECT_STREQ(to_string(StopReason::ContextFull), "context-full");
}

}  // namespace
}  // namespace qlm
