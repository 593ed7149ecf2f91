// Prompt-lookup drafting (n-gram lookup): the text so far often repeats itself (code, quotations,
// lists, a summary of the prompt), so the tokens that followed an earlier occurrence of the
// context's last n tokens are a cheap guess at what follows now. No model is involved: the draft
// is deterministic, a point mass for the acceptance step.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace qlm {

constexpr int kLookupNgramMax = 3;  // the longest suffix looked up
constexpr int kLookupNgramMin = 2;  // the shortest; a single token matches too often to guess well

// Replaces out with the tokens that followed the most recent earlier occurrence of the context's
// last n tokens, n from ngram_max down to ngram_min (the longest match wins), at most n_max of
// them; empty when no suffix occurs earlier.
void lookup_draft(std::span<const int32_t> context, int64_t n_max, std::vector<int32_t>& out,
                  int ngram_max = kLookupNgramMax, int ngram_min = kLookupNgramMin);

}  // namespace qlm
