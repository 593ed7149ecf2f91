// llama.cpp's single-dash multi-letter flags (-fa, -cnv, -ctk, -ngl ...). CLI11 reads a single dash
// as bundled one-letter flags, so "-ngl 99" would become "-n gl" and "-sm none" a seed; this pass
// runs on the command line first, for every subcommand:
//   - the spellings of what qlm implements become qlm's flags: -fa [on|off|auto] (--flash-attn),
//     -ctk/-ctv TYPE (--kv-type, one type for K and V), -sys (--system), -st (--single-turn),
//     -ngl N|all (--gpu-layers),
//     -cnv in chat (chat is a conversation), -no-cnv in run (run is plain completion);
//   - every other llama.cpp flag is a UsageError naming it: "-sm is a llama.cpp flag qlm does not
//     have (qlm's one GPU setting is -ngl)"; -np and -md among them;
//   - any other single-dash word of two or more letters is an unknown flag (with "--x" suggested
//     when the subcommand has it).
// Arguments after "--" are left alone.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace qlm::cli {

// args: the arguments after the subcommand's name; sub: that subcommand, whose flags decide
// whether a llama.cpp spelling applies to it. Throws UsageError.
std::vector<std::string> translate_llama_flags(const std::vector<std::string>& args, const CLI::App& sub);

}  // namespace qlm::cli
