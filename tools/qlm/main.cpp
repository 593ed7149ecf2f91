// qlm: one binary, one subcommand per file (see command.h). Errors become one line on stderr:
//   qlm::Error / std::exception      -> "qlm: error: <message>", exit 1
//   command-line errors (CLI11)      -> "qlm: error: <message> (run 'qlm <cmd> --help')", exit 2
#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <new>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "src/util/error.h"
#include "tools/qlm/command.h"

#ifndef QLM_VERSION
#define QLM_VERSION "0.1.0"
#endif

namespace qlm::cli {

static std::vector<CommandSpec>& registry() {
    static std::vector<CommandSpec> r;
    return r;
}

bool register_command(CommandSpec spec) {
    registry().push_back(std::move(spec));
    return true;
}

const std::vector<CommandSpec>& registered_commands() { return registry(); }

}  // namespace qlm::cli

namespace {

std::string one_line(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

void print_error(const std::string& message) {
    std::fflush(stdout);
    std::fprintf(stderr, "qlm: error: %s\n", one_line(message).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"qlm: run quantized Llama-family and Qwen2 language models (GGUF) on the CPU", "qlm"};
    app.set_version_flag("--version", std::string("qlm ") + QLM_VERSION);
    app.require_subcommand(1);
    app.fallthrough(false);

    auto specs = qlm::cli::registered_commands();
    std::stable_sort(specs.begin(), specs.end(),
                     [](const auto& a, const auto& b) { return a.order < b.order; });
    std::map<std::string, qlm::cli::Action> actions;
    std::string parsing = "";  // the subcommand whose flags failed to parse, for the hint
    try {
        for (const auto& spec : specs) {
            CLI::App* sub = app.add_subcommand(spec.name, spec.description);
            actions[spec.name] = spec.setup(*sub);
        }
    } catch (const std::exception& e) {
        print_error(std::string("internal: ") + e.what());
        return 1;
    }

    // llama.cpp's multi-letter short flags, which CLI11 cannot declare: "-fa" is --flash-attn.
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::string& a : args)
        if (a == "-fa") a = "--flash-attn";
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last-first

    try {
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        std::string cmd;
        for (const CLI::App* sub : app.get_subcommands()) cmd = sub->get_name();
        if (cmd.empty()) {
            // The subcommand may be named on the command line even if parsing stopped early.
            for (int i = 1; i < argc && cmd.empty(); ++i)
                if (actions.count(argv[i])) cmd = argv[i];
        }
        if (cmd.empty() && argc > 1 && argv[1][0] != '-') {
            std::string names;
            for (const auto& spec : specs) names += (names.empty() ? "" : ", ") + spec.name;
            print_error(fmt::format("unknown command '{}': qlm's commands are {} (run 'qlm --help')", argv[1], names));
            return 2;
        }
        std::string hint = cmd.empty() ? "run 'qlm --help'" : fmt::format("run 'qlm {} --help'", cmd);
        std::string msg = e.what();
        if (msg.empty()) msg = "invalid command line";
        print_error(fmt::format("{} ({})", msg, hint));
        return 2;
    }

    try {
        for (const CLI::App* sub : app.get_subcommands()) {
            auto it = actions.find(sub->get_name());
            if (it != actions.end()) return it->second();
        }
        print_error("no subcommand given (run 'qlm --help')");
        return 2;
    } catch (const qlm::Error& e) {
        print_error(e.what());
    } catch (const std::bad_alloc&) {
        print_error("out of memory (try a smaller -c context or a smaller model)");
    } catch (const std::exception& e) {
        print_error(e.what());
    } catch (...) {
        print_error("unknown failure");
    }
    return 1;
}
