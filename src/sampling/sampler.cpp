#include "src/sampling/sampler.h"

#include <cmath>

#include "src/sampling/top_k_select.h"
#include "src/util/error.h"

namespace qlm {

void validate(const SamplingParams& p) {
    if (!std::isfinite(p.temperature))
        throw_error("--temp {} is not a finite number: use a number (0 or less = greedy)", p.temperature);
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
        throw_error("--top-p {} is out of range: use a value in (0, 1] (1 turns top-p off)", p.top_p);
    if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
        throw_error("--min-p {} is out of range: use a value in [0, 1] (0 turns min-p off)", p.min_p);
    if (!(std::isfinite(p.repeat_penalty) && p.repeat_penalty > 0.0f))
        throw_error("--repeat-penalty {} is out of range: use a finite value > 0 (1 turns it off)",
                    p.repeat_penalty);
    if (p.repeat_last_n < -1)
        throw_error("--repeat-last-n {} is out of range: use a value >= 0, or -1 for the whole history",
                    p.repeat_last_n);
    if (!std::isfinite(p.frequency_penalty))
        throw_error("--frequency-penalty {} is not a finite number: use a finite value (0 turns it off)",
                    p.frequency_penalty);
    if (!std::isfinite(p.presence_penalty))
        throw_error("--presence-penalty {} is not a finite number: use a finite value (0 turns it off)",
                    p.presence_penalty);
    if (p.no_repeat_ngram < 0)
        throw_error("--no-repeat-ngram {} is out of range: use a value >= 0 (0 turns it off)",
                    p.no_repeat_ngram);
    // top_k: every value is valid (<= 0 turns it off); seed: every value is valid.
}

// Random seeds are 32-bit (like llama.cpp's), so the reported seed can be passed back with --seed.
static uint64_t pick_seed(uint64_t requested) {
    if (requested != SamplingParams::kRandomSeed) return requested;
    std::random_device rd;
    const uint64_t s = rd() & 0xFFFFFFFFull;
    return s == SamplingParams::kRandomSeed ? s - 1 : s;
}

Sampler::Sampler(const SamplingParams& params)
    : params_((validate(params), params)), seed_(pick_seed(params.seed)), rng_(seed_) {}

// No stage before top-k/argmax changes a logit: those can read the logits directly.
static bool logits_as_given(const SamplingParams& p, std::span<const int32_t> window) {
    return p.no_repeat_ngram <= 0 &&
           (window.empty() || (p.repeat_penalty == 1.0f && p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f));
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
    if (logits.empty()) throw_error("sampler: the logits are empty (the model has no vocabulary)");
    if (logits_as_given(params_, penalty_window(history, params_.repeat_last_n))) {
        if (is_greedy(params_)) return argmax_logits(logits);
        if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < logits.size()) {
            top_k_from_logits(logits, params_.top_k, work_);
            keep_top_p(work_, params_.top_p);
            keep_min_p(work_, params_.min_p);
            scale_temperature(work_, params_.temperature);
            return draw(work_, rng_);
        }
    }
    make_candidates(logits, work_);
    apply_penalties(work_, penalty_window(history, params_.repeat_last_n), params_.repeat_penalty,
                    params_.frequency_penalty, params_.presence_penalty);
    if (params_.no_repeat_ngram > 0) ban_repeated_ngrams(work_, history, params_.no_repeat_ngram);
    if (is_greedy(params_)) return argmax(work_);
    keep_top_k(work_, params_.top_k);
    keep_top_p(work_, params_.top_p);
    keep_min_p(work_, params_.min_p);
    scale_temperature(work_, params_.temperature);
    return draw(work_, rng_);
}

void Sampler::distribution(std::span<const float> logits, std::span<const int32_t> history, TokenDistribution& out) {
    if (logits.empty()) throw_error("sampler: the logits are empty (the model has no vocabulary)");
    make_candidates(logits, work_);
    apply_penalties(work_, penalty_window(history, params_.repeat_last_n), params_.repeat_penalty,
                    params_.frequency_penalty, params_.presence_penalty);
    if (params_.no_repeat_ngram > 0) ban_repeated_ngrams(work_, history, params_.no_repeat_ngram);
    if (is_greedy(params_)) {
        out.set_point_mass(argmax(work_));
        return;
    }
    keep_top_k(work_, params_.top_k);
    keep_top_p(work_, params_.top_p);
    keep_min_p(work_, params_.min_p);
    scale_temperature(work_, params_.temperature);
    softmax(work_);
    out.set(work_);
}

}  // namespace qlm
