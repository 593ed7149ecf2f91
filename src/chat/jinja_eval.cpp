// Chat-template evaluation: a tree walker over jinja_ast.h with JSON values, an explicit
// "undefined", Jinja's scoping (for loops get their own scope; namespaces carry values out), and
// hard limits on steps, output size and list sizes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "src/chat/jinja.h"
#include "src/chat/jinja_ast.h"
#include "src/chat/jinja_values.h"
#include "src/util/error.h"

namespace qlm::jinja {

std::shared_ptr<const Program> parse_program(std::string_view source, const Limits& limits);

namespace {

[[noreturn]] void fail(int line, const std::string& what) { throw_error("chat template line {}: {}", line, what); }

class Interp {
public:
    Interp(const Limits& l, const Json& ctx) : lim_(l) {
        scopes_.emplace_back();
        if (!ctx.is_object()) throw_error("chat template: the context must be a JSON object");
        for (const auto& [k, v] : ctx.items()) scopes_.back()[k] = V(v);
    }

    std::string run(const Body& b) {
        exec(b);
        return std::move(out_);
    }

private:
    // ---- limits ----
    void step(int line) {
        if (++steps_ > lim_.max_steps)
            fail(line, fmt::format("the template ran more than {} steps (a runaway loop?)", lim_.max_steps));
    }
    void check_string(size_t n, int line) const {
        if (n > lim_.max_output_bytes)
            fail(line, fmt::format("a string of {} bytes is larger than the limit of {} bytes", n, lim_.max_output_bytes));
    }
    void check_list(size_t n, int line) const {
        if (n > lim_.max_list_items)
            fail(line, fmt::format("a list of {} items is larger than the limit of {}", n, lim_.max_list_items));
    }
    void emit(const std::string& s, int line) {
        if (out_.size() + s.size() > lim_.max_output_bytes)
            fail(line, fmt::format("the output is larger than the limit of {} bytes", lim_.max_output_bytes));
        out_ += s;
    }

    // ---- statements ----
    void exec(const Body& body) {
        for (const Node& n : body) {
            step(n.line);
            switch (n.kind) {
                case Node::Kind::Text: emit(n.text, n.line); break;
                case Node::Kind::Output: {
                    Val v = eval(*n.expr);
                    emit(to_str(v), n.line);
                    break;
                }
                case Node::Kind::If: {
                    bool done = false;
                    for (const auto& [cond, b] : n.branches)
                        if (truthy(eval(*cond))) {
                            exec(b);
                            done = true;
                            break;
                        }
                    if (!done) exec(n.else_body);
                    break;
                }
                case Node::Kind::For: exec_for(n); break;
                case Node::Kind::Set: exec_set(n); break;
            }
        }
    }

    void exec_set(const Node& n) {
        Val v = eval(*n.expr);
        if (n.attr.empty()) {
            scopes_.back()[n.vars[0]] = std::move(v);
            return;
        }
        Val* target = lookup(n.vars[0]);
        if (!target || target->undef || !target->j.is_object())
            fail(n.line, fmt::format("cannot set attribute '{}' of '{}': it is not a namespace", n.attr, n.vars[0]));
        if (v.undef) fail(n.line, fmt::format("'{}' is undefined", v.name));
        target->j[n.attr] = std::move(v.j);
    }

    std::vector<Json> items_of(const Val& v, int line) {
        std::vector<Json> items;
        if (v.undef) return items;  // as in Jinja: an undefined value iterates as empty
        if (v.j.is_array()) {
            items.assign(v.j.begin(), v.j.end());
        } else if (v.j.is_object()) {
            for (const auto& [k, x] : v.j.items()) items.emplace_back(k);
        } else if (v.j.is_string()) {
            const std::string& s = v.j.get_ref<const std::string&>();
            for (size_t i = 0; i < s.size();) {
                size_t len = 1;
                unsigned char c = static_cast<unsigned char>(s[i]);
                if (c >= 0xF0) len = 4; else if (c >= 0xE0) len = 3; else if (c >= 0xC0) len = 2;
                len = std::min(len, s.size() - i);
                items.emplace_back(s.substr(i, len));
                i += len;
            }
        } else if (!v.j.is_null()) {
            fail(line, fmt::format("a {} cannot be iterated", type_name(v)));
        }
        return items;
    }

