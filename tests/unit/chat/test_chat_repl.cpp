// The chat loop on a script (stories260K, greedy): multi-line input, slash commands and their
// notices, errors that keep the chat going, and the exit status of a scripted chat.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/loaded_model.h"
#include "common/test_support.h"
#include "src/chat/chat_repl.h"

namespace qlm::chat {
namespace {

struct ScriptReader : LineReader {
    explicit ScriptReader(std::vector<std::string> lines) : lines_(lines.begin(), lines.end()) {}
    InputLine read(const std::string&) override {
        InputLine l;
        if (lines_.empty()) return l;  // Eof
        l.kind = InputLine::Kind::Line;
        l.text = lines_.front();
        lines_.pop_front();
        return l;
    }
    std::deque<std::string> lines_;
};

struct Chat : test::LoadedModel {
    InferenceContext ctx{*model, ContextOptions{.n_ctx = 256, .n_threads = 1}};
    ContextKvSource source{ctx};
    ChatSession session{source, *tok, ChatTemplate::builtin(Family::ChatML, "<s>", "</s>")};
    std::string text, notes;

    int run(const std::vector<std::string>& script) {
        ScriptReader reader(script);
        SamplingParams sp;
        sp.temperature = 0;
        GenerateOptions go;
        go.n_predict = 8;
        ChatRepl repl(session, sp, go, reader, /*interactive=*/false,
                      {.text = [this](std::string_view t) { text += t; },
                       .note = [this](const std::string& n) { notes += n + "\n"; }});
        return repl.loop();
    }
};

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(ChatRepl, MultiLineMessagesAndCommands) {
    Chat c;
    const int rc = c.run({"\"\"\"", "first line", "second line", "\"\"\"", "/set temp 0.5", "/params", "/stats",
                          "continued \\", "here", "/undo", "/quit", "never read"});
    EXPECT_EQ(rc, 0) << c.notes;
    const std::vector<Message> m = c.session.conversation().messages();
    ASSERT_EQ(m.size(), 2u);  // the second exchange was undone
    EXPECT_EQ(m[0].content, "first line\nsecond line");
    EXPECT_EQ(m[0].role, "user");
    EXPECT_FALSE(c.text.empty());
    EXPECT_EQ(c.text.back(), '\n');  // each reply ends its line
    EXPECT_TRUE(has(c.notes, "[temp = 0.5]")) << c.notes;
    EXPECT_TRUE(has(c.notes, "[temp 0.50 | top_k 40")) << c.notes;
    EXPECT_TRUE(has(c.notes, "[context: ")) << c.notes;
    EXPECT_TRUE(has(c.notes, "[removed the last exchange]")) << c.notes;
}

TEST(ChatRepl, ErrorsAreReportedAndTheScriptFails) {
    Chat c;
    const int rc = c.run({"/nope", "/set temp hot", std::string("bad \xff byte"), "//slash message"});
    EXPECT_EQ(rc, 1);  // the input that was not UTF-8
    EXPECT_TRUE(has(c.notes, "qlm: error: unknown command /nope")) << c.notes;
    EXPECT_TRUE(has(c.notes, "qlm: error: /set temp: 'hot' is not a number")) << c.notes;
    EXPECT_TRUE(has(c.notes, "not valid UTF-8 (byte 4)")) << c.notes;
    const std::vector<Message> m = c.session.conversation().messages();
    ASSERT_EQ(m.size(), 2u);  // only the // message was sent, without its escape
    EXPECT_EQ(m[0].content, "/slash message");
}

// A failing command is reported and the script goes on, with exit status 0 (as llama.cpp
// reports and continues); the message after it is answered.
TEST(ChatRepl, AFailingCommandDoesNotFailTheScript) {
    Chat c;
    const int rc = c.run({"/nope", "/set temp hot", "/regen", "/load /nonexistent/c.json", "Once upon a time"});
    EXPECT_EQ(rc, 0) << c.notes;
    EXPECT_TRUE(has(c.notes, "qlm: error: unknown command /nope")) << c.notes;
    EXPECT_TRUE(has(c.notes, "qlm: error: there is no reply to regenerate")) << c.notes;
    EXPECT_TRUE(has(c.notes, "qlm: error: '/nonexistent/c.json' is not a file")) << c.notes;
    EXPECT_EQ(c.session.conversation().turns.size(), 2u);
}

// A temperature of 0 or less is greedy, and /set and /params say so.
TEST(ChatRepl, SetTempBelowZeroSaysGreedy) {
    Chat c;
    ASSERT_EQ(c.run({"/set temp -1", "/params", "Once upon a time"}), 0) << c.notes;
    EXPECT_TRUE(has(c.notes, "[temp = -1 (greedy)]")) << c.notes;
    EXPECT_TRUE(has(c.notes, "[temp -1.00 (greedy) | top_k 40")) << c.notes;
    Chat g;  // the same reply as temperature 0 (the fixture's default)
    ASSERT_EQ(g.run({"Once upon a time"}), 0) << g.notes;
    EXPECT_EQ(c.text, g.text);
    ASSERT_EQ(c.run({"/set temp 0.7"}), 0);
    EXPECT_TRUE(has(c.notes, "[temp = 0.7]\n")) << c.notes;
}

TEST(ChatRepl, SetNPredictCapsTheNextReply) {
    Chat c;
    const int rc = c.run({"/set n_predict 3", "/params", "Once upon a time", "/stats", "/set n_predict -2",
                          "/set n-predict x"});
    EXPECT_EQ(rc, 0) << c.notes;
    EXPECT_TRUE(has(c.notes, "[n_predict = 3]")) << c.notes;
    EXPECT_TRUE(has(c.notes, "| n_predict 3 |")) << c.notes;
    EXPECT_TRUE(has(c.notes, "| last reply: 3 tokens in ")) << c.notes;
    EXPECT_TRUE(has(c.notes, "qlm: error: /set n_predict: -2 is out of range")) << c.notes;
    EXPECT_TRUE(has(c.notes, "qlm: error: /set n_predict: 'x' is not an integer")) << c.notes;
}

// /clear, /undo and /load leave the cache holding what the conversation still shares with it, so
// /stats counts the conversation as it stands.
TEST(ChatRepl, StatsAfterClearAndUndoCountTheConversationAsItStands) {
    Chat c;
    c.session.conversation().system = "Be kind.";
    ASSERT_EQ(c.run({"Once upon a time", "/stats"}), 0) << c.notes;
    const int64_t first = c.session.tokens_in_context();
    const int64_t system_only =
        static_cast<int64_t>(c.session.tokenize_prompt("<|im_start|>system\nBe kind.<|im_end|>\n").size());
    EXPECT_GT(first, system_only);
    c.notes.clear();
    ASSERT_EQ(c.run({"/clear", "/stats"}), 0) << c.notes;
    EXPECT_TRUE(has(c.notes, fmt::format("[context: {} / 256 tokens, 1 message]", system_only))) << c.notes;
    EXPECT_EQ(c.session.tokens_in_context(), system_only);

    c.notes.clear();
    ASSERT_EQ(c.run({"Once upon a time", "Tom had a dog"}), 0) << c.notes;
    const int64_t second = c.session.tokens_in_context();
    ASSERT_EQ(c.run({"/undo", "/stats"}), 0) << c.notes;
    EXPECT_TRUE(has(c.notes, ", 3 messages]")) << c.notes;
    // The first exchange stays cached (with its closing <|im_end|>), the second one is gone.
    EXPECT_GE(c.session.tokens_in_context(), first);
    EXPECT_LT(c.session.tokens_in_context(), second);

    c.session.conversation().system.clear();
    c.notes.clear();
    ASSERT_EQ(c.run({"/clear", "/stats"}), 0) << c.notes;
    EXPECT_TRUE(has(c.notes, "[context: 0 / 256 tokens, 0 messages]")) << c.notes;
}

}  // namespace
}  // namespace qlm::chat
