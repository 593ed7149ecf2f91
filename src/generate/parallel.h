// N samples of one prompt in one context (qlm run --parallel N): the prompt is evaluated once as
// sequence 0 and forked into sequences 1..N-1 (InferenceContext::seq_cp), which share its KV
// blocks; then each step samples one token per running sequence with that sequence's own sampler
// and decodes all of them in one Batch, one pass over the weights for N tokens.
//
//   InferenceContext ctx(model, {.n_ctx = 2048, .n_outputs = 4, .n_seq_max = 4});
//   std::vector<Sampler> samplers;  // one per sequence, e.g. seeds s, s+1, s+2, s+3
//   ParallelResult r = generate_parallel(ctx, decoder, samplers, prompt_ids, opts);
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "src/generate/generate.h"
#include "src/model/context.h"

namespace qlm {

struct ParallelResult {
    std::vector<GenerateResult> sequences;  // one per sampler: tokens, text, stop reason
    GenerateTimings timings;                // the prompt once; generated_tokens of all sequences together
};

// How many sequences forked from a prompt of n_prompt tokens a cache with this layout can start:
// the blocks left after the prompt's, one for each sequence's first token.
int64_t max_parallel_sequences(const KvLayout& kv, int64_t n_prompt);

// Runs the loop of generate() for every sampler at once; opts' n_predict, ignore_eos, stop and
// cancel apply to each sequence (on_text and the logits callbacks are not used: the text is in the
// results). A sequence whose next token finds no free block stops with StopReason::ContextFull.
// ctx must be empty and hold at least samplers.size() sequences and output rows. Throws qlm::Error
// for an empty prompt, no samplers, a context that cannot hold the prompt and one more block per
// sequence (naming the limit), and passes on the context's errors.
ParallelResult generate_parallel(InferenceContext& ctx, const TokenDecoder& decoder, std::span<Sampler> samplers,
                                 std::span<const int32_t> prompt, const GenerateOptions& opts);

}  // namespace qlm