    void exec_for(const Node& n) {
        std::vector<Json> items = items_of(eval(*n.expr), n.line);
        scopes_.emplace_back();
        if (n.filter) {
            std::vector<Json> kept;
            for (auto& it : items) {
                step(n.line);
                bind_loop_vars(n, it);
                if (truthy(eval(*n.filter))) kept.push_back(std::move(it));
            }
            items = std::move(kept);
        }
        const int64_t len = static_cast<int64_t>(items.size());
        for (int64_t i = 0; i < len; ++i) {
            step(n.line);
            scopes_.back().clear();
            bind_loop_vars(n, items[static_cast<size_t>(i)]);
            Json loop = Json::object();
            loop["index"] = i + 1;
            loop["index0"] = i;
            loop["revindex"] = len - i;
            loop["revindex0"] = len - i - 1;
            loop["first"] = i == 0;
            loop["last"] = i == len - 1;
            loop["length"] = len;
            if (i > 0) loop["previtem"] = items[static_cast<size_t>(i - 1)];
            if (i + 1 < len) loop["nextitem"] = items[static_cast<size_t>(i + 1)];
            scopes_.back()["loop"] = V(std::move(loop));
            exec(n.body);
        }
        scopes_.pop_back();
        if (len == 0) exec(n.else_body);
    }

    void bind_loop_vars(const Node& n, const Json& item) {
        if (n.vars.size() == 1) {
            scopes_.back()[n.vars[0]] = V(item);
            return;
        }
        if (!item.is_array() || item.size() != 2)
            fail(n.line, fmt::format("cannot unpack a {} into '{}, {}'", type_name(V(item)), n.vars[0], n.vars[1]));
        scopes_.back()[n.vars[0]] = V(item[0]);
        scopes_.back()[n.vars[1]] = V(item[1]);
    }

    Val* lookup(const std::string& name) {
        for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
            auto f = it->find(name);
            if (f != it->end()) return &f->second;
        }
        return nullptr;
    }

    // ---- expressions ----
    const Json& need(const Val& v, int line) {
        if (v.undef) fail(line, fmt::format("'{}' is undefined", v.name));
        return v.j;
    }
    int64_t need_int(const Val& v, int line, const char* what) {
        const Json& j = need(v, line);
        if (j.is_number_integer() || j.is_number_unsigned()) return j.get<int64_t>();
        if (j.is_boolean()) return j.get<bool>() ? 1 : 0;
        fail(line, fmt::format("{} must be an integer, not a {}", what, type_name(v)));
    }
    std::string need_str(const Val& v, int line, const char* what) {
        const Json& j = need(v, line);
        if (!j.is_string()) fail(line, fmt::format("{} must be a string, not a {}", what, type_name(v)));
        return j.get<std::string>();
    }

