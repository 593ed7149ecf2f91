// The chat-template interpreter (internal to src/chat): a tree walker over jinja_ast.h with the
// values of jinja_values.h, Jinja's scoping (for loops get their own scope; namespaces carry values
// out), and hard limits on steps, output size and list sizes. Its parts:
//   jinja_eval.cpp     statements, names and scopes, expressions, indexing, slicing, operators
//   jinja_calls.cpp    global functions (range, namespace, ...) and string/dict methods
//   jinja_filters.cpp  filters and tests
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/chat/jinja.h"
#include "src/chat/jinja_ast.h"
#include "src/chat/jinja_values.h"

namespace qlm::jinja {

class Interp {
public:
    Interp(const Limits& l, const Json& ctx);
    std::string run(const Body& b);

    // ---- limits ----
    void step(int line);
    void check_string(size_t n, int line) const;
    void check_list(size_t n, int line) const;

    // ---- values ----
    Val eval(const Expr& e);
    std::vector<Val> eval_args(const Expr& e, size_t first);                // e.args[first..]
    static const Expr* kwarg(const Expr& e, const char* name);               // nullptr when absent
    const Json& need(const Val& v, int line);                                // fails when undefined
    int64_t need_int(const Val& v, int line, const char* what);
    std::string need_str(const Val& v, int line, const char* what);
    std::vector<Json> items_of(const Val& v, int line);                      // what a for loop visits
    Val index(const Val& o, const Val& i, int line);
    bool equal(const Val& a, const Val& b);
    bool contains(const Val& item, const Val& container, int line);
    std::string join(const Val& list, const std::string& sep, int line);
    std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int line);

    // ---- calls, methods, filters, tests ----
    Val call(const Expr& e);
    Val method(const Val& o, const std::string& m, const std::vector<Val>& a, int line);
    Val filter(const Expr& e);
    // Applies a filter to `in`; `kwargs_from` holds the keyword arguments (nullptr: none).
    Val apply_filter(const std::string& name, Val in, const std::vector<Val>& args, const Expr* kwargs_from, int line);
    bool test(const Expr& e);
    bool apply_test(const std::string& name, const Val& v, const std::vector<Val>& args, int line);

private:
    void emit(const std::string& s, int line);
    void exec(const Body& body);
    void exec_if(const Node& n);
    void exec_set(const Node& n);
    void exec_for(const Node& n);
    void bind_loop_vars(const Node& n, const Json& item);
    Val* lookup(const std::string& name);
    Val eval_unary(const Expr& e);
    Val slice(const Expr& e);
    Val binary(const Expr& e);
    Val compare(const std::string& op, const Val& a, const Val& b, int line);
    Val arith(const std::string& op, const Val& a, const Val& b, int line);
    Val global_function(const std::string& f, const Expr& e);
    // nullopt when the type has no such method (or not with these arguments).
    std::optional<Val> string_method(const std::string& s, const std::string& m, const std::vector<Val>& a, int line);
    std::optional<Val> dict_method(const Val& o, const std::string& m, const std::vector<Val>& a, int line);

    const Limits& lim_;
    std::vector<std::unordered_map<std::string, Val>> scopes_;
    std::string out_;
    int64_t steps_ = 0;
};

}  // namespace qlm::jinja
