// The chat loop on a script (stories260K, greedy): multi-line input, slash commands and their
// notices, errors that keep the chat going, and the exit status of a scripted chat.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

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

struct Chat {
    std::shared_ptr<const gguf::GgufFile> file{gguf::GgufFile::open(test::shared_file("models/stories260K-F32.gguf").string())};
    std::unique_ptr<Model> model = Model::load(file);
    std::unique_ptr<Tokenizer> tok = Tokenizer::from_gguf(*file);
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
    EXPECT_EQ(rc, 1);
    EXPECT_TRUE(has(c.notes, "qlm: error: unknown command /nope")) << c.notes;
    EXPECT_TRUE(has(c.notes, "qlm: error: /set temp: 'hot' is not a number")) << c.notes;
    EXPECT_TRUE(has(c.notes, "not valid UTF-8 (byte 4)")) << c.notes;
    const std::vector<Message> m = c.session.conversation().messages();
    ASSERT_EQ(m.size(), 2u);  // only the // message was sent, without its escape
    EXPECT_EQ(m[0].content, "/slash message");
}

}  // namespace
}  // namespace qlm::chat
