// Input lines for `qlm chat`: GNU readline on a terminal (line editing, persistent history,
// Ctrl-C that clears the line), plain reads otherwise. The readline reader sees Ctrl-C through
// the process's interrupt flag (src/util/interrupt.h), which also cancels a reply being generated.
#pragma once

#include <memory>
#include <string>

#include "src/chat/chat_repl.h"

namespace qlm::cli {

// Readline with history in history_file ("" = no persistent history).
std::unique_ptr<chat::LineReader> make_readline_reader(const std::string& history_file);
// std::getline on stdin.
std::unique_ptr<chat::LineReader> make_stream_reader();

// $XDG_STATE_HOME/qlm/history, else ~/.local/state/qlm/history; "" when neither is known.
std::string default_history_path();

}  // namespace qlm::cli
