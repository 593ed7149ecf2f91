// qlm::Error: the one exception type the library throws for bad input (a hostile file, a wrong
// flag value, an oversized context). Its message is one human sentence naming the problem and,
// where there is one, the fix. tools/ turns it into one line on stderr and a non-zero exit code.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace qlm {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// throw_error("{}: tensor '{}' extends past the end of the file", path, name);
template <typename... Args>
[[noreturn]] void throw_error(fmt::format_string<Args...> f, Args&&... args) {
    throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace qlm
