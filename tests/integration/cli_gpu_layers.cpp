// -ngl / --gpu-layers / --n-gpu-layers on run, chat, perplexity and bench: without a GPU (this
// build without CUDA, or a machine without a device) one warning line on stderr, then the same
// output as without the flag; 0 says nothing; a bad value is one line and exit 2. qlm info
// prints the placement, checked against --vram.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/test_support.h"

namespace qlm {
namespace {

using test::run_command;

std::string stories() { return test::shared_file("models/stories260K-F32.gguf").string(); }
std::string story_text() { return test::shared_file("golden/t_story1.txt").string(); }
std::string long_text() { return test::shared_file("models/kjv-test.txt").string(); }

test::CommandResult qlm(std::vector<std::string> args) {
    args.insert(args.begin(), test::qlm_bin().string());
    return run_command(args);
}

std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < text.size()) {
        const size_t end = std::min(text.find('\n', start), text.size());
        const std::string line = text.substr(start, end - start);
        if (line.rfind(prefix, 0) == 0) out.push_back(line);
        start = end + 1;
    }
    return out;
}

// The one warning line of a run whose GPU layers ran on the CPU.
void expect_one_cpu_warning(const test::CommandResult& r, const std::string& value) {
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto w = lines_starting(r.err, "qlm: warning:");
    ASSERT_EQ(w.size(), 1u) << r.err;
    EXPECT_EQ(w[0].rfind("qlm: warning: -ngl " + value + ": ", 0), 0u) << w[0];
    EXPECT_NE(w[0].find("; running on the CPU"), std::string::npos) << w[0];
}

TEST(CliGpuLayers, RunWarnsOnceAndGivesTheSameText) {
    const std::vector<std::string> run = {"run", "-m", stories(), "-t", "1", "-p", "Once upon a time", "-n", "16", "--temp", "0"};
    const auto plain = qlm(run);
    ASSERT_EQ(plain.exit_code, 0) << plain.err;
    EXPECT_TRUE(lines_starting(plain.err, "qlm: warning:").empty()) << plain.err;
    for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
             {"-ngl", "99"}, {"--gpu-layers", "all"}, {"--n-gpu-layers", "3"}, {"--gpu-layers=1", ""}}) {
        SCOPED_TRACE(flag);
        auto args = run;
        args.push_back(flag);
        if (!value.empty()) args.push_back(value);
        const auto r = qlm(args);
        expect_one_cpu_warning(r, value.empty() ? "1" : value);
        EXPECT_EQ(r.out, plain.out);
    }
    // Zero layers asks for nothing: no warning.
    auto zero = run;
    zero.insert(zero.end(), {"-ngl", "0"});
    const auto z = qlm(zero);
    ASSERT_EQ(z.exit_code, 0) << z.err;
    EXPECT_TRUE(lines_starting(z.err, "qlm: warning:").empty()) << z.err;
    EXPECT_EQ(z.out, plain.out);
}

TEST(CliGpuLayers, ChatPerplexityAndBenchWarnOnceAndRunOnTheCpu) {
    expect_one_cpu_warning(qlm({"chat", "-m", stories(), "-t", "1", "--single-turn", "-p", "Hi", "-n", "4", "-ngl", "99"}),
                           "99");
    const auto ppl = qlm({"perplexity", "-m", stories(), "-f", long_text(), "-c", "16", "-t", "1", "--chunks", "1",
                          "-ngl", "all"});
    expect_one_cpu_warning(ppl, "all");
    EXPECT_NE(ppl.out.find("Final estimate: PPL"), std::string::npos) << ppl.out;
    const auto bench = qlm({"bench", "-m", stories(), "-p", "8", "-n", "4", "-r", "1", "-t", "1", "-ngl", "99"});
    expect_one_cpu_warning(bench, "99");
    EXPECT_NE(bench.out.find("tg4"), std::string::npos) << bench.out;
}

void expect_usage_error(const test::CommandResult& r, const std::string& text) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(lines_starting(r.err, "").size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("qlm: error: " + text, 0), 0u) << r.err;
}

TEST(CliGpuLayers, BadValuesAreOneLineAndExitTwo) {
    for (const std::string v : {"-1", "abc", "1.5", "auto", "3x"}) {
        SCOPED_TRACE(v);
        expect_usage_error(qlm({"run", "-m", stories(), "-p", "hi", "--gpu-layers=" + v}),
                           "-ngl/--gpu-layers " + v + ": give a layer count (a whole number >= 0) or all");
    }
    expect_usage_error(qlm({"run", "-m", stories(), "-p", "hi", "--gpu-layers"}), "--gpu-layers/--n-gpu-layers needs a value");
    // Checked before the model is read: a bad value with a missing model is about the value.
    expect_usage_error(qlm({"perplexity", "-m", "/nonexistent.gguf", "-f", story_text(), "-ngl", "x"}), "-ngl/--gpu-layers x:");
    expect_usage_error(qlm({"chat", "-m", "/nonexistent.gguf", "-ngl", "-2"}), "-ngl/--gpu-layers -2:");
    expect_usage_error(qlm({"bench", "-m", stories(), "-ngl", "0,99"}), "-ngl/--gpu-layers 0,99: qlm bench takes one value per run");
    expect_usage_error(qlm({"run", "-m", stories(), "-p", "hi", "-ngl"}), "--gpu-layers/--n-gpu-layers needs a value");
    // Commands that place no layers do not take it.
    expect_usage_error(qlm({"tokenize", "-m", stories(), "hi", "-ngl", "1"}), "-ngl (--gpu-layers in qlm) is not a flag of qlm tokenize");
}

TEST(CliGpuLayers, InfoPrintsThePlanAgainstAHypotheticalGpu) {
    // stories260K: 5 layers; -ngl 3 is layers 3..4 and the output head.
    const auto r = qlm({"info", stories(), "-c", "256", "-ngl", "3", "--vram", "64MiB"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("gpu plan (-ngl 3, a hypothetical GPU with 64.00 MiB free (--vram)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  on the GPU:  layers 3..4 and the output head\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  on the CPU:  layers 0..2, token embedding\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  fits: yes (the largest -ngl that fits is 6 = all)\n"), std::string::npos) << r.out;

    // Too little memory: how much more, and the largest -ngl that fits.
    const auto small = qlm({"info", stories(), "-c", "256", "-ngl", "all", "--vram", "100KiB"});
    ASSERT_EQ(small.exit_code, 0) << small.err;
    EXPECT_NE(small.out.find("  on the GPU:  layers 0..4 and the output head\n"), std::string::npos) << small.out;
    EXPECT_NE(small.out.find("  fits: no, "), std::string::npos) << small.out;
    EXPECT_NE(small.out.find("more needed: use -ngl 0 (the CPU)\n"), std::string::npos) << small.out;

    expect_usage_error(qlm({"info", stories(), "--vram", "lots"}), "--vram lots: give the GPU memory as a size");
    expect_usage_error(qlm({"info", "--hf-config", "/nonexistent/config.json", "-ngl", "1"}),
                       "-ngl and --vram plan a GGUF file's tensors");
}

}  // namespace
}  // namespace qlm
