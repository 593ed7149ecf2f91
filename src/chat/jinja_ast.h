// The parsed form of a chat template (jinja.h): expression and statement trees.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/chat/jinja.h"
#include "src/util/error.h"

namespace qlm::jinja {

struct Expr;
using ExprP = std::unique_ptr<Expr>;

struct Expr {
    enum class Kind { Literal, Name, List, Dict, Attr, Index, Slice, Call, Filter, Test, Unary, Binary, Cond };
    Kind kind;
    int line = 0;
    Json literal;            // Literal
    std::string name;        // Name, Attr (attribute), Filter, Test, Unary/Binary (operator)
    bool negate = false;     // Test: "is not"
    // Operands. Attr/Index: [object, (index)]; Slice: [object, start, stop, step] (null = absent);
    // Call: [callee, args...]; Filter/Test: [input, args...]; Cond: [then, cond, else-or-null];
    // List: items; Dict: key, value, key, value, ...
    std::vector<ExprP> args;
    std::vector<std::pair<std::string, ExprP>> kwargs;  // Call/Filter keyword arguments
};

struct Node;
using Body = std::vector<Node>;

struct Node {
    enum class Kind { Text, Output, If, For, Set };
    Kind kind;
    int line = 0;
    std::string text;                                  // Text
    ExprP expr;                                        // Output, Set (value), For (iterable)
    std::vector<std::pair<ExprP, Body>> branches;      // If: (condition, body) for if/elif
    Body body;                                         // For body
    Body else_body;                                    // If else / For else
    std::vector<std::string> vars;                     // For: loop variables; Set: target name
    std::string attr;                                  // Set: namespace attribute ("" = plain)
    ExprP filter;                                      // For: inline "if" condition
};

struct Program {
    Body body;
};

// The source parsed (jinja_parse.cpp); qlm::Error for a syntax error or a limit.
std::shared_ptr<const Program> parse_program(std::string_view source, const Limits& limits);

// A problem at `line` of the template, while parsing or rendering: one-line qlm::Error.
[[noreturn]] inline void fail(int line, const std::string& what) {
    throw_error("chat template line {}: {}", line, what);
}

}  // namespace qlm::jinja
