// libFuzzer target: chat templates from untrusted bytes. The input is a template source, then a
// 0x00 byte, then up to six message contents separated by 0x01 (roles cycle system, user,
// assistant, user, ...). The first byte of the message part, when present, picks
// add_generation_prompt. The template goes through ChatTemplate::from_source (family detection,
// then the native renderer or the sandboxed Jinja interpreter), and the same messages are also
// rendered by every built-in family. Anything may be refused with a qlm::Error; nothing may
// crash, hang past the interpreter's step limit, or produce more than its output limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "src/chat/chat_template.h"
#include "src/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const size_t split = in.find('\0');
    const std::string source(in.substr(0, split));
    std::vector<qlm::chat::Message> messages;
    bool add_generation_prompt = true;
    if (split != std::string_view::npos) {
        std::string_view rest = in.substr(split + 1);
        if (!rest.empty()) {
            add_generation_prompt = (rest[0] & 1) != 0;
            rest.remove_prefix(1);
        }
        static const char* const roles[] = {"system", "user", "assistant", "user", "assistant", "user"};
        for (size_t i = 0; i < 6 && !rest.empty(); ++i) {
            const size_t end = rest.find('\x01');
            messages.push_back({roles[i], std::string(rest.substr(0, end))});
            if (end == std::string_view::npos) break;
            rest.remove_prefix(end + 1);
        }
    }
    const size_t max_output = qlm::jinja::Limits{}.max_output_bytes;
    try {
        const auto t = qlm::chat::ChatTemplate::from_source(source, "<s>", "</s>");
        const std::string out = t.render(messages, add_generation_prompt);
        if (out.size() > max_output + source.size() + size) std::abort();  // the output limit held
    } catch (const qlm::Error&) {
    }
    for (int f = 0; f < static_cast<int>(qlm::chat::Family::Jinja); ++f) {
        try {
            const auto t = qlm::chat::ChatTemplate::builtin(static_cast<qlm::chat::Family>(f), "<s>", "</s>");
            (void)t.render(messages, add_generation_prompt);
        } catch (const qlm::Error&) {
        }
    }
    return 0;
}
