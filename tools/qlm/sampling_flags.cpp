#include "tools/qlm/sampling_flags.h"

#include "src/util/error.h"
#include "tools/qlm/usage_error.h"

namespace qlm::cli {

void add_sampling_flags(CLI::App& app, SamplingFlags& f) {
    SamplingParams& s = f.params;
    f.samplers.push_back(app.add_option("-s,--seed", f.seed, "RNG seed (-1 = random)")->capture_default_str());
    f.samplers.push_back(app.add_option("--temp", s.temperature, "temperature (0 or less = greedy, as in llama.cpp)")->capture_default_str());
    f.samplers.push_back(app.add_option("--top-k", s.top_k, "top-k sampling (0 = off)")->capture_default_str());
    f.samplers.push_back(app.add_option("--top-p", s.top_p, "top-p sampling (1.0 = off)")->capture_default_str());
    f.samplers.push_back(app.add_option("--min-p", s.min_p, "min-p sampling (0.0 = off)")->capture_default_str());
    f.samplers.push_back(app.add_option("--repeat-penalty", s.repeat_penalty, "repetition penalty (1.0 = off)")->capture_default_str());
    f.samplers.push_back(app.add_option("--repeat-last-n", s.repeat_last_n, "tokens considered for penalties (0 = off, -1 = all)")->capture_default_str());
    f.samplers.push_back(app.add_option("--presence-penalty", s.presence_penalty, "presence penalty (0.0 = off)")->capture_default_str());
    f.samplers.push_back(app.add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty (0.0 = off)")->capture_default_str());
    app.add_option("--no-repeat-ngram", s.no_repeat_ngram, "ban repeating n-grams of this size (0 = off)")->capture_default_str();
}

std::string given_sampling_flag(const SamplingFlags& f) {
    for (const CLI::Option* o : f.samplers)
        if (o->count() > 0) return "--" + o->get_lnames().front();
    return "";
}

SamplingParams resolve_sampling(const SamplingFlags& f) {
    if (f.seed < -1 || f.seed > static_cast<int64_t>(UINT32_MAX))
        throw_usage("-s {}: the seed must be -1 (random) or 0..{}", f.seed, UINT32_MAX);
    SamplingParams sp = f.params;
    sp.seed = f.seed == -1 ? SamplingParams::kRandomSeed : static_cast<uint64_t>(f.seed);
    as_usage([&] { validate(sp); });
    return sp;
}

}  // namespace qlm::cli
