#include "src/tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "src/util/error.h"

namespace qlm {
namespace {

// Regex strings as in llama.cpp's llm_tokenizer_bpe (non-ASCII characters written as \x{...}).
const char* const kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char* const kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kCjk = "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+";
// DeepSeek-LLM's cased-letter class (Unicode LC).
const char* const kDeepseekLetters =
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
    "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}"
    "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}"
    "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"
    "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+";
const char* const kDeepseekPunct =
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+";

// llama.cpp's whitespace set (unicode_set_whitespace), written for use inside a class.
const char* const kWhitespace =
    "\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

// Replaces \s and \S by explicit classes of llama.cpp's whitespace set.
std::string rewrite_whitespace(const std::string& re) {
    std::string out;
    bool in_class = false;
    for (size_t i = 0; i < re.size(); ++i) {
        const char c = re[i];
        if (c == '\\' && i + 1 < re.size()) {
            const char n = re[i + 1];
            if (n == 's') {
                out += in_class ? std::string(kWhitespace) : "[" + std::string(kWhitespace) + "]";
            } else if (n == 'S') {
                if (in_class) throw_error("pre-tokenizer regex '{}': \\S inside a class is not supported", re);
                out += "[^" + std::string(kWhitespace) + "]";
            } else {
                out += c;
                out += n;
            }
            ++i;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            out += c;
            if (i + 1 < re.size() && re[i + 1] == '^') out += re[++i];
            if (i + 1 < re.size() && re[i + 1] == ']') out += re[++i];  // literal ] first
            continue;
        }
        if (c == ']' && in_class) in_class = false;
        out += c;
    }
    return out;
}

}  // namespace

struct PreTokenizer::Compiled {
    pcre2_code* code = nullptr;
    std::string source;
    ~Compiled() {
        if (code) pcre2_code_free(code);
    }
};

std::vector<std::string> PreTokenizer::regexes_for(std::string_view pre) {
    if (pre == "default" || pre.empty())
        return {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
    if (pre == "gpt-2" || pre == "phi-2" || pre == "mpt" || pre == "olmo" || pre == "jais" ||
        pre == "jina-es" || pre == "jina-de" || pre == "jina-v1-en" || pre == "jina-v2-es" ||
        pre == "jina-v2-de" || pre == "jina-v2-code" || pre == "roberta-bpe" || pre == "gigachat" ||
        pre == "exaone4" || pre == "trillion" || pre == "granite-docling")
        return {kGpt2};
    if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" ||
        pre == "pixtral" || pre == "dbrx" || pre == "smaug-bpe" || pre == "chatglm-bpe" || pre == "glm4")
        return {kLlama3};
    if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "stablelm2" || pre == "megrez" || pre == "hunyuan")
        return {kQwen2};
    if (pre == "deepseek-llm")
        return {"[\r\n]", kDeepseekLetters, kDeepseekPunct, "\\s+$", kCjk, "\\p{N}+"};
    if (pre == "deepseek-coder") return {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjk, "\\p{N}"};
    if (pre == "falcon") return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
    if (pre == "starcoder" || pre == "refact" || pre == "command-r" || pre == "smollm" ||
        pre == "codeshell" || pre == "exaone" || pre == "minerva-7b")
        return {"\\p{N}", kGpt2};
    if (pre == "poro-chat" || pre == "bloom" || pre == "gpt3-finnish")
        return {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"};
    throw_error("pre-tokenizer '{}' is not supported (tokenizer.ggml.pre; supported: default, gpt-2, "
                "llama3/llama-bpe, qwen2, deepseek-llm, deepseek-coder, falcon, mpt, starcoder, refact, smollm, ...)",
                pre);
}

PreTokenizer::PreTokenizer(const std::vector<std::string>& regexes) {
    for (const auto& re : regexes) {
        auto c = std::make_unique<Compiled>();
        c->source = rewrite_whitespace(re);
        int err = 0;
        PCRE2_SIZE err_off = 0;
        c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(c->source.data()), c->source.size(),
                                PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &err_off, nullptr);
        if (!c->code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            throw_error("pre-tokenizer regex '{}' does not compile at offset {}: {}", re, err_off,
                        reinterpret_cast<const char*>(msg));
        }
        pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
        regexes_.push_back(std::move(c));
    }
}

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
    std::vector<std::string_view> pieces;
    if (text.empty()) return pieces;
    pieces.push_back(text);
    for (const auto& re : regexes_) {
        pcre2_match_data* md = pcre2_match_data_create_from_pattern(re->code, nullptr);
        if (!md) throw_error("pre-tokenizer: out of memory");
        std::vector<std::string_view> next;
        next.reserve(pieces.size() * 2);
        for (std::string_view seg : pieces) {
            const auto* subject = reinterpret_cast<PCRE2_SPTR>(seg.data());
            size_t pos = 0, prev_end = 0;
            while (pos <= seg.size()) {
                const int rc = pcre2_match(re->code, subject, seg.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    pcre2_match_data_free(md);
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    throw_error("pre-tokenizer regex '{}' failed: {}", re->source, reinterpret_cast<const char*>(msg));
                }
                const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
                const size_t s = ov[0], e = ov[1];
                if (e == s) {  // empty match: move on by one character
                    if (s >= seg.size()) break;
                    pos = s + 1;
                    while (pos < seg.size() && (static_cast<unsigned char>(seg[pos]) & 0xC0) == 0x80) ++pos;
                    continue;
                }
                if (s > prev_end) next.push_back(seg.substr(prev_end, s - prev_end));
                next.push_back(seg.substr(s, e - s));
                prev_end = e;
                pos = e;
            }
            if (prev_end < seg.size()) next.push_back(seg.substr(prev_end));
        }
        pcre2_match_data_free(md);
        pieces = std::move(next);
    }
    return pieces;
}

}  // namespace qlm
