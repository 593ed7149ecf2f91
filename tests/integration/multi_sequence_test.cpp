// Several sequences in one context: rows of two sequences decoded in one Batch give each sequence
// the logits it gets decoded alone, and a sequence forked from a prompt with seq_cp (sharing its
// blocks, copying on write) continues exactly as the whole text evaluated from scratch, and so do
// several forks of different lengths decoded together (one attention call over the shared blocks).
// On a dense model (both attention kernels, f16 and q8_0 caches), Gemma 3's sliding-window layers
// and a MoE model. A row's math does not depend on the other rows of a multi-row batch, so prompts and forks
// must be bit-identical; a decode step of two sequences is a two-row batch where each alone is a
// one-row step, and float matrix products add in llama.cpp's batched order for more than one row
// (quant/matmul.h), so those logits are held to rms(diff) <= 1e-3 R, R the rms of the
// one-sequence logits (a tenth of the golden F16 criterion; Gemma 3's single logits differ by up to
// about 1e-3 R between the two orders).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "src/model/batch.h"
#include "src/model/context.h"
#include "src/model/model_loader.h"
#include "src/util/error.h"

namespace qlm::test {
namespace {

struct Config {
    std::string model;  // a synthetic model (synth_model) or one in ../shared/models
    bool synthetic = true;
    KvType kv = KvType::F16;
    bool flash = false;
};

std::string label(const Config& s) {
    return s.model + " kv " + std::string(kv_type_name(s.kv)) + (s.flash ? " flash" : "");
}

// Deterministic token ids below n_vocab.
std::vector<int32_t> tokens(int64_t n, int32_t seed, int64_t n_vocab) {
    std::vector<int32_t> t;
    uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 12345u;
    for (int64_t i = 0; i < n; ++i) {
        x = x * 1664525u + 1013904223u;
        t.push_back(static_cast<int32_t>(1 + (x >> 8) % static_cast<uint32_t>(n_vocab - 1)));
    }
    return t;
}

using Rows = std::vector<std::vector<float>>;

ContextOptions options(const Config& s, int64_t n_seq, int64_t n_outputs) {
    return {.n_ctx = 256, .n_batch = 64, .n_outputs = n_outputs, .n_threads = 2, .kv_type = s.kv,
            .n_seq_max = n_seq, .flash_attn = s.flash};
}

// The logits of every token of `text` evaluated alone, as a prompt and then one token at a time
// for the last `steps` tokens.
Rows alone(const Model& m, const Config& s, const std::vector<int32_t>& text, int64_t steps) {
    InferenceContext ctx(m, options(s, 1, 256));
    const auto prompt = static_cast<int64_t>(text.size()) - steps;
    ctx.eval(std::span<const int32_t>(text.data(), static_cast<size_t>(prompt)), true);
    Rows r;
    for (int64_t i = 0; i < ctx.n_outputs(); ++i) r.emplace_back(ctx.logits(i).begin(), ctx.logits(i).end());
    for (int64_t i = prompt; i < static_cast<int64_t>(text.size()); ++i) {
        ctx.eval(std::span<const int32_t>(&text[static_cast<size_t>(i)], 1), false);
        r.emplace_back(ctx.logits(0).begin(), ctx.logits(0).end());
    }
    return r;
}

void expect_same(std::span<const float> got, const std::vector<float>& want, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << what << ", logit " << i;
}

void expect_close(std::span<const float> got, const std::vector<float>& want, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    double ss = 0, sd = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        ss += double{want[i]} * want[i];
        sd += (double{got[i]} - want[i]) * (double{got[i]} - want[i]);
    }
    EXPECT_LE(std::sqrt(sd), 1e-3 * std::sqrt(ss)) << what;
}

// Two prompts of different lengths in one batch, then decode steps of both in one batch.
void two_sequences_in_one_batch(const Config& s) {
    const std::string path = s.synthetic ? synth_model(s.model).string() : shared_file("models/" + s.model).string();
    const LoadedModel lm = load_model(path, {.tokenizer = TokenizerNeed::None});
    const Model& m = *lm.model;
    const int64_t nv = m.hparams().n_vocab, steps = 4;
    const std::vector<int32_t> a = tokens(37 + steps, 1, nv), b = tokens(22 + steps, 2, nv);
    const Rows want_a = alone(m, s, a, steps), want_b = alone(m, s, b, steps);

    InferenceContext ctx(m, options(s, 2, 64));
    Batch batch;
    for (int64_t i = 0; i < 37; ++i) batch.add(a[static_cast<size_t>(i)], i, 0, true);
    for (int64_t i = 0; i < 22; ++i) batch.add(b[static_cast<size_t>(i)], i, 1, true);
    ctx.decode(batch);
    ASSERT_EQ(ctx.n_outputs(), 59);
    for (int64_t i = 0; i < 37; ++i) expect_same(ctx.logits(i), want_a[static_cast<size_t>(i)], label(s) + " a prompt");
    for (int64_t i = 0; i < 22; ++i)
        expect_same(ctx.logits(37 + i), want_b[static_cast<size_t>(i)], label(s) + " b prompt");
    for (int64_t k = 0; k < steps; ++k) {
        batch.clear();  // b first this time: the order of the runs does not matter
        batch.add(b[static_cast<size_t>(22 + k)], 22 + k, 1, true);
        batch.add(a[static_cast<size_t>(37 + k)], 37 + k, 0, true);
        ctx.decode(batch);
        expect_close(ctx.seq_logits(0), want_a[static_cast<size_t>(37 + k)], label(s) + " a step");
        expect_close(ctx.seq_logits(1), want_b[static_cast<size_t>(22 + k)], label(s) + " b step");
    }
}

// A prompt evaluated once and forked into three sequences with different continuations (of
// different lengths, the prompt ending inside a block so the forks copy it on write).
void forked_sequences(const Config& s) {
    const std::string path = s.synthetic ? synth_model(s.model).string() : shared_file("models/" + s.model).string();
    const LoadedModel lm = load_model(path, {.tokenizer = TokenizerNeed::None});
    const Model& m = *lm.model;
    const int64_t nv = m.hparams().n_vocab, prompt = 29;
    const std::vector<int32_t> p = tokens(prompt, 3, nv);
    std::vector<std::vector<int32_t>> texts;
    for (int32_t f = 0; f < 3; ++f) {
        std::vector<int32_t> t = p;
        const std::vector<int32_t> cont = tokens(5 + 3 * f, 10 + f, nv);
        t.insert(t.end(), cont.begin(), cont.end());
        texts.push_back(t);
    }
    InferenceContext ctx(m, options(s, 3, 64));
    ctx.eval(p, false);
    const int64_t used = ctx.kv().n_blocks() - ctx.kv().free_blocks();
    ctx.seq_cp(0, 1);
    ctx.seq_cp(0, 2);
    EXPECT_EQ(ctx.kv().n_blocks() - ctx.kv().free_blocks(), used) << "forking copies no block";
    Batch batch;
    for (int32_t f = 0; f < 3; ++f)
        for (int64_t i = prompt; i < static_cast<int64_t>(texts[static_cast<size_t>(f)].size()); ++i)
            batch.add(texts[static_cast<size_t>(f)][static_cast<size_t>(i)], i, f, true);
    ctx.decode(batch);
    int64_t out = 0;
    for (int32_t f = 0; f < 3; ++f) {
        const std::vector<int32_t>& t = texts[static_cast<size_t>(f)];
        const Rows want = alone(m, s, t, 0);
        for (int64_t i = prompt; i < static_cast<int64_t>(t.size()); ++i)
            expect_same(ctx.logits(out++), want[static_cast<size_t>(i)], label(s) + " fork " + std::to_string(f));
    }
}

// Five sequences forked from a prompt of two and a half blocks: a first batch gives each a
// continuation of its own length (1 to 5 tokens; the partial block is copied on write), then
// decode steps of all five in one batch, whose attention reads the shared blocks once for all
// (attention_decode.h). Every row's logits are those of the sequence's text evaluated alone.
void sequences_sharing_a_prefix(const Config& s) {
    const std::string path = s.synthetic ? synth_model(s.model).string() : shared_file("models/" + s.model).string();
    const LoadedModel lm = load_model(path, {.tokenizer = TokenizerNeed::None});
    const Model& m = *lm.model;
    const int64_t nv = m.hparams().n_vocab, prompt = 40, n_seq = 5, steps = 4;
    const std::vector<int32_t> p = tokens(prompt, 5, nv);
    std::vector<std::vector<int32_t>> texts;
    for (int32_t f = 0; f < n_seq; ++f) {
        std::vector<int32_t> t = p;
        const std::vector<int32_t> cont = tokens(f + 1 + steps, 20 + f, nv);
        t.insert(t.end(), cont.begin(), cont.end());
        texts.push_back(t);
    }
    InferenceContext ctx(m, options(s, n_seq, 64));
    ctx.eval(p, false);
    for (int32_t f = 1; f < n_seq; ++f) ctx.seq_cp(0, f);
    Batch batch;
    for (int32_t f = 0; f < n_seq; ++f)
        for (int64_t i = prompt; i < prompt + f + 1; ++i) batch.add(texts[static_cast<size_t>(f)][static_cast<size_t>(i)], i, f, true);
    ctx.decode(batch);
    std::vector<Rows> want;
    for (int32_t f = 0; f < n_seq; ++f) want.push_back(alone(m, s, texts[static_cast<size_t>(f)], steps));
    int64_t out = 0;
    for (int32_t f = 0; f < n_seq; ++f)
        for (int64_t i = prompt; i < prompt + f + 1; ++i)
            expect_same(ctx.logits(out++), want[static_cast<size_t>(f)][static_cast<size_t>(i)],
                        label(s) + " shared prefix, fork " + std::to_string(f));
    for (int64_t k = 0; k < steps; ++k) {
        batch.clear();
        for (int32_t f = 0; f < n_seq; ++f) {
            const int64_t i = prompt + f + 1 + k;
            batch.add(texts[static_cast<size_t>(f)][static_cast<size_t>(i)], i, f, true);
        }
        ctx.decode(batch);
        for (int32_t f = 0; f < n_seq; ++f)
            expect_close(ctx.seq_logits(f), want[static_cast<size_t>(f)][static_cast<size_t>(prompt + f + 1 + k)],
                         label(s) + " shared prefix, step " + std::to_string(k) + ", fork " + std::to_string(f));
    }
}

const Config kSetups[] = {
    {"stories260K-F32.gguf", false},
    {"llama3-mini-f32.gguf", true},
    {"llama3-mini-f32.gguf", true, KvType::F16, true},
    {"llama3-mini-f32.gguf", true, KvType::Q8_0},
    {"gemma3-mini-f32.gguf", true},
    {"moe-mini-f32.gguf", true},
};

TEST(MultiSequence, TwoSequencesInOneBatchMatchEachAlone) {
    for (const Config& s : kSetups) two_sequences_in_one_batch(s);
}

TEST(MultiSequence, ForkedSequencesMatchTheirWholeTextAlone) {
    for (const Config& s : kSetups) forked_sequences(s);
}

TEST(MultiSequence, SequencesSharingAPrefixDecodeAsEachAlone) {
    for (const Config& s : kSetups) sequences_sharing_a_prefix(s);
    sequences_sharing_a_prefix({"llama3-mini-f32.gguf", true, KvType::Q8_0, true});
    sequences_sharing_a_prefix({"llama3-mini-f32.gguf", true, KvType::F32});
}

// Batch errors are refused before anything runs, naming the limit.
TEST(MultiSequence, BadBatchesAreRefusedAndChangeNothing) {
    const LoadedModel lm = load_model(shared_file("models/stories260K-F32.gguf").string(), {.tokenizer = TokenizerNeed::None});
    InferenceContext ctx(*lm.model, {.n_ctx = 64, .n_outputs = 4, .n_threads = 1, .n_seq_max = 2});
    ctx.eval(std::vector<int32_t>{1, 2, 3}, false);
    auto error_of = [&](const Batch& b) {
        try {
            ctx.decode(b);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    Batch b;
    b.add(5, 3, 0, true);
    b.add(6, 0, 1, true);
    b.add(7, 4, 0, true);
    EXPECT_NE(error_of(b).find("the rows of sequence 0 must be consecutive"), std::string::npos) << error_of(b);
    b.clear();
    b.add(5, 4, 0, true);
    EXPECT_NE(error_of(b).find("sequence 0 continues at position 3, not 4"), std::string::npos) << error_of(b);
    b.clear();
    b.add(5, 0, 2, true);
    EXPECT_NE(error_of(b).find("sequence id 2 is out of range"), std::string::npos) << error_of(b);
    b.clear();
    for (int64_t i = 0; i < 5; ++i) b.add(5, i, 1, true);
    EXPECT_NE(error_of(b).find("logits of 5 rows were asked for, but the context keeps 4"), std::string::npos);
    b.clear();
    for (int64_t i = 0; i < 62; ++i) b.add(5, i, 1, false);  // 3 + 62 positions: more blocks than the 4 free
    EXPECT_NE(error_of(b).find("the KV cache is full: this batch needs 4 more blocks of 16 positions, 3 of its 4 are "
                               "free"),
              std::string::npos)
        << error_of(b);
    EXPECT_EQ(ctx.n_pos(0), 3);
    EXPECT_EQ(ctx.n_pos(1), 0);
    EXPECT_EQ(ctx.kv().free_blocks(), 3);
    EXPECT_THROW(ctx.seq_logits(1), Error);
}

}  // namespace
}  // namespace qlm::test
