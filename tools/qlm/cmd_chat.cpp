// qlm chat -m MODEL: an interactive chat. The conversation is rendered with the model's chat
// template (or --chat-template) and the KV cache is reused across turns; slash commands edit the
// conversation and the sampling settings. On a terminal: GNU readline with persistent history;
// otherwise stdin is read line by line (a script), and --single-turn -p TEXT answers once.
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "src/chat/chat_session.h"
#include "src/util/error.h"
#include "tools/qlm/command.h"
#include "tools/qlm/line_reader.h"
#include "tools/qlm/model_setup.h"
#include "tools/qlm/sampling_flags.h"
#include "tools/qlm/text_util.h"
#include "tools/qlm/thread_flag.h"

namespace qlm::cli {
namespace {

struct ChatOptions {
    LoadOptions load;
    SamplingFlags sampling;
    int64_t n_predict = -1;
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

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) { return s.size() >= p.size() && s.substr(s.size() - p.size()) == p; }

std::string trim(std::string_view s) {
    size_t a = 0, b = s.size();
    while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r' || s[b - 1] == '\n')) --b;
    return std::string(s.substr(a, b - a));
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
        if (auto bad = find_invalid_utf8(ss.str()))
            throw_error("--chat-template '{}': invalid UTF-8 at byte {}", flag, *bad);
        try {
            return chat::ChatTemplate::from_source(ss.str(), bos, eos);
        } catch (const Error& e) {
            throw_error("--chat-template '{}': {}", flag, e.what());
        }
    }
    auto src = file.get_string("tokenizer.chat_template");
    if (!src)
        throw_error("the model has no chat template (tokenizer.chat_template): choose one with --chat-template NAME "
                    "({}) or --chat-template FILE", chat::builtin_names());
    try {
        return chat::ChatTemplate::from_source(*src, bos, eos);
    } catch (const Error& e) {
        throw_error("the model's chat template: {} (override it with --chat-template NAME or FILE)", e.what());
    }
}

const char* kHelp =
    "Commands:\n"
    "  /help                 this list\n"
    "  /system [TEXT]        set the system prompt (no TEXT: show it)\n"
    "  /clear                forget the conversation (the system prompt stays)\n"
    "  /undo                 drop the last exchange (your message and the reply)\n"
    "  /regen                generate the last reply again\n"
    "  /set NAME VALUE       sampling: temp, top_p, top_k, min_p, repeat_penalty, seed\n"
    "  /params               show the sampling and generation settings\n"
    "  /stats                tokens in the context, speed of the last reply\n"
    "  /save FILE            write the conversation as JSON\n"
    "  /load FILE            read a conversation written by /save\n"
    "  /quit                 leave (also Ctrl-D, or Ctrl-C twice at an empty prompt)\n"
    "Input: end a line with \\ to continue it; \"\"\" starts and ends a multi-line block.\n"
    "Ctrl-C during a reply stops it (the partial reply stays in the conversation).\n";

class ChatRepl {
public:
    ChatRepl(chat::ChatSession& s, SamplingParams sp, GenerateOptions base, LineReader& reader, bool interactive)
        : session_(s), sp_(sp), base_(std::move(base)), reader_(reader), interactive_(interactive),
          sampler_(std::make_unique<Sampler>(sp)) {}

    uint64_t seed() const { return sampler_->seed(); }

    // Sends one message and prints the reply; errors are reported and the chat goes on.
    bool send(const std::string& text) {
        try {
            reply([&](const GenerateOptions& go) { return session_.reply(text, *sampler_, go); });
            return true;
        } catch (const Error& e) {
            report(e.what());
            return false;
        }
    }

