#include "tools/qlm/line_reader.h"

#include <sys/select.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <clocale>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <readline/history.h>
#include <readline/readline.h>

#include "src/util/interrupt.h"

namespace qlm::cli {

using chat::InputLine;

namespace {

// Readline's alternate (callback) interface, so that a select() interrupted by SIGINT lets us
// abandon the line cleanly.
struct CallbackState {
    bool done = false;
    bool eof = false;
    std::string line;
};
CallbackState* g_state = nullptr;

void on_line(char* line) {
    if (!g_state) return;
    if (!line) {
        g_state->eof = true;
    } else {
        g_state->line = line;
        std::free(line);
    }
    g_state->done = true;
    rl_callback_handler_remove();
}

class ReadlineReader : public chat::LineReader {
public:
    explicit ReadlineReader(std::string history_file) : history_(std::move(history_file)) {
        // Character classes from the environment (UTF-8 line editing); numbers stay in the C locale.
        std::setlocale(LC_CTYPE, "");
        rl_catch_signals = 0;
        rl_readline_name = "qlm";
        // Pass UTF-8 bytes through even in the C locale.
        rl_variable_bind("input-meta", "on");
        rl_variable_bind("output-meta", "on");
        rl_variable_bind("convert-meta", "off");
        using_history();
        stifle_history(1000);
        if (!history_.empty()) {
            std::error_code ec;
            std::filesystem::create_directories(std::filesystem::path(history_).parent_path(), ec);
            read_history(history_.c_str());
        }
    }

    InputLine read(const std::string& prompt) override {
        CallbackState st;
        g_state = &st;
        interrupt_flag().store(false);
        rl_callback_handler_install(prompt.c_str(), on_line);
        InputLine out;
        while (!st.done) {
            // The flag is checked before each wait and the wait is short, so a Ctrl-C that lands
            // just before select() is not lost.
            if (interrupt_flag().exchange(false)) {
                out.kind = InputLine::Kind::Interrupted;
                out.line_was_empty = rl_end == 0;
                rl_free_line_state();
                rl_callback_sigcleanup();
                rl_callback_handler_remove();
                std::fputs("\n", stdout);
                std::fflush(stdout);
                g_state = nullptr;
                return out;
            }
            fd_set fds;
            FD_ZERO(&fds);
            FD_SET(STDIN_FILENO, &fds);
            struct timeval tv {0, 100000};
            const int r = select(STDIN_FILENO + 1, &fds, nullptr, nullptr, &tv);
            if (r < 0) {
                if (errno == EINTR) continue;
                st.eof = true;
                break;
            }
            if (r > 0) rl_callback_read_char();
        }
        g_state = nullptr;
        if (st.eof) {
            rl_callback_handler_remove();
            std::fputs("\n", stdout);
            out.kind = InputLine::Kind::Eof;
            return out;
        }
        out.kind = InputLine::Kind::Line;
        out.text = std::move(st.line);
        return out;
    }

    void add_history(const std::string& entry) override {
        if (entry.empty()) return;
        ::add_history(entry.c_str());
        if (!history_.empty()) {
            if (append_history(1, history_.c_str()) != 0) write_history(history_.c_str());
            history_truncate_file(history_.c_str(), 1000);
        }
    }

private:
    std::string history_;
};

class StreamReader : public chat::LineReader {
public:
    InputLine read(const std::string&) override {
        InputLine out;
        if (!std::getline(std::cin, out.text)) {
            out.kind = InputLine::Kind::Eof;
            return out;
        }
        if (!out.text.empty() && out.text.back() == '\r') out.text.pop_back();
        out.kind = InputLine::Kind::Line;
        return out;
    }
};

}  // namespace

std::unique_ptr<chat::LineReader> make_readline_reader(const std::string& history_file) {
    return std::make_unique<ReadlineReader>(history_file);
}

std::unique_ptr<chat::LineReader> make_stream_reader() { return std::make_unique<StreamReader>(); }

std::string default_history_path() {
    const char* state = std::getenv("XDG_STATE_HOME");
    if (state && *state) return (std::filesystem::path(state) / "qlm" / "history").string();
    const char* home = std::getenv("HOME");
    if (home && *home) return (std::filesystem::path(home) / ".local" / "state" / "qlm" / "history").string();
    return "";
}

}  // namespace qlm::cli
