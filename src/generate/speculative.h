// Speculative decoding: something cheap drafts a few tokens, the target model verifies them all in
// one batched pass (its logits after each drafted row), and the accepted prefix is kept in the
// caches while the rejected tail is removed (seq_rm). Each drafted token x, drawn from the draft's
// distribution q, is kept with probability min(1, p(x)/q(x)) against the target's distribution p
// at that row (both after the whole sampler chain, with the history up to that row); the first
// rejection draws from the residual max(0, p − q), and when every token is kept one more token is
// drawn from the target's last row. The text is therefore distributed exactly as the target's
// alone; greedy (--temp 0) makes p and q point masses at the argmax, and the text the target's
// greedy text token for token (up to the rounding of a batched pass against a one-row pass,
// model/context.h). Every stage of qlm's chain is a function of the logits and the history, so
// every sampling setting keeps this guarantee.
//
// Three drafters (speculative_models.h): a smaller draft model (-md), n-gram lookup in the text so
// far (--lookup), and the target's own first L layers with its final norm and head
// (--self-spec L), whose K/V rows of layers < L the verifying pass reuses.
//
//   auto spec = draft_model_speculation(target_ctx, draft_ctx);
//   SpeculativeResult r = generate_speculative(*spec, decoder, sampler, prompt, opts, {.draft_max = 16});
//   r.stats.acceptance();
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "src/generate/generate.h"
#include "src/sampling/sampler.h"
#include "src/sampling/token_distribution.h"

namespace qlm {

// A drafted continuation: the tokens and the distribution each was drawn from.
struct Draft {
    std::vector<int32_t> tokens;
    std::vector<TokenDistribution> q;
    int64_t size() const { return static_cast<int64_t>(tokens.size()); }
    void clear() {
        tokens.clear();
        q.clear();
    }
};

// How a draft model picks its tokens: the target's sampler chain on the draft's logits (the same
// settings, its own RNG), with the tokens the target bans (ban) banned too.
class DraftPicker {
public:
    // p_min > 0: a token is confident() when the softmax of the draft's logits gives the most
    // likely token at least p_min (llama.cpp's --draft-p-min); drafting stops at one that is not.
    explicit DraftPicker(const SamplingParams& target, float p_min = 0.0f);
    void ban(std::span<const int32_t> ids) { banned_.assign(ids.begin(), ids.end()); }
    // Draws a token from the chain's distribution over logits, which it leaves in q.
    int32_t pick(std::span<const float> logits, std::span<const int32_t> history, TokenDistribution& q);
    bool confident() const { return confident_; }  // of the last pick

private:
    Sampler sampler_;
    float p_min_;
    bool confident_ = true;
    std::vector<int32_t> banned_;
    std::vector<float> biased_;
};

// The model side: a target that verifies, and a drafter.
class SpeculativeModel {
public:
    virtual ~SpeculativeModel() = default;
    // Evaluates the prompt (the target's cache must be empty); logits(0) is then the target's after
    // its last token.
    virtual void prefill(std::span<const int32_t> prompt) = 0;
    // Up to n_max tokens to follow `context` (prompt + emitted; the target holds all of it but its
    // last token).
    virtual void draft(std::span<const int32_t> context, int64_t n_max, DraftPicker& picker, Draft& out) = 0;
    // The target over context's last token and the draft tokens in one pass: logits(i) follow the
    // context and the first i draft tokens (i = 0 .. draft.size()).
    virtual void verify(std::span<const int32_t> context, std::span<const int32_t> draft) = 0;
    virtual std::span<const float> logits(int64_t i) const = 0;
    // Keeps the first n positions of every cache it uses (context and accepted tokens).
    virtual void keep(int64_t n) = 0;
    virtual int64_t n_past() const = 0;  // positions the target holds
    virtual int64_t n_ctx() const = 0;   // positions the target can hold
    // Plain decoding, for comparison: keeps the first n_prompt positions of the target, then decodes
    // text[n_prompt .. n_prompt+n) one token per pass.
    virtual void decode_plain(std::span<const int32_t> text, int64_t n_prompt, int64_t n) = 0;
    // The most drafted tokens verify takes at once.
    virtual int64_t max_draft() const = 0;
};

struct SpeculativeOptions {
    int64_t draft_max = 16;    // tokens drafted per step at most
    int64_t draft_min = 0;     // a shorter draft is dropped (the step decodes one token)
    float draft_p_min = 0.0f;  // a draft model stops drafting at a token it gives less (DraftPicker)
    int64_t plain_probe = 32;  // generated tokens decoded again one at a time afterwards, to time plain decoding
};

struct SpeculativeStats {
    int64_t steps = 0;     // target passes after the prompt
    int64_t drafted = 0;   // draft tokens verified
    int64_t accepted = 0;  // of those, kept
    // Plain decoding of the same target on the same text: the first plain_tokens generated tokens
    // decoded again one per pass after the generation, in the same context.
    int64_t plain_tokens = 0;
    double plain_seconds = 0.0;
    double acceptance() const { return drafted > 0 ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0; }
    double plain_tokens_per_second() const { return plain_seconds > 0 ? static_cast<double>(plain_tokens) / plain_seconds : 0.0; }
};

struct SpeculativeResult {
    GenerateResult generation;
    SpeculativeStats stats;
};

// Throws qlm::Error for a draft_max outside 1 .. model.max_draft(), a draft_min outside
// 0 .. draft_max, a draft_p_min outside [0, 1], and what generate() throws for.
SpeculativeResult generate_speculative(SpeculativeModel& model, const TokenDecoder& decoder, Sampler& sampler,
                                       std::span<const int32_t> prompt, const GenerateOptions& opts,
                                       const SpeculativeOptions& spec);

}  // namespace qlm
