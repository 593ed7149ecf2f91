// Chat-template calls (jinja_interp.h): the global functions a template may call (range,
// namespace, dict, raise_exception) and the methods of strings and dicts.
#include <cctype>

#include "src/chat/jinja_interp.h"

namespace qlm::jinja {

Val Interp::call(const Expr& e) {
    const Expr& callee = *e.args[0];
    if (callee.kind == Expr::Kind::Name && !lookup(callee.name)) return global_function(callee.name, e);
    if (callee.kind == Expr::Kind::Attr) {
        Val obj = eval(*callee.args[0]);
        std::vector<Val> a = eval_args(e, 1);
        return method(obj, callee.name, a, e.line);
    }
    fail(e.line, "only functions and methods can be called");
}

Val Interp::global_function(const std::string& f, const Expr& e) {
    if (f == "raise_exception") {
        std::vector<Val> a = eval_args(e, 1);
        throw_error("chat template raised an error: {}", a.empty() ? std::string("(no message)") : to_str(a[0]));
    }
    if (f == "range") {
        std::vector<Val> a = eval_args(e, 1);
        if (a.empty() || a.size() > 3) fail(e.line, "range() takes 1 to 3 arguments");
        int64_t start = 0, stop = 0, st = 1;
        if (a.size() == 1) stop = need_int(a[0], e.line, "range()'s argument");
        else {
            start = need_int(a[0], e.line, "range()'s start");
            stop = need_int(a[1], e.line, "range()'s stop");
            if (a.size() == 3) st = need_int(a[2], e.line, "range()'s step");
        }
        if (st == 0) fail(e.line, "range() step cannot be zero");
        Json l = Json::array();
        for (int64_t k = start; st > 0 ? k < stop : k > stop;) {
            check_list(l.size() + 1, e.line);
            l.push_back(k);
            if (__builtin_add_overflow(k, st, &k)) break;
        }
        return V(std::move(l));
    }
    if (f == "namespace" || f == "dict") {
        Json o = Json::object();
        for (const auto& [k, x] : e.kwargs) o[k] = need(eval(*x), e.line);
        return V(std::move(o));
    }
    fail(e.line, fmt::format("'{}' is undefined (no such function)", f));
}

Val Interp::method(const Val& o, const std::string& m, const std::vector<Val>& a, int line) {
    const Json& j = need(o, line);
    std::optional<Val> r;
    if (j.is_string()) r = string_method(j.get_ref<const std::string&>(), m, a, line);
    else if (j.is_object()) r = dict_method(o, m, a, line);
    if (!r) fail(line, fmt::format("a {} has no method '{}' (or not with {} arguments)", type_name(o), m, a.size()));
    return std::move(*r);
}

std::optional<Val> Interp::string_method(const std::string& s, const std::string& m, const std::vector<Val>& a,
                                         int line) {
    auto arg_str = [&](size_t i, const char* what) { return need_str(a.at(i), line, what); };
    auto arg_is_none = [&](size_t i) { return !a[i].undef && a[i].j.is_null(); };
    if (m == "strip" || m == "lstrip" || m == "rstrip") {
        std::string chars = a.empty() || arg_is_none(0) ? "" : arg_str(0, "strip()'s argument");
        return V(strip_chars(s, chars, m != "rstrip", m != "lstrip"));
    }
    if (m == "upper") return V(upper(s));
    if (m == "lower") return V(lower(s));
    if (m == "title") return V(title_case(s));
    if (m == "capitalize") return V(capitalize(s));
    if ((m == "startswith" || m == "endswith") && a.size() == 1) {
        std::vector<std::string> cands;
        if (!a[0].undef && a[0].j.is_array()) {
            for (const auto& x : a[0].j)
                if (x.is_string()) cands.push_back(x.get<std::string>());
        } else {
            cands.push_back(arg_str(0, "the prefix"));
        }
        for (const auto& c : cands) {
            if (m == "startswith" && s.compare(0, c.size(), c) == 0) return V(true);
            if (m == "endswith" && s.size() >= c.size() && s.compare(s.size() - c.size(), c.size(), c) == 0)
                return V(true);
        }
        return V(false);
    }
    if (m == "replace" && a.size() >= 2) {
        std::string from = arg_str(0, "replace()'s first argument"), to = arg_str(1, "replace()'s second argument");
        return V(replace_all(s, from, to, line));
    }
    if (m == "split") {
        Json l = Json::array();
        if (a.empty() || arg_is_none(0)) {
            size_t i = 0;
            while (i < s.size()) {
                while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
                size_t k = i;
                while (k < s.size() && !std::isspace(static_cast<unsigned char>(s[k]))) ++k;
                if (k > i) l.push_back(s.substr(i, k - i));
                i = k;
            }
        } else {
            std::string sep = arg_str(0, "split()'s separator");
            if (sep.empty()) fail(line, "split() separator is empty");
            size_t i = 0;
            for (;;) {
                check_list(l.size() + 1, line);
                size_t k = s.find(sep, i);
                if (k == std::string::npos) { l.push_back(s.substr(i)); break; }
                l.push_back(s.substr(i, k - i));
                i = k + sep.size();
            }
        }
        return V(std::move(l));
    }
    if (m == "find" && a.size() == 1) {
        size_t k = s.find(arg_str(0, "find()'s argument"));
        return V(k == std::string::npos ? int64_t{-1} : static_cast<int64_t>(k));
    }
    if (m == "join" && a.size() == 1) return V(join(a[0], s, line));
    return std::nullopt;
}

std::optional<Val> Interp::dict_method(const Val& o, const std::string& m, const std::vector<Val>& a, int line) {
    const Json& j = o.j;
    if (m == "items") {
        Json l = Json::array();
        for (const auto& [k, v] : j.items()) l.push_back(Json::array({k, v}));
        return V(std::move(l));
    }
    if (m == "keys" || m == "values") {
        Json l = Json::array();
        for (const auto& [k, v] : j.items()) l.push_back(m == "keys" ? Json(k) : v);
        return V(std::move(l));
    }
    if (m == "get" && !a.empty()) {
        Val v = index(o, a[0], line);
        if (v.undef) return a.size() > 1 ? a[1] : V(nullptr);
        return v;
    }
    return std::nullopt;
}

std::string Interp::replace_all(const std::string& s, const std::string& from, const std::string& to, int line) {
    if (from.empty()) return s;
    std::string r;
    size_t i = 0;
    for (;;) {
        size_t k = s.find(from, i);
        if (k == std::string::npos) break;
        r.append(s, i, k - i);
        r += to;
        check_string(r.size(), line);
        i = k + from.size();
    }
    r.append(s, i, std::string::npos);
    check_string(r.size(), line);
    return r;
}

std::string Interp::join(const Val& list, const std::string& sep, int line) {
    std::string r;
    bool first = true;
    for (const auto& x : items_of(list, line)) {
        if (!first) r += sep;
        first = false;
        r += to_str(V(x));
        check_string(r.size(), line);
    }
    return r;
}

}  // namespace qlm::jinja
