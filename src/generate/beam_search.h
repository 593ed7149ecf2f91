// Beam search (qlm run --beams K) with Hugging Face transformers' semantics (GenerationMixin's
// _beam_search of transformers 4.5x, for one prompt):
//   - every step each of the K live beams' next-token log-probabilities (log_softmax of the raw
//     logits, then --no-repeat-ngram's bans per beam) are added to the beam's running sum, and
//     the best max(2, 1 + E)·K of all candidates are ranked (E: end-of-generation tokens);
//   - a candidate that ends the text (an end-of-generation token, a stop string completed, or any
//     candidate on the last step: n_predict reached, the cache full, cancelled) joins the finished
//     list when its rank is below K; the best K of the others are the next live beams;
//   - a finished hypothesis scores sum log-prob / length^A, length being the generated tokens
//     including the ending one (the prompt does not count, as in current transformers; older ones
//     counted it, which let a long prompt flatten the penalty); the best K are kept;
//   - the search ends on its last step, or when K have finished and (early_stopping) that is
//     enough, or (otherwise) the best live beam's sum divided by the current length^A cannot beat
//     the worst finished score.
//   The best kept hypothesis is the result.
// Ties rank the lower beam, then the lower token id, first (torch.topk leaves them unspecified).
// Scores are summed in double (transformers: float32). Where transformers pads the first step with
// K−1 copies of the prompt scored −1e9, and fills missing live beams with ended candidates scored
// −1e9, this search starts from the prompt alone and goes on with fewer beams; the two differ only
// when fewer than 2K candidates have a finite log-probability.
//
// On the cache: beam i lives in sequence slot i of the context. When the new beams are chosen,
// the first child of a beam keeps its parent's slot, and every further child is forked
// (InferenceContext::seq_cp, blocks shared, copied on write) into a slot whose beam had no
// child; a parent with a child is never overwritten, so K slots suffice. All K beams then decode
// their new token in one Batch (one pass over the weights).
//
//   InferenceContext ctx(model, {.n_ctx = 512, .n_outputs = 4, .n_seq_max = 4});
//   BeamResult r = beam_search(ctx, decoder, prompt_ids, {.n_beams = 4}, opts);
//   r.best().text;
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "src/generate/generate.h"
#include "src/model/context.h"

namespace qlm {

struct BeamParams {
    int32_t n_beams = 1;          // K
    float length_penalty = 1.0f;  // A: a hypothesis scores sum log-prob / length^A (transformers' default 1)
    bool early_stopping = false;  // stop as soon as K hypotheses have finished
    int32_t no_repeat_ngram = 0;  // per beam: ban tokens that would repeat an n-gram of prompt + beam (0: off)
};

// Throws qlm::Error naming --beams, --length-penalty or --no-repeat-ngram for a value out of range:
// K < 1, a length penalty that is not finite, a negative n-gram size.
void validate(const BeamParams& params);

struct BeamHypothesis {
    std::vector<int32_t> tokens;  // generated ids; an ending end-of-generation token is not included
    std::string text;             // the tokens' text (valid UTF-8), cut before a stop string
    double sum_logprob = 0.0;     // of the tokens and the ending token
    int64_t length = 0;           // generated tokens including the ending one
    double score = 0.0;           // sum_logprob / length^A
    // EndOfGeneration, StopString: it finished. MaxTokens, ContextFull, Cancelled: a candidate of
    // the last step, which ended the search that way.
    StopReason stop_reason = StopReason::MaxTokens;
    int32_t end_token = -1;  // the end-of-generation id that ended it, else -1
    bool finished() const { return stop_reason == StopReason::EndOfGeneration || stop_reason == StopReason::StopString; }
};

// The finished list: the best K hypotheses added so far. add() scores a hypothesis; one that is
// not better than the worst kept is dropped once K are kept, and the worst is dropped when a
// better one comes (the earliest added among equal worst).
class FinishedHypotheses {
public:
    FinishedHypotheses(int32_t n_beams, float length_penalty, bool early_stopping);
    void add(BeamHypothesis h);  // sets h.score from h.sum_logprob and h.length
    // Whether the search is done: K kept, and early stopping, or the best live beam's sum of
    // log-probs at `length` tokens scores no better than the worst kept.
    bool is_done(double best_sum_logprob, int64_t length) const;
    int64_t size() const { return static_cast<int64_t>(kept_.size()); }
    double worst_score() const { return worst_; }
    // The kept hypotheses, best first (among equal scores the later added first).
    std::vector<BeamHypothesis> best_first() const;

private:
    double score(double sum_logprob, int64_t length) const;

    int32_t n_beams_;
    float length_penalty_;
    bool early_stopping_;
    double worst_ = 1e9;
    std::vector<BeamHypothesis> kept_;
};

struct BeamResult {
    std::vector<BeamHypothesis> hypotheses;  // at most K, best first; empty when every continuation was banned
    int64_t n_finished = 0;                  // of those, how many finished (end of generation, stop string)
    int64_t steps = 0;                       // tokens added to each beam
    int64_t forks = 0;                       // children forked into another beam's slot (seq_cp)
    // Why the search ended: EndOfGeneration when it was done (or no live beam was left), else
    // MaxTokens, ContextFull or Cancelled.
    StopReason search_end = StopReason::EndOfGeneration;
    GenerateTimings timings;  // the prompt once; generated_tokens: rows decoded for all beams together
    const BeamHypothesis& best() const { return hypotheses.front(); }
};

// How many beams a cache with this layout can start after a prompt of n_prompt tokens: one block
// each for their first token (max_parallel_sequences).
int64_t max_beams(const KvLayout& kv, int64_t n_prompt);

// Runs the search. opts' n_predict caps the generated length (-1: until the search is done or the
// cache is full: the step whose tokens might not find a position or a block is the last), ignore_eos bans end-of-generation tokens, stop strings end a hypothesis
// like an end-of-generation token, cancel ends the search; on_text, history and the logits
// callbacks are not used. ctx must be empty and hold at least K sequences and output rows. Throws
// qlm::Error for invalid params, an empty prompt, a context that cannot hold the prompt and one
// block per beam (naming the limit), and passes on the context's errors.
BeamResult beam_search(InferenceContext& ctx, const TokenDecoder& decoder, std::span<const int32_t> prompt,
                       const BeamParams& params, const GenerateOptions& opts);

}  // namespace qlm
