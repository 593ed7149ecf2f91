// The sampler stages: small functions over a candidates array, each doing one thing, so each
// can be tested on hand-made logits. Sampler (sampler.h) chains them in a fixed order.
//
// Conventions: a stage that needs probabilities computes them itself (softmax over the current
// candidates); keep_top_k and keep_top_p leave the survivors sorted by logit, descending, ties by
// lowest id; keep_min_p keeps the order it was given.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace qlm {

struct Candidate {
    int32_t id;
    float logit;
    float p;  // probability, valid after softmax()
};

// One candidate per vocabulary entry, id == index; NaN logits become -inf; p = 0.
std::vector<Candidate> make_candidates(std::span<const float> logits);
void make_candidates(std::span<const float> logits, std::vector<Candidate>& out);

// The last last_n tokens of history (-1: all of it, 0: none).
std::span<const int32_t> penalty_window(std::span<const int32_t> history, int32_t last_n);

// llama.cpp's penalties sampler: for each candidate whose id occurs count > 0 times in window:
// repetition (logit > 0 -> logit / repeat, else logit * repeat), then
// logit -= count * freq + presence. Ids outside the candidates are ignored.
void apply_penalties(std::span<Candidate> cands, std::span<const int32_t> window, float repeat,
                     float freq, float presence);

// Tokens t such that (the last n-1 history tokens, t) is an n-gram already in history.
// n == 1 bans every token in the history; n <= 0 or a history shorter than n-1 bans nothing.
std::vector<int32_t> repeated_ngram_tokens(std::span<const int32_t> history, int32_t n);
// Sets the logit of every token from repeated_ngram_tokens() to -inf.
void ban_repeated_ngrams(std::span<Candidate> cands, std::span<const int32_t> history, int32_t n);

// Id of the largest logit; ties -> lowest id. Requires a non-empty array.
int32_t argmax(std::span<const Candidate> cands);

// Sort by logit descending, ties by id ascending.
void sort_by_logit(std::vector<Candidate>& cands);
// p = exp(logit - max) / sum. All -inf -> uniform; +inf entries share p = 1 equally.
void softmax(std::span<Candidate> cands);

// Keep the k largest logits, sorted (k <= 0 or k >= size: keep all, order unchanged).
void keep_top_k(std::vector<Candidate>& cands, int32_t k);
// Keep the smallest prefix (by descending p) whose cumulative probability reaches top_p
// (top_p >= 1: keep all). At least one candidate survives. Sets p (softmax of the input).
void keep_top_p(std::vector<Candidate>& cands, float top_p);
// Keep candidates with p >= min_p * p_max (min_p <= 0: keep all). Sets p (softmax of the input).
void keep_min_p(std::vector<Candidate>& cands, float min_p);
// logit /= temperature (temperature > 0).
void scale_temperature(std::span<Candidate> cands, float temperature);

// Uniform double in [0, 1) from the top 53 bits of one RNG output (same on every platform).
double uniform01(std::mt19937_64& rng);
// Softmax, then draw one id with probability p. Requires a non-empty array.
int32_t draw(std::vector<Candidate>& cands, std::mt19937_64& rng);

}  // namespace qlm
