// Chat-template evaluation (jinja_interp.h): statements, scopes, expressions and operators; and
// Template, the public face of the parser and the interpreter.
#include <algorithm>
#include <cmath>
#include <limits>

#include "src/chat/jinja_interp.h"
#include "src/util/utf8.h"

namespace qlm::jinja {

Interp::Interp(const Limits& l, const Json& ctx) : lim_(l) {
    scopes_.emplace_back();
    if (!ctx.is_object()) throw_error("chat template: the context must be a JSON object");
    for (const auto& [k, v] : ctx.items()) scopes_.back()[k] = V(v);
}

std::string Interp::run(const Body& b) {
    exec(b);
    return std::move(out_);
}

// ---- limits ----

void Interp::step(int line) {
    if (++steps_ > lim_.max_steps)
        fail(line, fmt::format("the template ran more than {} steps (a runaway loop?)", lim_.max_steps));
}

void Interp::check_string(size_t n, int line) const {
    if (n > lim_.max_output_bytes)
        fail(line, fmt::format("a string of {} bytes is larger than the limit of {} bytes", n, lim_.max_output_bytes));
}

void Interp::check_list(size_t n, int line) const {
    if (n > lim_.max_list_items)
        fail(line, fmt::format("a list of {} items is larger than the limit of {}", n, lim_.max_list_items));
}

void Interp::emit(const std::string& s, int line) {
    if (out_.size() + s.size() > lim_.max_output_bytes)
        fail(line, fmt::format("the output is larger than the limit of {} bytes", lim_.max_output_bytes));
    out_ += s;
}

// ---- statements ----

void Interp::exec(const Body& body) {
    for (const Node& n : body) {
        step(n.line);
        switch (n.kind) {
            case Node::Kind::Text: emit(n.text, n.line); break;
            case Node::Kind::Output: emit(to_str(eval(*n.expr)), n.line); break;
            case Node::Kind::If: exec_if(n); break;
            case Node::Kind::For: exec_for(n); break;
            case Node::Kind::Set: exec_set(n); break;
        }
    }
}

void Interp::exec_if(const Node& n) {
    for (const auto& [cond, b] : n.branches)
        if (truthy(eval(*cond))) {
            exec(b);
            return;
        }
    exec(n.else_body);
}

void Interp::exec_set(const Node& n) {
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

std::vector<Json> Interp::items_of(const Val& v, int line) {
    std::vector<Json> items;
    if (v.undef) return items;  // as in Jinja: an undefined value iterates as empty
    if (v.j.is_array()) {
        items.assign(v.j.begin(), v.j.end());
    } else if (v.j.is_object()) {
        for (const auto& [k, x] : v.j.items()) items.emplace_back(k);
    } else if (v.j.is_string()) {
        // One item per character, cut by lead byte.
        const std::string& s = v.j.get_ref<const std::string&>();
        for (size_t i = 0; i < s.size();) {
            const size_t len = std::min(utf8::lead_length(static_cast<unsigned char>(s[i])), s.size() - i);
            items.emplace_back(s.substr(i, len));
            i += len;
        }
    } else if (!v.j.is_null()) {
        fail(line, fmt::format("a {} cannot be iterated", type_name(v)));
    }
    return items;
}

void Interp::exec_for(const Node& n) {
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

void Interp::bind_loop_vars(const Node& n, const Json& item) {
    if (n.vars.size() == 1) {
        scopes_.back()[n.vars[0]] = V(item);
        return;
    }
    if (!item.is_array() || item.size() != 2)
        fail(n.line, fmt::format("cannot unpack a {} into '{}, {}'", type_name(V(item)), n.vars[0], n.vars[1]));
    scopes_.back()[n.vars[0]] = V(item[0]);
    scopes_.back()[n.vars[1]] = V(item[1]);
}

Val* Interp::lookup(const std::string& name) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
        auto f = it->find(name);
        if (f != it->end()) return &f->second;
    }
    return nullptr;
}

// ---- expressions ----

const Json& Interp::need(const Val& v, int line) {
    if (v.undef) fail(line, fmt::format("'{}' is undefined", v.name));
    return v.j;
}

int64_t Interp::need_int(const Val& v, int line, const char* what) {
    const Json& j = need(v, line);
    if (j.is_number_integer() || j.is_number_unsigned()) return j.get<int64_t>();
    if (j.is_boolean()) return j.get<bool>() ? 1 : 0;
    fail(line, fmt::format("{} must be an integer, not a {}", what, type_name(v)));
}

std::string Interp::need_str(const Val& v, int line, const char* what) {
    const Json& j = need(v, line);
    if (!j.is_string()) fail(line, fmt::format("{} must be a string, not a {}", what, type_name(v)));
    return j.get<std::string>();
}

Val Interp::eval(const Expr& e) {
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
        case Expr::Kind::Unary: return eval_unary(e);
        case Expr::Kind::Binary: return binary(e);
        case Expr::Kind::Cond: {
            if (truthy(eval(*e.args[1]))) return eval(*e.args[0]);
            if (e.args[2]) return eval(*e.args[2]);
            return Val::undefined("(inline if without else)");
        }
    }
    fail(e.line, "unknown expression");
}

std::vector<Val> Interp::eval_args(const Expr& e, size_t first) {
    std::vector<Val> v;
    for (size_t i = first; i < e.args.size(); ++i) v.push_back(eval(*e.args[i]));
    return v;
}

const Expr* Interp::kwarg(const Expr& e, const char* name) {
    for (const auto& [k, x] : e.kwargs)
        if (k == name) return x.get();
    return nullptr;
}

Val Interp::eval_unary(const Expr& e) {
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

Val Interp::index(const Val& o, const Val& i, int line) {
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

Val Interp::slice(const Expr& e) {
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

// ---- operators ----

Val Interp::arith(const std::string& op, const Val& a, const Val& b, int line) {
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

bool Interp::equal(const Val& a, const Val& b) {
    if (a.undef || b.undef) return a.undef && b.undef;
    return a.j == b.j;
}

bool Interp::contains(const Val& item, const Val& container, int line) {
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

Val Interp::compare(const std::string& op, const Val& a, const Val& b, int line) {
    const Json& x = need(a, line);
    const Json& y = need(b, line);
    if (!((x.is_number() && y.is_number()) || (x.is_string() && y.is_string())))
        fail(line, fmt::format("cannot compare a {} with a {}", type_name(a), type_name(b)));
    bool lt = x < y, gt = y < x;
    if (op == "<") return V(lt);
    if (op == ">") return V(gt);
    if (op == "<=") return V(!gt);
    return V(!lt);
}

Val Interp::binary(const Expr& e) {
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
    if (op == "<" || op == ">" || op == "<=" || op == ">=") return compare(op, a, b, e.line);
    return arith(op, a, b, e.line);
}

// ---- Template ----

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