    int loop() {
        int ctrl_c = 0;
        for (;;) {
            std::string input;
            bool was_empty = true;
            const auto st = read_input(input, was_empty);
            if (st == InputLine::Kind::Eof) break;
            if (st == InputLine::Kind::Interrupted) {
                if (!was_empty) {
                    ctrl_c = 0;
                    continue;
                }
                if (++ctrl_c >= 2) break;
                note("(press Ctrl-C again or Ctrl-D to quit)");
                continue;
            }
            ctrl_c = 0;
            if (trim(input).empty()) continue;
            reader_.add_history(input);
            if (!handle(input)) break;
        }
        return had_error_ && !interactive_ ? 1 : 0;
    }

private:
    template <typename F>
    void reply(F&& run) {
        interrupt_flag().store(false);
        GenerateOptions go = base_;
        go.cancel = &interrupt_flag();
        go.on_text = [](std::string_view t) { out(t); };
        chat::TurnResult r = run(go);
        if (r.gen.text.empty() || r.gen.text.back() != '\n') out("\n");
        if (r.gen.stop_reason == StopReason::Cancelled) note("[interrupted: the partial reply stays in the conversation]");
        last_ = r;
        have_last_ = true;
        interrupt_flag().store(false);
    }

    void report(const std::string& msg) {
        had_error_ = true;
        note("qlm: error: " + msg);
    }

    InputLine::Kind read_input(std::string& text, bool& was_empty) {
        InputLine l = reader_.read(interactive_ ? "> " : "");
        if (l.kind != InputLine::Kind::Line) {
            was_empty = l.line_was_empty;
            return l.kind;
        }
        text = l.text;
        auto more = [&](std::string& line) {
            InputLine c = reader_.read(interactive_ ? "... " : "");
            if (c.kind == InputLine::Kind::Interrupted) was_empty = false;
            line = c.text;
            return c.kind;
        };
        if (starts_with(text, "\"\"\"")) {
            std::string body = text.substr(3);
            if (body.size() >= 3 && ends_with(body, "\"\"\"")) {
                text = body.substr(0, body.size() - 3);
                return InputLine::Kind::Line;
            }
            std::string acc = body;
            bool first = body.empty();
            for (;;) {
                std::string line;
                const auto k = more(line);
                if (k == InputLine::Kind::Interrupted) return k;
                if (k == InputLine::Kind::Eof) break;
                const bool last = ends_with(trim(line), "\"\"\"");
                if (last) line = trim(line).substr(0, trim(line).size() - 3);
                if (last && line.empty()) break;  // the closing """ on its own line
                if (!(first && acc.empty())) acc += "\n";
                first = false;
                acc += line;
                if (last) break;
            }
            text = acc;
            return InputLine::Kind::Line;
        }
        while (ends_with(text, "\\")) {
            text.pop_back();
            text += "\n";
            std::string line;
            const auto k = more(line);
            if (k == InputLine::Kind::Interrupted) return k;
            if (k == InputLine::Kind::Eof) break;
            text += line;
        }
        return InputLine::Kind::Line;
    }

    // Returns false to quit.
    bool handle(const std::string& input) {
        if (auto bad = find_invalid_utf8(input)) {
            report(fmt::format("the input is not valid UTF-8 (byte {}); it was ignored", *bad));
            return true;
        }
        if (!starts_with(input, "/") || starts_with(input, "//")) {
            send(starts_with(input, "//") ? input.substr(1) : input);
            return true;
        }
        const std::string line = trim(input);
        const size_t sp = line.find_first_of(" \t\n");
        const std::string cmd = line.substr(0, sp);
        const std::string arg = sp == std::string::npos ? "" : trim(line.substr(sp + 1));
        try {
            return command(cmd, arg);
        } catch (const Error& e) {
            report(e.what());
            return true;
        }
    }

