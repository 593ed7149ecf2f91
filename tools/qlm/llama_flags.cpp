#include "tools/qlm/llama_flags.h"

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <string_view>

#include "tools/qlm/usage_error.h"

namespace qlm::cli {
namespace {

constexpr const char* kGpu = "qlm's one GPU setting is -ngl";
constexpr const char* kDownload = "qlm reads local GGUF files: fetch one with scripts/get-model.sh and pass -m FILE";
constexpr const char* kDraft = "qlm's draft model (-md) shares the target's context size, threads and cache settings";
constexpr const char* kServer = "qlm has no server slots; qlm run --parallel N samples one prompt N times";
constexpr const char* kThreads = "qlm runs the prompt and the generation on the -t threads";
constexpr const char* kAffinity = "qlm does not pin threads to CPUs";
constexpr const char* kLoading = "qlm always memory-maps the model";
constexpr const char* kNone = "not implemented in qlm";

// llama.cpp flags qlm does not have, with what qlm does instead.
const std::map<std::string_view, const char*>& missing() {
    static const std::map<std::string_view, const char*> m = {
        {"-sm", kGpu}, {"-mg", kGpu}, {"-ts", kGpu}, {"-ot", kGpu}, {"-dev", kGpu},
        {"-nkvo", kGpu}, {"-kvo", kGpu}, {"-cmoe", kGpu}, {"-ncmoe", kGpu}, {"-fit", kGpu}, {"-fitt", kGpu},
        {"-fitc", kGpu}, {"-nopo", kGpu}, {"-nr", kNone},
        {"-hf", kDownload}, {"-hfr", kDownload}, {"-hff", kDownload}, {"-hft", kDownload}, {"-mu", kDownload},
        {"-dr", kDownload}, {"-hfd", kDownload}, {"-hfrd", kDownload}, {"-hffd", kDownload}, {"-hfv", kDownload},
        {"-hffv", kDownload}, {"-hfrv", kDownload},
        {"-cd", kDraft}, {"-td", kDraft}, {"-tbd", kDraft}, {"-Cd", kDraft}, {"-Crd", kDraft},
        {"-ctkd", kDraft}, {"-ctvd", kDraft}, {"-ngld", kDraft}, {"-devd", kDraft}, {"-otd", kDraft},
        {"-cmoed", kDraft}, {"-ncmoed", kDraft},
        {"-cb", kServer}, {"-nocb", kServer}, {"-kvu", kServer}, {"-no-kvu", kServer}, {"-cram", kServer},
        {"-sps", kServer}, {"-to", kServer},
        {"-tb", kThreads}, {"-Cr", kAffinity}, {"-Cb", kAffinity}, {"-Crb", kAffinity},
        {"-ub", "qlm has one batch size, -b"},
        {"-lm", kLoading}, {"-dio", kLoading}, {"-ndio", kLoading}, {"-mmp", kLoading},
        {"-sp", "llama.cpp's -sp prints special tokens; qlm's --special parses them in the prompt"},
        {"-sysf", "give the text with --system"},
        {"-mli", "qlm chat reads a multi-line message between \"\"\" lines, or lines ending in \\"},
        {"-if", "use qlm chat for an interactive session"},
        {"-co", "qlm prints plain text"},
        {"-lv", "qlm has no log levels"},
        {"-jf", kNone}, {"-bs", kNone}, {"-gan", kNone}, {"-gaw", kNone}, {"-rea", kNone}, {"-ptc", kNone},
        {"-dt", kNone}, {"-cl", kNone}, {"-bf", kNone}, {"-embd", kNone}, {"-oe", kNone}, {"-pg", kNone},
        {"-lcs", kNone}, {"-lcd", kNone}, {"-cml", kNone}, {"-ins", kNone}, {"-dkvc", kNone}, {"-ps", kNone},
        {"-pps", kNone}, {"-mm", kNone}, {"-mmu", kNone}, {"-mv", kNone}, {"-ctxcp", kNone},
    };
    return m;
}

// llama.cpp spellings of qlm flags that take the same arguments.
const std::map<std::string_view, const char*>& renamed() {
    static const std::map<std::string_view, const char*> m = {
        {"-sys", "--system"}, {"--system-prompt", "--system"}, {"-st", "--single-turn"}, {"-ngl", "--gpu-layers"},
        {"-np", "--parallel"}, {"-md", "--model-draft"}};
    return m;
}

bool has_flag(const CLI::App& sub, const std::string& name) {
    for (const CLI::Option* o : sub.get_options())
        if (o->check_name(name)) return true;
    return false;
}

// -fa's value words (llama.cpp takes on|off|auto; older versions took no value).
std::optional<bool> flash_attn_word(const std::string& w) {
    if (w == "on" || w == "1" || w == "true" || w == "enabled") return true;
    if (w == "off" || w == "0" || w == "false" || w == "disabled" || w == "auto") return false;  // auto: qlm's default
    return std::nullopt;
}

bool is_list_of_flash_attn_words(const std::string& w) {
    if (w.find(',') == std::string::npos) return false;
    size_t start = 0;
    while (start <= w.size()) {
        const size_t comma = std::min(w.find(',', start), w.size());
        if (!flash_attn_word(w.substr(start, comma - start))) return false;
        start = comma + 1;
    }
    return true;
}

class Translator {
public:
    Translator(const std::vector<std::string>& args, const CLI::App& sub) : in_(args), sub_(sub) {}

