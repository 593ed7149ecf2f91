// Samplers: a fixed chain of small functions over a logits buffer.
//
// Order (documented, fixed; llama.cpp's default order):
//   1. penalties: repetition (last repeat_last_n tokens; divide positive / multiply negative
//      logits), frequency and presence (subtract count*freq + (count>0)*presence)
//   2. no-repeat n-gram: ban tokens that would complete an n-gram already present in the history
//   3. temperature <= 0 -> greedy (argmax), done
//   4. top-k  5. top-p  6. min-p  7. temperature scaling  8. softmax + draw with the seeded RNG
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace qlm {

struct SamplingParams {
    float temperature = 0.8f;
    int32_t top_k = 40;           // <= 0: off
    float top_p = 0.95f;          // >= 1: off
    float min_p = 0.05f;          // <= 0: off
    float repeat_penalty = 1.0f;  // 1: off
    int32_t repeat_last_n = 64;   // 0: off, -1: whole history
    float frequency_penalty = 0.0f;
    float presence_penalty = 0.0f;
    int32_t no_repeat_ngram = 0;  // 0: off
    uint64_t seed = 0xFFFFFFFFull;  // LLAMA_DEFAULT_SEED: pick a random seed
};

class Sampler {
public:
    explicit Sampler(const SamplingParams& params);
    // Picks the next token from logits (n_vocab floats) given the tokens so far (prompt + output).
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
    const SamplingParams& params() const { return params_; }
    uint64_t seed() const { return seed_; }  // the seed actually used

private:
    SamplingParams params_;
    uint64_t seed_;
    std::mt19937_64 rng_;
    std::vector<float> work_;
};

}  // namespace qlm
