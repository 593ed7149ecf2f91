// Chat-template parsing: a recursive-descent parser over the chunks and tokens of jinja_lex.h
// builds the trees of jinja_ast.h, following Jinja's operator precedence.
#include <algorithm>

#include "src/chat/jinja.h"
#include "src/chat/jinja_ast.h"
#include "src/chat/jinja_lex.h"

namespace qlm::jinja {
namespace {

class Parser {
public:
    Parser(std::vector<Chunk> chunks, const Limits& limits) : chunks_(std::move(chunks)), limits_(limits) {}

    Body parse_all() {
        std::string end;
        Body b = parse_body({}, end);
        return b;
    }

private:
    // ---- statements ----
    struct DepthGuard {
        int& d;
        DepthGuard(int& depth, int max, int line) : d(depth) {
            if (++d > max) fail(line, fmt::format("nesting is deeper than {} levels", max));
        }
        ~DepthGuard() { --d; }
    };

    // Parses until one of `enders` (a statement keyword) is met; returns it in `end` ("" at EOF).
    Body parse_body(const std::vector<std::string>& enders, std::string& end) {
        Body body;
        while (ci_ < chunks_.size()) {
            Chunk& c = chunks_[ci_];
            if (c.kind == Chunk::Kind::Text) {
                body.push_back(Node{Node::Kind::Text, c.line, c.text, {}, {}, {}, {}, {}, {}, {}});
                ++ci_;
                continue;
            }
            toks_ = &c.toks;
            ti_ = 0;
            line_ = c.line;
            if (c.kind == Chunk::Kind::Expr) {
                Node n{Node::Kind::Output, c.line, {}, parse_expr(), {}, {}, {}, {}, {}, {}};
                expect_end();
                body.push_back(std::move(n));
                ++ci_;
                continue;
            }
            const Tok& kw = peek();
            if (kw.kind != Tok::Kind::Name) fail(line_, "a statement must start with a keyword");
            const std::string word = kw.text;
            for (const auto& e : enders)
                if (word == e) {
                    end = word;
                    return body;
                }
            ++ci_;
            next();
            if (word == "if") body.push_back(parse_if());
            else if (word == "for") body.push_back(parse_for());
            else if (word == "set") body.push_back(parse_set());
            else if (word == "elif" || word == "else" || word == "endif" || word == "endfor")
                fail(line_, fmt::format("unexpected '{{% {} %}}'", word));
            else
                fail(line_, fmt::format("'{{% {} %}}' is not supported", word));
        }
        if (!enders.empty()) fail(line_, fmt::format("missing '{{% {} %}}'", enders.back()));
        end.clear();
        return body;
    }

    // Positions toks_ on the current statement chunk (after parse_body stopped at it).
    void enter_stmt() {
        Chunk& c = chunks_[ci_];
        toks_ = &c.toks;
        ti_ = 1;  // past the keyword
        line_ = c.line;
        ++ci_;
    }

    // A body up to one of `enders`, and that closing tag, which takes nothing after its keyword.
    Body parse_block(const std::vector<std::string>& enders, std::string& end) {
        Body b = parse_body(enders, end);
        enter_stmt();
        expect_end();
        return b;
    }

    Node parse_if() {
        DepthGuard g(depth_, limits_.max_depth, line_);
        Node n{Node::Kind::If, line_, {}, {}, {}, {}, {}, {}, {}, {}};
        ExprP cond = parse_expr();
        expect_end();
        for (;;) {
            std::string end;
            Body b = parse_body({"elif", "else", "endif"}, end);
            n.branches.emplace_back(std::move(cond), std::move(b));
            enter_stmt();
            if (end == "elif") {
                cond = parse_expr();
                expect_end();
                continue;
            }
            expect_end();
            if (end == "else") n.else_body = parse_block({"endif"}, end);
            return n;
        }
    }

