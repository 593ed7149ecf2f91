#include "src/chat/jinja_values.h"

#include <cctype>
#include <cmath>

#include <fmt/format.h>

namespace qlm::jinja {
namespace {

std::string py_float(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    if (d == std::floor(d) && std::fabs(d) < 1e16) return fmt::format("{:.1f}", d);
    std::string s = fmt::format("{}", d);  // shortest round-trip form, like Python's repr
    const size_t e = s.find('e');
    if (e != std::string::npos && e + 1 < s.size() && s[e + 1] != '-' && s[e + 1] != '+') s.insert(s.begin() + static_cast<std::ptrdiff_t>(e) + 1, '+');
    return s;
}

void py_quote(std::string& out, const std::string& s) {
    const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
    const char q = dq ? '"' : '\'';
    out += q;
    for (char c : s) {
        if (c == q || c == '\\') out += '\\';
        if (c == '\n') { out += "\\n"; continue; }
        out += c;
    }
    out += q;
}

void py_repr(std::string& out, const Json& j) {
    switch (j.type()) {
        case Json::value_t::null: out += "None"; break;
        case Json::value_t::boolean: out += j.get<bool>() ? "True" : "False"; break;
        case Json::value_t::string: py_quote(out, j.get_ref<const std::string&>()); break;
        case Json::value_t::number_float: out += py_float(j.get<double>()); break;
        case Json::value_t::array: {
            out += '[';
            bool first = true;
            for (const auto& e : j) {
                if (!first) out += ", ";
                first = false;
                py_repr(out, e);
            }
            out += ']';
            break;
        }
        case Json::value_t::object: {
            out += '{';
            bool first = true;
            for (const auto& [k, v] : j.items()) {
                if (!first) out += ", ";
                first = false;
                py_quote(out, k);
                out += ": ";
                py_repr(out, v);
            }
            out += '}';
            break;
        }
        default: out += j.dump(); break;
    }
}

}  // namespace

std::string type_name(const Val& v) {
    if (v.undef) return "undefined";
    switch (v.j.type()) {
        case Json::value_t::null: return "none";
        case Json::value_t::boolean: return "boolean";
        case Json::value_t::string: return "string";
        case Json::value_t::array: return "list";
        case Json::value_t::object: return "dict";
        case Json::value_t::number_float: return "float";
        default: return "integer";
    }
}

bool truthy(const Val& v) {
    if (v.undef) return false;
    const Json& j = v.j;
    switch (j.type()) {
        case Json::value_t::null: return false;
        case Json::value_t::boolean: return j.get<bool>();
        case Json::value_t::string: return !j.get_ref<const std::string&>().empty();
        case Json::value_t::array: case Json::value_t::object: return !j.empty();
        case Json::value_t::number_float: return j.get<double>() != 0.0;
        case Json::value_t::number_integer: case Json::value_t::number_unsigned: return j.get<int64_t>() != 0;
        default: return false;
    }
}

std::string to_str(const Val& v) {
    if (v.undef) return "";
    if (v.j.is_string()) return v.j.get<std::string>();
    std::string out;
    py_repr(out, v.j);
    return out;
}

// Python's json.dumps (ensure_ascii=False): ", " / ": " separators, or newlines with `indent`.
void to_json(std::string& out, const Json& j, int indent, int level) {
    auto newline = [&](int l) {
        out += '\n';
        out.append(static_cast<size_t>(indent * l), ' ');
    };
    if (j.is_array() && !j.empty()) {
        out += '[';
        bool first = true;
        for (const auto& e : j) {
            if (!first) out += indent >= 0 ? "," : ", ";
            first = false;
            if (indent >= 0) newline(level + 1);
            to_json(out, e, indent, level + 1);
        }
        if (indent >= 0) newline(level);
        out += ']';
    } else if (j.is_object() && !j.empty()) {
        out += '{';
        bool first = true;
        for (const auto& [k, v] : j.items()) {
            if (!first) out += indent >= 0 ? "," : ", ";
            first = false;
            if (indent >= 0) newline(level + 1);
            out += Json(k).dump(-1, ' ', false, Json::error_handler_t::replace);
            out += ": ";
            to_json(out, v, indent, level + 1);
        }
        if (indent >= 0) newline(level);
        out += '}';
    } else if (j.is_number_float()) {
        out += py_float(j.get<double>());
    } else {
        out += j.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
}

std::string strip_chars(const std::string& s, const std::string& chars, bool left, bool right) {
    size_t a = 0, b = s.size();
    auto strip = [&](char c) {
        return chars.empty() ? (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
                             : chars.find(c) != std::string::npos;
    };
    if (left)
        while (a < b && strip(s[a])) ++a;
    if (right)
        while (b > a && strip(s[b - 1])) --b;
    return s.substr(a, b - a);
}

std::string title_case(const std::string& s) {
    std::string r = s;
    bool start = true;
    for (char& c : r) {
        unsigned char u = static_cast<unsigned char>(c);
        if (std::isalpha(u)) {
            c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
            start = false;
        } else {
            start = true;
        }
    }
    return r;
}

std::string capitalize(const std::string& s) { return s.empty() ? s : upper(s.substr(0, 1)) + lower(s.substr(1)); }

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}
std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace qlm::jinja