    Val eval(const Expr& e) {
        step(e.line);
        switch (e.kind) {
            case Expr::Kind::Literal: return V(e.literal);
            case Expr::Kind::Name: {
                if (Val* v = lookup(e.name)) return *v;
                return Val::undefined(e.name);
            }
            case Expr::Kind::List: {
                Json l = Json::array();
                for (const auto& a : e.args) l.push_back(need(eval(*a), a->line));
                return V(std::move(l));
            }
            case Expr::Kind::Dict: {
                Json d = Json::object();
                for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
                    std::string k = to_str(V(need(eval(*e.args[i]), e.line)));
                    d[k] = need(eval(*e.args[i + 1]), e.line);
                }
                return V(std::move(d));
            }
            case Expr::Kind::Attr: {
                Val o = eval(*e.args[0]);
                const Json& j = need(o, e.line);
                if (j.is_object()) {
                    auto it = j.find(e.name);
                    if (it != j.end()) return V(*it);
                }
                return Val::undefined(o.name.empty() ? e.name : o.name + "." + e.name);
            }
            case Expr::Kind::Index: return index(eval(*e.args[0]), eval(*e.args[1]), e.line);
            case Expr::Kind::Slice: return slice(e);
            case Expr::Kind::Call: return call(e);
            case Expr::Kind::Filter: return filter(e);
            case Expr::Kind::Test: {
                bool r = test(e);
                return V(e.negate ? !r : r);
            }
            case Expr::Kind::Unary: {
                Val a = eval(*e.args[0]);
                if (e.name == "not") return V(!truthy(a));
                const Json& j = need(a, e.line);
                if (!j.is_number()) fail(e.line, fmt::format("unary '{}' needs a number, not a {}", e.name, type_name(a)));
                if (e.name == "+") return a;
                if (j.is_number_float()) return V(-j.get<double>());
                int64_t x = j.get<int64_t>();
                if (x == std::numeric_limits<int64_t>::min()) fail(e.line, "integer overflow");
                return V(-x);
            }
            case Expr::Kind::Binary: return binary(e);
            case Expr::Kind::Cond: {
                if (truthy(eval(*e.args[1]))) return eval(*e.args[0]);
                if (e.args[2]) return eval(*e.args[2]);
                return Val::undefined("(inline if without else)");
            }
        }
        fail(e.line, "unknown expression");
    }

    Val index(const Val& o, const Val& i, int line) {
        const Json& j = need(o, line);
        const Json& k = need(i, line);
        if (j.is_object()) {
            if (!k.is_string()) return Val::undefined(o.name + "[" + to_str(i) + "]");
            auto it = j.find(k.get<std::string>());
            if (it == j.end()) return Val::undefined(o.name.empty() ? k.get<std::string>() : o.name + "." + k.get<std::string>());
            return V(*it);
        }
        if (j.is_array() || j.is_string()) {
            int64_t n = j.is_array() ? static_cast<int64_t>(j.size()) : static_cast<int64_t>(j.get_ref<const std::string&>().size());
            int64_t x = need_int(i, line, "an index");
            if (x < 0) x += n;
            if (x < 0 || x >= n) return Val::undefined(fmt::format("{}[{}]", o.name.empty() ? "list" : o.name, to_str(i)));
            if (j.is_array()) return V(j[static_cast<size_t>(x)]);
            return V(std::string(1, j.get_ref<const std::string&>()[static_cast<size_t>(x)]));
        }
        fail(line, fmt::format("a {} cannot be indexed", type_name(o)));
    }

    Val slice(const Expr& e) {
        Val o = eval(*e.args[0]);
        const Json& j = need(o, e.line);
        if (!j.is_array() && !j.is_string()) fail(e.line, fmt::format("a {} cannot be sliced", type_name(o)));
        const int64_t n = j.is_array() ? static_cast<int64_t>(j.size()) : static_cast<int64_t>(j.get_ref<const std::string&>().size());
        int64_t step_v = e.args[3] ? need_int(eval(*e.args[3]), e.line, "a slice step") : 1;
        if (step_v == 0) fail(e.line, "a slice step cannot be zero");
        auto bound = [&](const ExprP& x, int64_t def) {
            if (!x) return def;
            Val v = eval(*x);
            if (!v.undef && v.j.is_null()) return def;
            int64_t b = need_int(v, e.line, "a slice bound");
            if (b < 0) b += n;
            return step_v > 0 ? std::clamp<int64_t>(b, 0, n) : std::clamp<int64_t>(b, -1, n - 1);
        };
        int64_t a = bound(e.args[1], step_v > 0 ? 0 : n - 1);
        int64_t b = bound(e.args[2], step_v > 0 ? n : -1);
        Json l = Json::array();
        std::string s;
        for (int64_t k = a; step_v > 0 ? k < b : k > b;) {
            step(e.line);
            if (j.is_array()) l.push_back(j[static_cast<size_t>(k)]);
            else s += j.get_ref<const std::string&>()[static_cast<size_t>(k)];
            if (__builtin_add_overflow(k, step_v, &k)) break;
        }
        return j.is_array() ? V(std::move(l)) : V(std::move(s));
    }

