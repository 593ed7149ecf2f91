// The speculative loop (speculative.h): after the prompt, each step drafts up to k tokens, verifies
// them with one target pass, emits the accepted prefix and one token of the target's own, and
// trims the caches to what was emitted. The token the last step emitted is not in the target's
// cache yet: the next verify pass evaluates it together with the next draft.
#include "src/generate/speculative.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "src/generate/banned_tokens.h"
#include "src/generate/stop_strings.h"
#include "src/util/error.h"
#include "src/util/utf8.h"

namespace qlm {

DraftPicker::DraftPicker(const SamplingParams& target, float p_min) : sampler_(target), p_min_(p_min) {}

int32_t DraftPicker::pick(std::span<const float> logits, std::span<const int32_t> history, TokenDistribution& q) {
    logits = without_tokens(logits, banned_, biased_);
    if (p_min_ > 0.0f) {
        float mx = -std::numeric_limits<float>::infinity();
        for (float l : logits) mx = std::max(mx, l);
        double sum = 0.0;
        for (float l : logits) sum += std::exp(static_cast<double>(l - mx));
        confident_ = 1.0 / sum >= p_min_;  // the most likely token's probability
    }
    sampler_.distribution(logits, history, q);
    return sampler_.draw_from(q);
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// The draft's own RNG: the target's seed, moved so that the two streams differ.
SamplingParams draft_params(const Sampler& target) {
    SamplingParams p = target.params();
    p.seed = (target.seed() + 0x9E3779B9ull) & 0xFFFFFFFFull;
    if (p.seed == SamplingParams::kRandomSeed) p.seed = 0;
    return p;
}

class SpeculativeGeneration {
public:
    SpeculativeGeneration(SpeculativeModel& model, const TokenDecoder& decoder, Sampler& sampler,
                          std::span<const int32_t> prompt, const GenerateOptions& opts, const SpeculativeOptions& spec)
        : model_(model), decoder_(decoder), sampler_(sampler), opts_(opts), spec_(spec), filter_(opts.stop),
          picker_(draft_params(sampler), spec.draft_p_min), tokens_(prompt.begin(), prompt.end()),
          n_prompt_(static_cast<int64_t>(prompt.size())) {}

    SpeculativeResult run() {
        const Clock::time_point t0 = Clock::now();
        model_.prefill(tokens_);
        const Clock::time_point t_prefilled = Clock::now();
        out_.generation.timings.prompt_tokens = n_prompt_;
        out_.generation.timings.prompt_seconds = seconds_between(t0, t_prefilled);
        if (opts_.ignore_eos) ban_end_tokens(static_cast<int32_t>(model_.logits(0).size()));
        std::optional<StopReason> stop;
        if (reached_max()) {
            stop = StopReason::MaxTokens;
        } else {
            sampler_.distribution(sampling_logits(model_.logits(0)), tokens_, p_);
            stop = push(sampler_.draw_from(p_));
        }
        while (!stop) stop = step();
        GenerateResult& g = out_.generation;
        if (*stop != StopReason::StopString) emit(filter_.flush(), true);
        g.stop_reason = *stop;
        g.timings.generated_tokens = static_cast<int64_t>(g.tokens.size());
        g.timings.generation_seconds = seconds_between(t_prefilled, Clock::now());
        if (*stop != StopReason::Cancelled) time_plain_decoding();
        return std::move(out_);
    }

private:
    int64_t emitted() const { return static_cast<int64_t>(out_.generation.tokens.size()); }
    bool reached_max() const { return opts_.n_predict >= 0 && emitted() >= opts_.n_predict; }

    // With ignore_eos, end-of-generation tokens are never sampled, nor drafted.
    void ban_end_tokens(int32_t n_vocab) {
        for (int32_t id = 0; id < n_vocab; ++id)
            if (decoder_.is_end_of_generation(id)) end_ids_.push_back(id);
        picker_.ban(end_ids_);
    }

    std::span<const float> sampling_logits(std::span<const float> logits) {
        return without_tokens(logits, end_ids_, biased_);
    }

    void emit(std::string_view bytes, bool last) {
        std::string text = utf8_.push(bytes);
        if (last) text += utf8_.flush();
        if (text.empty()) return;
        out_.generation.text += text;
        if (opts_.on_text) opts_.on_text(text);
    }

    // Emits one token as generate() does; the stop reason when the generation ends with it.
    std::optional<StopReason> push(int32_t token) {
        GenerateResult& g = out_.generation;
        if (!opts_.ignore_eos && decoder_.is_end_of_generation(token)) {
            g.end_token = token;
            return StopReason::EndOfGeneration;
        }
        tokens_.push_back(token);
        g.tokens.push_back(token);
        const std::string released = filter_.push(decoder_.token_to_piece(token));
        if (filter_.stopped()) {
            emit(released, true);
            return StopReason::StopString;
        }
        emit(released, false);
        if (reached_max()) return StopReason::MaxTokens;
        return std::nullopt;
    }

    // Draft, verify, emit the accepted tokens and the target's next one, trim the caches.
    std::optional<StopReason> step() {
        if (opts_.cancel && opts_.cancel->load(std::memory_order_relaxed)) return StopReason::Cancelled;
        const auto len = static_cast<int64_t>(tokens_.size());
        const int64_t n_ctx = model_.n_ctx();
        if (len - 1 >= n_ctx) return StopReason::ContextFull;  // no room for the token not yet evaluated
        int64_t k_max = std::min(spec_.draft_max, n_ctx - len);
        if (opts_.n_predict >= 0) k_max = std::min<int64_t>(k_max, opts_.n_predict - emitted() - 1);
        draft_.clear();
        if (k_max > 0) model_.draft(tokens_, k_max, picker_, draft_);
        if (draft_.size() < spec_.draft_min) draft_.clear();
        model_.verify(tokens_, draft_.tokens);
        SpeculativeStats& st = out_.stats;
        ++st.steps;
        st.drafted += draft_.size();
        int64_t m = 0;
        for (; m < draft_.size(); ++m) {
            const auto i = static_cast<size_t>(m);
            sampler_.distribution(sampling_logits(model_.logits(m)), tokens_, p_);
            const Verdict v = accept_draft(p_, draft_.q[i], draft_.tokens[i], sampler_.rng());
            st.accepted += v.accepted ? 1 : 0;
            if (auto stop = push(v.token)) return stop;
            if (!v.accepted) break;
        }
        if (m == draft_.size()) {
            sampler_.distribution(sampling_logits(model_.logits(m)), tokens_, p_);
            if (auto stop = push(sampler_.draw_from(p_))) return stop;
        }
        model_.keep(len + m);  // the context, the last step's token and the m accepted ones
        return std::nullopt;
    }

    // The target alone on the same text: the first generated tokens decoded again one per pass.
    void time_plain_decoding() {
        const int64_t n = std::min<int64_t>(spec_.plain_probe, std::min(emitted(), model_.n_ctx() - n_prompt_));
        if (n <= 0) return;
        const Clock::time_point t0 = Clock::now();
        model_.decode_plain(tokens_, n_prompt_, n);
        out_.stats.plain_seconds = seconds_between(t0, Clock::now());
        out_.stats.plain_tokens = n;
    }

    SpeculativeModel& model_;
    const TokenDecoder& decoder_;
    Sampler& sampler_;
    const GenerateOptions& opts_;
    const SpeculativeOptions& spec_;
    StopStringFilter filter_;
    Utf8Stream utf8_;
    std::vector<int32_t> end_ids_;  // banned with ignore_eos
    DraftPicker picker_;
    std::vector<int32_t> tokens_;   // prompt + emitted: the positions, and what the penalties see
    int64_t n_prompt_;
    SpeculativeResult out_;
    Draft draft_;
    TokenDistribution p_;
    std::vector<float> biased_;
};

}  // namespace

SpeculativeResult generate_speculative(SpeculativeModel& model, const TokenDecoder& decoder, Sampler& sampler,
                                       std::span<const int32_t> prompt, const GenerateOptions& opts,
                                       const SpeculativeOptions& spec) {
    validate(opts);
    if (spec.draft_max < 1 || spec.draft_max > model.max_draft())
        throw_error("--draft-max {} is out of range: use 1 .. {}", spec.draft_max, model.max_draft());
    if (!(spec.draft_p_min >= 0.0f && spec.draft_p_min <= 1.0f))
        throw_error("--draft-p-min {} is out of range: use 0 .. 1", spec.draft_p_min);
    if (spec.draft_min < 0 || spec.draft_min > spec.draft_max)
        throw_error("--draft-min {} is out of range: use 0 .. --draft-max ({})", spec.draft_min, spec.draft_max);
    if (prompt.empty()) throw_error("generate: the prompt has no tokens; give a non-empty prompt (or add BOS)");
    if (model.n_past() != 0) throw_error("speculative decoding starts from an empty context");
    if (static_cast<int64_t>(prompt.size()) > model.n_ctx())
        throw_error("generate: the prompt has {} tokens but the context has room for {}; use a larger --ctx-size or "
                    "a shorter prompt",
                    prompt.size(), model.n_ctx());
    SpeculativeGeneration g(model, decoder, sampler, prompt, opts, spec);
    return g.run();
}

}  // namespace qlm