    Node parse_for() {
        DepthGuard g(depth_, limits_.max_depth, line_);
        Node n{Node::Kind::For, line_, {}, {}, {}, {}, {}, {}, {}, {}};
        n.vars.push_back(expect_name());
        while (accept_op(",")) n.vars.push_back(expect_name());
        if (n.vars.size() > 2) fail(line_, "a for loop takes one or two variables");
        if (!accept_name("in")) fail(line_, "expected 'in' in the for loop");
        n.expr = parse_or(/*allow_cond=*/false);
        if (accept_name("if")) n.filter = parse_or(false);
        expect_end();
        std::string end;
        n.body = parse_block({"else", "endfor"}, end);
        if (end == "else") n.else_body = parse_block({"endfor"}, end);
        return n;
    }

    Node parse_set() {
        Node n{Node::Kind::Set, line_, {}, {}, {}, {}, {}, {}, {}, {}};
        n.vars.push_back(expect_name());
        if (accept_op(".")) n.attr = expect_name();
        if (!accept_op("=")) fail(line_, "'{% set %}' needs '= value' (block sets are not supported)");
        n.expr = parse_expr();
        expect_end();
        return n;
    }

    // ---- expressions ----
    const Tok& peek(size_t ahead = 0) const {
        size_t k = std::min(ti_ + ahead, toks_->size() - 1);
        return (*toks_)[k];
    }
    const Tok& next() {
        const Tok& t = peek();
        if (ti_ < toks_->size() - 1) ++ti_;
        return t;
    }
    bool is_op(const char* op, size_t ahead = 0) const {
        const Tok& t = peek(ahead);
        return t.kind == Tok::Kind::Op && t.text == op;
    }
    bool is_name(const char* w, size_t ahead = 0) const {
        const Tok& t = peek(ahead);
        return t.kind == Tok::Kind::Name && t.text == w;
    }
    bool accept_op(const char* op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool accept_name(const char* w) {
        if (!is_name(w)) return false;
        next();
        return true;
    }
    std::string describe(const Tok& t) const {
        switch (t.kind) {
            case Tok::Kind::End: return "the end of the tag";
            case Tok::Kind::String: return "a string";
            case Tok::Kind::Int: case Tok::Kind::Float: return "a number";
            default: return "'" + t.text + "'";
        }
    }
    void expect_op(const char* op) {
        if (!accept_op(op)) fail(line_, fmt::format("expected '{}' but found {}", op, describe(peek())));
    }
    std::string expect_name() {
        if (peek().kind != Tok::Kind::Name) fail(line_, fmt::format("expected a name but found {}", describe(peek())));
        return next().text;
    }
    void expect_end() {
        if (peek().kind != Tok::Kind::End) fail(line_, fmt::format("unexpected {}", describe(peek())));
    }

    ExprP make(Expr::Kind k, std::string name = {}) {
        auto e = std::make_unique<Expr>();
        e->kind = k;
        e->line = line_;
        e->name = std::move(name);
        return e;
    }
    ExprP binary(std::string op, ExprP a, ExprP b) {
        ExprP e = make(Expr::Kind::Binary, std::move(op));
        e->args.push_back(std::move(a));
        e->args.push_back(std::move(b));
        return e;
    }

    ExprP parse_expr() { return parse_or(true); }

    ExprP parse_or(bool allow_cond) {
        DepthGuard g(depth_, limits_.max_depth, line_);
        ExprP e = parse_and();
        while (accept_name("or")) e = binary("or", std::move(e), parse_and());
        if (allow_cond && is_name("if")) {
            next();
            ExprP c = make(Expr::Kind::Cond);
            ExprP cond = parse_or(false);
            ExprP other = accept_name("else") ? parse_or(true) : nullptr;
            c->args.push_back(std::move(e));
            c->args.push_back(std::move(cond));
            c->args.push_back(std::move(other));
            return c;
        }
        return e;
    }
    ExprP parse_and() {
        ExprP e = parse_not();
        while (accept_name("and")) e = binary("and", std::move(e), parse_not());
        return e;
    }
    ExprP parse_not() {
        if (accept_name("not")) {
            DepthGuard g(depth_, limits_.max_depth, line_);
            ExprP e = make(Expr::Kind::Unary, "not");
            e->args.push_back(parse_not());
            return e;
        }
        return parse_compare();
    }
    ExprP parse_compare() {
        ExprP e = parse_math1();
        for (;;) {
            static const char* ops[] = {"==", "!=", "<=", ">=", "<", ">"};
            bool done = true;
            for (const char* op : ops)
                if (is_op(op)) {
                    next();
                    e = binary(op, std::move(e), parse_math1());
                    done = false;
                    break;
                }
            if (!done) continue;
            if (is_name("in")) {
                next();
                e = binary("in", std::move(e), parse_math1());
            } else if (is_name("not") && is_name("in", 1)) {
                next();
                next();
                e = binary("notin", std::move(e), parse_math1());
            } else {
                return e;
            }
        }
    }
    ExprP parse_math1() {
        ExprP e = parse_concat();
        while (is_op("+") || is_op("-")) {
            std::string op = next().text;
            e = binary(op, std::move(e), parse_concat());
        }
        return e;
    }
    ExprP parse_concat() {
        ExprP e = parse_math2();
        while (accept_op("~")) e = binary("~", std::move(e), parse_math2());
        return e;
    }
    ExprP parse_math2() {
        ExprP e = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            std::string op = next().text;
            e = binary(op, std::move(e), parse_pow());
        }
        return e;
    }
    ExprP parse_pow() {
        ExprP e = parse_unary();
        while (accept_op("**")) e = binary("**", std::move(e), parse_unary());
        return e;
    }
    ExprP parse_unary() {
        if (is_op("-") || is_op("+")) {
            DepthGuard g(depth_, limits_.max_depth, line_);
            ExprP e = make(Expr::Kind::Unary, next().text);
            e->args.push_back(parse_unary());
            return e;
        }
        return parse_filters(parse_postfix(parse_primary()));
    }

