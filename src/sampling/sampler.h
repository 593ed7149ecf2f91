// Samplers: a fixed chain of small functions over a candidates array (sampler_stages.h).
//
// Order (documented, fixed; llama.cpp's default order, with no-repeat n-gram added after penalties):
//   1. penalties over the last repeat_last_n tokens of the history (prompt + output):
//      repetition (logit > 0 -> logit / repeat_penalty, else logit * repeat_penalty, once per
//      distinct token), then frequency and presence (logit -= count*freq + (count>0)*presence)
//   2. no-repeat n-gram: ban (logit = -inf) tokens that would complete an n-gram of size
//      no_repeat_ngram that already occurs anywhere in the history
//   3. temperature <= 0 -> greedy: argmax of the penalised logits (ties -> lowest id), done
//   4. top-k  5. top-p (on softmax at temperature 1)  6. min-p (p >= min_p * p_max)
//   7. temperature scaling (logit / temperature)  8. softmax + one draw with the seeded RNG
// The history passed to sample() is everything the model has seen: prompt + generated tokens.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "src/sampling/sampler_stages.h"
#include "src/sampling/token_distribution.h"

namespace qlm {

struct SamplingParams {
    float temperature = 0.8f;     // <= 0: greedy
    int32_t top_k = 40;           // <= 0: off
    float top_p = 0.95f;          // in (0, 1]; 1: off
    float min_p = 0.05f;          // in [0, 1]; 0: off
    float repeat_penalty = 1.0f;  // > 0; 1: off
    int32_t repeat_last_n = 64;   // 0: off, -1: whole history
    float frequency_penalty = 0.0f;
    float presence_penalty = 0.0f;
    int32_t no_repeat_ngram = 0;  // 0: off
    uint64_t seed = 0xFFFFFFFFull;  // LLAMA_DEFAULT_SEED: pick a random 32-bit seed (< 0xFFFFFFFF)

    static constexpr uint64_t kRandomSeed = 0xFFFFFFFFull;
};

// Throws qlm::Error naming the command-line flag and its allowed range when a value is out of
// range or not a number: --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n,
// --frequency-penalty, --presence-penalty, --no-repeat-ngram.
void validate(const SamplingParams& params);

// Greedy decoding: a temperature of 0 or less (llama.cpp reads --temp -1 as 0, greedy).
inline bool is_greedy(const SamplingParams& p) { return p.temperature <= 0.0f; }

class Sampler {
public:
    // Validates params (throws qlm::Error); seed == kRandomSeed draws one from std::random_device.
    explicit Sampler(const SamplingParams& params);
    // Picks the next token from logits (n_vocab floats) given the tokens so far (prompt + output).
    // NaN logits count as -inf. Throws qlm::Error when logits is empty.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
    // The distribution sample() draws from, after every stage of the chain (a point mass at the
    // argmax when greedy): the surviving candidates with their probabilities, sorted by id.
    // Speculative decoding (src/generate/speculative.h) verifies drafts against it.
    void distribution(std::span<const float> logits, std::span<const int32_t> history, TokenDistribution& out);
    // One token drawn from a distribution with this sampler's RNG.
    int32_t draw_from(const TokenDistribution& d) { return qlm::draw_from(d, rng_); }
    std::mt19937_64& rng() { return rng_; }
    const SamplingParams& params() const { return params_; }
    uint64_t seed() const { return seed_; }  // the seed actually used

private:
    SamplingParams params_;
    uint64_t seed_;
    std::mt19937_64 rng_;
    std::vector<Candidate> work_;
};

}  // namespace qlm
