// The drafters of speculative decoding (speculative.h), each with the target context it verifies
// with:
// - a draft model in its own context (-md): it drafts with the target's sampler chain on its own
//   logits, one token per pass, and its cache is trimmed with the target's;
// - n-gram lookup in the text so far (--lookup, draft_lookup.h): no model, point-mass drafts;
// - self-speculation (--self-spec L): the target's first L layers, its final norm and its head
//   draft, one token per pass over layers [0, L) whose state after layer L-1 is kept; the verifying
//   pass runs only layers [L, n_layer) from those states, so the draft's K/V rows of layers < L
//   (exactly what a full pass writes) are reused, not recomputed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "src/generate/speculative.h"
#include "src/model/context.h"
#include "src/tokenizer/tokenizer.h"

namespace qlm {

// The contexts must hold one sequence each, the target's at least max_draft + 1 logits rows, the
// draft's as many positions as the target's.
std::unique_ptr<SpeculativeModel> draft_model_speculation(InferenceContext& target, InferenceContext& draft);
std::unique_ptr<SpeculativeModel> lookup_speculation(InferenceContext& target);
// Throws qlm::Error for n_draft_layers outside 1 .. n_layer-1 or a model with sliding-window layers
// (their cache keeps only the window of the newest positions, which the verifying pass would
// have to reread).
std::unique_ptr<SpeculativeModel> self_speculation(InferenceContext& target, int64_t n_draft_layers);

// Why a draft model cannot draft for a target: a different vocabulary size or a token whose text
// differs (the first one named); empty when they match.
std::string vocabulary_mismatch(const Tokenizer& target, const Tokenizer& draft, int64_t target_n_vocab,
                                int64_t draft_n_vocab);

}  // namespace qlm
