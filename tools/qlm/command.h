// Subcommand registry: each tools/qlm/cmd_*.cpp registers itself at start-up with
//   static const bool registered = qlm::cli::register_command({"run", "Generate text", 10, &setup_run});
// setup() adds the subcommand's flags to its CLI::App and returns the action to run once the
// command line has parsed. main.cpp knows no subcommand by name.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace qlm::cli {

using Action = std::function<int()>;

struct CommandSpec {
    std::string name;
    std::string description;
    int order = 100;                            // position in `qlm --help`
    std::function<Action(CLI::App&)> setup;     // adds flags, returns the action
};

bool register_command(CommandSpec spec);
const std::vector<CommandSpec>& registered_commands();

}  // namespace qlm::cli