    static bool is_int(const Json& j) { return j.is_number_integer() || j.is_number_unsigned(); }

    Val arith(const std::string& op, const Val& a, const Val& b, int line) {
        const Json& x = need(a, line);
        const Json& y = need(b, line);
        if (op == "+" && x.is_string() && y.is_string()) {
            check_string(x.get_ref<const std::string&>().size() + y.get_ref<const std::string&>().size(), line);
            return V(x.get<std::string>() + y.get<std::string>());
        }
        if (op == "+" && x.is_array() && y.is_array()) {
            check_list(x.size() + y.size(), line);
            Json r = x;
            for (const auto& v : y) r.push_back(v);
            return V(std::move(r));
        }
        if (op == "*" && (x.is_string() || y.is_string()) && (is_int(x) || is_int(y))) {
            const std::string& s = x.is_string() ? x.get_ref<const std::string&>() : y.get_ref<const std::string&>();
            int64_t n = std::max<int64_t>(0, is_int(x) ? x.get<int64_t>() : y.get<int64_t>());
            if (n > 0 && s.size() > lim_.max_output_bytes / static_cast<size_t>(n)) check_string(lim_.max_output_bytes + 1, line);
            std::string r;
            for (int64_t i = 0; i < n; ++i) r += s;
            return V(std::move(r));
        }
        if (!x.is_number() || !y.is_number())
            fail(line, fmt::format("cannot apply '{}' to a {} and a {}", op, type_name(a), type_name(b)));
        if (is_int(x) && is_int(y) && op != "/" && op != "**") {
            int64_t p = x.get<int64_t>(), q = y.get<int64_t>(), r = 0;
            bool overflow = false;
            if (op == "+") overflow = __builtin_add_overflow(p, q, &r);
            else if (op == "-") overflow = __builtin_sub_overflow(p, q, &r);
            else if (op == "*") overflow = __builtin_mul_overflow(p, q, &r);
            else {
                if (q == 0) fail(line, "division by zero");
                if (p == std::numeric_limits<int64_t>::min() && q == -1) fail(line, "integer overflow");
                int64_t d = p / q, m = p % q;
                if (m != 0 && ((m < 0) != (q < 0))) { d -= 1; m += q; }
                r = op == "//" ? d : m;
            }
            if (overflow) fail(line, "integer overflow");
            return V(r);
        }
        double p = x.get<double>(), q = y.get<double>();
        if (op == "+") return V(p + q);
        if (op == "-") return V(p - q);
        if (op == "*") return V(p * q);
        if (op == "**") {
            double r = std::pow(p, q);
            if (is_int(x) && is_int(y) && q >= 0 && std::fabs(r) < 9e18) return V(static_cast<int64_t>(r));
            return V(r);
        }
        if (q == 0) fail(line, "division by zero");
        if (op == "/") return V(p / q);
        if (op == "//") return V(std::floor(p / q));
        return V(p - q * std::floor(p / q));
    }

    bool equal(const Val& a, const Val& b) {
        if (a.undef || b.undef) return a.undef && b.undef;
        return a.j == b.j;
    }

    bool contains(const Val& item, const Val& container, int line) {
        const Json& c = need(container, line);
        if (c.is_string()) {
            return c.get_ref<const std::string&>().find(need_str(item, line, "the left side of 'in' a string")) !=
                   std::string::npos;
        }
        if (c.is_array()) {
            for (const auto& x : c)
                if (!item.undef && x == item.j) return true;
            return false;
        }
        if (c.is_object()) return !item.undef && item.j.is_string() && c.contains(item.j.get<std::string>());
        fail(line, fmt::format("'in' needs a string, list or dict on the right, not a {}", type_name(container)));
    }

