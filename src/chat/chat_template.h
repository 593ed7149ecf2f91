// Chat templates: turn a conversation (system/user/assistant messages) into the prompt text a
// chat model was trained on. The model's own Jinja template (GGUF tokenizer.chat_template) is
// recognised by distinctive substrings, as llama.cpp does, and the common families are rendered
// natively, byte for byte as their published templates render (bos_token included where the
// template emits it). Anything else runs in the sandboxed Jinja interpreter (jinja.h).
//
//   ChatTemplate t = ChatTemplate::from_source(file.get_string("tokenizer.chat_template").value(), "<s>", "</s>");
//   std::string prompt = t.render({{"system", "Be brief."}, {"user", "Hi"}}, /*add_generation_prompt=*/true);
//
// Families whose published template rejects a system message (Gemma, Mistral v0.1) get it
// prepended to the first user message instead.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/chat/jinja.h"

namespace qlm::chat {

struct Message {
    std::string role;  // "system" | "user" | "assistant" (others pass through to Jinja templates)
    std::string content;
    bool operator==(const Message&) const = default;
};

enum class Family { ChatML, Llama2, Llama3, Mistral, Zephyr, Phi3, Gemma, DeepSeek, Vicuna, Alpaca, Jinja };

// The template a model without one of its own is chatted with (llama.cpp falls back to ChatML too).
constexpr Family kFallbackFamily = Family::ChatML;

const char* family_name(Family f);  // "chatml", "llama2", ..., "jinja"
// The built-in names --chat-template accepts, comma-separated (for help and errors).
std::string builtin_names();
// A built-in family by name (case-insensitive; aliases qwen/smollm -> chatml, llama-3 -> llama3...).
std::optional<Family> family_from_name(std::string_view name);
// The family a Jinja template belongs to, by distinctive substrings; Family::Jinja when unknown.
Family detect_family(std::string_view source);
// The published Jinja template a built-in family renders like (for Alpaca, which has none, the
// conventional format written as a template). Family::Jinja -> "".
std::string_view canonical_source(Family f);

class ChatTemplate {
public:
    // A built-in family rendered natively.
    static ChatTemplate builtin(Family f, std::string bos, std::string eos);
    // A model's template: recognised families render natively, the rest through Jinja (parsed
    // now, so syntax errors surface here as a qlm::Error).
    static ChatTemplate from_source(std::string source, std::string bos, std::string eos);

    Family family() const { return family_; }
    const char* name() const { return family_name(family_); }
    const std::string& bos() const { return bos_; }
    const std::string& eos() const { return eos_; }

    // Throws qlm::Error for a template error (Jinja) or a message with an unknown role (native).
    std::string render(const std::vector<Message>& messages, bool add_generation_prompt) const;
    // Text that ends the assistant's turn, used as extra stop strings: the family's end-of-turn
    // marker (<|im_end|> for ChatML, <|eot_id|> for Llama 3...) for a model that writes it as plain
    // text (a model without the marker as a token, chatting through the fallback template), the
    // EOS text where the template closes a reply with it, and for formats without an end-of-turn
    // marker the start of the next turn ("### Instruction:" for Alpaca...). Empty for Jinja.
    std::vector<std::string> stop_strings() const;

private:
    Family family_ = Family::ChatML;
    std::string bos_, eos_;
    std::optional<jinja::Template> jinja_;
};

}  // namespace qlm::chat
