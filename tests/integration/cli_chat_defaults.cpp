// `qlm chat` with no flags beyond -m on a model without a chat template (every model shipped or
// mirrored here): ChatML with a one-line notice, and replies capped at 512 tokens by default.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/test_support.h"

namespace qlm {
namespace {

using test::run_command;

std::vector<std::string> chat(std::vector<std::string> extra) {
    std::vector<std::string> a{test::qlm_bin().string(), "chat", "-m",
                               test::shared_file("models/stories260K-F32.gguf").string(), "-t", "1"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
}

size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

TEST(CliChatDefaults, AModelWithoutATemplateChatsInChatMLWithANotice) {
    auto r = run_command(chat({"--single-turn", "-p", "Once upon a time", "-n", "8", "--verbose-prompt"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(count(r.err, "has no chat template"), 1u) << r.err;
    EXPECT_NE(r.err.find("qlm chat: the model has no chat template (tokenizer.chat_template): using chatml; choose "
                         "another with --chat-template NAME or FILE\n"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("[prompt] <|im_start|>user\\nOnce upon a time<|im_end|>\\n<|im_start|>assistant\\n"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
    EXPECT_FALSE(r.out.empty());
    // --chat-template still chooses, without the notice.
    auto t = run_command(chat({"--chat-template", "alpaca", "--single-turn", "-p", "Hi", "-n", "4"}));
    ASSERT_EQ(t.exit_code, 0) << t.err;
    EXPECT_EQ(t.err.find("has no chat template"), std::string::npos) << t.err;
}

TEST(CliChatDefaults, RepliesAreCappedAt512TokensUnlessNSaysOtherwise) {
    // --ignore-eos: the story model would otherwise end its reply early with EOS.
    auto r = run_command(chat({"--temp", "0", "--ignore-eos"}), "Once upon a time\n/stats\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("| last reply: 512 tokens in "), std::string::npos) << r.err;
    auto n = run_command(chat({"--temp", "0", "--ignore-eos", "-n", "600"}), "Once upon a time\n/stats\n");
    ASSERT_EQ(n.exit_code, 0) << n.err;
    EXPECT_NE(n.err.find("| last reply: 600 tokens in "), std::string::npos) << n.err;
    auto h = run_command(chat({"--help"}));
    EXPECT_NE(h.out.find("most tokens per reply"), std::string::npos) << h.out;
    EXPECT_NE(h.out.find("512"), std::string::npos) << h.out;
}

}  // namespace
}  // namespace qlm
