// `qlm chat` on a pseudo-terminal with stories260K (a story model without a chat template, so
// --chat-template chatml): history recall with the up arrow (also from the history file of an
// earlier session), slash commands, Ctrl-C during a long reply, /save + /load, the notice when the
// context fills, Ctrl-C twice and Ctrl-D to leave. Waits are for output patterns with generous
// timeouts (the machine may be loaded); nothing asserts on time.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "chat_pty.h"
#include "common/test_support.h"

namespace qlm {
namespace {

constexpr const char* kUp = "\x1b[A";
constexpr const char* kCtrlC = "\x03";
constexpr const char* kCtrlD = "\x04";

struct ChatPty {
    explicit ChatPty(const std::filesystem::path& state, std::vector<std::string> extra = {}) {
        std::vector<std::string> argv{test::qlm_bin().string(), "chat", "-m",
                                      test::shared_file("models/stories260K-F32.gguf").string(),
                                      "--chat-template", "chatml", "-t", "1"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        p = std::make_unique<test::PtyProcess>(
            argv, std::vector<std::pair<std::string, std::string>>{{"XDG_STATE_HOME", state.string()}, {"TERM", "xterm"}, {"LC_ALL", "C.UTF-8"}});
    }
    // The prompt after the banner or a reply.
    bool prompt() { return p->wait_for("> "); }
    std::unique_ptr<test::PtyProcess> p;
};

TEST(ChatPty, SlashCommandsAndHistoryRecallWithTheUpArrow) {
    auto state = test::temp_dir("chat-pty-history");
    {
        ChatPty c(state, {"-n", "8"});
        ASSERT_TRUE(c.p->wait_for("Type /help")) << c.p->output();
        ASSERT_TRUE(c.prompt());
        c.p->type("/help\r");
        ASSERT_TRUE(c.p->wait_for("/regen")) << c.p->output();
        ASSERT_TRUE(c.prompt());
        c.p->type("/set top_k 7\r");
        ASSERT_TRUE(c.p->wait_for("[top_k = 7]")) << c.p->output();
        ASSERT_TRUE(c.prompt());
        c.p->type("/params\r");
        ASSERT_TRUE(c.p->wait_for("top_k 7 |")) << c.p->output();
        ASSERT_TRUE(c.prompt());
        // Up arrow + Enter runs /params again.
        c.p->type(kUp);
        ASSERT_TRUE(c.p->wait_for("/params")) << c.p->output();
        c.p->type("\r");
        ASSERT_TRUE(c.p->wait_for("top_k 7 |")) << c.p->output();
        ASSERT_TRUE(c.prompt());
        c.p->type(kCtrlD);
        EXPECT_EQ(c.p->wait_exit(), 0) << c.p->output();
    }
    const std::string history = test::read_text(state / "qlm" / "history");
    EXPECT_NE(history.find("/set top_k 7"), std::string::npos) << history;
    {
        // A new session recalls the previous session's last line from the history file.
        ChatPty c(state, {"-n", "8"});
        ASSERT_TRUE(c.prompt()) << c.p->output();
        c.p->type(kUp);
        ASSERT_TRUE(c.p->wait_for("/params")) << c.p->output();
        c.p->type("\r");
        ASSERT_TRUE(c.p->wait_for("top_k 40 |")) << c.p->output();  // the new session's default
        ASSERT_TRUE(c.prompt());
        c.p->type("/quit\r");
        EXPECT_EQ(c.p->wait_exit(), 0) << c.p->output();
    }
}

TEST(ChatPty, CtrlCStopsALongReplyAndTwiceAtAnEmptyPromptExits) {
    auto state = test::temp_dir("chat-pty-ctrlc");
    ChatPty c(state, {"-n", "100000", "--ignore-eos", "-c", "2048"});
    ASSERT_TRUE(c.prompt()) << c.p->output();
    c.p->type("Once upon a time\r");
    ASSERT_TRUE(c.p->wait_for("Once upon a time\r\n")) << c.p->output();  // the echo
    // Some of the reply, then Ctrl-C: the reply stops, the partial text stays.
    ASSERT_TRUE(c.p->wait_for(" ")) << c.p->output();
    c.p->type(kCtrlC);
    ASSERT_TRUE(c.p->wait_for("[interrupted")) << c.p->output();
    EXPECT_EQ(c.p->output().find("[context full"), std::string::npos) << "the reply ended before Ctrl-C arrived";
    ASSERT_TRUE(c.prompt());
    c.p->type("/stats\r");
    ASSERT_TRUE(c.p->wait_for("2 messages | last reply: ")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    // Ctrl-C with typed text clears the line; twice at an empty prompt leaves.
    c.p->type("abc");
    ASSERT_TRUE(c.p->wait_for("abc")) << c.p->output();
    c.p->type(kCtrlC);
    ASSERT_TRUE(c.prompt());
    EXPECT_EQ(c.p->output().find("press Ctrl-C again"), std::string::npos) << c.p->output();
    c.p->type(kCtrlC);
    ASSERT_TRUE(c.p->wait_for("press Ctrl-C again")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type(kCtrlC);
    EXPECT_EQ(c.p->wait_exit(), 0) << c.p->output();
}

TEST(ChatPty, SaveAndLoadRoundTrip) {
    auto dir = test::temp_dir("chat-pty-save");
    const std::string a = (dir / "a.json").string(), b = (dir / "b.json").string();
    ChatPty c(dir, {"-n", "12", "--system", "You tell stories."});
    ASSERT_TRUE(c.prompt()) << c.p->output();
    c.p->type("Tom had a red ball, caf\xC3\xA9 \xE2\x82\xAC\r");  // UTF-8 input
    ASSERT_TRUE(c.p->wait_for("\xE2\x82\xAC\r\n")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("/save " + a + "\r");
    ASSERT_TRUE(c.p->wait_for("[saved 3 messages")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("/clear\r");
    ASSERT_TRUE(c.p->wait_for("[conversation cleared]")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("/load " + a + "\r");
    ASSERT_TRUE(c.p->wait_for("[loaded 3 messages")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("/save " + b + "\r");
    ASSERT_TRUE(c.p->wait_for("[saved 3 messages")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("/load " + (dir / "missing.json").string() + "\r");
    ASSERT_TRUE(c.p->wait_for("qlm: error: ")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type(kCtrlD);
    EXPECT_EQ(c.p->wait_exit(), 0) << c.p->output();
    const auto ja = test::read_json(a);
    EXPECT_EQ(ja, test::read_json(b));
    ASSERT_EQ(ja["messages"].size(), 3u);
    EXPECT_EQ(ja["messages"][0]["role"], "system");
    EXPECT_EQ(ja["messages"][1]["content"], "Tom had a red ball, caf\xC3\xA9 \xE2\x82\xAC");
    EXPECT_EQ(ja["messages"][2]["role"], "assistant");
}

// /clear then /stats: the context holds only the system prompt; /set n_predict caps the next
// reply; a failing command leaves the chat running.
TEST(ChatPty, ClearStatsAndSetNPredict) {
    auto dir = test::temp_dir("chat-pty-clear");
    ChatPty c(dir, {"-n", "20", "--ignore-eos", "--system", "Be kind."});
    ASSERT_TRUE(c.prompt()) << c.p->output();
    c.p->type("/stats\r");
    ASSERT_TRUE(c.p->wait_for("[context: 0 / 2048 tokens, 1 message]")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("Once upon a time\r");
    ASSERT_TRUE(c.p->wait_for("Once upon a time\r\n")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("/stats\r");
    ASSERT_TRUE(c.p->wait_for("[context: ")) << c.p->output();
    const long long before = std::stoll(c.p->since_last_match());
    ASSERT_TRUE(c.p->wait_for(", 3 messages | last reply: 20 tokens")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("/clear\r");
    ASSERT_TRUE(c.p->wait_for("[conversation cleared]")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("/stats\r");
    ASSERT_TRUE(c.p->wait_for("[context: ")) << c.p->output();
    const std::string stats = c.p->since_last_match();
    const long long n = std::stoll(stats);
    EXPECT_GT(n, 0) << stats;                 // the system prompt, kept
    EXPECT_LT(n, before - 20 - 4) << stats;   // without the exchange: 20 tokens of reply, the message
    ASSERT_TRUE(c.p->wait_for(" / 2048 tokens, 1 message | last reply")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("/set n_predict 5\r");
    ASSERT_TRUE(c.p->wait_for("[n_predict = 5]")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("/bogus\r");
    ASSERT_TRUE(c.p->wait_for("qlm: error: unknown command /bogus")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("Tom had a dog\r");
    ASSERT_TRUE(c.p->wait_for("Tom had a dog\r\n")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type("/stats\r");
    ASSERT_TRUE(c.p->wait_for(", 3 messages | last reply: 5 tokens")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type(kCtrlD);
    EXPECT_EQ(c.p->wait_exit(), 0) << c.p->output();
}

TEST(ChatPty, FullContextDropsOldTurnsWithANotice) {
    auto dir = test::temp_dir("chat-pty-overflow");
    ChatPty c(dir, {"-n", "32", "-c", "160", "--ignore-eos", "--system", "Be kind."});
    ASSERT_TRUE(c.prompt()) << c.p->output();
    bool noticed = false;
    for (int i = 0; i < 10 && !noticed; ++i) {
        c.p->type("The cat sat on the mat number " + std::to_string(i) + "\r");
        ASSERT_TRUE(c.p->wait_for("number " + std::to_string(i) + "\r\n")) << c.p->output();
        ASSERT_TRUE(c.prompt()) << c.p->output();
        noticed = c.p->output().find("[context full: dropped the oldest") != std::string::npos;
    }
    EXPECT_TRUE(noticed) << c.p->output();
    c.p->type("/stats\r");
    ASSERT_TRUE(c.p->wait_for("[context: ")) << c.p->output();
    ASSERT_TRUE(c.prompt());
    c.p->type(kCtrlD);
    EXPECT_EQ(c.p->wait_exit(), 0) << c.p->output();
}

}  // namespace
}  // namespace qlm
