// Sampling flags shared by the generating subcommands (run, chat): --temp, --top-k, --top-p,
// --min-p, --repeat-penalty, --repeat-last-n, --presence-penalty, --frequency-penalty,
// --no-repeat-ngram and -s/--seed, as llama.cpp spells them.
#pragma once

#include <cstdint>

#include <CLI/CLI.hpp>

#include "src/sampling/sampler.h"

namespace qlm::cli {

struct SamplingFlags {
    SamplingParams params;
    int64_t seed = -1;  // -1: random
};

void add_sampling_flags(CLI::App& app, SamplingFlags& flags);

// The validated parameters (seed applied); throws qlm::Error naming the flag.
SamplingParams resolve_sampling(const SamplingFlags& flags);

}  // namespace qlm::cli
