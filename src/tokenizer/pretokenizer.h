// BPE pre-tokenizer: the regex sets llama.cpp uses for each tokenizer.ggml.pre, run with PCRE2.
// Like llama.cpp's unicode_regex_split, the regexes of a set are applied in sequence: each one
// splits every piece the previous one left (matches and the text between matches both become
// pieces), and a regex sees only its piece (so `$` and (?!\S) stop at the piece's end).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace qlm {

class PreTokenizer {
public:
    // The regexes for a pre-tokenizer name; qlm::Error for a name we do not know.
    static std::vector<std::string> regexes_for(std::string_view pre);
    // Compiles the regexes (UTF + Unicode properties, JIT when available). `\s` means
    // llama.cpp's whitespace set. Throws qlm::Error when one does not compile.
    explicit PreTokenizer(const std::vector<std::string>& regexes);
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;

    // Splits valid UTF-8 text into pieces (views into `text`), in order, covering all of it.
    std::vector<std::string_view> split(std::string_view text) const;

private:
    struct Compiled;
    std::vector<std::unique_ptr<Compiled>> regexes_;
};

}  // namespace qlm
