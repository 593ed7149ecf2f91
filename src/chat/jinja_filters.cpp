// Chat-template filters ({{ x | name(args) }}) and tests ({{ x is name }}) (jinja_interp.h). Each
// filter is one function in a table that also says what it makes of an undefined input.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>

#include "src/chat/jinja_interp.h"

namespace qlm::jinja {
namespace {

// What a filter does with an undefined input, as in Jinja.
enum class Undefined {
    Fails,          // an error naming the undefined value
    Passes,         // the filter handles it (default, safe)
    IsZero,         // the result is 0 (length, count)
    IsEmptyList,    // the input is treated as []
    IsEmptyString,  // the input is treated as ""
};

struct FilterCall {
    const std::string& name;
    const std::vector<Val>& args;  // positional, evaluated
    const Expr* kwargs_from;       // the filter expression holding its keyword arguments; nullptr: none
    int line;

    const Expr* kwarg(const char* k) const { return kwargs_from ? Interp::kwarg(*kwargs_from, k) : nullptr; }
};

using FilterFn = Val (*)(Interp& it, const Val& in, const FilterCall& c);

// The filters map('name') applies to each item; any other name is refused as unsupported.
constexpr std::string_view kMapFilters[] = {"string", "lower", "upper", "trim", "tojson"};

Val f_default(Interp&, const Val& in, const FilterCall& c) {
    Val def = c.args.empty() ? V("") : c.args[0];
    bool boolean = c.args.size() > 1 && truthy(c.args[1]);
    if (in.undef || (boolean && !truthy(in))) return def;
    return in;
}

Val f_safe(Interp&, const Val& in, const FilterCall&) { return in; }

Val f_length(Interp&, const Val& in, const FilterCall& c) {
    const Json& j = in.j;
    if (j.is_string()) return V(static_cast<int64_t>(j.get_ref<const std::string&>().size()));
    if (j.is_array() || j.is_object()) return V(static_cast<int64_t>(j.size()));
    fail(c.line, fmt::format("a {} has no length", type_name(in)));
}

Val f_trim(Interp& it, const Val& in, const FilterCall& c) {
    const std::string chars = c.args.empty() ? "" : it.need_str(c.args[0], c.line, "trim's argument");
    return V(strip_chars(to_str(in), chars, true, true));
}
Val f_upper(Interp&, const Val& in, const FilterCall&) { return V(upper(to_str(in))); }
Val f_lower(Interp&, const Val& in, const FilterCall&) { return V(lower(to_str(in))); }
Val f_capitalize(Interp&, const Val& in, const FilterCall&) { return V(capitalize(to_str(in))); }
Val f_title(Interp&, const Val& in, const FilterCall&) { return V(title_case(to_str(in))); }
Val f_string(Interp&, const Val& in, const FilterCall&) { return V(to_str(in)); }

Val f_items(Interp& it, const Val& in, const FilterCall& c) {
    if (!in.j.is_object()) fail(c.line, fmt::format("'items' needs a dict, not a {}", type_name(in)));
    return it.method(in, "items", {}, c.line);
}

Val f_tojson(Interp& it, const Val& in, const FilterCall& c) {
    int indent = -1;
    if (const Expr* k = c.kwarg("indent"))
        indent = static_cast<int>(std::clamp<int64_t>(it.need_int(it.eval(*k), c.line, "indent"), 0, 16));
    else if (!c.args.empty())
        indent = static_cast<int>(std::clamp<int64_t>(it.need_int(c.args[0], c.line, "indent"), 0, 16));
    std::string s;
    to_json(s, in.j, indent, 0);
    it.check_string(s.size(), c.line);
    return V(std::move(s));
}

Val f_join(Interp& it, const Val& in, const FilterCall& c) {
    std::string sep = c.args.empty() ? "" : it.need_str(c.args[0], c.line, "join's separator");
    if (const Expr* k = c.kwarg("attribute")) {
        std::string attr = it.need_str(it.eval(*k), c.line, "join's attribute");
        Json l = Json::array();
        for (const auto& x : it.items_of(in, c.line)) l.push_back(x.is_object() && x.contains(attr) ? x[attr] : Json(""));
        return V(it.join(V(std::move(l)), sep, c.line));
    }
    return V(it.join(in, sep, c.line));
}

Val f_list(Interp& it, const Val& in, const FilterCall& c) { return V(Json(it.items_of(in, c.line))); }

Val f_first_last(Interp& it, const Val& in, const FilterCall& c) {
    std::vector<Json> items = it.items_of(in, c.line);
    if (items.empty()) return Val::undefined(c.name + " of an empty sequence");
    return V(c.name == "first" ? items.front() : items.back());
}

Val f_reverse(Interp& it, const Val& in, const FilterCall& c) {
    if (in.j.is_string()) {
        std::string s = in.j.get<std::string>();
        std::reverse(s.begin(), s.end());
        return V(s);
    }
    std::vector<Json> items = it.items_of(in, c.line);
    std::reverse(items.begin(), items.end());
    return V(Json(items));
}

Val f_replace(Interp& it, const Val& in, const FilterCall& c) {
    if (c.args.size() < 2) fail(c.line, "'replace' takes two arguments");
    return V(it.replace_all(to_str(in), it.need_str(c.args[0], c.line, "replace's first argument"),
                            it.need_str(c.args[1], c.line, "replace's second argument"), c.line));
}

Val f_int(Interp&, const Val& in, const FilterCall&) {
    const Json& j = in.j;
    if (is_int(j)) return in;
    if (j.is_number_float()) {
        const double d = j.get<double>();
        return V(std::isnan(d) ? int64_t{0} : static_cast<int64_t>(std::clamp(d, -9e18, 9e18)));
    }
    if (j.is_string()) {
        try { return V(static_cast<int64_t>(std::stoll(j.get<std::string>()))); } catch (...) { return V(int64_t{0}); }
    }
    return V(int64_t{0});
}

Val f_float(Interp&, const Val& in, const FilterCall&) {
    const Json& j = in.j;
    if (j.is_number()) return V(j.get<double>());
    if (j.is_string()) {
        try { return V(std::stod(j.get<std::string>())); } catch (...) { return V(0.0); }
    }
    return V(0.0);
}

Val f_abs(Interp&, const Val& in, const FilterCall& c) {
    const Json& j = in.j;
    if (is_int(j)) {
        int64_t x = j.get<int64_t>();
        if (x == std::numeric_limits<int64_t>::min()) fail(c.line, "integer overflow");
        return V(x < 0 ? -x : x);
    }
    if (j.is_number()) return V(std::fabs(j.get<double>()));
    fail(c.line, "'abs' needs a number");
}

// select/reject(test[, args...]) keep or drop the items that pass a test (or are truthy);
// selectattr/rejectattr(attr[, test[, args...]]) test an attribute of each item.
Val f_select(Interp& it, const Val& in, const FilterCall& c) {
    const std::string& f = c.name;
    const bool attr_mode = f == "selectattr" || f == "rejectattr";
    const bool keep = f == "selectattr" || f == "select";
    const std::vector<Val>& a = c.args;
    size_t ai = 0;
    std::string attr;
    if (attr_mode) {
        if (a.empty()) fail(c.line, fmt::format("'{}' needs an attribute name", f));
        attr = it.need_str(a[ai++], c.line, "the attribute name");
    }
    std::string tname = ai < a.size() ? it.need_str(a[ai++], c.line, "the test name") : "";
    std::vector<Val> targs(a.begin() + static_cast<std::ptrdiff_t>(ai), a.end());
    Json l = Json::array();
    for (const auto& x : it.items_of(in, c.line)) {
        it.step(c.line);
        Val v = V(x);
        if (attr_mode) v = x.is_object() && x.contains(attr) ? V(x[attr]) : Val::undefined(attr);
        bool r = tname.empty() ? truthy(v) : it.apply_test(tname, v, targs, c.line);
        if (r == keep) l.push_back(x);
    }
    return V(std::move(l));
}

// map(attribute=name[, default=value]) or map(filter_name).
Val f_map(Interp& it, const Val& in, const FilterCall& c) {
    Json l = Json::array();
    if (const Expr* k = c.kwarg("attribute")) {
        std::string attr = it.need_str(it.eval(*k), c.line, "map's attribute");
        for (const auto& x : it.items_of(in, c.line)) {
            if (x.is_object() && x.contains(attr)) l.push_back(x[attr]);
            else if (const Expr* d = c.kwarg("default")) l.push_back(it.need(it.eval(*d), c.line));
            else l.push_back(nullptr);
        }
        return V(std::move(l));
    }
    if (c.args.empty()) fail(c.line, "'map' needs a filter name or attribute=");
    const std::string fname = it.need_str(c.args[0], c.line, "the filter name");
    const bool supported = std::find(std::begin(kMapFilters), std::end(kMapFilters), fname) != std::end(kMapFilters);
    for (const auto& x : it.items_of(in, c.line)) {
        if (!supported) fail(c.line, fmt::format("map('{}') is not supported", fname));
        l.push_back(it.apply_filter(fname, V(x), {}, nullptr, c.line).j);
    }
    return V(std::move(l));
}

struct Filter {
    std::string_view name;
    Undefined undefined;
    FilterFn fn;
};

constexpr Filter kFilters[] = {
    {"default", Undefined::Passes, f_default},
    {"d", Undefined::Passes, f_default},
    {"safe", Undefined::Passes, f_safe},
    {"length", Undefined::IsZero, f_length},
    {"count", Undefined::IsZero, f_length},
    {"list", Undefined::IsEmptyList, f_list},
    {"join", Undefined::IsEmptyList, f_join},
    {"first", Undefined::IsEmptyList, f_first_last},
    {"last", Undefined::IsEmptyList, f_first_last},
    {"reverse", Undefined::IsEmptyList, f_reverse},
    {"selectattr", Undefined::IsEmptyList, f_select},
    {"rejectattr", Undefined::IsEmptyList, f_select},
    {"select", Undefined::IsEmptyList, f_select},
    {"reject", Undefined::IsEmptyList, f_select},
    {"map", Undefined::IsEmptyList, f_map},
    {"trim", Undefined::IsEmptyString, f_trim},
    {"upper", Undefined::IsEmptyString, f_upper},
    {"lower", Undefined::IsEmptyString, f_lower},
    {"capitalize", Undefined::IsEmptyString, f_capitalize},
    {"title", Undefined::IsEmptyString, f_title},
    {"string", Undefined::IsEmptyString, f_string},
    {"items", Undefined::Fails, f_items},
    {"tojson", Undefined::Fails, f_tojson},
    {"replace", Undefined::Fails, f_replace},
    {"int", Undefined::Fails, f_int},
    {"float", Undefined::Fails, f_float},
    {"abs", Undefined::Fails, f_abs},
};

const Filter* find_filter(std::string_view name) {
    for (const Filter& f : kFilters)
        if (f.name == name) return &f;
    return nullptr;
}

}  // namespace

Val Interp::filter(const Expr& e) {
    Val in = eval(*e.args[0]);
    std::vector<Val> a = eval_args(e, 1);
    return apply_filter(e.name, std::move(in), a, &e, e.line);
}

Val Interp::apply_filter(const std::string& name, Val in, const std::vector<Val>& args, const Expr* kwargs_from,
                         int line) {
    const Filter* f = find_filter(name);
    const FilterCall c{name, args, kwargs_from, line};
    if (f && f->undefined == Undefined::Passes) return f->fn(*this, in, c);
    if (in.undef && f) {
        if (f->undefined == Undefined::IsZero) return V(int64_t{0});
        if (f->undefined == Undefined::IsEmptyList) in = V(Json::array());
        if (f->undefined == Undefined::IsEmptyString) in = V("");
    }
    need(in, line);  // an undefined input to any other filter, or to an unknown one, is an error
    if (!f) fail(line, fmt::format("unknown filter '{}'", name));
    return f->fn(*this, in, c);
}

bool Interp::test(const Expr& e) {
    Val v = eval(*e.args[0]);
    return apply_test(e.name, v, eval_args(e, 1), e.line);
}

bool Interp::apply_test(const std::string& name, const Val& v, const std::vector<Val>& args, int line) {
    if (name == "defined") return !v.undef;
    if (name == "undefined") return v.undef;
    if (name == "none") return !v.undef && v.j.is_null();
    if (name == "string") return !v.undef && v.j.is_string();
    if (name == "number") return !v.undef && v.j.is_number();
    if (name == "integer") return !v.undef && is_int(v.j);
    if (name == "float") return !v.undef && v.j.is_number_float();
    if (name == "boolean") return !v.undef && v.j.is_boolean();
    if (name == "true") return !v.undef && v.j.is_boolean() && v.j.get<bool>();
    if (name == "false") return !v.undef && v.j.is_boolean() && !v.j.get<bool>();
    if (name == "mapping") return !v.undef && v.j.is_object();
    if (name == "sequence" || name == "iterable")
        return !v.undef && (v.j.is_array() || v.j.is_string() || (name == "iterable" && v.j.is_object()));
    if (name == "callable") return false;
    if (name == "even" || name == "odd") {
        int64_t x = need_int(v, line, "the value tested for even/odd");
        return (x % 2 == 0) == (name == "even");
    }
    if (name == "divisibleby") {
        if (args.size() != 1) fail(line, "'divisibleby' takes one argument");
        int64_t d = need_int(args[0], line, "the divisor");
        if (d == 0) fail(line, "division by zero");
        return need_int(v, line, "the value tested") % d == 0;
    }
    if (name == "equalto" || name == "eq" || name == "==" || name == "sameas" || name == "ne" || name == "!=") {
        if (args.size() != 1) fail(line, fmt::format("'{}' takes one argument", name));
        bool eq = equal(v, args[0]);
        return (name == "ne" || name == "!=") ? !eq : eq;
    }
    if (name == "in") {
        if (args.size() != 1) fail(line, "'in' takes one argument");
        return contains(v, args[0], line);
    }
    if (name == "lower" || name == "upper") {
        std::string s = need_str(v, line, "the value tested");
        return name == "lower" ? lower(s) == s : upper(s) == s;
    }
    fail(line, fmt::format("unknown test '{}'", name));
}

}  // namespace qlm::jinja
