// A chat over one KV cache: each turn renders the whole conversation with the chat template,
// tokenizes it, keeps the cached tokens it shares as a prefix with what the cache holds and
// evaluates only the rest; when the context would overflow, the oldest exchanges are dropped (the
// system prompt stays) and a notice says so.
//
//   ContextKvSource src(ctx);
//   ChatSession s(src, *tokenizer, ChatTemplate::builtin(Family::ChatML, "", ""));
//   s.conversation().system = "Be brief.";
//   TurnResult r = s.reply("Hello", sampler, opts);   // streams via opts.on_text
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "src/chat/chat_template.h"
#include "src/chat/conversation.h"
#include "src/generate/generate.h"
#include "src/generate/model_adapters.h"
#include "src/model/context.h"
#include "src/tokenizer/tokenizer.h"

namespace qlm::chat {

// A LogitsSource whose sequence can forget its positions from p0 on (KvCache::seq_rm); one with
// sliding-window layers may forget more (n_past() tells).
class KvSource : public LogitsSource {
public:
    virtual void seq_rm(int64_t p0) = 0;
};

class ContextKvSource : public KvSource {
public:
    explicit ContextKvSource(InferenceContext& ctx) : ctx_(ctx) {}
    void eval(std::span<const int32_t> tokens, bool all_logits) override { ctx_.eval(tokens, all_logits); }
    int64_t n_outputs() const override { return ctx_.n_outputs(); }
    std::span<const float> logits(int64_t i) const override { return ctx_.logits(i); }
    int64_t n_past() const override { return ctx_.n_past(); }
    int64_t n_ctx() const override { return ctx_.n_ctx(); }
    void seq_rm(int64_t p0) override { ctx_.seq_rm(0, p0); }

private:
    InferenceContext& ctx_;
};

struct TurnResult {
    GenerateResult gen;
    int64_t prompt_tokens = 0;   // the rendered conversation
    int64_t reused_tokens = 0;   // of those, already in the cache
    int dropped_exchanges = 0;   // oldest exchanges dropped to fit the context
};

class ChatSession {
public:
    ChatSession(KvSource& source, const Tokenizer& tok, ChatTemplate tmpl);

    Conversation& conversation() { return conv_; }
    const Conversation& conversation() const { return conv_; }
    const ChatTemplate& chat_template() const { return tmpl_; }

    // Adds the user message and generates the reply, which is added to the conversation even
    // when cut short (cancel, context full). On an error the user message is taken back and the
    // error passed on (qlm::Error: e.g. the message alone does not fit the context).
    TurnResult reply(const std::string& user_text, Sampler& sampler, const GenerateOptions& opts);
    // Generates the last reply again (the last turn must be an assistant reply).
    TurnResult regenerate(Sampler& sampler, const GenerateOptions& opts);
    // Drops the last exchange (user message + reply); false when there is none.
    bool undo();
    // Forgets the turns (the system prompt stays).
    void clear();
    // Cuts the KV cache back to the tokens the conversation as it stands still shares with it, so
    // that tokens_in_context() counts the conversation, not what was dropped. clear() and undo()
    // call it; call it after changing conversation() directly (loading a file, a new system prompt).
    void sync_cache();

    // The prompt text and ids for the conversation as it stands (with the generation prompt).
    std::string render_prompt() const;
    std::vector<int32_t> tokenize_prompt(const std::string& text) const;

    int64_t tokens_in_context() const { return source_.n_past(); }
    int64_t n_ctx() const { return source_.n_ctx(); }

    // The largest context the model allows (its trained context; 0: unknown), so that an error for
    // a message too large for the context suggests a larger -c only when there is one.
    int64_t n_ctx_max = 0;

    std::function<void(const std::string&)> on_notice;  // "[dropped the oldest ...]"
    std::function<void(const std::string& text, const std::vector<int32_t>& ids)> on_prompt;  // --verbose-prompt

private:
    TurnResult generate_reply(Sampler& sampler, const GenerateOptions& opts);
    std::string render(bool add_generation_prompt) const;

    KvSource& source_;
    const Tokenizer& tok_;
    ChatTemplate tmpl_;
    TokenizerDecoder decoder_;
    Conversation conv_;
    std::vector<int32_t> cached_;  // the tokens at positions 0..n_past-1 of the cache
};

}  // namespace qlm::chat
