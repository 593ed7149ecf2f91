// llama.cpp's single-dash multi-letter flags on every subcommand: the spellings of what qlm
// implements work (-fa [on|off], -ctk/-ctv, -sys, -st, -cnv in chat, -no-cnv in run, -ngl: see
// cli_gpu_layers.cpp); the others
// are refused by name with one line and exit 2, never misread as bundled short flags ("-ngl 99" as
// "-n gl", "-sm none" as a seed, "-cnv" as a context size).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/test_support.h"

namespace qlm {
namespace {

using test::run_command;

std::string stories() { return test::shared_file("models/stories260K-F32.gguf").string(); }

test::CommandResult qlm(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), test::qlm_bin().string());
    return run_command(args, stdin_text);
}

size_t lines(const std::string& s) {
    size_t n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

void expect_usage_error(const test::CommandResult& r, const std::string& text) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("qlm: error: " + text, 0), 0u) << r.err;
}

// The arguments each subcommand needs to get as far as parsing every flag.
std::vector<std::vector<std::string>> every_command() {
    const std::string m = stories(), text = test::shared_file("golden/t_story1.txt").string();
    return {{"run", "-m", m, "-p", "hi"},       {"chat", "-m", m},   {"info", m},
            {"tokenize", "-m", m, "hi"},        {"quantize", m, "/nonexistent/out.gguf", "Q8_0"},
            {"imatrix", "-m", m, "-f", text, "-o", "/nonexistent/o.dat"},
            {"perplexity", "-m", m, "-f", text}, {"bench", "-m", m}};
}

TEST(LlamaFlags, FlagsQlmLacksAreRefusedByNameInEveryCommand) {
    for (const auto& base : every_command()) {
        SCOPED_TRACE(base[0]);
        for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
                 {"-sm", "none"}, {"-to", "60"}, {"-cd", "512"}, {"-ub", "256"}, {"-hf", "a/b"}}) {
            auto args = base;
            args.insert(args.end(), {flag, value});
            expect_usage_error(qlm(args), flag + " is a llama.cpp flag qlm does not have (");
        }
    }
    expect_usage_error(qlm({"run", "-m", stories(), "-p", "hi", "-sm", "none"}),
                       "-sm is a llama.cpp flag qlm does not have (qlm's one GPU setting is -ngl)");
}

TEST(LlamaFlags, SpellingsOfWhatQlmDoesWork) {
    // -fa and -fa on: flash attention; -fa off: not; -ctk/-ctv with one type: --kv-type.
    for (const auto& fa : std::vector<std::vector<std::string>>{{"-fa"}, {"-fa", "on"}, {"--flash-attn", "on"}}) {
        auto args = std::vector<std::string>{"run", "-m", stories(), "-p", "hi", "-n", "2", "-t", "1"};
        args.insert(args.end(), fa.begin(), fa.end());
        auto r = qlm(args);
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.err.find(", flash attention"), std::string::npos) << r.err;
    }
    auto off = qlm({"run", "-m", stories(), "-p", "hi", "-n", "2", "-t", "1", "-fa", "off", "-ctk", "f32", "-ctv", "f32"});
    ASSERT_EQ(off.exit_code, 0) << off.err;
    EXPECT_EQ(off.err.find("flash attention"), std::string::npos) << off.err;
    EXPECT_NE(off.err.find("kv f32 ("), std::string::npos) << off.err;
    auto info = qlm({"info", stories(), "-fa", "-ctk", "f32", "-ctv", "f32"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    EXPECT_NE(info.out.find("kv f32, threads"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find(", flash attention)"), std::string::npos) << info.out;
    expect_usage_error(qlm({"run", "-m", stories(), "-p", "hi", "-ctk", "q8_0"}),
                       "-ctk q8_0 -ctv f16: qlm keeps K and V in one type");

    // chat: -cnv (chat is a conversation), -sys, -st.
    auto c = qlm({"chat", "-m", stories(), "-t", "1", "-cnv", "-sys", "Be kind.", "-st", "-p", "Hi", "-n", "4",
                  "--verbose-prompt"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_NE(c.err.find("[prompt] <|im_start|>system\\nBe kind.<|im_end|>"), std::string::npos) << c.err;
    // run: -no-cnv (run is plain completion); -cnv there asks for chat.
    auto r = qlm({"run", "-m", stories(), "-p", "hi", "-n", "2", "-t", "1", "-no-cnv"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    expect_usage_error(qlm({"run", "-m", stories(), "-p", "hi", "-cnv"}), "-cnv: use qlm chat for a conversation");
    expect_usage_error(qlm({"run", "-m", stories(), "-p", "hi", "-sys", "x"}), "-sys (--system in qlm) is not a flag of qlm run");
    expect_usage_error(qlm({"tokenize", "-m", stories(), "hi", "-fa"}), "-fa (--flash-attn in qlm) is not a flag of qlm tokenize");
}

TEST(LlamaFlags, OtherSingleDashWordsAreUnknownFlags) {
    expect_usage_error(qlm({"run", "-m", stories(), "-p", "hi", "-xyz"}), "unknown flag -xyz");
    expect_usage_error(qlm({"run", "-m", stories(), "-p", "hi", "-flash-attn"}),
                       "unknown flag -flash-attn: long flags take two dashes: --flash-attn");
    // After "--" nothing is translated: "-ngl" is the text to tokenize.
    auto t = qlm({"tokenize", "-m", stories(), "--ids-only", "--no-bos", "--", "-ngl"});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    auto direct = qlm({"tokenize", "-m", stories(), "--ids-only", "--no-bos", "--prompt=-ngl"});
    ASSERT_EQ(direct.exit_code, 0) << direct.err;
    EXPECT_EQ(t.out, direct.out);
    // Negative numbers and one-letter flags with attached values are not words.
    auto n = qlm({"run", "-m", stories(), "-p", "hi", "-n2", "-t1", "--repeat-last-n", "-1"});
    EXPECT_EQ(n.exit_code, 0) << n.err;
}

}  // namespace
}  // namespace qlm
