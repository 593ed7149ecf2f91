// Values of the chat-template interpreter (jinja_interp.h): JSON plus an explicit "undefined",
// Python's truthiness and text forms (str/repr, json.dumps), and string helpers.
#pragma once

#include <string>

#include "src/chat/jinja.h"

namespace qlm::jinja {

struct Val {
    Json j;
    bool undef = false;
    std::string name;  // what was looked up, for undefined values
    static Val undefined(std::string n) {
        Val v;
        v.undef = true;
        v.name = std::move(n);
        return v;
    }
};

inline Val V(Json j) { return Val{std::move(j), false, {}}; }

inline bool is_int(const Json& j) { return j.is_number_integer() || j.is_number_unsigned(); }

std::string type_name(const Val& v);                 // "string", "list", "undefined", ...
bool truthy(const Val& v);                           // Python's bool()
std::string to_str(const Val& v);                    // Python's str(); undefined -> ""
// Python's json.dumps(ensure_ascii=False): ", " / ": " separators, or newlines with indent >= 0.
void to_json(std::string& out, const Json& j, int indent, int level);
std::string strip_chars(const std::string& s, const std::string& chars, bool left, bool right);  // "" = whitespace
std::string title_case(const std::string& s);
std::string capitalize(const std::string& s);        // the first byte upper case, the rest lower
std::string lower(std::string s);
std::string upper(std::string s);

}  // namespace qlm::jinja
