// qlm run -md DRAFT / --lookup N / --self-spec L: at --temp 0 the text is plain qlm run's greedy
// text, token for token, on real models (stories260K with its Q8_0 as draft, kjv-8M with a Q4_0 of
// itself quantized here, every layer count of --self-spec on stories260K); sampled runs end as
// plain runs do; the timings name the acceptance rate and the speed-up. Bad combinations and
// values are one-line usage errors (exit 2) naming the limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "common/tiny_gguf.h"

namespace qlm {
namespace {

using test::run_command;

std::string stories() { return test::shared_file("models/stories260K-F32.gguf").string(); }
std::string stories_q8() { return test::shared_file("models/stories260K-Q8_0.gguf").string(); }
std::string kjv() { return test::shared_file("models/kjv-8M-F32.gguf").string(); }

test::CommandResult qlm(std::vector<std::string> args) {
    args.insert(args.begin(), test::qlm_bin().string());
    return run_command(args);
}

std::vector<std::string> greedy(const std::string& model, const std::string& prompt, const std::string& n) {
    return {"run", "-m", model, "-p", prompt, "-n", n, "--temp", "0", "-t", "1", "-c", "256", "--no-display-prompt"};
}

// The speculative run's stdout is the plain run's, and its summary line is printed.
void expect_same_text(const std::vector<std::string>& plain, const std::vector<std::string>& extra) {
    const auto want = qlm(plain);
    ASSERT_EQ(want.exit_code, 0) << want.err;
    ASSERT_GT(want.out.size(), 40u) << want.out;
    auto args = plain;
    args.insert(args.end(), extra.begin(), extra.end());
    const auto got = qlm(args);
    std::string flags;
    for (const std::string& e : extra) flags += " " + e;
    ASSERT_EQ(got.exit_code, 0) << flags << "\n" << got.err;
    EXPECT_EQ(got.out, want.out) << flags;
    EXPECT_NE(got.err.find("qlm: speculative decoding ("), std::string::npos) << got.err;
    EXPECT_NE(got.err.find(" accepted (acceptance "), std::string::npos) << got.err;
    EXPECT_NE(got.err.find("| speed-up "), std::string::npos) << got.err;
}

TEST(CliSpeculative, GreedyTextIsTheTargetsOnStories) {
    const auto plain = greedy(stories(), "Once upon a time", "100");
    expect_same_text(plain, {"-md", stories_q8()});
    expect_same_text(plain, {"-md", stories_q8(), "--draft-max", "5", "--draft-min", "2"});
    expect_same_text(plain, {"--lookup", "8"});
    for (const char* layers : {"1", "2", "3", "4"}) expect_same_text(plain, {"--self-spec", layers, "--draft-max", "6"});
    expect_same_text(plain, {"--self-spec", "4", "--draft-p-min", "0.5"});
    expect_same_text(plain, {"-md", stories_q8(), "--draft-p-min", "0.9"});
}

TEST(CliSpeculative, GreedyTextIsTheTargetsOnKjvWithAQuantizedDraft) {
    const auto dir = test::temp_dir("spec_kjv");
    const std::string q4 = (dir / "kjv-Q4_0.gguf").string();
    const auto quant = qlm({"quantize", kjv(), q4, "Q4_0"});
    ASSERT_EQ(quant.exit_code, 0) << quant.err;
    const auto plain = greedy(kjv(), "And God said, Let there be light", "120");
    expect_same_text(plain, {"-md", q4});
    expect_same_text(plain, {"--lookup", "6"});
    expect_same_text(plain, {"--self-spec", "6"});
    const auto r = qlm([&] {
        auto a = plain;
        a.insert(a.end(), {"-md", q4});
        return a;
    }());
    EXPECT_NE(r.err.find("(draft model 'kjv-Q4_0.gguf'): "), std::string::npos) << r.err;
}

TEST(CliSpeculative, SampledRunsEndAsPlainRunsDo) {
    for (const std::vector<std::string>& mode : std::vector<std::vector<std::string>>{
             {"-md", stories_q8()}, {"--lookup", "4"}, {"--self-spec", "3"}}) {
        std::vector<std::string> a = {"run", "-m", stories(), "-p", "Once upon a time", "-n", "40", "--temp", "0.8",
                                      "--repeat-penalty", "1.1", "-s", "3", "-t", "1", "-c", "256", "--ignore-eos"};
        a.insert(a.end(), mode.begin(), mode.end());
        const auto r = qlm(a);
        ASSERT_EQ(r.exit_code, 0) << mode[0] << "\n" << r.err;
        EXPECT_NE(r.err.find("generation: 40 tokens in "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("stopped by max-tokens"), std::string::npos) << r.err;
    }
}

size_t lines(const std::string& s) {
    size_t n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

void expect_usage_error(const std::vector<std::string>& extra, const std::string& text,
                        const std::string& model = stories()) {
    std::vector<std::string> a = {"run", "-m", model, "-p", "hi", "-n", "4"};
    a.insert(a.end(), extra.begin(), extra.end());
    if (std::find(extra.begin(), extra.end(), "-c") == extra.end()) a.insert(a.end(), {"-c", "256"});
    const auto r = qlm(a);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("qlm: error: " + text, 0), 0u) << r.err;
}

TEST(CliSpeculative, WhatCannotRunIsAUsageError) {
    expect_usage_error({"-md", kjv()}, "-md " + kjv() + ": the draft model's vocabulary has 4096 tokens, the target's 512");
    expect_usage_error({"-md", "/nonexistent/draft.gguf"}, "-md /nonexistent/draft.gguf: no such file");
    expect_usage_error({"-md", stories_q8(), "--draft-max", "0"}, "--draft-max 0: the draft length must be in 1 .. 128");
    expect_usage_error({"-md", stories_q8(), "--draft-max", "129"}, "--draft-max 129: the draft length must be in 1 .. 128");
    expect_usage_error({"-md", stories_q8(), "--draft-min", "17"}, "--draft-min 17: must be in 0 .. 16");
    expect_usage_error({"--lookup", "0"}, "--lookup 0: the draft length must be in 1 .. 128");
    expect_usage_error({"--lookup", "4", "--draft-max", "4"}, "--lookup N sets the draft length");
    expect_usage_error({"--lookup", "4", "--draft-p-min", "0.5"}, "--lookup drafts without probabilities");
    expect_usage_error({"--self-spec", "2", "--draft-p-min", "1.5"}, "--draft-p-min 1.5: must be in 0 .. 1");
    expect_usage_error({"--self-spec", "5"}, "--self-spec 5: this model has 5 layers; draft with 1 .. 4 of them");
    expect_usage_error({"--self-spec", "0"}, "--self-spec 0: give a number of layers in 1 .. n_layer-1");
    expect_usage_error({"--draft-max", "4"}, "--draft-max, --draft-min and --draft-p-min need a drafting mode");
    expect_usage_error({"--lookup", "4", "--self-spec", "2"}, "-md, --lookup and --self-spec are drafting modes");
    expect_usage_error({"-md", stories_q8(), "--parallel", "2"}, "speculative decoding runs one sequence");
    expect_usage_error({"--lookup", "4", "--logits-out", "/tmp/x.json"}, "--logits-out records plain decoding");
    expect_usage_error({"-md", stories_q8(), "-c", "1024"},
                       "-md " + stories_q8() + ": the draft model's context holds 512 tokens, less than the target's -c "
                       "1024: use -c 512");
}

TEST(CliSpeculative, ADraftWithOtherTokenTextsIsRefused) {
    const auto dir = test::temp_dir("spec_vocab");
    test::TinyModel tiny;
    tiny.n_ctx = 64;
    tiny.writer().write((dir / "a.gguf").string());
    auto w = tiny.writer();
    auto toks = test::TinyModel::tokens();
    toks.back() = "\xE2\x96\x81z";
    w.set_string_array("tokenizer.ggml.tokens", toks);
    w.write((dir / "b.gguf").string());
    const std::string b = (dir / "b.gguf").string();
    expect_usage_error({"-md", b, "-c", "64"},
                       "-md " + b + ": token " + std::to_string(toks.size() - 1) +
                           " is '\xE2\x96\x81z' in the draft model's vocabulary but '\xE2\x96\x81t' in the target's",
                       (dir / "a.gguf").string());
}

}  // namespace
}  // namespace qlm
