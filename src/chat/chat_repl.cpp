#include "src/chat/chat_repl.h"

#include <charconv>
#include <cstdint>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "src/util/utf8.h"
#include "src/util/error.h"
#include "src/util/interrupt.h"

namespace qlm::chat {
namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) { return s.size() >= p.size() && s.substr(s.size() - p.size()) == p; }

std::string trim(std::string_view s) {
    size_t a = 0, b = s.size();
    while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r' || s[b - 1] == '\n')) --b;
    return std::string(s.substr(a, b - a));
}

const char* const kHelp =
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

}  // namespace

ChatRepl::ChatRepl(ChatSession& s, SamplingParams sp, GenerateOptions base, LineReader& reader, bool interactive,
                   ReplOutput out)
    : session_(s), sp_(sp), base_(std::move(base)), reader_(reader), interactive_(interactive), out_(std::move(out)),
      sampler_(std::make_unique<Sampler>(sp)) {}

bool ChatRepl::send(const std::string& text) {
    try {
        reply([&](const GenerateOptions& go) { return session_.reply(text, *sampler_, go); });
        return true;
    } catch (const Error& e) {
        report(e.what());
        return false;
    }
}

int ChatRepl::loop() {
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
            out_.note("(press Ctrl-C again or Ctrl-D to quit)");
            continue;
        }
        ctrl_c = 0;
        if (trim(input).empty()) continue;
        reader_.add_history(input);
        if (!handle(input)) break;
    }
    return had_error_ && !interactive_ ? 1 : 0;
}

void ChatRepl::reply(const std::function<TurnResult(const GenerateOptions&)>& run) {
    interrupt_flag().store(false);
    GenerateOptions go = base_;
    go.cancel = &interrupt_flag();
    go.on_text = out_.text;
    TurnResult r = run(go);
    if (r.gen.text.empty() || r.gen.text.back() != '\n') out_.text("\n");
    if (r.gen.stop_reason == StopReason::Cancelled) out_.note("[interrupted: the partial reply stays in the conversation]");
    last_ = r;
    have_last_ = true;
    interrupt_flag().store(false);
}

void ChatRepl::report(const std::string& msg) {
    had_error_ = true;
    out_.note("qlm: error: " + msg);
}

InputLine::Kind ChatRepl::read_input(std::string& text, bool& was_empty) {
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

bool ChatRepl::handle(const std::string& input) {
    if (auto bad = utf8::find_invalid(input)) {
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

bool ChatRepl::command(const std::string& cmd, const std::string& arg) {
    auto& conv = session_.conversation();
    if (cmd == "/quit" || cmd == "/exit") return false;
    if (cmd == "/help") {
        out_.text(kHelp);
    } else if (cmd == "/system") {
        if (arg.empty()) {
            out_.note(conv.system.empty() ? "[no system prompt]" : "[system prompt: " + conv.system + "]");
        } else {
            conv.system = arg;
            out_.note("[system prompt set]");
        }
    } else if (cmd == "/clear") {
        session_.clear();
        out_.note("[conversation cleared]");
    } else if (cmd == "/undo") {
        out_.note(session_.undo() ? "[removed the last exchange]" : "[nothing to undo]");
    } else if (cmd == "/regen") {
        reply([&](const GenerateOptions& go) { return session_.regenerate(*sampler_, go); });
    } else if (cmd == "/set") {
        set(arg);
    } else if (cmd == "/params") {
        out_.note(fmt::format("[temp {:.2f} | top_k {} | top_p {:.2f} | min_p {:.2f} | repeat_penalty {:.2f} | seed {} | "
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
        out_.note(s + "]");
    } else if (cmd == "/save") {
        if (arg.empty()) throw_error("/save needs a file name: /save FILE");
        save_conversation(arg, conv);
        out_.note(fmt::format("[saved {} message{} to {}]", conv.messages().size(), conv.messages().size() == 1 ? "" : "s", arg));
    } else if (cmd == "/load") {
        if (arg.empty()) throw_error("/load needs a file name: /load FILE");
        conv = load_conversation(arg);
        out_.note(fmt::format("[loaded {} message{} from {}]", conv.messages().size(), conv.messages().size() == 1 ? "" : "s", arg));
    } else {
        throw_error("unknown command {}: type /help for the list (start a message with // to send a '/')", cmd);
    }
    return true;
}

void ChatRepl::set(const std::string& arg) {
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
    out_.note(fmt::format("[{} = {}]", name, value));
}

}  // namespace qlm::chat