    Val binary(const Expr& e) {
        const std::string& op = e.name;
        if (op == "and") {
            Val a = eval(*e.args[0]);
            return truthy(a) ? eval(*e.args[1]) : a;
        }
        if (op == "or") {
            Val a = eval(*e.args[0]);
            return truthy(a) ? a : eval(*e.args[1]);
        }
        Val a = eval(*e.args[0]);
        Val b = eval(*e.args[1]);
        if (op == "==") return V(equal(a, b));
        if (op == "!=") return V(!equal(a, b));
        if (op == "in") return V(contains(a, b, e.line));
        if (op == "notin") return V(!contains(a, b, e.line));
        if (op == "~") {
            std::string s = to_str(a) + to_str(b);
            check_string(s.size(), e.line);
            return V(std::move(s));
        }
        if (op == "<" || op == ">" || op == "<=" || op == ">=") {
            const Json& x = need(a, e.line);
            const Json& y = need(b, e.line);
            if (!((x.is_number() && y.is_number()) || (x.is_string() && y.is_string())))
                fail(e.line, fmt::format("cannot compare a {} with a {}", type_name(a), type_name(b)));
            bool lt = x < y, gt = y < x;
            if (op == "<") return V(lt);
            if (op == ">") return V(gt);
            if (op == "<=") return V(!gt);
            return V(!lt);
        }
        return arith(op, a, b, e.line);
    }

    std::vector<Val> eval_args(const Expr& e, size_t first) {
        std::vector<Val> v;
        for (size_t i = first; i < e.args.size(); ++i) v.push_back(eval(*e.args[i]));
        return v;
    }
    const Expr* kwarg(const Expr& e, const char* name) {
        for (const auto& [k, x] : e.kwargs)
            if (k == name) return x.get();
        return nullptr;
    }

