// qlm: one binary, one subcommand per file (see command.h). Errors become one line on stderr:
//   a bad command line (CLI11's errors, reworded by parse_errors.h; llama.cpp flags qlm lacks,
//   llama_flags.h; a UsageError from a subcommand)  -> "qlm: error: <message>", exit 2
//   qlm::Error / std::exception                      -> "qlm: error: <message>", exit 1
// `qlm` alone and `qlm help [COMMAND]` print the help (exit 0).
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
#include "tools/qlm/llama_flags.h"
#include "tools/qlm/parse_errors.h"
#include "tools/qlm/usage_error.h"

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

using qlm::cli::kExitUsage;

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

std::string help_hint(const CLI::App* sub) {
    return sub ? fmt::format("run 'qlm {} --help'", sub->get_name()) : "run 'qlm --help'";
}

std::string command_names(const std::vector<qlm::cli::CommandSpec>& specs) {
    std::string names;
    for (const auto& spec : specs) names += (names.empty() ? "" : ", ") + spec.name;
    return names;
}

// `qlm help [COMMAND]`.
int print_help(CLI::App& app, const std::vector<std::string>& args, const std::vector<qlm::cli::CommandSpec>& specs) {
    if (args.size() <= 1) {
        std::fputs(app.help().c_str(), stdout);
        return 0;
    }
    CLI::App* sub = nullptr;
    for (const auto& spec : specs)
        if (spec.name == args[1]) sub = app.get_subcommand(args[1]);
    if (!sub || args.size() > 2) {
        print_error(fmt::format("qlm help takes one command name: {} (run 'qlm help')", command_names(specs)));
        return kExitUsage;
    }
    std::fputs(sub->help("qlm").c_str(), stdout);
    return 0;
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
    try {
        for (const auto& spec : specs) {
            CLI::App* sub = app.add_subcommand(spec.name, spec.description);
            actions[spec.name] = spec.setup(*sub);
        }
    } catch (const std::exception& e) {
        print_error(std::string("internal: ") + e.what());
        return 1;
    }
    app.footer("Run 'qlm COMMAND --help' (or 'qlm help COMMAND') for a command's flags.");  // not inherited

    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "help") return print_help(app, args, specs);
    if (args[0][0] == '-' && args[0] != "-h" && args[0] != "--help" && args[0] != "--version") {
        print_error(fmt::format("unknown flag {}: give the command first, 'qlm COMMAND [flags]' (commands: {})", args[0],
                                command_names(specs)));
        return kExitUsage;
    }
    if (args[0][0] != '-' && !actions.count(args[0])) {
        print_error(fmt::format("unknown command '{}': qlm's commands are {} (run 'qlm --help')", args[0],
                                command_names(specs)));
        return kExitUsage;
    }
    CLI::App* sub = actions.count(args[0]) ? app.get_subcommand(args[0]) : nullptr;
    try {
        if (sub) {
            std::vector<std::string> rest = qlm::cli::translate_llama_flags({args.begin() + 1, args.end()}, *sub);
            rest.insert(rest.begin(), args[0]);
            args = std::move(rest);
        }
    } catch (const qlm::cli::UsageError& e) {
        print_error(fmt::format("{} ({})", e.what(), help_hint(sub)));
        return kExitUsage;
    }
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last-first

    try {
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        print_error(fmt::format("{} ({})", qlm::cli::describe_parse_error(e, sub ? *sub : app), help_hint(sub)));
        return kExitUsage;
    }

    try {
        for (const CLI::App* parsed : app.get_subcommands()) {
            auto it = actions.find(parsed->get_name());
            if (it != actions.end()) return it->second();
        }
        print_error("no command given (run 'qlm --help')");
        return kExitUsage;
    } catch (const qlm::cli::UsageError& e) {
        print_error(e.what());
        return kExitUsage;
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
