// CLI11's command-line errors in qlm's words, one line naming the flag by all its spellings:
//   "Could not convert: --n-predict = abc"  -> "-n/--n-predict: 'abc' is not a number"
//   "--kv-type: q4_0 not in {f16,f32,q8_0}" -> "--kv-type: 'q4_0' is not one of f16, f32, q8_0"
//   "--model is required"                   -> "-m/--model is required (GGUF model file)"
//   "The following argument was not expected: --bogus" -> "unknown flag --bogus"
// Messages of other kinds keep CLI11's text.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace qlm::cli {

// sub: the subcommand whose flags failed (its options give the names), or the main app.
std::string describe_parse_error(const CLI::ParseError& e, const CLI::App& sub);

}  // namespace qlm::cli
