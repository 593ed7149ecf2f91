// Sampling flags shared by the generating subcommands (run, chat): --temp, --top-k, --top-p,
// --min-p, --repeat-penalty, --repeat-last-n, --presence-penalty, --frequency-penalty,
// --no-repeat-ngram and -s/--seed, as llama.cpp spells them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "src/sampling/sampler.h"

namespace qlm::cli {

struct SamplingFlags {
    SamplingParams params;
    int64_t seed = -1;  // -1: random
    std::vector<const CLI::Option*> samplers;  // the flags that shape sampling (all but --no-repeat-ngram)
};

void add_sampling_flags(CLI::App& app, SamplingFlags& flags);

// The first flag of flags.samplers given on the command line (its long name), or "" when none was:
// for modes that do not sample, where such a flag, even at its default value, would be ignored.
std::string given_sampling_flag(const SamplingFlags& flags);

// The validated parameters (seed applied); throws qlm::Error naming the flag.
SamplingParams resolve_sampling(const SamplingFlags& flags);

}  // namespace qlm::cli