    Val call(const Expr& e) {
        const Expr& callee = *e.args[0];
        if (callee.kind == Expr::Kind::Name && !lookup(callee.name)) {
            const std::string& f = callee.name;
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
        if (callee.kind == Expr::Kind::Attr) {
            Val obj = eval(*callee.args[0]);
            std::vector<Val> a = eval_args(e, 1);
            return method(obj, callee.name, a, e);
        }
        fail(e.line, "only functions and methods can be called");
    }

    Val method(const Val& o, const std::string& m, const std::vector<Val>& a, const Expr& e) {
        const Json& j = need(o, e.line);
        auto arg_str = [&](size_t i, const char* what) { return need_str(a.at(i), e.line, what); };
        if (j.is_string()) {
            const std::string& s = j.get_ref<const std::string&>();
            if (m == "strip" || m == "lstrip" || m == "rstrip") {
                std::string chars = a.empty() || (!a[0].undef && a[0].j.is_null()) ? "" : arg_str(0, "strip()'s argument");
                return V(strip_chars(s, chars, m != "rstrip", m != "lstrip"));
            }
            if (m == "upper") return V(upper(s));
            if (m == "lower") return V(lower(s));
            if (m == "title") return V(title_case(s));
            if (m == "capitalize") return V(s.empty() ? s : upper(s.substr(0, 1)) + lower(s.substr(1)));
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
                return V(replace_all(s, from, to, e.line));
            }
            if (m == "split") {
                Json l = Json::array();
                if (a.empty() || (!a[0].undef && a[0].j.is_null())) {
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
                    if (sep.empty()) fail(e.line, "split() separator is empty");
                    size_t i = 0;
                    for (;;) {
                        check_list(l.size() + 1, e.line);
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
            if (m == "join" && a.size() == 1) return V(join(a[0], s, e.line));
        } else if (j.is_object()) {
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
                Val v = index(o, a[0], e.line);
                if (v.undef) return a.size() > 1 ? a[1] : V(nullptr);
                return v;
            }
        }
        fail(e.line, fmt::format("a {} has no method '{}' (or not with {} arguments)", type_name(o), m, a.size()));
    }

    std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int line) {
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

    std::string join(const Val& list, const std::string& sep, int line) {
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

    // select/rejectattr(attr[, test[, value]]) and map(attribute=...)
    bool apply_test(const std::string& name, const Val& v, const std::vector<Val>& args, int line) {
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

    bool test(const Expr& e) {
        Val v = eval(*e.args[0]);
        return apply_test(e.name, v, eval_args(e, 1), e.line);
    }

    Val filter(const Expr& e) {
        const std::string& f = e.name;
        Val in = eval(*e.args[0]);
        std::vector<Val> a = eval_args(e, 1);
        const int line = e.line;
        if (f == "default" || f == "d") {
            Val def = a.empty() ? V("") : a[0];
            bool boolean = a.size() > 1 && truthy(a[1]);
            if (in.undef || (boolean && !truthy(in))) return def;
            return in;
        }
        if (f == "safe") return in;
        // Undefined behaves as in Jinja: an empty string to string filters, an empty sequence.
        if (in.undef && (f == "length" || f == "count")) return V(int64_t{0});
        if (in.undef && (f == "list" || f == "join" || f == "first" || f == "last" || f == "reverse" || f == "selectattr" ||
                         f == "rejectattr" || f == "select" || f == "reject" || f == "map"))
            in = V(Json::array());
        if (in.undef && (f == "trim" || f == "upper" || f == "lower" || f == "capitalize" || f == "title" || f == "string"))
            in = V("");
        const Json& j = need(in, line);
        if (f == "trim") return V(strip_chars(to_str(in), a.empty() ? "" : need_str(a[0], line, "trim's argument"), true, true));
        if (f == "upper") return V(upper(to_str(in)));
        if (f == "lower") return V(lower(to_str(in)));
        if (f == "capitalize") { std::string s = to_str(in); return V(s.empty() ? s : upper(s.substr(0, 1)) + lower(s.substr(1))); }
        if (f == "title") return V(title_case(to_str(in)));
        if (f == "string") return V(to_str(in));
        if (f == "length" || f == "count") {
            if (j.is_string()) return V(static_cast<int64_t>(j.get_ref<const std::string&>().size()));
            if (j.is_array() || j.is_object()) return V(static_cast<int64_t>(j.size()));
            fail(line, fmt::format("a {} has no length", type_name(in)));
        }
        if (f == "items") {
            if (!j.is_object()) fail(line, fmt::format("'items' needs a dict, not a {}", type_name(in)));
            return method(in, "items", {}, e);
        }
        if (f == "tojson") {
            int indent = -1;
            if (const Expr* k = kwarg(e, "indent")) indent = static_cast<int>(std::clamp<int64_t>(need_int(eval(*k), line, "indent"), 0, 16));
            else if (!a.empty()) indent = static_cast<int>(std::clamp<int64_t>(need_int(a[0], line, "indent"), 0, 16));
            std::string s;
            to_json(s, j, indent, 0);
            check_string(s.size(), line);
            return V(std::move(s));
        }
        if (f == "join") {
            std::string sep = a.empty() ? "" : need_str(a[0], line, "join's separator");
            if (const Expr* k = kwarg(e, "attribute")) {
                std::string attr = need_str(eval(*k), line, "join's attribute");
                Json l = Json::array();
                for (const auto& x : items_of(in, line)) l.push_back(x.is_object() && x.contains(attr) ? x[attr] : Json(""));
                return V(join(V(std::move(l)), sep, line));
            }
            return V(join(in, sep, line));
        }
        if (f == "list") return V(Json(items_of(in, line)));
        if (f == "first" || f == "last") {
            std::vector<Json> items = items_of(in, line);
            if (items.empty()) return Val::undefined(f + " of an empty sequence");
            return V(f == "first" ? items.front() : items.back());
        }
        if (f == "reverse") {
            if (j.is_string()) { std::string s = j.get<std::string>(); std::reverse(s.begin(), s.end()); return V(s); }
            std::vector<Json> items = items_of(in, line);
            std::reverse(items.begin(), items.end());
            return V(Json(items));
        }
        if (f == "replace") {
            if (a.size() < 2) fail(line, "'replace' takes two arguments");
            return V(replace_all(to_str(in), need_str(a[0], line, "replace's first argument"),
                                 need_str(a[1], line, "replace's second argument"), line));
        }
        if (f == "int") {
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
        if (f == "float") {
            if (j.is_number()) return V(j.get<double>());
            if (j.is_string()) {
                try { return V(std::stod(j.get<std::string>())); } catch (...) { return V(0.0); }
            }
            return V(0.0);
        }
        if (f == "abs") {
            if (is_int(j)) { int64_t x = j.get<int64_t>(); if (x == std::numeric_limits<int64_t>::min()) fail(line, "integer overflow"); return V(x < 0 ? -x : x); }
            if (j.is_number()) return V(std::fabs(j.get<double>()));
            fail(line, "'abs' needs a number");
        }
        if (f == "selectattr" || f == "rejectattr" || f == "select" || f == "reject") {
            const bool attr_mode = f == "selectattr" || f == "rejectattr";
            const bool keep = f == "selectattr" || f == "select";
            size_t ai = 0;
            std::string attr;
            if (attr_mode) {
                if (a.empty()) fail(line, fmt::format("'{}' needs an attribute name", f));
                attr = need_str(a[ai++], line, "the attribute name");
            }
            std::string tname = ai < a.size() ? need_str(a[ai++], line, "the test name") : "";
            std::vector<Val> targs(a.begin() + static_cast<std::ptrdiff_t>(ai), a.end());
            Json l = Json::array();
            for (const auto& x : items_of(in, line)) {
                step(line);
                Val v = V(x);
                if (attr_mode) v = x.is_object() && x.contains(attr) ? V(x[attr]) : Val::undefined(attr);
                bool r = tname.empty() ? truthy(v) : apply_test(tname, v, targs, line);
                if (r == keep) l.push_back(x);
            }
            return V(std::move(l));
        }
        if (f == "map") {
            Json l = Json::array();
            if (const Expr* k = kwarg(e, "attribute")) {
                std::string attr = need_str(eval(*k), line, "map's attribute");
                for (const auto& x : items_of(in, line)) {
                    if (x.is_object() && x.contains(attr)) l.push_back(x[attr]);
                    else if (const Expr* d = kwarg(e, "default")) l.push_back(need(eval(*d), line));
                    else l.push_back(nullptr);
                }
                return V(std::move(l));
            }
            if (a.empty()) fail(line, "'map' needs a filter name or attribute=");
            std::string fname = need_str(a[0], line, "the filter name");
            for (const auto& x : items_of(in, line)) {
                Val v = V(x);
                if (fname == "string") l.push_back(to_str(v));
                else if (fname == "lower") l.push_back(lower(to_str(v)));
                else if (fname == "upper") l.push_back(upper(to_str(v)));
                else if (fname == "trim") l.push_back(strip_chars(to_str(v), "", true, true));
                else if (fname == "tojson") { std::string s; to_json(s, x, -1, 0); l.push_back(s); }
                else fail(line, fmt::format("map('{}') is not supported", fname));
            }
            return V(std::move(l));
        }
        fail(line, fmt::format("unknown filter '{}'", f));
    }

    const Limits& lim_;
    std::vector<std::unordered_map<std::string, Val>> scopes_;
    std::string out_;
    int64_t steps_ = 0;
};

}  // namespace

Template Template::parse(std::string_view source, const Limits& limits) {
    Template t;
    t.limits_ = limits;
    t.program_ = parse_program(source, limits);
    return t;
}

std::string Template::render(const Json& context) const {
    if (!program_) throw_error("chat template: not parsed");
    Interp in(limits_, context);
    return in.run(program_->body);
}

}  // namespace qlm::jinja
