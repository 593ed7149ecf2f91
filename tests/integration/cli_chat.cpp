// `qlm chat` without a terminal: a script on stdin (one message or command per line, "\" and
// """ for multi-line input), --single-turn -p, template selection and its errors.
#include <gtest/gtest.h>

#include <fstream>
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

TEST(CliChat, ScriptModeIsDeterministicAndMatchesSingleTurn) {
    const std::vector<std::string> flags = {"--chat-template", "chatml", "--temp", "0", "-n", "24", "--ignore-eos"};
    auto args = chat(flags);
    const std::string script = "Once upon a time\n/stats\nTom had a dog\n";
    auto r1 = run_command(args, script);
    ASSERT_EQ(r1.exit_code, 0) << r1.err;
    auto r2 = run_command(args, script);
    ASSERT_EQ(r2.exit_code, 0) << r2.err;
    EXPECT_EQ(r1.out, r2.out);
    // One /stats line, taken after the first exchange (the user's message and the reply).
    EXPECT_EQ(count(r1.err, "[context: "), 1u) << r1.err;
    EXPECT_NE(r1.err.find(", 2 messages | last reply: 24 tokens"), std::string::npos) << r1.err;
    EXPECT_NE(r1.err.find("its prompt: "), std::string::npos) << r1.err;
    // The first reply is what --single-turn answers.
    auto one = chat(flags);
    one.insert(one.end(), {"--single-turn", "-p", "Once upon a time"});
    auto s = run_command(one);
    ASSERT_EQ(s.exit_code, 0) << s.err;
    ASSERT_FALSE(s.out.empty());
    EXPECT_EQ(r1.out.rfind(s.out, 0), 0u) << "script:\n" << r1.out << "\nsingle:\n" << s.out;
    // Then the second reply, also ended by a newline.
    ASSERT_GT(r1.out.size(), s.out.size());
    EXPECT_EQ(s.out.back(), '\n');
    EXPECT_EQ(r1.out.back(), '\n');
}

TEST(CliChat, MultiLineInputAndCommandsInAScript) {
    auto dir = test::temp_dir("cli-chat-script");
    const std::string conv = (dir / "c.json").string();
    const std::string script = "\"\"\"\nfirst line\nsecond line\n\"\"\"\nthird \\\nfourth\n/undo\n/system Be brief.\n/save " +
                               conv + "\n/bogus\n";
    auto r = run_command(chat({"--chat-template", "chatml", "-n", "8", "--verbose-prompt"}), script);
    EXPECT_EQ(r.exit_code, 0) << r.err;  // the unknown command is reported and the script goes on
    EXPECT_NE(r.err.find("[prompt] <|im_start|>user\\nfirst line\\nsecond line<|im_end|>"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("third \\nfourth<|im_end|>"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("[ids] 1 "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("[removed the last exchange]"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("qlm: error: unknown command /bogus"), std::string::npos) << r.err;
    auto j = test::read_json(conv);
    ASSERT_EQ(j["messages"].size(), 3u) << j.dump();
    EXPECT_EQ(j["messages"][0]["content"], "Be brief.");
    EXPECT_EQ(j["messages"][1]["content"], "first line\nsecond line");
}

TEST(CliChat, LoadedConversationIsContinued) {
    auto dir = test::temp_dir("cli-chat-load");
    const std::string conv = (dir / "c.json").string();
    std::ofstream(conv) << R"({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                                {"role": "assistant", "content": "A"}]})";
    auto r = run_command(chat({"--chat-template", "chatml", "-n", "4", "--verbose-prompt"}), "/load " + conv + "\nNext\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("[loaded 3 messages"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("<|im_start|>system\\nS<|im_end|>\\n<|im_start|>user\\nU<|im_end|>\\n<|im_start|>assistant\\nA"
                         "<|im_end|>\\n<|im_start|>user\\nNext<|im_end|>\\n<|im_start|>assistant\\n"),
              std::string::npos)
        << r.err;
}

TEST(CliChat, JinjaTemplateFromAFile) {
    auto dir = test::temp_dir("cli-chat-jinja");
    const auto file = dir / "t.jinja";
    std::ofstream(file) << "{% for m in messages %}{{ m.role | upper }}: {{ m.content }}\n{% endfor %}"
                           "{% if add_generation_prompt %}ASSISTANT:{% endif %}";
    auto r = run_command(chat({"--chat-template", file.string(), "-n", "4", "--verbose-prompt", "--single-turn", "-p", "Hi"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("[prompt] USER: Hi\\nASSISTANT:"), std::string::npos) << r.err;
}

TEST(CliChat, ErrorsAreOneLine) {
    auto dir = test::temp_dir("cli-chat-errors");
    auto expect_error = [](const test::CommandResult& r, const std::string& text, int code = 1) {
        EXPECT_EQ(r.exit_code, code) << r.err;
        EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
        EXPECT_EQ(r.err.find("qlm: error:"), r.err.rfind("qlm: error:")) << r.err;
    };
    expect_error(run_command(chat({"--chat-template", "nosuch"})), "neither a built-in template");
    expect_error(run_command(chat({"--chat-template", "chatml", "--single-turn"})), "--single-turn needs", 2);
    std::ofstream(dir / "bad.jinja") << "{% for m in messages %}{{ m.content }";
    expect_error(run_command(chat({"--chat-template", (dir / "bad.jinja").string(), "--single-turn", "-p", "x"})),
                 "chat template line 1");
    std::ofstream(dir / "raise.jinja") << "{{ raise_exception('no system here') }}";
    expect_error(run_command(chat({"--chat-template", (dir / "raise.jinja").string(), "--single-turn", "-p", "x"})),
                 "no system here");
    expect_error(run_command(chat({"--chat-template", "chatml", "--top-p", "2", "--single-turn", "-p", "x"})), "--top-p", 2);
    // A message larger than the context: an error for that message, the chat goes on.
    std::string big;
    for (int i = 0; i < 200; ++i) big += "story ";
    auto r = run_command(chat({"--chat-template", "chatml", "-c", "64", "-n", "4"}), big + "\nHi\n");
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("larger -c"), std::string::npos) << r.err;
    EXPECT_FALSE(r.out.empty());  // "Hi" was answered
}

}  // namespace
}  // namespace qlm
