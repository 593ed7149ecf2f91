// qlm run --parallel N (-np N): N samples of one prompt, each printed under its own label with its
// seed, the prompt evaluated once and the total generation speed on stderr; at --temp 0 every
// sample is plain qlm run's greedy text. More sequences than the KV cache can start, --parallel 0
// and --parallel with --logits-out are one-line usage errors (exit 2).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/test_support.h"

namespace qlm {
namespace {

using test::run_command;

std::string stories() { return test::shared_file("models/stories260K-F32.gguf").string(); }

test::CommandResult qlm(std::vector<std::string> args) {
    args.insert(args.begin(), test::qlm_bin().string());
    return run_command(args);
}

size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

TEST(CliParallel, SamplesAreLabelledAndTheSpeedIsTheTotal) {
    auto r = qlm({"run", "-m", stories(), "-p", "Once upon a time", "-n", "12", "--parallel", "3", "-s", "5",
                  "--temp", "0.8", "-t", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* label : {"--- sequence 1 of 3 (seed 5, 12 tokens, stopped by max-tokens) ---\n",
                              "--- sequence 2 of 3 (seed 6, 12 tokens, stopped by max-tokens) ---\n",
                              "--- sequence 3 of 3 (seed 7, 12 tokens, stopped by max-tokens) ---\n"})
        EXPECT_NE(r.out.find(label), std::string::npos) << r.out;
    EXPECT_EQ(count(r.out, "Once upon a time"), 3u) << r.out;
    EXPECT_NE(r.err.find("evaluated once for 3 sequences | generation: 36 tokens in "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("tokens/s in total)"), std::string::npos) << r.err;
}

TEST(CliParallel, GreedySamplesAreThePlainRunsText) {
    auto one = qlm({"run", "-m", stories(), "-p", "Once upon a time", "-n", "20", "--temp", "0", "-t", "1"});
    ASSERT_EQ(one.exit_code, 0) << one.err;
    auto two = qlm({"run", "-m", stories(), "-p", "Once upon a time", "-n", "20", "--temp", "0", "-t", "1", "-np",
                    "2", "--no-display-prompt"});
    ASSERT_EQ(two.exit_code, 0) << two.err;
    const std::string text = one.out.substr(std::string("Once upon a time").size());
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(count(two.out, text), 2u) << "plain: " << one.out << "\nparallel: " << two.out;
}

void expect_usage_error(const test::CommandResult& r, const std::string& text) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(count(r.err, "\n"), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("qlm: error: " + text, 0), 0u) << r.err;
}

TEST(CliParallel, WhatCannotRunIsAUsageError) {
    expect_usage_error(qlm({"run", "-m", stories(), "-p", "Once upon a time", "-c", "64", "-np", "9"}),
                       "--parallel 9: the KV cache of 64 positions (4 blocks of 16) holds the 5-token prompt and 3 "
                       "more blocks, one per sequence: use at most --parallel 3, or a larger -c");
    expect_usage_error(qlm({"run", "-m", stories(), "-p", "hi", "--parallel", "0"}),
                       "--parallel 0: the number of sequences must be at least 1");
    expect_usage_error(qlm({"run", "-m", stories(), "-p", "hi", "--parallel", "2", "--logits-out", "x.json"}),
                       "--logits-out records one sequence");
    expect_usage_error(qlm({"chat", "-m", stories(), "-np", "2"}), "-np (--parallel in qlm) is not a flag of qlm chat");
}

}  // namespace
}  // namespace qlm