    void parse_call_args(Expr& e) {
        // after "(": positional then keyword arguments, until ")"
        while (!accept_op(")")) {
            if (peek().kind == Tok::Kind::Name && is_op("=", 1)) {
                std::string k = next().text;
                next();
                e.kwargs.emplace_back(std::move(k), parse_expr());
            } else {
                if (!e.kwargs.empty()) fail(line_, "a positional argument follows a keyword argument");
                e.args.push_back(parse_expr());
            }
            if (!is_op(")")) expect_op(",");
        }
    }

    ExprP parse_filters(ExprP e) {
        for (;;) {
            if (accept_op("|")) {
                ExprP f = make(Expr::Kind::Filter, expect_name());
                f->args.push_back(std::move(e));
                if (accept_op("(")) parse_call_args(*f);
                e = std::move(f);
            } else if (is_name("is")) {
                next();
                ExprP t = make(Expr::Kind::Test);
                t->negate = accept_name("not");
                if (peek().kind == Tok::Kind::Name) t->name = next().text;
                else if (is_op("==") || is_op("!=") || is_op("<") || is_op(">")) t->name = next().text;
                else fail(line_, fmt::format("expected a test name after 'is' but found {}", describe(peek())));
                t->args.push_back(std::move(e));
                if (accept_op("(")) {
                    parse_call_args(*t);
                } else {
                    // One bare argument: "is divisibleby 3", "is equalto 'x'", "is sameas none".
                    const Tok& a = peek();
                    if (a.kind == Tok::Kind::String || a.kind == Tok::Kind::Int || a.kind == Tok::Kind::Float ||
                        (a.kind == Tok::Kind::Name && a.text != "and" && a.text != "or" && a.text != "else" &&
                         a.text != "if" && a.text != "in" && a.text != "is" && a.text != "not"))
                        t->args.push_back(parse_postfix(parse_primary()));
                }
                e = std::move(t);
            } else {
                return e;
            }
        }
    }

