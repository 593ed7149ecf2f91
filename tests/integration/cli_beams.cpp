// qlm run --beams K: the best hypothesis' text on stdout as plain qlm run prints its text, a summary
// of the search on stderr; one beam is greedy decoding; --no-repeat-ngram and --stop apply to the
// beams. Flags that cannot go with beam search, values out of range and more beams than the KV
// cache can start are one-line usage errors (exit 2).
#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <vector>

#include "common/test_support.h"

namespace qlm {
namespace {

using test::run_command;

const std::string kPrompt = "Once upon a time";

std::string stories() { return test::shared_file("models/stories260K-F32.gguf").string(); }

test::CommandResult qlm(std::vector<std::string> args) {
    args.insert(args.begin(), test::qlm_bin().string());
    return run_command(args);
}

test::CommandResult beams(std::vector<std::string> extra) {
    std::vector<std::string> args{"run", "-m", stories(), "-p", kPrompt, "-t", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return qlm(args);
}

TEST(CliBeams, PrintsTheBestTextAndASummary) {
    auto r = beams({"-n", "20", "--beams", "3"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(r.out.rfind(kPrompt, 0), 0u) << r.out;
    EXPECT_GT(r.out.size(), kPrompt.size() + 20) << r.out;  // 20 tokens of text
    EXPECT_NE(r.err.find("| beam search: 3 beams, length penalty 1\n"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("qlm: beam search: 3 beams, best score -"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(" over 20 tokens, stopped by max-tokens), 0 of 3 kept finished, search ended by max-tokens"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("generation: 20 steps, 57 tokens decoded in "), std::string::npos) << r.err;  // 19 × 3
}

TEST(CliBeams, OneBeamIsGreedy) {
    auto greedy = beams({"-n", "40", "--temp", "0", "--no-display-prompt"});
    auto one = beams({"-n", "40", "--beams", "1", "--no-display-prompt"});
    ASSERT_EQ(greedy.exit_code, 0) << greedy.err;
    ASSERT_EQ(one.exit_code, 0) << one.err;
    EXPECT_FALSE(one.out.empty());
    EXPECT_EQ(one.out, greedy.out);
}

TEST(CliBeams, StopStringsAndNgramBansApplyToTheBeams) {
    auto r = beams({"-n", "60", "--beams", "3", "--stop", ".", "--no-display-prompt"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find('.'), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("stopped by stop-string), 3 of 3 kept finished, search done |"), std::string::npos) << r.err;
    auto ngram = beams({"-n", "40", "--beams", "2", "--no-repeat-ngram", "2", "--length-penalty", "0",
                        "--early-stopping"});
    ASSERT_EQ(ngram.exit_code, 0) << ngram.err;
    EXPECT_NE(ngram.err.find("| beam search: 2 beams, length penalty 0, early stopping, no-repeat-ngram 2\n"),
              std::string::npos)
        << ngram.err;
}

void expect_usage_error(const test::CommandResult& r, const std::string& text) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("qlm: error: " + text, 0), 0u) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliBeams, WhatCannotRunIsAUsageError) {
    expect_usage_error(beams({"-c", "64", "--beams", "9"}),
                       "--beams 9: the KV cache of 64 positions (4 blocks of 16) holds the 5-token prompt and 3 more "
                       "blocks, one per beam: use at most --beams 3, or a larger -c");
    expect_usage_error(beams({"--beams", "0"}), "--beams 0: the number of beams must be 1..2147483647");
    expect_usage_error(beams({"--beams", "-2"}), "--beams -2: the number of beams must be 1..2147483647");
    expect_usage_error(beams({"--beams", "2", "--length-penalty", "nan"}), "--length-penalty nan: give a finite number");
    expect_usage_error(beams({"--beams", "2", "--no-repeat-ngram", "-1"}), "--no-repeat-ngram -1 is out of range");
    expect_usage_error(beams({"--beams", "2", "-np", "2"}), "--beams and --parallel are different searches");
    expect_usage_error(beams({"--beams", "2", "--lookup", "4"}), "--beams and speculative decoding (-md, --lookup, "
                                                                 "--self-spec) do not combine: give one of them");
    expect_usage_error(beams({"--beams", "2", "--top-k", "5"}),
                       "--beams 2 ranks continuations by log-probability and does not sample: leave out --top-k");
    expect_usage_error(beams({"--beams", "2", "-s", "7"}), "--beams 2 ranks continuations by log-probability and does "
                                                           "not sample: leave out --seed");
    // A sampling flag is refused even at its default value: it would be ignored.
    expect_usage_error(beams({"--beams", "2", "--temp", "0.8"}),
                       "--beams 2 ranks continuations by log-probability and does not sample: leave out --temp");
    expect_usage_error(beams({"--beams", "2", "--logits-out", "x.json"}), "--logits-out records one sequence");
    expect_usage_error(beams({"--length-penalty", "2"}), "--length-penalty applies to beam search: add --beams K");
    expect_usage_error(beams({"--early-stopping"}), "--early-stopping applies to beam search: add --beams K");
}

}  // namespace
}  // namespace qlm
