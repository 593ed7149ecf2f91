#include "src/chat/chat_template.h"

#include <algorithm>
#include <cctype>

#include "src/util/error.h"

namespace qlm::chat {
namespace {

struct FamilyInfo {
    Family family;
    const char* name;
    std::vector<const char*> aliases;
    const char* source;  // the published template (see chat_template.h)
};

// Published templates, as stored in the models' tokenizer_config.json (Jinja source text).
const std::vector<FamilyInfo>& families() {
    static const std::vector<FamilyInfo> f = {
        // teknium/OpenHermes-2.5-Mistral-7B (ChatML; SmolLM and Qwen use the same turn format)
        {Family::ChatML, "chatml", {"qwen", "qwen2", "smollm", "hermes"},
         R"({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})"},
        // meta-llama/Llama-2-7b-chat-hf
        {Family::Llama2, "llama2", {"llama-2"},
         R"({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})"},
        // meta-llama/Meta-Llama-3-8B-Instruct
        {Family::Llama3, "llama3", {"llama-3"},
         R"({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %})"},
        // mistralai/Mistral-7B-Instruct-v0.2 (the "v1" template with an optional system message)
        {Family::Mistral, "mistral", {"mistral-v1"},
         "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}\n    {%- endif %}\n    {%- if message['role'] == 'user' %}\n        {%- if loop.first and system_message is defined %}\n            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n        {%- endif %}\n    {%- elif message['role'] == 'assistant' %}\n        {{- ' ' + message['content'] + eos_token}}\n    {%- else %}\n        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}\n    {%- endif %}\n{%- endfor %}\n"},
        // HuggingFaceH4/zephyr-7b-beta
        {Family::Zephyr, "zephyr", {},
         "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"},
        // microsoft/Phi-3-small-8k-instruct
        {Family::Phi3, "phi3", {"phi-3"},
         R"({{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %})"},
        // google/gemma-7b-it
        {Family::Gemma, "gemma", {},
         R"({{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %})"},
        // deepseek-ai/DeepSeek-V2-Lite-Chat (also deepseek-llm-7b-chat's turn format)
        {Family::DeepSeek, "deepseek", {"deepseek2"},
         R"({% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\n\n' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ message['content'] + '\n\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %})"},
        // Vicuna v1.1 (lmsys; no template ships with the model: the format written as one)
        {Family::Vicuna, "vicuna", {"vicuna-1.1"},
         R"({%- for message in messages %}{%- if message['role'] == 'system' -%}{{- '' + message['content'] + '\n\n' -}}{%- else -%}{%- if message['role'] == 'user' -%}{{-'USER: ' + message['content'] + '\n'-}}{%- else -%}{{-'ASSISTANT: ' + message['content'] + '</s>\n' -}}{%- endif -%}{%- endif -%}{%- endfor -%}{%- if add_generation_prompt -%}{{-'ASSISTANT:'-}}{%- endif -%})"},
        // Stanford Alpaca's instruction format (no published template: the format written as one)
        {Family::Alpaca, "alpaca", {},
         R"({% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}{% elif message['role'] == 'user' %}{{ '### Instruction:\n' + message['content'] + '\n\n' }}{% else %}{{ '### Response:\n' + message['content'] + '\n\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '### Response:\n' }}{% endif %})"},
    };
    return f;
}

bool has(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

std::string lower(std::string_view s) {
    std::string r(s);
    for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

std::string trim(std::string_view s) {
    auto sp = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    size_t a = 0, b = s.size();
    while (a < b && sp(s[a])) ++a;
    while (b > a && sp(s[b - 1])) --b;
    return std::string(s.substr(a, b - a));
}

void check_roles(const std::vector<Message>& messages) {
    for (const Message& m : messages)
        if (m.role != "system" && m.role != "user" && m.role != "assistant")
            throw_error("chat: message role '{}' is not one of system, user, assistant", m.role);
}

// The system message (if first) and the rest.
std::pair<std::optional<std::string>, std::vector<const Message*>> split_system(const std::vector<Message>& m) {
    std::optional<std::string> sys;
    std::vector<const Message*> rest;
    for (size_t i = 0; i < m.size(); ++i) {
        if (i == 0 && m[i].role == "system") sys = m[i].content;
        else rest.push_back(&m[i]);
    }
    return {sys, rest};
}

// The native renderers: each writes what its family's published template renders.
using Messages = std::vector<Message>;

std::string render_chatml(const Messages& msgs, bool gen) {
    std::string out;
    for (const Message& m : msgs) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    if (gen) out += "<|im_start|>assistant\n";
    return out;
}

std::string render_llama2(const Messages& msgs, const std::string& bos, const std::string& eos) {
    std::string out;
    auto [sys, rest] = split_system(msgs);
    for (size_t i = 0; i < rest.size(); ++i) {
        std::string content = rest[i]->content;
        if (i == 0 && sys) content = std::string("<<SYS>>\n").append(*sys).append("\n<</SYS>>\n\n").append(content);
        if (rest[i]->role == "user") out += bos + "[INST] " + trim(content) + " [/INST]";
        else if (rest[i]->role == "assistant") out.append(" ").append(trim(content)).append(" ").append(eos);
    }
    return out;
}

std::string render_llama3(const Messages& msgs, bool gen, const std::string& bos) {
    std::string out;
    for (size_t i = 0; i < msgs.size(); ++i) {
        if (i == 0) out += bos;
        out += "<|start_header_id|>" + msgs[i].role + "<|end_header_id|>\n\n" + trim(msgs[i].content) + "<|eot_id|>";
    }
    if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
}

std::string render_mistral(const Messages& msgs, const std::string& bos, const std::string& eos) {
    auto [sys, rest] = split_system(msgs);
    std::string out = bos;
    for (size_t i = 0; i < rest.size(); ++i) {
        if (rest[i]->role == "user") {
            if (i == 0 && sys) out += " [INST] " + *sys + "\n\n" + rest[i]->content + " [/INST]";
            else out += " [INST] " + rest[i]->content + " [/INST]";
        } else if (rest[i]->role == "assistant") {
            out += " " + rest[i]->content + eos;
        }
    }
    return out;
}

std::string render_zephyr(const Messages& msgs, bool gen, const std::string& eos) {
    std::string out;
    for (size_t i = 0; i < msgs.size(); ++i) {
        out += "<|" + msgs[i].role + "|>\n" + msgs[i].content + eos + "\n";
        if (i + 1 == msgs.size() && gen) out += "<|assistant|>\n";
    }
    return out;
}

std::string render_phi3(const Messages& msgs, bool gen, const std::string& bos, const std::string& eos) {
    std::string out = bos;
    for (const Message& m : msgs) out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
    out += gen ? "<|assistant|>\n" : eos;
    return out;
}

std::string render_gemma(const Messages& msgs, bool gen, const std::string& bos) {
    auto [sys, rest] = split_system(msgs);
    std::string out = bos;
    for (size_t i = 0; i < rest.size(); ++i) {
        std::string content = rest[i]->content;
        if (i == 0 && sys) content = *sys + "\n\n" + content;
        const std::string role = rest[i]->role == "assistant" ? "model" : rest[i]->role;
        out += "<start_of_turn>" + role + "\n" + trim(content) + "<end_of_turn>\n";
    }
    if (rest.empty() && sys) out += "<start_of_turn>user\n" + trim(*sys) + "<end_of_turn>\n";
    if (gen) out += "<start_of_turn>model\n";
    return out;
}

std::string render_deepseek(const Messages& msgs, bool gen, const std::string& bos, const std::string& eos) {
    std::string out = bos;
    for (const Message& m : msgs) {
        if (m.role == "user") out += "User: " + m.content + "\n\n";
        else if (m.role == "assistant") out += "Assistant: " + m.content + eos;
        else out += m.content + "\n\n";
    }
    if (gen) out += "Assistant:";
    return out;
}

std::string render_vicuna(const Messages& msgs, bool gen) {
    std::string out;
    for (const Message& m : msgs) {
        if (m.role == "system") out += m.content + "\n\n";
        else if (m.role == "user") out += "USER: " + m.content + "\n";
        else out += "ASSISTANT: " + m.content + "</s>\n";
    }
    if (gen) out += "ASSISTANT:";
    return out;
}

std::string render_alpaca(const Messages& msgs, bool gen) {
    std::string out;
    for (const Message& m : msgs) {
        if (m.role == "system") out += m.content + "\n\n";
        else if (m.role == "user") out += "### Instruction:\n" + m.content + "\n\n";
        else out += "### Response:\n" + m.content + "\n\n";
    }
    if (gen) out += "### Response:\n";
    return out;
}

std::string render_native(Family f, const Messages& msgs, bool gen, const std::string& bos, const std::string& eos) {
    check_roles(msgs);
    switch (f) {
        case Family::ChatML: return render_chatml(msgs, gen);
        case Family::Llama2: return render_llama2(msgs, bos, eos);
        case Family::Llama3: return render_llama3(msgs, gen, bos);
        case Family::Mistral: return render_mistral(msgs, bos, eos);
        case Family::Zephyr: return render_zephyr(msgs, gen, eos);
        case Family::Phi3: return render_phi3(msgs, gen, bos, eos);
        case Family::Gemma: return render_gemma(msgs, gen, bos);
        case Family::DeepSeek: return render_deepseek(msgs, gen, bos, eos);
        case Family::Vicuna: return render_vicuna(msgs, gen);
        case Family::Alpaca: return render_alpaca(msgs, gen);
        case Family::Jinja: break;
    }
    return {};
}

}  // namespace

const char* family_name(Family f) {
    for (const auto& i : families())
        if (i.family == f) return i.name;
    return "jinja";
}

std::string builtin_names() {
    std::string s;
    for (const auto& i : families()) s += (s.empty() ? "" : ", ") + std::string(i.name);
    return s;
}

std::optional<Family> family_from_name(std::string_view name) {
    const std::string n = lower(name);
    for (const auto& i : families()) {
        if (n == i.name) return i.family;
        for (const char* a : i.aliases)
            if (n == a) return i.family;
    }
    return std::nullopt;
}

Family detect_family(std::string_view t) {
    if (has(t, "<|im_start|>") && !has(t, "<|im_sep|>")) return Family::ChatML;
    // Llama 3.1 and later add a dated preamble to the system turn: their own template renders it.
    if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
        return has(t, "Cutting Knowledge Date") ? Family::Jinja : Family::Llama3;
    if (has(t, "<start_of_turn>")) return Family::Gemma;
    if (has(t, "[INST]")) {
        // Only the published spacing is rendered natively; other [INST] variants (Mistral v0.1's
        // "[INST] " without a leading space, v3 without spaces, v7 system prompts) run in Jinja.
        if (has(t, "<<SYS>>")) return has(t, "bos_token + '[INST] '") ? Family::Llama2 : Family::Jinja;
        return has(t, "' [INST] '") && !has(t, "[AVAILABLE_TOOLS]") ? Family::Mistral : Family::Jinja;
    }
    if (has(t, "<|assistant|>") && has(t, "<|end|>")) {
        // Phi-3 puts a newline after each role marker; Phi-4-mini uses the same markers without.
        if (has(t, "|>' + '\\n'") || has(t, "|>' + '\n'") || has(t, "|>\\n") || has(t, "|>\n"))
            return Family::Phi3;
        return Family::Jinja;
    }
    if (has(t, "<|user|>") && has(t, "eos_token")) return Family::Zephyr;
    if (has(t, "'User: '") && has(t, "Assistant:") && !has(t, "<|EOT|>")) return Family::DeepSeek;
    if (has(t, "USER: ") && has(t, "ASSISTANT:")) return Family::Vicuna;
    if (has(t, "### Instruction:") && has(t, "### Response:") && !has(t, "<|EOT|>")) return Family::Alpaca;
    return Family::Jinja;
}

std::string_view canonical_source(Family f) {
    for (const auto& i : families())
        if (i.family == f) return i.source;
    return {};
}

ChatTemplate ChatTemplate::builtin(Family f, std::string bos, std::string eos) {
    if (f == Family::Jinja) throw_error("chat: 'jinja' is not a built-in template; give the template text");
    ChatTemplate t;
    t.family_ = f;
    t.bos_ = std::move(bos);
    t.eos_ = std::move(eos);
    return t;
}

ChatTemplate ChatTemplate::from_source(std::string source, std::string bos, std::string eos) {
    Family f = detect_family(source);
    if (f != Family::Jinja) return builtin(f, std::move(bos), std::move(eos));
    ChatTemplate t;
    t.family_ = Family::Jinja;
    t.bos_ = std::move(bos);
    t.eos_ = std::move(eos);
    t.jinja_ = jinja::Template::parse(source);
    return t;
}

std::string ChatTemplate::render(const std::vector<Message>& messages, bool add_generation_prompt) const {
    if (!jinja_) return render_native(family_, messages, add_generation_prompt, bos_, eos_);
    jinja::Json msgs = jinja::Json::array();
    for (const Message& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    jinja::Json ctx = {{"messages", msgs},
                       {"bos_token", bos_},
                       {"eos_token", eos_},
                       {"add_generation_prompt", add_generation_prompt}};
    return jinja_->render(ctx);
}

std::vector<std::string> ChatTemplate::stop_strings() const {
    std::vector<std::string> eos;
    if (!eos_.empty()) eos.push_back(eos_);
    auto with_eos = [&](std::vector<std::string> v) {
        v.insert(v.end(), eos.begin(), eos.end());
        return v;
    };
    switch (family_) {
        case Family::ChatML: return {"<|im_end|>"};
        case Family::Llama3: return {"<|eot_id|>"};
        case Family::Phi3: return {"<|end|>"};
        case Family::Gemma: return {"<end_of_turn>"};
        case Family::Llama2:
        case Family::Mistral:
        case Family::Zephyr: return eos;
        case Family::Alpaca: return {"### Instruction:"};
        case Family::Vicuna: return {"</s>", "\nUSER:"};
        case Family::DeepSeek: return with_eos({"\n\nUser:"});
        case Family::Jinja: break;
    }
    return {};
}

}  // namespace qlm::chat
