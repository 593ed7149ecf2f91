// What qlm says, checked word for word where a newcomer reads it: counts with the right plural.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/test_support.h"

namespace qlm {
namespace {

using test::run_command;

std::string stories() { return test::shared_file("models/stories260K-F32.gguf").string(); }

std::vector<std::string> qlm(std::vector<std::string> args) {
    args.insert(args.begin(), test::qlm_bin().string());
    return args;
}

TEST(CliMessages, CountsOfOneAreSingular) {
    auto r = run_command(qlm({"run", "-m", stories(), "-t", "1", "--ids", "1", "-n", "1", "--temp", "0"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("qlm: prompt: 1 token in "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("generation: 1 token in "), std::string::npos) << r.err;

    auto c = run_command(qlm({"chat", "-m", stories(), "-t", "1", "--chat-template", "chatml", "--system", "Be kind."}),
                         "/stats\n");
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_NE(c.err.find(", 1 message]"), std::string::npos) << c.err;

    const auto out = test::temp_dir("cli-messages") / "m.dat";
    auto i = run_command(qlm({"imatrix", "-m", stories(), "-f", test::shared_file("golden/t_story_long.txt").string(),
                              "-o", out.string(), "-c", "128", "--chunks", "1", "-t", "1"}));
    ASSERT_EQ(i.exit_code, 0) << i.err;
    EXPECT_NE(i.err.find(", 1 chunk of 128 tokens, 1 thread\n"), std::string::npos) << i.err;
    EXPECT_NE(i.out.find(" over 1 chunk (128 tokens) to "), std::string::npos) << i.out;
}

// --temp -1 is greedy, as llama.cpp reads it: the summary says so and the text is --temp 0's.
TEST(CliMessages, NegativeTemperatureIsGreedyAndSaysSo) {
    auto run = [](const std::string& temp) {
        return run_command(qlm({"run", "-m", stories(), "-t", "1", "-p", "Once upon a time", "-n", "24", "--temp", temp}));
    };
    auto neg = run("-1"), zero = run("0"), warm = run("0.8");
    ASSERT_EQ(neg.exit_code, 0) << neg.err;
    ASSERT_EQ(zero.exit_code, 0) << zero.err;
    ASSERT_EQ(warm.exit_code, 0) << warm.err;
    EXPECT_NE(neg.err.find("sampling: temp -1.00 (greedy), "), std::string::npos) << neg.err;
    EXPECT_NE(zero.err.find("sampling: temp 0.00 (greedy), "), std::string::npos) << zero.err;
    EXPECT_NE(warm.err.find("sampling: temp 0.80, "), std::string::npos) << warm.err;
    EXPECT_EQ(neg.out, zero.out);
}

// --logits-out names the ids for what they are: "greedy" at temperature 0, "generated" when sampled.
TEST(CliMessages, LogitsOutNamesSampledIdsGenerated) {
    const auto dir = test::temp_dir("cli-logits-names");
    auto dump = [&](const std::string& temp) {
        const auto path = dir / ("t" + temp + ".json");
        auto r = run_command(qlm({"run", "-m", stories(), "-t", "1", "-p", "Once upon a time", "-n", "8", "-s", "3",
                                  "--temp", temp, "--logits-out", path.string()}));
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return test::read_json(path);
    };
    const auto greedy = dump("0"), sampled = dump("1.5");
    EXPECT_EQ(greedy.at("greedy").size(), 8u);
    EXPECT_TRUE(greedy.contains("greedy_text_hex"));
    EXPECT_FALSE(greedy.contains("generated"));
    EXPECT_EQ(sampled.at("generated").size(), 8u);
    EXPECT_TRUE(sampled.contains("generated_text_hex"));
    EXPECT_FALSE(sampled.contains("greedy"));
    EXPECT_FALSE(sampled.contains("greedy_text"));
}

// A prompt larger than the context: the -c suggested is one the model allows, and it works; a
// prompt larger than the model's own maximum gets no -c advice at all.
TEST(CliMessages, ContextAdviceIsAdviceThatWorks) {
    std::string words;
    for (int i = 0; i < 12; ++i) words += "The cat sat. ";
    auto small = run_command(qlm({"run", "-m", stories(), "-t", "1", "-p", words, "-n", "4", "-c", "16"}));
    EXPECT_EQ(small.exit_code, 1);
    const size_t at = small.err.find("use -c ");
    ASSERT_NE(at, std::string::npos) << small.err;
    const std::string suggested = small.err.substr(at + 7, small.err.find(' ', at + 7) - at - 7);
    EXPECT_NE(small.err.find("(the model allows up to 2048)"), std::string::npos) << small.err;
    auto retry = run_command(qlm({"run", "-m", stories(), "-t", "1", "-p", words, "-n", "4", "-c", suggested}));
    EXPECT_EQ(retry.exit_code, 0) << "-c " << suggested << ": " << retry.err;

    std::string huge;
    for (int i = 0; i < 1200; ++i) huge += "The cat. ";
    for (const char* c : {"0", "2048", "512"}) {
        auto r = run_command(qlm({"run", "-m", stories(), "-t", "1", "-p", huge, "-n", "4", "-c", c}));
        EXPECT_EQ(r.exit_code, 1) << r.err;
        EXPECT_NE(r.err.find("this model's context holds at most 2048: use a shorter prompt, or a model with a larger "
                             "context"),
                  std::string::npos)
            << "-c " << c << ": " << r.err;
        EXPECT_EQ(r.err.find("-c"), std::string::npos) << r.err;
    }
    // The same in chat: a message larger than the model's context gets no -c advice.
    auto chat = run_command(qlm({"chat", "-m", stories(), "-t", "1", "--chat-template", "chatml"}), huge + "\n");
    EXPECT_NE(chat.err.find("this model's context holds at most 2048: use a shorter message"), std::string::npos)
        << chat.err;
    EXPECT_EQ(chat.err.find("larger -c"), std::string::npos) << chat.err;
    auto chat_small = run_command(qlm({"chat", "-m", stories(), "-t", "1", "--chat-template", "chatml", "-c", "32"}),
                                  words + "\n");
    EXPECT_NE(chat_small.err.find("use a larger -c (the model allows up to 2048) or a shorter message"),
              std::string::npos)
        << chat_small.err;
}

}  // namespace
}  // namespace qlm
