#include "tools/qlm/parse_errors.h"

#include <cstdlib>
#include <regex>
#include <string>

#include <fmt/format.h>

namespace qlm::cli {
namespace {

const CLI::Option* find_option(const CLI::App& app, const std::string& name) {
    for (const CLI::Option* o : app.get_options())
        if (o->check_name(name)) return o;
    return nullptr;
}

// "-n/--n-predict", "--kv-type", or "the type argument" for a positional.
std::string spell(const CLI::Option* o, const std::string& name) {
    if (!o) return name;
    std::string s;
    for (const std::string& n : o->get_snames()) s += (s.empty() ? "-" : "/-") + n;
    for (const std::string& n : o->get_lnames()) s += (s.empty() ? "--" : "/--") + n;
    return s.empty() ? "the " + o->get_name(true) + " argument" : s;
}

bool is_number(const std::string& v) {
    if (v.empty()) return false;
    char* end = nullptr;
    std::strtod(v.c_str(), &end);
    return end == v.c_str() + v.size();
}

std::string conversion(const CLI::Option* o, const std::string& who, const std::string& value) {
    const std::string type = o ? o->get_type_name() : "";
    const bool integer = type.find("INT") != std::string::npos;
    if (is_number(value)) {
        if (integer && std::regex_match(value, std::regex("[+-]?[0-9]+")))
            return fmt::format("{}: '{}' is out of range", who, value);
        if (integer) return fmt::format("{}: '{}' is not a whole number", who, value);
        return fmt::format("{}: '{}' is out of range", who, value);
    }
    return fmt::format("{}: '{}' is not a number", who, value);
}

std::string join_set(const std::string& members) {  // "f16,f32,q8_0" -> "f16, f32, q8_0"
    std::string out;
    for (char c : members) out += c == ',' ? std::string(", ") : std::string(1, c);
    return out;
}

}  // namespace

std::string describe_parse_error(const CLI::ParseError& e, const CLI::App& sub) {
    const std::string msg = e.what();
    std::smatch m;
    auto named = [&](const std::string& name) { return spell(find_option(sub, name), name); };

    if (dynamic_cast<const CLI::ConversionError*>(&e)) {
        if (std::regex_match(msg, m, std::regex("Could not convert: (\\S+) = (.*)")))
            return conversion(find_option(sub, m[1]), named(m[1]), m[2]);
        if (std::regex_match(msg, m, std::regex("(\\S+): too many inputs for a flag")) ||
            std::regex_match(msg, m, std::regex("(\\S+): Should be true/false or a number")))
            return fmt::format("{} is a switch: it takes no value", named(m[1]));
    } else if (dynamic_cast<const CLI::ValidationError*>(&e)) {
        if (std::regex_match(msg, m, std::regex("(\\S+): (.*) not in \\{(.*)\\}")))
            return fmt::format("{}: '{}' is not one of {}", named(m[1]), m[2].str(), join_set(m[3]));
        if (std::regex_match(msg, m, std::regex("(\\S+): (.*)"))) return fmt::format("{}: {}", named(m[1]), m[2].str());
    } else if (dynamic_cast<const CLI::RequiredError*>(&e)) {
        if (std::regex_match(msg, m, std::regex("(\\S+) is required"))) {
            const CLI::Option* o = find_option(sub, m[1]);
            const std::string what = o && !o->get_description().empty() ? " (" + o->get_description() + ")" : "";
            return fmt::format("{} is required{}", spell(o, m[1]), what);
        }
    } else if (dynamic_cast<const CLI::ArgumentMismatch*>(&e)) {
        if (std::regex_match(msg, m, std::regex("(\\S+): At Most 1 required but received (\\d+)")))
            return fmt::format("{} was given {} times: give it once", named(m[1]), m[2].str());
        if (std::regex_match(msg, m, std::regex("(\\S+): (\\d+) required (\\S+) missing")))
            return fmt::format("{} needs a value", named(m[1]));
    } else if (dynamic_cast<const CLI::ExtrasError*>(&e)) {
        // The arguments as given (CLI11's message lists them last-first, as main hands them over).
        std::vector<std::string> extra = sub.remaining();
        if (extra.empty()) return msg;
        for (const std::string& a : extra)
            if (a.size() > 1 && a[0] == '-' && !is_number(a)) return fmt::format("unknown flag {}", a);
        std::string words;
        for (const std::string& a : extra) words += (words.empty() ? "" : " ") + a;
        const char* s = extra.size() == 1 ? "" : "s";
        if (find_option(sub, "--prompt"))
            return fmt::format("unexpected argument{} '{}' (give the prompt with -p \"...\")", s, words);
        return fmt::format("unexpected argument{} '{}'", s, words);
    }
    return msg.empty() ? "invalid command line" : msg;
}

}  // namespace qlm::cli