    ExprP parse_postfix(ExprP e) {
        for (;;) {
            if (accept_op(".")) {
                ExprP a = make(Expr::Kind::Attr, expect_name());
                a->args.push_back(std::move(e));
                e = std::move(a);
            } else if (accept_op("[")) {
                ExprP start, stop, step;
                bool slice = false;
                if (!is_op(":")) start = parse_expr();
                if (accept_op(":")) {
                    slice = true;
                    if (!is_op(":") && !is_op("]")) stop = parse_expr();
                    if (accept_op(":") && !is_op("]")) step = parse_expr();
                }
                expect_op("]");
                if (slice) {
                    ExprP s = make(Expr::Kind::Slice);
                    s->args.push_back(std::move(e));
                    s->args.push_back(std::move(start));
                    s->args.push_back(std::move(stop));
                    s->args.push_back(std::move(step));
                    e = std::move(s);
                } else {
                    if (!start) fail(line_, "empty index []");
                    ExprP i = make(Expr::Kind::Index);
                    i->args.push_back(std::move(e));
                    i->args.push_back(std::move(start));
                    e = std::move(i);
                }
            } else if (accept_op("(")) {
                ExprP c = make(Expr::Kind::Call);
                c->args.push_back(std::move(e));
                parse_call_args(*c);
                e = std::move(c);
            } else {
                return e;
            }
        }
    }

    ExprP parse_primary() {
        DepthGuard g(depth_, limits_.max_depth, line_);
        const Tok t = next();
        switch (t.kind) {
            case Tok::Kind::String: {
                ExprP e = make(Expr::Kind::Literal);
                std::string s = t.text;
                while (peek().kind == Tok::Kind::String) s += next().text;  // adjacent literals concatenate
                e->literal = s;
                return e;
            }
            case Tok::Kind::Int: { ExprP e = make(Expr::Kind::Literal); e->literal = t.i; return e; }
            case Tok::Kind::Float: { ExprP e = make(Expr::Kind::Literal); e->literal = t.f; return e; }
            case Tok::Kind::Name: {
                if (t.text == "true" || t.text == "True") { ExprP e = make(Expr::Kind::Literal); e->literal = true; return e; }
                if (t.text == "false" || t.text == "False") { ExprP e = make(Expr::Kind::Literal); e->literal = false; return e; }
                if (t.text == "none" || t.text == "None") { ExprP e = make(Expr::Kind::Literal); e->literal = nullptr; return e; }
                return make(Expr::Kind::Name, t.text);
            }
            case Tok::Kind::Op:
                if (t.text == "(") {
                    ExprP e = parse_expr();
                    if (is_op(",")) {  // a tuple: treated as a list
                        ExprP l = make(Expr::Kind::List);
                        l->args.push_back(std::move(e));
                        while (accept_op(",") && !is_op(")")) l->args.push_back(parse_expr());
                        e = std::move(l);
                    }
                    expect_op(")");
                    return e;
                }
                if (t.text == "[") {
                    ExprP l = make(Expr::Kind::List);
                    while (!accept_op("]")) {
                        l->args.push_back(parse_expr());
                        if (!is_op("]")) expect_op(",");
                    }
                    return l;
                }
                if (t.text == "{") {
                    ExprP d = make(Expr::Kind::Dict);
                    while (!accept_op("}")) {
                        d->args.push_back(parse_expr());
                        expect_op(":");
                        d->args.push_back(parse_expr());
                        if (!is_op("}")) expect_op(",");
                    }
                    return d;
                }
                break;
            case Tok::Kind::End: break;
        }
        fail(line_, fmt::format("expected a value but found {}", describe(t)));
    }

    std::vector<Chunk> chunks_;
    const Limits& limits_;
    size_t ci_ = 0;
    const std::vector<Tok>* toks_ = nullptr;
    size_t ti_ = 0;
    int line_ = 1;
    int depth_ = 0;
};

}  // namespace

std::shared_ptr<const Program> parse_program(std::string_view source, const Limits& limits) {
    if (source.size() > limits.max_template_bytes)
        throw_error("chat template: {} bytes is larger than the limit of {} bytes", source.size(),
                    limits.max_template_bytes);
    // Jinja's keep_trailing_newline=False: one newline at the very end of the source is dropped.
    if (source.size() >= 2 && source.substr(source.size() - 2) == "\r\n") source.remove_suffix(2);
    else if (!source.empty() && source.back() == '\n') source.remove_suffix(1);
    Parser p(split_chunks(source), limits);
    auto prog = std::make_shared<Program>();
    prog->body = p.parse_all();
    return prog;
}

}  // namespace qlm::jinja
