// Stages straight from the logits, for samplers with no penalties or n-gram bans: the result of
// make_candidates followed by keep_top_k (or argmax) without building a candidate per vocabulary
// entry. A decode step of several sequences samples each from a full vocabulary (tens of
// thousands of logits), and the candidates array plus its partial sort cost more than a scan.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "src/sampling/sampler_stages.h"

namespace qlm {

// out = keep_top_k(make_candidates(logits), k) for 0 < k < logits.size(): the k largest logits
// (NaN as -inf), sorted by logit descending, ties by lowest id.
void top_k_from_logits(std::span<const float> logits, int32_t k, std::vector<Candidate>& out);

// argmax(make_candidates(logits)): the first index of the largest logit, NaN as -inf (index 0
// when every logit is NaN or -inf). Requires non-empty logits.
int32_t argmax_logits(std::span<const float> logits);

}  // namespace qlm