    bool command(const std::string& cmd, const std::string& arg) {
        auto& conv = session_.conversation();
        if (cmd == "/quit" || cmd == "/exit") return false;
        if (cmd == "/help") {
            out(kHelp);
        } else if (cmd == "/system") {
            if (arg.empty()) {
                note(conv.system.empty() ? "[no system prompt]" : "[system prompt: " + conv.system + "]");
            } else {
                conv.system = arg;
                note("[system prompt set]");
            }
        } else if (cmd == "/clear") {
            session_.clear();
            note("[conversation cleared]");
        } else if (cmd == "/undo") {
            note(session_.undo() ? "[removed the last exchange]" : "[nothing to undo]");
        } else if (cmd == "/regen") {
            reply([&](const GenerateOptions& go) { return session_.regenerate(*sampler_, go); });
        } else if (cmd == "/set") {
            set(arg);
        } else if (cmd == "/params") {
            note(fmt::format("[temp {:.2f} | top_k {} | top_p {:.2f} | min_p {:.2f} | repeat_penalty {:.2f} | seed {} | "
                             "n_predict {} | context {} tokens | template {}]",
                             sp_.temperature, sp_.top_k, sp_.top_p, sp_.min_p, sp_.repeat_penalty, sampler_->seed(),
                             base_.n_predict, session_.n_ctx(), session_.chat_template().name()));
        } else if (cmd == "/stats") {
            std::string s = fmt::format("[context: {} / {} tokens, {} messages", session_.tokens_in_context(),
                                        session_.n_ctx(), conv.messages().size());
            if (have_last_) {
                const auto& t = last_.gen.timings;
                s += fmt::format(" | last reply: {} tokens in {:.2f} s ({:.1f} tokens/s) | its prompt: {} tokens, {} reused "
                                 "from the cache, {} evaluated",
                                 t.generated_tokens, t.generation_seconds, t.generation_tokens_per_second(),
                                 last_.prompt_tokens, last_.reused_tokens, last_.prompt_tokens - last_.reused_tokens);
            }
            note(s + "]");
        } else if (cmd == "/save") {
            if (arg.empty()) throw_error("/save needs a file name: /save FILE");
            chat::save_conversation(arg, conv);
            note(fmt::format("[saved {} message{} to {}]", conv.messages().size(), conv.messages().size() == 1 ? "" : "s", arg));
        } else if (cmd == "/load") {
            if (arg.empty()) throw_error("/load needs a file name: /load FILE");
            conv = chat::load_conversation(arg);
            note(fmt::format("[loaded {} message{} from {}]", conv.messages().size(), conv.messages().size() == 1 ? "" : "s", arg));
        } else {
            throw_error("unknown command {}: type /help for the list (start a message with // to send a '/')", cmd);
        }
        return true;
    }

    void set(const std::string& arg) {
        std::istringstream in(arg);
        std::string name, value, extra;
        in >> name >> value >> extra;
        if (name.empty() || value.empty() || !extra.empty())
            throw_error("usage: /set NAME VALUE with NAME one of temp, top_p, top_k, min_p, repeat_penalty, seed");
        for (char& c : name)
            if (c == '-') c = '_';
        auto num = [&]() {
            double v = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
            if (ec != std::errc() || p != value.data() + value.size())
                throw_error("/set {}: '{}' is not a number", name, value);
            return v;
        };
        auto integer = [&]() {
            long long v = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
            if (ec != std::errc() || p != value.data() + value.size())
                throw_error("/set {}: '{}' is not an integer", name, value);
            return v;
        };
        SamplingParams next = sp_;
        if (name == "temp" || name == "temperature") next.temperature = static_cast<float>(num());
        else if (name == "top_p") next.top_p = static_cast<float>(num());
        else if (name == "min_p") next.min_p = static_cast<float>(num());
        else if (name == "repeat_penalty") next.repeat_penalty = static_cast<float>(num());
        else if (name == "top_k") {
            long long v = integer();
            if (v < INT32_MIN || v > INT32_MAX) throw_error("/set top_k: {} is out of range", v);
            next.top_k = static_cast<int32_t>(v);
        } else if (name == "seed") {
            long long v = integer();
            if (v < -1 || v > static_cast<long long>(UINT32_MAX))
                throw_error("/set seed: the seed must be -1 (random) or 0..{}", UINT32_MAX);
            next.seed = v == -1 ? SamplingParams::kRandomSeed : static_cast<uint64_t>(v);
        } else {
            throw_error("/set: unknown setting '{}' (temp, top_p, top_k, min_p, repeat_penalty, seed)", name);
        }
        try {
            validate(next);
        } catch (const Error& e) {
            throw_error("/set {}: {}", name, e.what());
        }
        sp_ = next;
        sampler_ = std::make_unique<Sampler>(sp_);
        note(fmt::format("[{} = {}]", name, value));
    }

