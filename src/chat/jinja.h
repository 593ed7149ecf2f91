// A small sandboxed interpreter for the Jinja subset that chat templates use (Hugging Face's
// tokenizer_config.json `chat_template`, stored in GGUF as tokenizer.chat_template).
//
//   auto t = jinja::Template::parse(source);                   // throws qlm::Error (syntax)
//   std::string s = t.render({{"messages", msgs}, {"add_generation_prompt", true}});
//
// Supported: {{ }}, {% if/elif/else %}, {% for a[, b] in x [if cond] %}...{% else %}, {% set %}
// (names and namespace attributes), {# #}, whitespace control (-) and Hugging Face's settings
// trim_blocks + lstrip_blocks; literals, lists, dicts, attribute/index/slice access, arithmetic,
// comparisons, and/or/not, in, ~, inline if; the loop variable; tests (defined, none, string, ...);
// filters (trim, length, upper, lower, default, items, tojson, join, ...); string/dict methods
// (strip, startswith, items, get, ...); range, namespace, raise_exception.
// A template is untrusted: there is no file, environment or attribute-of-Python access, and every
// problem (syntax, an undefined variable used in an operation, raise_exception, a limit) is a
// one-line qlm::Error starting with "chat template".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace qlm::jinja {

using Json = nlohmann::ordered_json;

struct Limits {
    size_t max_template_bytes = 1u << 20;  // source size
    size_t max_output_bytes = 1u << 22;    // rendered text, and any single string value
    size_t max_list_items = 1u << 16;      // any list built by the template (range, +, ...)
    int64_t max_steps = 2'000'000;         // statements + expressions + loop iterations
    int max_depth = 64;                    // nesting of blocks and of expressions
};

struct Program;  // jinja_ast.h

class Template {
public:
    static Template parse(std::string_view source, const Limits& limits = {});
    // context: a JSON object whose keys are the template's global variables.
    std::string render(const Json& context) const;

private:
    std::shared_ptr<const Program> program_;
    Limits limits_;
};

}  // namespace qlm::jinja
