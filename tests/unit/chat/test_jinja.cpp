// The Jinja subset: features real chat templates use, and hostile templates that must end in a
// one-line qlm::Error (limits, syntax, undefined values), never a crash.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "src/chat/jinja.h"
#include "src/util/error.h"

namespace qlm::jinja {
namespace {

std::string R(const std::string& src, const Json& ctx = Json::object(), const Limits& lim = {}) {
    return Template::parse(src, lim).render(ctx);
}

// The error message of rendering src (parse or run); fails the test when there is none.
std::string E(const std::string& src, const Json& ctx = Json::object(), const Limits& lim = {}) {
    try {
        std::string out = R(src, ctx, lim);
        ADD_FAILURE() << "no error for " << src.substr(0, 80) << " -> " << out.substr(0, 80);
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        EXPECT_EQ(m.rfind("chat template", 0), 0u) << m;
        return m;
    }
    return "";
}

const Json kMsgs = Json::array({{{"role", "system"}, {"content", "S"}},
                                {{"role", "user"}, {"content", "U1"}},
                                {{"role", "assistant"}, {"content", "A1"}}});

TEST(Jinja, TextExpressionsAndOperators) {
    EXPECT_EQ(R("plain text"), "plain text");
    EXPECT_EQ(R("{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 7 // 2 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}"), "7|9|3|2|3.5|1024");
    EXPECT_EQ(R("{{ 'a' + 'b' ~ 1 }}|{{ 'ab' * 3 }}|{{ 'x' if false else 'y' }}|{{ not true }}"), "ab1|ababab|y|False");
    EXPECT_EQ(R("{{ [1, 'a', none, true] }}|{{ {'k': 'v'} }}|{{ 1.0 }}"), "[1, 'a', None, True]|{'k': 'v'}|1.0");
    EXPECT_EQ(R("{{ 1.5 }} {{ 1e20 }} {{ 2.5E-3 }} {{ 1e400 }}"), "1.5 1e+20 0.0025 inf");
    EXPECT_EQ(R("{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 3 not in [1] }}"), "TrueTrueTrueTrue");
    EXPECT_EQ(R("{{ 1 < 2 and 'a' <= 'b' or false }}|{{ 0 or 'x' }}|{{ '' and 1 }}|"), "True|x||");
    EXPECT_EQ(R("{{ 'abc'[1] }}{{ [1,2,3][-1] }}{{ [1,2,3,4][1:3] }}{{ 'hello'[::-1] }}{{ [1,2,3][:-1] }}"),
              "b3[2, 3]olleh[1, 2]");
    EXPECT_EQ(R("{{ \"double\" }} {{ 'it\\'s' }} {{ 'a\\nb' }}"), "double it's a\nb");
}

TEST(Jinja, StatementsLoopsAndScopes) {
    Json ctx = {{"messages", kMsgs}};
    EXPECT_EQ(R("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ m.role[0] }}{% if loop.first %}F{% endif %}"
                "{% if loop.last %}L{% endif %}{{ loop.length }};{% endfor %}", ctx),
              "10sF3;21u3;32aL3;");
    EXPECT_EQ(R("{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.content }}{% endfor %}", ctx), "1U12A1");
    EXPECT_EQ(R("{% for x in [] %}no{% else %}empty{% endfor %}"), "empty");
    EXPECT_EQ(R("{% if 0 %}a{% elif 1 %}b{% else %}c{% endif %}"), "b");
    EXPECT_EQ(R("{% set x = 1 %}{% for i in [1,2] %}{% set x = 5 %}{% endfor %}{{ x }}"), "1");  // loop scope
    EXPECT_EQ(R("{% set ns = namespace(found=false) %}{% for m in messages %}{% if m.role == 'system' %}"
                "{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}", ctx),
              "True");
    EXPECT_EQ(R("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }},{% endfor %}"), "a=1,b=2,");
    EXPECT_EQ(R("{% for k, v in {'a': 1} | items %}{{ k }}{{ v }}{% endfor %}"), "a1");
    EXPECT_EQ(R("{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(1, 7, 2) %}{{ i }}{% endfor %}"), "012135");
    EXPECT_EQ(R("{# comment #}a{#- trimmed -#}  b"), "ab");
}

TEST(Jinja, WhitespaceControlAndHuggingFaceTrimming) {
    EXPECT_EQ(R("a  {{- 'b' -}}  c"), "abc");
    // trim_blocks: the newline after a block tag goes; lstrip_blocks: indentation before one goes.
    EXPECT_EQ(R("{% if true %}\n    x\n    {% endif %}\ny"), "    x\ny");
    EXPECT_EQ(R("{{ 'v' }}\nz"), "v\nz");  // not after an expression
    EXPECT_EQ(R("{{ 'v' }}\n"), "v");        // keep_trailing_newline=False
    EXPECT_EQ(R("{{ 'v' }}\n\n"), "v\n");
    EXPECT_EQ(R("  {%+ if true %}k{% endif %}"), "  k");
}

TEST(Jinja, FiltersTestsAndMethods) {
    EXPECT_EQ(R("{{ '  x  ' | trim }}|{{ 'Ab' | upper }}{{ 'Ab' | lower }}|{{ [1,2] | length }}{{ 'abc' | length }}"),
              "x|ABab|23");
    EXPECT_EQ(R("{{ undefined_thing | default('d') }}|{{ '' | default('e', true) }}|{{ none | default('n') }}"), "d|e|None");
    EXPECT_EQ(R("{{ {'a': [1, 'x'], 'b': none} | tojson }}"), "{\"a\": [1, \"x\"], \"b\": null}");
    EXPECT_EQ(R("{{ {'a': 1} | tojson(indent=2) }}"), "{\n  \"a\": 1\n}");
    EXPECT_EQ(R("{{ ['a', 'b'] | join(', ') }}|{{ [3, 1] | first }}{{ [3, 1] | last }}|{{ 'hello world' | title }}"),
              "a, b|31|Hello World");
    EXPECT_EQ(R("{{ messages | selectattr('role', 'equalto', 'user') | list | length }}|"
                "{{ messages | map(attribute='role') | join(',') }}", {{"messages", kMsgs}}),
              "1|system,user,assistant");
    EXPECT_EQ(R("{{ x is defined }}{{ y is defined }}{{ none is none }}{{ 'a' is string }}{{ 3 is odd }}{{ x is not none }}",
                {{"x", 1}}),
              "TrueFalseTrueTrueTrueTrue");
    EXPECT_EQ(R("{{ ' a '.strip() }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('x') }}|{{ 'a,b'.split(',') }}|"
                "{{ {'k': 1}.get('k') }}{{ {'k': 1}.get('z', 2) }}|{{ 'user'.title() }}|{{ 'aXa'.replace('X', 'y') }}"),
              "a|TrueFalse|['a', 'b']|12|User|aya");
    EXPECT_EQ(R("{{ 'x' ~ messages[0]['content'] ~ messages[-1].content }}", {{"messages", kMsgs}}), "xSA1");
}

TEST(Jinja, UndefinedValues) {
    EXPECT_EQ(R("[{{ nothing }}]"), "[]");  // printing undefined gives nothing, as in Jinja
    EXPECT_EQ(R("{% if nothing %}y{% else %}n{% endif %}"), "n");
    EXPECT_EQ(R("{{ m.missing is defined }}", {{"m", Json::object()}}), "False");
    EXPECT_NE(E("{{ nothing.attr }}").find("'nothing' is undefined"), std::string::npos);
    EXPECT_NE(E("{{ nothing + 'x' }}").find("undefined"), std::string::npos);
    EXPECT_EQ(R("{% for x in nothing %}x{% endfor %}|{{ nothing | length }}|{{ nothing | trim }}|"), "|0||");  // as Jinja
    EXPECT_NE(E("{{ nothing | tojson }}").find("'nothing' is undefined"), std::string::npos);
    EXPECT_NE(E("{{ nosuchfunction(1) }}").find("nosuchfunction"), std::string::npos);
}

TEST(Jinja, RaiseException) {
    std::string m = E("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
                      {{"messages", kMsgs}});
    EXPECT_EQ(m, "chat template raised an error: System role not supported");
}

TEST(Jinja, SyntaxErrorsAreOneLineWithTheLine) {
    EXPECT_NE(E("{% if x %}never closed").find("missing '{% endif %}'"), std::string::npos);
    EXPECT_NE(E("line1\nline2 {{ 1 + }}").find("line 2"), std::string::npos);
    E("{% for %}{% endfor %}");
    E("{{ 'unterminated }}");
    E("{{ unclosed");
    E("{% endfor %}");
    E("{% if %}{% endif %}");
    E("{{ }}");
    E("{{ a b }}");
    E("{{ [1, 2 }}");
    E("{{ x | }}");
    E("{{ 1 @ 2 }}");
    EXPECT_NE(E("{% macro m() %}{% endmacro %}").find("not supported"), std::string::npos);
    EXPECT_NE(E("{% include 'x.txt' %}").find("not supported"), std::string::npos);
    E("{{ 99999999999999999999 }}");
}

TEST(Jinja, ExtremeNumbersStayDefined) {
    EXPECT_EQ(R("{{ range(1, 9223372036854775807, 9223372036854775807) }}"), "[1]");
    EXPECT_EQ(R("{{ [1, 2, 3][1::9223372036854775807] }}"), "[2]");
    EXPECT_EQ(R("{{ ((10.0 ** 308 * 10) - (10.0 ** 308 * 10)) | int }}"), "0");
    EXPECT_EQ(R("{{ (10.0 ** 308 * 10) | int }}"), "9000000000000000000");
}

TEST(Jinja, RuntimeTypeErrors) {
    E("{{ 1 + 'a' }}");
    E("{{ 1 // 0 }}");
    E("{{ 1 < 'a' }}");
    E("{{ 5 | length }}");
    E("{{ 'a'.nomethod() }}");
    E("{{ x | nofilter }}", {{"x", 1}});
    E("{{ 1 is nosuchtest }}");
    E("{{ 9223372036854775807 + 1 }}");
    E("{% for a, b in [1, 2] %}{% endfor %}");
    E("{% set x.y = 1 %}");
}

TEST(Jinja, HostileLoopsAndOutputHitLimits) {
    EXPECT_NE(E("{% for i in range(1000000000) %}{% endfor %}").find("list of"), std::string::npos);
    Limits few_steps;
    few_steps.max_steps = 100000;  // the default is 2,000,000; the same check, faster under sanitizers
    EXPECT_NE(E("{% for i in range(60000) %}{% for j in range(60000) %}{% endfor %}{% endfor %}", Json::object(), few_steps)
                  .find("steps"),
              std::string::npos);
    EXPECT_NE(E("{% for i in range(60000) %}{{ 'x' * 1000 }}{% endfor %}").find("output"), std::string::npos);
    EXPECT_NE(E("{{ 'x' * 1000000000000 }}").find("larger than the limit"), std::string::npos);
    E("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}");
    E("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}");
    E("{{ ('ab' * 1000000).replace('a', 'aaaaaaaaaa') }}");
    Limits tight;
    tight.max_template_bytes = 10;
    EXPECT_NE(E("{{ 'long template' }}", Json::object(), tight).find("bytes"), std::string::npos);
}

TEST(Jinja, DeepNestingIsAnError) {
    std::string ifs;
    for (int i = 0; i < 500; ++i) ifs += "{% if true %}";
    EXPECT_NE(E(ifs).find("deeper"), std::string::npos);
    EXPECT_NE(E("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}").find("deeper"), std::string::npos);
    E("{{ " + std::string(100000, '[') + " }}");
    E("{{ " + std::string(50000, '-') + "1 }}");
    std::string nots;
    for (int i = 0; i < 10000; ++i) nots += "not ";
    E("{{ " + nots + "x }}");
}

TEST(Jinja, RandomGarbageNeverCrashes) {
    // Fragments of template syntax glued at random: every result is output or a qlm::Error.
    const std::vector<std::string> parts = {"{{", "}}", "{%", "%}", "{#", "#}", " if ", " for ", " in ", " endif ",
                                            " endfor ", " set ", "x", " = ", "'s'", "\"", "(", ")", "[", "]", "|",
                                            "trim", ".", "1", "-", "+", "*", "loop", "messages", " else ", ",", ":",
                                            "{", "}", "\n", "range(9)", " not ", "~", "elif"};
    std::mt19937 rng(1234);
    Json ctx = {{"messages", kMsgs}};
    int rendered = 0;
    for (int i = 0; i < 3000; ++i) {
        std::string src;
        const int n = 1 + static_cast<int>(rng() % 24);
        for (int k = 0; k < n; ++k) src += parts[rng() % parts.size()];
        try {
            R(src, ctx);
            ++rendered;
        } catch (const Error& e) {
            EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
        }
    }
    EXPECT_GT(rendered, 0);
}

}  // namespace
}  // namespace qlm::jinja
