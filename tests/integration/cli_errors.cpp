// `qlm` on bad input: every mistake gives a non-zero exit and exactly one line on stderr that
// names the problem; nothing crashes or prints a trace.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "src/util/cpu_info.h"
#include "src/gguf/gguf_writer.h"

namespace qlm {
namespace {

using test::qlm_bin;
using test::run_command;

size_t count_lines(const std::string& s) {
    size_t n = 0;
    for (char c : s) n += c == '\n';
    if (!s.empty() && s.back() != '\n') ++n;
    return n;
}

// Runs qlm with args; expects exit `code` and one stderr line containing every needle.
void expect_one_line_error(const std::vector<std::string>& args, int code, const std::vector<std::string>& needles,
                           const std::string& stdin_text = "") {
    std::vector<std::string> argv{qlm_bin().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv, stdin_text, 120);
    std::string cmdline;
    for (const auto& a : args) cmdline += a + " ";
    SCOPED_TRACE("qlm " + cmdline + "\nstderr: " + r.err);
    EXPECT_EQ(r.exit_code, code);
    EXPECT_EQ(count_lines(r.err), 1u);
    EXPECT_EQ(r.err.rfind("qlm: error: ", 0), 0u);
    for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << "missing '" << n << "'";
    EXPECT_EQ(r.err.find("terminate"), std::string::npos);
}

std::string stories() { return test::shared_file("models/stories260K-F32.gguf").string(); }

TEST(CliErrors, UnknownFlag) {
    expect_one_line_error({"run", "-m", stories(), "-p", "hi", "--no-such-flag"}, 2, {"--no-such-flag", "qlm run --help"});
    expect_one_line_error({"info", "--bogus"}, 2, {"--bogus", "qlm info --help"});
    expect_one_line_error({"frobnicate"}, 2, {"frobnicate"});
}

TEST(CliErrors, MissingModelFile) {
    expect_one_line_error({"run", "-m", "/nonexistent/model.gguf", "-p", "hi"}, 1, {"/nonexistent/model.gguf", "no such"});
    expect_one_line_error({"info", "/nonexistent/model.gguf"}, 1, {"/nonexistent/model.gguf"});
}

TEST(CliErrors, TextFileAsModel) {
    auto dir = test::temp_dir("cli-text");
    auto p = dir / "notes.txt";
    std::string text = "this is not a model, just some text that is long enough\n";
    test::write_bytes(p, std::vector<uint8_t>(text.begin(), text.end()));
    expect_one_line_error({"run", "-m", p.string(), "-p", "hi"}, 1, {p.string(), "GGUF"});
    expect_one_line_error({"info", p.string()}, 1, {"GGUF"});
}

TEST(CliErrors, DirectoryAsModel) {
    auto dir = test::temp_dir("cli-dir");
    expect_one_line_error({"run", "-m", dir.string(), "-p", "hi"}, 1, {"directory"});
}

TEST(CliErrors, UnsupportedArchitecture) {
    auto dir = test::temp_dir("cli-arch");
    auto p = dir / "gpt2.gguf";
    gguf::GgufWriter w;
    w.set_string("general.architecture", "gpt2");
    w.set_u32("gpt2.context_length", 1024);
    std::vector<uint8_t> bytes(16 * 4, 0);
    w.add_tensor("token_embd.weight", {4, 4}, GgmlType::F32, bytes);
    w.write(p.string());
    expect_one_line_error({"run", "-m", p.string(), "-p", "hi"}, 1, {"gpt2", "not supported"});
    expect_one_line_error({"info", p.string()}, 1, {"gpt2", "not supported"});
}

TEST(CliErrors, UnsupportedTensorType) {
    auto dir = test::temp_dir("cli-type");
    auto p = dir / "iq1.gguf";
    gguf::GgufWriter w;
    w.set_string("general.architecture", "llama");
    std::vector<uint8_t> bytes(50, 0);  // one iq1_s block: 256 elements in 50 bytes
    w.add_tensor("token_embd.weight", {256, 1}, GgmlType::IQ1_S, bytes);
    w.write(p.string());
    expect_one_line_error({"run", "-m", p.string(), "-p", "hi"}, 1, {"token_embd.weight", "iq1_s"});
}

TEST(CliErrors, ContextLargerThanTheModel) {
    // stories260K's llama.context_length is 2048
    expect_one_line_error({"run", "-m", stories(), "-p", "hi", "-c", "4096"}, 1, {"4096", "2048", "-c 2048"});
}

TEST(CliErrors, ContextLargerThanMemoryAllows) {
    // 2048 positions need 1,310,720 bytes of f16 KV cache alone; allow only 1,000,000.
    auto r = run_command({"/usr/bin/env", "QLM_MEMORY_LIMIT=1000000", qlm_bin().string(), "run", "-m", stories(), "-p",
                          "hi", "-c", "2048"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("context of 2048 tokens needs"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("e.g. -c "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("1000000 bytes"), std::string::npos) << r.err;
    // a small context fits
    auto ok = run_command({"/usr/bin/env", "QLM_MEMORY_LIMIT=1000000", qlm_bin().string(), "run", "-m", stories(), "-p",
                           "hi", "-c", "64", "-n", "4", "-t", "1"});
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST(CliErrors, InvalidUtf8Prompt) {
    expect_one_line_error({"run", "-m", stories(), "-p", std::string("Once \xff\xfe upon")}, 1, {"UTF-8"});
    expect_one_line_error({"run", "-m", stories()}, 1, {"UTF-8"}, std::string("bad \xc3\x28 text"));
}

TEST(CliErrors, EmptyPrompt) {
    expect_one_line_error({"run", "-m", stories(), "-p", ""}, 2, {"empty"});  // a flag's value
    expect_one_line_error({"run", "-m", stories()}, 1, {"empty"});  // stdin closed, no text
}

TEST(CliErrors, BadSamplingValues) {
    expect_one_line_error({"run", "-m", stories(), "-p", "hi", "--temp", "abc"}, 2, {"--temp"});
    expect_one_line_error({"run", "-m", stories(), "-p", "hi", "--top-p", "1.5"}, 2, {"--top-p"});
    expect_one_line_error({"run", "-m", stories(), "-p", "hi", "--kv-type", "q4"}, 2, {"--kv-type"});
    expect_one_line_error({"run", "-m", stories(), "-p", "hi", "-n", "-5"}, 2, {"-n"});
}

TEST(CliErrors, TokenIdOutsideTheVocabulary) {
    expect_one_line_error({"run", "-m", stories(), "--ids", "1 403 512"}, 1, {"512", "vocabulary"});
    expect_one_line_error({"run", "-m", stories(), "--ids", "1 x"}, 2, {"'x'"});
}

// An absurd -t is a command-line error (exit 2, one line naming the limit of 4x the logical
// cores) in every command that takes -t, never a crash while threads start; a count above int's
// range too. For bench, any item of the list.
TEST(CliErrors, ThreadCountAboveTheLimit) {
    const std::string m = stories(), limit = "(at most " + std::to_string(max_threads()) + ")";
    const std::string text = test::shared_file("golden/t_story1.txt").string();
    const std::string out = (test::temp_dir("cli-threads") / "never-written").string();
    for (const std::string& t : std::vector<std::string>{"100000", "40000", std::to_string(max_threads() + 1),
                                                      "99999999999999999999"}) {
        SCOPED_TRACE("-t " + t);
        expect_one_line_error({"run", "-m", m, "-p", "hi", "-n", "1", "-t", t}, 2, {t, limit, "qlm run --help"});
        expect_one_line_error({"chat", "-m", m, "-t", t}, 2, {t, limit, "qlm chat --help"});
        expect_one_line_error({"perplexity", "-m", m, "-f", text, "-t", t}, 2, {t, limit, "qlm perplexity --help"});
        expect_one_line_error({"bench", "-m", m, "-p", "8", "-n", "0", "-t", "1," + t}, 2, {t, limit, "qlm bench --help"});
        expect_one_line_error({"imatrix", "-m", m, "-f", text, "-o", out, "-t", t}, 2, {t, limit, "qlm imatrix --help"});
        expect_one_line_error({"quantize", m, out, "Q8_0", "-t", t}, 2, {t, limit, "qlm quantize --help"});
        expect_one_line_error({"info", m, "-t", t}, 2, {t, limit, "qlm info --help"});
    }
    EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(CliErrors, HfConfigProblems) {
    auto dir = test::temp_dir("cli-hf");
    auto p = dir / "config.json";
    std::string text = R"({"model_type":"gpt_neox","vocab_size":10})";
    test::write_bytes(p, std::vector<uint8_t>(text.begin(), text.end()));
    expect_one_line_error({"info", "--hf-config", p.string()}, 1, {"gpt_neox"});
}

TEST(Cli, VersionAndHelpExitZero) {
    auto r = run_command({qlm_bin().string(), "--version"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("qlm "), std::string::npos);
    r = run_command({qlm_bin().string(), "--help"});
    EXPECT_EQ(r.exit_code, 0);
    for (const char* cmd : {"run", "info", "tokenize"}) EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
}

}  // namespace
}  // namespace qlm
