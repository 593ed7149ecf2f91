#include "tools/qlm/prompt_input.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "src/util/error.h"
#include "tools/qlm/text_util.h"

namespace qlm::cli {

std::string read_prompt(const PromptSource& src, bool allow_empty) {
    std::string text;
    std::string where;
    if (src.has_text) {
        if (!src.file.empty()) throw_error("give the prompt either with -p or with -f, not both");
        text = src.text;
        where = "the prompt (-p)";
    } else if (!src.file.empty()) {
        std::error_code ec;
        if (std::filesystem::is_directory(src.file, ec))
            throw_error("{}: is a directory; -f takes a text file", src.file);
        std::ifstream f(src.file, std::ios::binary);
        if (!f) throw_error("{}: cannot read the prompt file: {}", src.file, std::strerror(errno));
        std::ostringstream ss;
        ss << f.rdbuf();
        text = ss.str();
        where = src.file;
    } else if (!isatty(STDIN_FILENO)) {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        where = "the prompt (stdin)";
    } else {
        throw_error("no prompt: give one with -p TEXT or -f FILE, or pipe text on stdin");
    }
    if (auto bad = utf8::find_invalid(text))
        throw_error("{} is not valid UTF-8 (byte 0x{:02x} at offset {}): pass UTF-8 text", where,
                    static_cast<unsigned char>(text[*bad]), *bad);
    if (text.empty() && !allow_empty)
        throw_error("{} is empty: give some text (or token ids with --ids)", where);
    return text;
}

}  // namespace qlm::cli