    std::vector<std::string> run() {
        for (i_ = 0; i_ < in_.size() && in_[i_] != "--"; ++i_) one(in_[i_]);
        finish_kv_types();
        out_.insert(out_.end(), in_.begin() + static_cast<std::ptrdiff_t>(i_), in_.end());  // "--" and after
        return out_;
    }

private:
    const std::string& name() const { return sub_.get_name(); }

    void require(const std::string& spelling, const std::string& qlm_flag) const {
        if (!has_flag(sub_, qlm_flag))
            throw_usage("{} ({} in qlm) is not a flag of qlm {}", spelling, qlm_flag, name());
    }

    std::string value_of(const std::string& spelling) {
        if (i_ + 1 >= in_.size()) throw_usage("{} needs a value", spelling);
        return in_[++i_];
    }

    void one(const std::string& a) {
        if (a == "-fa" || ((a == "--flash-attn" || a == "--fa") && i_ + 1 < in_.size() && flash_attn_word(in_[i_ + 1]))) {
            flash_attn(a);
        } else if (a == "-ctk" || a == "--cache-type-k") {
            require(a, "--kv-type");
            k_type_ = value_of(a);
        } else if (a == "-ctv" || a == "--cache-type-v") {
            require(a, "--kv-type");
            v_type_ = value_of(a);
        } else if (a == "-cnv" || a == "--conversation") {
            if (name() != "chat") throw_usage("{}: use qlm chat for a conversation", a);
            // qlm chat is always a conversation: the flag asks for what it does.
        } else if (a == "-no-cnv" || a == "--no-conversation") {
            if (name() != "run") throw_usage("{}: qlm {} {}", a, name(),
                                             name() == "chat" ? "is always a conversation; use qlm run for plain completion"
                                                              : "has no conversation mode");
            // qlm run is plain completion: the flag asks for what it does.
        } else if (auto r = renamed().find(a); r != renamed().end()) {
            require(a, r->second);
            out_.push_back(r->second);
        } else if (auto m = missing().find(a); m != missing().end()) {
            throw_usage("{} is a llama.cpp flag qlm does not have ({})", a, m->second);
        } else if (std::regex_match(a, std::regex("-[A-Za-z]{2,}[A-Za-z0-9_-]*(=.*)?"))) {
            const std::string word = a.substr(1, a.find('=') - 1);
            if (has_flag(sub_, "--" + word)) throw_usage("unknown flag {}: long flags take two dashes: --{}", a, word);
            throw_usage("unknown flag {} (qlm's one-dash flags are single letters)", a);
        } else {
            out_.push_back(a);
        }
    }

    void flash_attn(const std::string& a) {
        require(a, "--flash-attn");
        bool on = true;
        if (i_ + 1 < in_.size()) {
            const std::string& next = in_[i_ + 1];
            if (auto w = flash_attn_word(next)) {
                on = *w;
                ++i_;
            } else if (is_list_of_flash_attn_words(next)) {
                throw_usage("{} {}: qlm takes one setting per run (-fa on, or leave it out for off)", a, next);
            }
        }
        if (on) out_.push_back("--flash-attn");
    }

    // llama.cpp sets K and V apart (f16 by default); qlm keeps both in one type.
    void finish_kv_types() {
        if (!k_type_ && !v_type_) return;
        const std::string k = k_type_.value_or("f16"), v = v_type_.value_or("f16");
        if (k != v)
            throw_usage("-ctk {} -ctv {}: qlm keeps K and V in one type: give both the same type, or --kv-type TYPE", k, v);
        out_.push_back("--kv-type");
        out_.push_back(k);
    }

    const std::vector<std::string>& in_;
    const CLI::App& sub_;
    std::vector<std::string> out_;
    size_t i_ = 0;
    std::optional<std::string> k_type_, v_type_;
};

}  // namespace

std::vector<std::string> translate_llama_flags(const std::vector<std::string>& args, const CLI::App& sub) {
    return Translator(args, sub).run();
}

}  // namespace qlm::cli
