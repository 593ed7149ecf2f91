// qlm chat -m MODEL: an interactive chat. The conversation is rendered with the model's chat
// template (or --chat-template; ChatML, with a notice, for a model that has none) and the KV cache
// is reused across turns (src/chat/chat_session.h). A reply ends at the template's end of turn or
// after kDefaultReplyTokens (-n);
// the loop and its slash commands are src/chat/chat_repl.h. On a terminal: GNU readline with
// persistent history; otherwise stdin is read line by line (a script), and --single-turn -p TEXT
// answers once.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "src/chat/chat_repl.h"
#include "src/chat/chat_session.h"
#include "src/util/error.h"
#include "src/util/interrupt.h"
#include "tools/qlm/command.h"
#include "tools/qlm/line_reader.h"
#include "tools/qlm/gpu_flags.h"
#include "tools/qlm/model_setup.h"
#include "tools/qlm/sampling_flags.h"
#include "tools/qlm/text_util.h"
#include "tools/qlm/thread_flag.h"
#include "tools/qlm/usage_error.h"

namespace qlm::cli {
namespace {

// A reply's cap when -n is not given: a model that never ends its turn (a story model on the
// fallback template) stops after this many tokens instead of filling the context.
constexpr int64_t kDefaultReplyTokens = 512;

struct ChatOptions {
    LoadOptions load;
    SamplingFlags sampling;
    int64_t n_predict = kDefaultReplyTokens;
    std::vector<std::string> stops;
    bool ignore_eos = false;
    std::string system;
    std::string chat_template;
    bool verbose_prompt = false;
    bool single_turn = false;
    std::string prompt;
    bool has_prompt = false;
    std::string history_file;
    bool no_history = false;
};

void out(std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
}
void note(const std::string& s) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", s.c_str());
    std::fflush(stderr);
}

chat::ChatTemplate resolve_template(const std::string& flag, const gguf::GgufFile& file, const Tokenizer& tok) {
    const std::string bos = tok.bos_id() >= 0 ? tok.token_text(tok.bos_id()) : "";
    const std::string eos = tok.eos_id() >= 0 ? tok.token_text(tok.eos_id()) : "";
    if (!flag.empty()) {
        if (auto fam = chat::family_from_name(flag)) return chat::ChatTemplate::builtin(*fam, bos, eos);
        std::error_code ec;
        if (!std::filesystem::is_regular_file(flag, ec))
            throw_error("--chat-template '{}' is neither a built-in template ({}) nor a readable file", flag,
                        chat::builtin_names());
        if (std::filesystem::file_size(flag, ec) > (1u << 20))
            throw_error("--chat-template '{}': the file is larger than 1 MiB; give a Jinja chat template", flag);
        std::ifstream f(flag, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        if (auto bad = utf8::find_invalid(ss.str()))
            throw_error("--chat-template '{}': invalid UTF-8 at byte {}", flag, *bad);
        try {
            return chat::ChatTemplate::from_source(ss.str(), bos, eos);
        } catch (const Error& e) {
            throw_error("--chat-template '{}': {}", flag, e.what());
        }
    }
    auto src = file.get_string("tokenizer.chat_template");
    if (!src) {
        note(fmt::format("qlm chat: the model has no chat template (tokenizer.chat_template): using {}; choose another "
                         "with --chat-template NAME or FILE",
                         chat::family_name(chat::kFallbackFamily)));
        return chat::ChatTemplate::builtin(chat::kFallbackFamily, bos, eos);
    }
    try {
        return chat::ChatTemplate::from_source(*src, bos, eos);
    } catch (const Error& e) {
        throw_error("the model's chat template: {} (override it with --chat-template NAME or FILE)", e.what());
    }
}


int run_chat(const ChatOptions& o) {
    if (o.n_predict < -1) throw_usage("-n {}: use a number of tokens >= 0, or -1 to generate until end of text", o.n_predict);
    if (o.n_predict > INT32_MAX) throw_usage("-n {}: too large (at most {}; -1 = until end of text)", o.n_predict, INT32_MAX);
    check_load_flags(o.load);
    const SamplingParams sp = resolve_sampling(o.sampling);
    GenerateOptions go;
    go.n_predict = static_cast<int32_t>(o.n_predict);
    go.stop = o.stops;
    go.ignore_eos = o.ignore_eos;
    as_usage([&] { validate(go); });
    if (o.single_turn && !o.has_prompt) throw_usage("--single-turn needs the message: -p \"...\"");
    if (o.has_prompt && o.prompt.empty()) throw_usage("-p: the message is empty");
    if (auto bad = utf8::find_invalid(o.prompt)) throw_error("-p: invalid UTF-8 at byte {}", *bad);
    if (auto bad = utf8::find_invalid(o.system)) throw_error("--system: invalid UTF-8 at byte {}", *bad);

    ModelForGeneration lm = load_for_generation(o.load);
    chat::ChatTemplate tmpl = resolve_template(o.chat_template, *lm.loaded.file, *lm.loaded.tokenizer);
    // A template that cannot render a one-message conversation is reported now, not mid-chat.
    std::vector<chat::Message> probe;
    if (!o.system.empty()) probe.push_back({"system", o.system});
    probe.push_back({"user", "Hello"});
    try {
        (void)tmpl.render(probe, true);
    } catch (const Error& e) {
        throw_error("the chat template cannot render a conversation: {} (choose another with --chat-template)", e.what());
    }
    InferenceContext ctx(*lm.loaded.model, lm.context);
    chat::ContextKvSource source(ctx);
    chat::ChatSession session(source, *lm.loaded.tokenizer, std::move(tmpl));
    session.conversation().system = o.system;
    session.n_ctx_max = lm.loaded.model->hparams().n_ctx_train;
    session.on_notice = [](const std::string& n) { note(n); };
    if (o.verbose_prompt)
        session.on_prompt = [](const std::string& text, const std::vector<int32_t>& ids) {
            std::string s = "[prompt] " + escape_bytes(text) + "\n[ids]";
            for (int32_t id : ids) s += fmt::format(" {}", id);
            note(s);
        };

    const bool interactive = !o.single_turn && isatty(STDIN_FILENO);
    std::unique_ptr<chat::LineReader> reader =
        interactive ? make_readline_reader(o.no_history ? "" : (o.history_file.empty() ? default_history_path() : o.history_file))
                    : make_stream_reader();
    std::optional<InterruptScope> ctrl_c;  // Ctrl-C stops a reply (or clears the line) instead of ending qlm
    if (interactive) ctrl_c.emplace(std::initializer_list<int>{SIGINT});
    chat::ChatRepl repl(session, sp, go, *reader, interactive, {.text = out, .note = note});
    std::fprintf(stderr, "%s", load_summary(lm, o.load, sp, repl.seed()).c_str());
    if (interactive)
        note(fmt::format("qlm chat: template {}, context {} tokens. Type /help for commands; Ctrl-C stops a reply, "
                         "Ctrl-D quits.",
                         session.chat_template().name(), session.n_ctx()));
    if (o.has_prompt) {
        const bool ok = repl.send(o.prompt);
        if (o.single_turn) return ok ? 0 : 1;
    }
    return repl.loop();
}

Action setup_chat(CLI::App& app) {
    auto o = std::make_shared<ChatOptions>();
    app.add_option("-m,--model", o->load.model, "GGUF model file")->required();
    app.add_option("--system", o->system, "system prompt");
    app.add_option("--chat-template", o->chat_template,
                   "chat template: a built-in name (" + chat::builtin_names() + ") or a Jinja template file "
                   "(default: the model's tokenizer.chat_template, else chatml)");
    app.add_flag("--verbose-prompt", o->verbose_prompt, "print each rendered prompt and its token ids to stderr");
    app.add_option("-p,--prompt", o->prompt, "the first message (with --single-turn: the only one)");
    app.add_flag("--single-turn", o->single_turn, "answer -p once and exit");
    app.add_option("--history-file", o->history_file, "readline history file (default: $XDG_STATE_HOME/qlm/history)");
    app.add_flag("--no-history", o->no_history, "do not read or write the history file");
    app.add_option("-n,--n-predict", o->n_predict,
                   "most tokens per reply; a reply also ends at the template's end of turn (-1 = no cap: until end of "
                   "turn or a full context)")
        ->capture_default_str();
    app.add_option("-c,--ctx-size", o->load.n_ctx, "context size in tokens (0 = the model's)")->capture_default_str();
    app.add_option("-b,--batch-size", o->load.n_batch, "prompt tokens per forward batch (512 keeps the activations small; a longer prompt runs in several batches)")->capture_default_str();
    app.add_option("-t,--threads", o->load.n_threads, "threads (0 = one per physical core, less CPUs busy with other work)")->capture_default_str()
        ->check(thread_count_limit());
    add_sampling_flags(app, o->sampling);
    app.add_option("--stop", o->stops, "stop a reply before this text (repeatable)")->allow_extra_args(false);
    app.add_flag("--ignore-eos", o->ignore_eos, "keep generating past end-of-text tokens (a reply then ends at -n or a full context)");
    add_cache_flags(app, o->load.kv_type, &o->load.flash_attn);
    add_gpu_layers_flag(app, o->load.gpu_layers);
    return [o, &app]() -> int {
        o->has_prompt = app.count("--prompt") > 0;
        return run_chat(*o);
    };
}

const bool registered = register_command({"chat", "Chat with a model (interactive, or a script on stdin)", 15, &setup_chat});

}  // namespace
}  // namespace qlm::cli
