// The command line itself: every bad command line exits 2 with one line in qlm's words (CLI11's
// messages reworded, every subcommand), other failures exit 1; `qlm` alone and `qlm help` print
// the help; the help says the same thing about the same flag everywhere.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/test_support.h"

namespace qlm {
namespace {

using test::run_command;

std::string stories() { return test::shared_file("models/stories260K-F32.gguf").string(); }
std::string text() { return test::shared_file("golden/t_story1.txt").string(); }

test::CommandResult qlm(std::vector<std::string> args) {
    args.insert(args.begin(), test::qlm_bin().string());
    return run_command(args);
}

size_t lines(const std::string& s) {
    size_t n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

void expect_error(const std::vector<std::string>& args, int code, const std::string& text) {
    auto r = qlm(args);
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    SCOPED_TRACE("qlm " + cmd + "\nstderr: " + r.err);
    EXPECT_EQ(r.exit_code, code);
    EXPECT_EQ(lines(r.err), 1u);
    EXPECT_EQ(r.err.rfind("qlm: error: ", 0), 0u);
    EXPECT_NE(r.err.find(text), std::string::npos) << "missing '" << text << "'";
}

TEST(CliUsage, EveryBadCommandLineExitsTwoInQlmsWords) {
    const std::string m = stories();
    // CLI11's own errors, reworded.
    expect_error({"run", "-m", m, "-n", "abc"}, 2, "-n/--n-predict: 'abc' is not a number (run 'qlm run --help')");
    expect_error({"run", "-m", m, "-n", "1.5"}, 2, "-n/--n-predict: '1.5' is not a whole number");
    expect_error({"run", "-m", m, "--kv-type", "q4_0"}, 2, "--kv-type: 'q4_0' is not one of f16, f32, q8_0");
    expect_error({"run", "-p", "hi"}, 2, "-m/--model is required (GGUF model file)");
    expect_error({"run", "-m", m, "-p", "a", "-p", "b"}, 2, "-p/--prompt was given 2 times: give it once");
    expect_error({"run", "-m", m, "-p", "hi", "--temp"}, 2, "--temp needs a value");
    expect_error({"run", "-m", m, "Once", "upon"}, 2, "unexpected arguments 'Once upon' (give the prompt with -p");
    expect_error({"run", "-m", m, "-p", "hi", "--bogus"}, 2, "unknown flag --bogus (run 'qlm run --help')");
    expect_error({"quantize", m}, 2, "the output argument is required");
    expect_error({"--bogus"}, 2, "unknown flag --bogus: give the command first");
    // Values out of range and flags that conflict, found after parsing: also 2.
    expect_error({"run", "-m", m, "-p", "hi", "--top-p", "2"}, 2, "--top-p 2 is out of range");
    expect_error({"run", "-m", m, "-p", "hi", "-s", "-7"}, 2, "-s -7: the seed must be");
    expect_error({"run", "-m", m, "-p", "hi", "-f", text()}, 2, "either with -p or with -f, not both");
    expect_error({"run", "-m", m, "-p", "hi", "--ids", "1 2"}, 2, "give either a text prompt or --ids");
    expect_error({"chat", "-m", m, "-n", "-2"}, 2, "-n -2: use a number of tokens");
    expect_error({"chat", "-m", m, "--stop", ""}, 2, "--stop");
    expect_error({"info"}, 2, "no model given");
    expect_error({"info", "-m", m, "/elsewhere/other.gguf"}, 2, "two models given");  // never silently one of them
    expect_error({"tokenize", "-m", m, "-p", "a", "-f", text()}, 2, "not both");
    expect_error({"perplexity", "-m", m}, 2, "give the text to score with -f FILE");
    expect_error({"perplexity", "-m", m, "-f", text(), "-b", "0"}, 2, "-b 0: the batch size must be at least 1");
    expect_error({"imatrix", "-m", m, "-f", text(), "-o", "/nonexistent/x.dat", "-t", "-1"}, 2, "-t -1");
    expect_error({"quantize", m, "/nonexistent/x.gguf", "Q9_9"}, 2, "unknown quantization type 'Q9_9'");
    expect_error({"bench", "-m", m, "-p", "x"}, 2, "-p x: 'x' is not a whole number");
    expect_error({"bench", "-m", m, "-r", "0"}, 2, "-r 0: at least one repetition");
    // Not the command line: a file that cannot be read is 1, and -f names what it wanted.
    expect_error({"perplexity", "-m", m, "-f", "/nonexistent/wiki.txt"}, 1,
                 "/nonexistent/wiki.txt: cannot read the text file");
    expect_error({"imatrix", "-m", m, "-f", "/nonexistent/cal.txt", "-o", "/tmp/x.dat"}, 1,
                 "cannot read the calibration text file");
    expect_error({"run", "-m", "/nonexistent/m.gguf", "-p", "hi"}, 1, "/nonexistent/m.gguf");
}

TEST(CliUsage, PerplexityFileIsNotAPromptFile) {
    auto r = qlm({"perplexity", "-m", stories(), "-f", "/nonexistent/wiki.txt"});
    EXPECT_EQ(r.err.find("prompt"), std::string::npos) << r.err;
}

TEST(CliUsage, QlmAloneAndQlmHelpPrintTheHelp) {
    auto bare = qlm({});
    EXPECT_EQ(bare.exit_code, 0) << bare.err;
    EXPECT_TRUE(bare.err.empty()) << bare.err;
    for (const char* cmd : {"run", "chat", "info", "tokenize", "quantize", "imatrix", "perplexity", "bench"})
        EXPECT_NE(bare.out.find(std::string("  ") + cmd + " "), std::string::npos) << cmd << "\n" << bare.out;
    EXPECT_NE(bare.out.find("qlm help COMMAND"), std::string::npos) << bare.out;
    auto help = qlm({"help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_EQ(help.out, bare.out);
    auto help_run = qlm({"help", "run"});
    EXPECT_EQ(help_run.exit_code, 0);
    EXPECT_EQ(help_run.out, qlm({"run", "--help"}).out);
    EXPECT_NE(help_run.out.find("Usage: qlm run"), std::string::npos) << help_run.out;
    expect_error({"help", "nosuch"}, 2, "qlm help takes one command name");
}

// The help's line for a flag, e.g. "  -t,--threads INT=0   threads (0 = one per physical core)".
std::string help_line(const std::string& help, const std::string& flag) {
    const size_t at = help.find("  " + flag);
    if (at == std::string::npos) return "";
    size_t end = help.find('\n', at);
    // A long flag spec puts the description on the next line.
    if (help.find_first_not_of(' ', end + 1) > end + 20) end = help.find('\n', end + 1);
    return help.substr(at, end - at);
}

TEST(CliUsage, HelpSaysTheSameAboutTheSameFlag) {
    // -t 0 is one thread per physical core wherever it is a default (quantize: per logical core, said so).
    for (const char* cmd : {"run", "chat", "info", "imatrix", "perplexity", "bench"}) {
        const std::string line = help_line(qlm({cmd, "--help"}).out, "-t,--threads");
        EXPECT_NE(line.find("one per physical core"), std::string::npos) << cmd << ": " << line;
    }
    EXPECT_NE(help_line(qlm({"quantize", "--help"}).out, "-t,--threads").find("one per logical core"), std::string::npos);
    // -b: 512 where a prompt is fed, 2048 where chunks are scored, and the help says why.
    for (const char* cmd : {"run", "chat", "info", "bench"}) {
        const std::string line = help_line(qlm({cmd, "--help"}).out, "-b,--batch-size");
        EXPECT_NE(line.find("INT=512"), std::string::npos) << cmd << ": " << line;
        EXPECT_NE(line.find("(512"), std::string::npos) << cmd << ": " << line;
    }
    for (const char* cmd : {"perplexity", "imatrix"}) {
        const std::string line = help_line(qlm({cmd, "--help"}).out, "-b,--batch-size");
        EXPECT_NE(line.find("INT=2048"), std::string::npos) << cmd << ": " << line;
        EXPECT_NE(line.find("2048: a chunk in one batch"), std::string::npos) << cmd << ": " << line;
    }
    // run's help says where the prompt comes from without -p or -f.
    EXPECT_NE(help_line(qlm({"run", "--help"}).out, "-p,--prompt").find("stdin"), std::string::npos);
}

}  // namespace
}  // namespace qlm