    chat::ChatSession& session_;
    SamplingParams sp_;
    GenerateOptions base_;
    LineReader& reader_;
    bool interactive_;
    std::unique_ptr<Sampler> sampler_;
    chat::TurnResult last_;
    bool have_last_ = false;
    bool had_error_ = false;
};

int run_chat(const ChatOptions& o) {
    if (o.n_predict < -1) throw_error("-n {}: use a number of tokens >= 0, or -1 to generate until end of text", o.n_predict);
    if (o.n_predict > INT32_MAX) throw_error("-n {}: too large (at most {}; -1 = until end of text)", o.n_predict, INT32_MAX);
    check_load_flags(o.load);
    const SamplingParams sp = resolve_sampling(o.sampling);
    GenerateOptions go;
    go.n_predict = static_cast<int32_t>(o.n_predict);
    go.stop = o.stops;
    go.ignore_eos = o.ignore_eos;
    validate(go);
    if (o.single_turn && !o.has_prompt) throw_error("--single-turn needs the message: -p \"...\"");
    if (o.has_prompt && o.prompt.empty()) throw_error("-p: the message is empty");
    if (auto bad = find_invalid_utf8(o.prompt)) throw_error("-p: invalid UTF-8 at byte {}", *bad);
    if (auto bad = find_invalid_utf8(o.system)) throw_error("--system: invalid UTF-8 at byte {}", *bad);

    LoadedModel lm = load_for_generation(o.load);
    chat::ChatTemplate tmpl = resolve_template(o.chat_template, *lm.file, *lm.tok);
    // A template that cannot render a one-message conversation is reported now, not mid-chat.
    std::vector<chat::Message> probe;
    if (!o.system.empty()) probe.push_back({"system", o.system});
    probe.push_back({"user", "Hello"});
    try {
        (void)tmpl.render(probe, true);
    } catch (const Error& e) {
        throw_error("the chat template cannot render a conversation: {} (choose another with --chat-template)", e.what());
    }
    InferenceContext ctx(*lm.model, lm.context_options(o.load.n_batch));
    chat::ContextKvSource source(ctx);
    chat::ChatSession session(source, *lm.tok, std::move(tmpl));
    session.conversation().system = o.system;
    session.on_notice = [](const std::string& n) { note(n); };
    if (o.verbose_prompt)
        session.on_prompt = [](const std::string& text, const std::vector<int32_t>& ids) {
            std::string s = "[prompt] " + escape_bytes(text) + "\n[ids]";
            for (int32_t id : ids) s += fmt::format(" {}", id);
            note(s);
        };

    const bool interactive = !o.single_turn && isatty(STDIN_FILENO);
    std::unique_ptr<LineReader> reader =
        interactive ? make_readline_reader(o.no_history ? "" : (o.history_file.empty() ? default_history_path() : o.history_file))
                    : make_stream_reader();
    if (interactive) install_sigint_flag();
    ChatRepl repl(session, sp, go, *reader, interactive);
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
                   "(default: the model's tokenizer.chat_template)");
    app.add_flag("--verbose-prompt", o->verbose_prompt, "print each rendered prompt and its token ids to stderr");
    app.add_option("-p,--prompt", o->prompt, "the first message (with --single-turn: the only one)");
    app.add_flag("--single-turn", o->single_turn, "answer -p once and exit");
    app.add_option("--history-file", o->history_file, "readline history file (default: $XDG_STATE_HOME/qlm/history)");
    app.add_flag("--no-history", o->no_history, "do not read or write the history file");
    app.add_option("-n,--n-predict", o->n_predict, "tokens per reply (-1 = until end of turn or context full)")->capture_default_str();
    app.add_option("-c,--ctx-size", o->load.n_ctx, "context size in tokens (0 = the model's)")->capture_default_str();
    app.add_option("-b,--batch-size", o->load.n_batch, "prompt tokens per forward batch")->capture_default_str();
    app.add_option("-t,--threads", o->load.n_threads, "threads (0 = one per physical core)")
        ->capture_default_str()->check(thread_count_limit());
    add_sampling_flags(app, o->sampling);
    app.add_option("--stop", o->stops, "stop a reply before this text (repeatable)")->allow_extra_args(false);
    app.add_flag("--ignore-eos", o->ignore_eos, "keep generating past end-of-text tokens (a reply then ends at -n or a full context)");
    add_cache_flags(app, o->load.kv_type, &o->load.flash_attn);
    return [o, &app]() -> int {
        o->has_prompt = app.count("--prompt") > 0;
        return run_chat(*o);
    };
}

const bool registered = register_command({"chat", "Chat with a model (interactive, or a script on stdin)", 15, &setup_chat});

}  // namespace
}  // namespace qlm::cli
