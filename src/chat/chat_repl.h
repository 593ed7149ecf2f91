// The interactive loop of `qlm chat`: reads the user's lines (a line ending in \ continues, """
// starts and ends a multi-line block), sends messages to a ChatSession and streams the replies,
// and runs the slash commands (/help lists them). Ctrl-C (the process's interrupt flag) stops a
// reply; twice at an empty prompt, it ends the loop. Input comes from a LineReader (a terminal
// with line editing, or a script), output goes to two callbacks.
//
//   ChatRepl repl(session, sampling, generate_opts, reader, /*interactive=*/true,
//                 {.text = print_to_stdout, .note = print_line_to_stderr});
//   return repl.loop();   // 1 when a scripted chat had an error
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "src/chat/chat_session.h"
#include "src/generate/generate.h"
#include "src/sampling/sampler.h"

namespace qlm::chat {

struct InputLine {
    enum class Kind { Line, Eof, Interrupted } kind = Kind::Eof;
    std::string text;
    bool line_was_empty = true;  // Interrupted: nothing had been typed
};

// Where the loop's input lines come from.
class LineReader {
public:
    virtual ~LineReader() = default;
    virtual InputLine read(const std::string& prompt) = 0;
    virtual void add_history(const std::string&) {}
};

struct ReplOutput {
    std::function<void(std::string_view)> text;    // the replies, streamed, and /help
    std::function<void(const std::string&)> note;  // one line: notices, settings, errors
};

class ChatRepl {
public:
    ChatRepl(ChatSession& s, SamplingParams sp, GenerateOptions base, LineReader& reader, bool interactive,
             ReplOutput out);

    uint64_t seed() const { return sampler_->seed(); }

    // Sends one message and prints the reply; errors are reported and the chat goes on.
    bool send(const std::string& text);
    // Reads and handles lines until /quit, end of input, or Ctrl-C twice at an empty prompt.
    // Returns 1 when a non-interactive chat reported an error, else 0.
    int loop();

private:
    void reply(const std::function<TurnResult(const GenerateOptions&)>& run);
    void report(const std::string& msg);
    InputLine::Kind read_input(std::string& text, bool& was_empty);
    bool handle(const std::string& input);  // false: quit
    bool command(const std::string& cmd, const std::string& arg);
    void set(const std::string& arg);

    ChatSession& session_;
    SamplingParams sp_;
    GenerateOptions base_;
    LineReader& reader_;
    bool interactive_;
    ReplOutput out_;
    std::unique_ptr<Sampler> sampler_;
    TurnResult last_;
    bool have_last_ = false;
    bool had_error_ = false;
};

}  // namespace qlm::chat
