// ChatSession on the real stories260K model: the KV cache is reused across turns (only the new
// suffix is evaluated, and the reply equals a from-scratch evaluation), old exchanges are dropped
// when the context fills, undo/regenerate; conversation files.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "common/loaded_model.h"
#include "common/test_support.h"
#include "src/chat/chat_session.h"
#include "src/util/error.h"

namespace qlm::chat {
namespace {

struct CountingSource : KvSource {
    explicit CountingSource(InferenceContext& c) : inner(c) {}
    void eval(std::span<const int32_t> t, bool all) override {
        evaluated += static_cast<int64_t>(t.size());
        inner.eval(t, all);
    }
    int64_t n_outputs() const override { return inner.n_outputs(); }
    std::span<const float> logits(int64_t i) const override { return inner.logits(i); }
    int64_t n_past() const override { return inner.n_past(); }
    int64_t n_ctx() const override { return inner.n_ctx(); }
    void seq_rm(int64_t n) override { inner.seq_rm(n); }
    ContextKvSource inner;
    int64_t evaluated = 0;
};

// A cache that forgets everything when cut back (as one with sliding-window layers does when the
// window of the new end was overwritten).
struct ForgetfulSource : CountingSource {
    using CountingSource::CountingSource;
    void seq_rm(int64_t n) override { CountingSource::seq_rm(n < n_past() ? 0 : n); }
};

struct Stories : test::LoadedModel {
    std::unique_ptr<InferenceContext> context(int64_t n_ctx) {
        return std::make_unique<InferenceContext>(*model, ContextOptions{.n_ctx = n_ctx, .n_batch = 512, .n_threads = 1});
    }
    ChatTemplate chatml() const { return ChatTemplate::builtin(Family::ChatML, "<s>", "</s>"); }
};

GenerateOptions greedy(int n) {
    GenerateOptions o;
    o.n_predict = n;
    return o;
}

SamplingParams greedy_params() {
    SamplingParams p;
    p.temperature = 0;
    return p;
}

TEST(ChatSession, ReusesTheCacheAndMatchesAFreshEvaluation) {
    Stories s;
    auto ctx = s.context(512);
    CountingSource src(*ctx);
    ChatSession chat(src, *s.tok, s.chatml());
    chat.conversation().system = "Tell stories.";
    Sampler sampler(greedy_params());
    TurnResult t1 = chat.reply("Once upon a time", sampler, greedy(20));
    EXPECT_EQ(t1.reused_tokens, 0);
    EXPECT_EQ(t1.gen.tokens.size(), 20u);
    EXPECT_FALSE(t1.gen.text.empty());
    const int64_t after1 = src.evaluated;

    TurnResult t2 = chat.reply("Tom had a dog", sampler, greedy(20));
    // Everything up to the first reply is reused; only the new turn is evaluated.
    EXPECT_GE(t2.reused_tokens, t1.prompt_tokens);
    EXPECT_LT(src.evaluated - after1, t2.prompt_tokens - t1.prompt_tokens + 20 + 1);
    EXPECT_EQ(chat.tokens_in_context(), src.n_past());

    // A fresh context given the same conversation says the same thing.
    auto ctx2 = s.context(512);
    CountingSource src2(*ctx2);
    ChatSession fresh(src2, *s.tok, s.chatml());
    fresh.conversation() = chat.conversation();
    fresh.conversation().turns.resize(2);  // up to the first reply
    Sampler sampler2(greedy_params());
    TurnResult f = fresh.reply("Tom had a dog", sampler2, greedy(20));
    EXPECT_EQ(f.reused_tokens, 0);
    EXPECT_EQ(f.gen.text, t2.gen.text);
    EXPECT_EQ(f.gen.tokens, t2.gen.tokens);
}

TEST(ChatSession, RegenerateAndUndo) {
    Stories s;
    auto ctx = s.context(512);
    ContextKvSource src(*ctx);
    ChatSession chat(src, *s.tok, s.chatml());
    Sampler sampler(greedy_params());
    EXPECT_THROW(chat.regenerate(sampler, greedy(8)), Error);
    TurnResult a = chat.reply("Lily went out", sampler, greedy(12));
    TurnResult b = chat.regenerate(sampler, greedy(12));
    EXPECT_EQ(a.gen.text, b.gen.text);  // greedy: the same reply again
    EXPECT_GT(b.reused_tokens, 0);
    ASSERT_EQ(chat.conversation().turns.size(), 2u);
    EXPECT_TRUE(chat.undo());
    EXPECT_TRUE(chat.conversation().turns.empty());
    EXPECT_FALSE(chat.undo());
}

TEST(ChatSession, FullContextDropsOldestExchangesKeepingTheSystemPrompt) {
    Stories s;
    auto ctx = s.context(160);
    ContextKvSource src(*ctx);
    ChatSession chat(src, *s.tok, s.chatml());
    chat.conversation().system = "Be kind.";
    std::vector<std::string> notices;
    chat.on_notice = [&](const std::string& n) { notices.push_back(n); };
    Sampler sampler(greedy_params());
    for (int i = 0; i < 8; ++i) {
        TurnResult r = chat.reply("The cat sat on the mat " + std::to_string(i), sampler, greedy(24));
        EXPECT_LE(chat.tokens_in_context(), 160);
        (void)r;
    }
    ASSERT_FALSE(notices.empty());
    EXPECT_NE(notices[0].find("dropped the oldest"), std::string::npos) << notices[0];
    // One exchange is "the oldest exchange", more are "the oldest N exchanges" (never "1 exchange").
    for (const std::string& n : notices)
        EXPECT_TRUE(std::regex_search(n, std::regex("dropped the oldest (exchange|([2-9]|[1-9][0-9]+) exchanges) to make room")))
            << n;
    EXPECT_EQ(chat.conversation().system, "Be kind.");
    EXPECT_LT(chat.conversation().turns.size(), 16u);
    EXPECT_EQ(chat.conversation().turns.back().role, "assistant");
    EXPECT_EQ(chat.conversation().turns[chat.conversation().turns.size() - 2].content, "The cat sat on the mat 7");
}

// A model that writes the end-of-turn marker as plain text (stories260K has no <|im_end|> token,
// so the ChatML fallback's marker arrives as pieces): the reply ends before it.
struct ScriptedSource : KvSource {
    ScriptedSource(std::vector<int32_t> next, int64_t n_vocab) : next_(std::move(next)), n_vocab_(n_vocab) {}
    void eval(std::span<const int32_t> t, bool) override {
        n_past_ += static_cast<int64_t>(t.size());
        ++calls_;
    }
    int64_t n_outputs() const override { return 1; }
    std::span<const float> logits(int64_t) const override {
        row_.assign(static_cast<size_t>(n_vocab_), 0.0f);
        const size_t step = std::min(static_cast<size_t>(calls_ - 1), next_.size() - 1);
        row_[static_cast<size_t>(next_[step])] = 10.0f;
        return row_;
    }
    int64_t n_past() const override { return n_past_; }
    int64_t n_ctx() const override { return 512; }
    void seq_rm(int64_t n) override { n_past_ = n; }
    std::vector<int32_t> next_;
    int64_t n_vocab_, n_past_ = 0, calls_ = 0;
    mutable std::vector<float> row_;
};

TEST(ChatSession, ATextEndOfTurnMarkerEndsTheReply) {
    Stories s;
    ASSERT_GT(s.tok->encode("<|im_end|>", {.add_bos = false, .parse_special = true}).size(), 1u);  // not one token
    ScriptedSource src(s.tok->encode("Hi there.<|im_end|>\n<|im_start|>user\nmore", {.add_bos = false}),
                       s.model->hparams().n_vocab);
    ChatSession chat(src, *s.tok, ChatTemplate::builtin(kFallbackFamily, "<s>", "</s>"));
    Sampler sampler(greedy_params());
    TurnResult r = chat.reply("Hello", sampler, greedy(64));
    EXPECT_EQ(r.gen.text, " Hi there.");  // SentencePiece's space prefix, then nothing of the marker
    EXPECT_EQ(r.gen.stop_reason, StopReason::StopString);
    EXPECT_EQ(chat.conversation().turns.back().content, " Hi there.");
}

TEST(ChatSession, AMessageLargerThanTheContextIsAnError) {
    Stories s;
    auto ctx = s.context(64);
    ContextKvSource src(*ctx);
    ChatSession chat(src, *s.tok, s.chatml());
    Sampler sampler(greedy_params());
    std::string big;
    for (int i = 0; i < 100; ++i) big += "story ";
    try {
        chat.reply(big, sampler, greedy(8));
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("larger -c"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(chat.conversation().turns.empty());
    TurnResult ok = chat.reply("Hi", sampler, greedy(8));  // still usable
    EXPECT_FALSE(ok.gen.tokens.empty());
}

TEST(Conversation, JsonRoundTripAndBadFiles) {
    Conversation c;
    c.system = "sys \xE2\x82\xAC";
    c.turns = {{"user", "a\nb"}, {"assistant", "c"}, {"user", "d"}};
    auto dir = test::temp_dir("chat-conv");
    const std::string path = (dir / "conv.json").string();
    save_conversation(path, c);
    EXPECT_EQ(load_conversation(path), c);
    EXPECT_EQ(conversation_from_json(nlohmann::json::parse(to_json(c).dump())), c);

    auto bad = [&](const std::string& text) {
        std::ofstream(dir / "bad.json") << text;
        EXPECT_THROW(load_conversation((dir / "bad.json").string()), Error) << text;
    };
    bad("not json");
    bad("[]");
    bad(R"({"messages": [{"role": "user"}]})");
    bad(R"({"messages": [{"role": "robot", "content": "x"}]})");
    bad(R"({"messages": [{"role": "assistant", "content": "x"}]})");
    bad(R"({"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "y"}]})");
    EXPECT_THROW(load_conversation((dir / "missing.json").string()), Error);
    EXPECT_THROW(save_conversation((dir / "no" / "such" / "dir.json").string(), c), Error);
}

// When truncating forgets more than the shared prefix (here: regenerating cuts the cache back to
// the prompt), the turn evaluates from what the cache still holds: the same reply as with a cache
// that keeps the prefix.
TEST(ChatSession, ACacheThatForgetsOnTruncateIsRefilled) {
    Stories s;
    std::string replies[2];
    int64_t reused[2] = {};
    for (int forgetful = 0; forgetful < 2; ++forgetful) {
        auto ctx = s.context(512);
        CountingSource keeping(*ctx);
        ForgetfulSource forgetting(*ctx);
        KvSource& src = forgetful ? static_cast<KvSource&>(forgetting) : keeping;
        ChatSession chat(src, *s.tok, s.chatml());
        Sampler sampler(greedy_params());
        chat.reply("Once upon a time", sampler, greedy(12));
        const TurnResult t2 = chat.regenerate(sampler, greedy(12));
        replies[forgetful] = t2.gen.text;
        reused[forgetful] = t2.reused_tokens;
        EXPECT_EQ(chat.tokens_in_context(), src.n_past());
    }
    EXPECT_GT(reused[0], 0);
    EXPECT_EQ(reused[1], 0);
    EXPECT_EQ(replies[1], replies[0]);
}

}  // namespace
}  // namespace qlm::chat
