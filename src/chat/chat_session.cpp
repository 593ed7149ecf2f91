#include "src/chat/chat_session.h"

#include <algorithm>

#include "src/util/error.h"
#include "src/util/plural.h"

namespace qlm::chat {

ChatSession::ChatSession(KvSource& source, const Tokenizer& tok, ChatTemplate tmpl)
    : source_(source), tok_(tok), tmpl_(std::move(tmpl)), decoder_(tok) {}

std::string ChatSession::render_prompt() const { return render(/*add_generation_prompt=*/true); }

std::string ChatSession::render(bool add_generation_prompt) const {
    std::string text = tmpl_.render(conv_.messages(), add_generation_prompt);
    // The template's own BOS text is dropped when the tokenizer adds BOS anyway (no double BOS).
    if (tok_.add_bos() && !tmpl_.bos().empty() && text.rfind(tmpl_.bos(), 0) == 0) text.erase(0, tmpl_.bos().size());
    return text;
}

std::vector<int32_t> ChatSession::tokenize_prompt(const std::string& text) const {
    EncodeOptions eo;
    eo.add_bos = tok_.add_bos();
    eo.parse_special = true;  // the template's markers (<|im_start|>, [INST], ...) are special tokens
    return tok_.encode(text, eo);
}

TurnResult ChatSession::reply(const std::string& user_text, Sampler& sampler, const GenerateOptions& opts) {
    const Conversation before = conv_;
    conv_.turns.push_back({"user", user_text});
    try {
        return generate_reply(sampler, opts);
    } catch (...) {
        conv_ = before;
        throw;
    }
}

TurnResult ChatSession::regenerate(Sampler& sampler, const GenerateOptions& opts) {
    if (conv_.turns.empty() || conv_.turns.back().role != "assistant")
        throw_error("there is no reply to regenerate: send a message first");
    const Conversation before = conv_;
    conv_.turns.pop_back();
    try {
        return generate_reply(sampler, opts);
    } catch (...) {
        conv_ = before;
        throw;
    }
}

bool ChatSession::undo() {
    if (conv_.turns.empty()) return false;
    if (conv_.turns.back().role == "assistant") conv_.turns.pop_back();
    if (!conv_.turns.empty() && conv_.turns.back().role == "user") conv_.turns.pop_back();
    sync_cache();
    return true;
}

void ChatSession::clear() {
    conv_.turns.clear();
    sync_cache();
}

void ChatSession::sync_cache() {
    std::vector<int32_t> ids;
    if (!conv_.messages().empty()) {
        try {
            ids = tokenize_prompt(render(/*add_generation_prompt=*/false));
        } catch (const Error&) {
            ids.clear();  // a template that cannot render this conversation keeps nothing
        }
    }
    size_t keep = 0;
    const size_t limit = std::min<size_t>(cached_.size(), static_cast<size_t>(source_.n_past()));
    while (keep < limit && keep < ids.size() && cached_[keep] == ids[keep]) ++keep;
    source_.seq_rm(static_cast<int64_t>(keep));
    cached_.resize(keep);
}

TurnResult ChatSession::generate_reply(Sampler& sampler, const GenerateOptions& opts) {
    TurnResult tr;
    const int64_t n_ctx = source_.n_ctx();
    // Room kept for the reply when deciding whether to drop old turns.
    const int64_t reserve = std::max<int64_t>(
        1, opts.n_predict >= 0 ? std::min<int64_t>(opts.n_predict, n_ctx / 2) : n_ctx / 4);
    std::string text;
    std::vector<int32_t> ids;
    for (;;) {
        text = render_prompt();
        ids = tokenize_prompt(text);
        const int64_t n = static_cast<int64_t>(ids.size());
        if (n + reserve <= n_ctx) break;
        if (conv_.drop_oldest_exchange()) {
            ++tr.dropped_exchanges;
            continue;
        }
        if (n < n_ctx) break;  // fits, with less room for the reply
        const char* what = conv_.system.empty() ? "" : "the system prompt and ";
        if (n_ctx_max > 0 && n >= n_ctx_max)
            throw_error("the conversation needs {} tokens ({}the message) but this model's context holds at most {}: "
                        "use a shorter message{}", n, what, n_ctx_max, conv_.system.empty() ? "" : " or system prompt");
        throw_error("the conversation needs {} tokens ({}the message) but the context holds {}: use a larger -c{} "
                    "or a shorter message", n, what, n_ctx,
                    n_ctx_max > 0 ? fmt::format(" (the model allows up to {})", n_ctx_max) : std::string());
    }
    if (ids.empty()) throw_error("the rendered prompt has no tokens");
    if (tr.dropped_exchanges > 0 && on_notice)
        on_notice(fmt::format("[context full: dropped the oldest {} to make room{}]",
                              tr.dropped_exchanges == 1 ? std::string("exchange")
                                                        : counted(tr.dropped_exchanges, "exchange"),
                              conv_.system.empty() ? "" : "; the system prompt is kept"));
    if (on_prompt) on_prompt(text, ids);

    // Keep the cached prefix; evaluate only the rest (at least one token, for fresh logits).
    size_t keep = 0;
    const size_t limit = std::min<size_t>(cached_.size(), static_cast<size_t>(source_.n_past()));
    while (keep < limit && keep < ids.size() && cached_[keep] == ids[keep]) ++keep;
    if (keep == ids.size()) --keep;
    source_.seq_rm(static_cast<int64_t>(keep));
    // A cache with sliding-window layers may have to forget more than asked (context.h).
    keep = std::min(keep, static_cast<size_t>(source_.n_past()));
    cached_.resize(keep);
    tr.prompt_tokens = static_cast<int64_t>(ids.size());
    tr.reused_tokens = static_cast<int64_t>(keep);

    GenerateOptions go = opts;
    go.history = std::span<const int32_t>(ids.data(), keep);
    std::vector<std::string> stops = tmpl_.stop_strings();
    go.stop.insert(go.stop.end(), stops.begin(), stops.end());
    try {
        tr.gen = generate(source_, decoder_, sampler, std::span<const int32_t>(ids).subspan(keep), go);
    } catch (...) {
        source_.seq_rm(0);
        cached_.clear();
        throw;
    }
    cached_ = ids;
    cached_.insert(cached_.end(), tr.gen.tokens.begin(), tr.gen.tokens.end());
    cached_.resize(std::min<size_t>(cached_.size(), static_cast<size_t>(source_.n_past())));
    conv_.turns.push_back({"assistant", tr.gen.text});
    if (tr.gen.stop_reason == StopReason::ContextFull && on_notice)
        on_notice("[context full: the reply was cut; older turns will be dropped on the next message]");
    return tr;
}

}  // namespace qlm::chat
