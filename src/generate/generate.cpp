#include "src/generate/generate.h"

#include <chrono>
#include <limits>
#include <optional>

#include "src/generate/banned_tokens.h"
#include "src/generate/stop_strings.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/error.h"

namespace qlm {

const char* to_string(StopReason r) {
    switch (r) {
        case StopReason::EndOfGeneration: return "eos";
        case StopReason::MaxTokens: return "max-tokens";
        case StopReason::StopString: return "stop-string";
        case StopReason::ContextFull: return "context-full";
        case StopReason::Cancelled: return "cancelled";
    }
    return "unknown";
}

void validate(const GenerateOptions& opts) {
    if (opts.n_predict < -1)
        throw_error("--n-predict {} is out of range: use a value >= 0, or -1 to generate until the end "
                    "of generation or a full context", opts.n_predict);
    for (size_t i = 0; i < opts.stop.size(); ++i)
        if (opts.stop[i].empty())
            throw_error("--stop: stop string {} is empty; give a non-empty string", i + 1);
}

double GenerateTimings::prompt_tokens_per_second() const {
    return prompt_seconds > 0 ? static_cast<double>(prompt_tokens) / prompt_seconds : 0.0;
}

double GenerateTimings::generation_tokens_per_second() const {
    return generation_seconds > 0 ? static_cast<double>(generated_tokens) / generation_seconds : 0.0;
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

}  // namespace

namespace {

// One run of the loop: the state the steps share.
class Generation {
public:
    Generation(LogitsSource& source, const TokenDecoder& decoder, Sampler& sampler, std::span<const int32_t> prompt,
               const GenerateOptions& opts)
        : source_(source), decoder_(decoder), sampler_(sampler), opts_(opts), filter_(opts.stop) {
        history_.assign(opts.history.begin(), opts.history.end());
        history_.insert(history_.end(), prompt.begin(), prompt.end());
    }

    // Evaluates the whole prompt in one call (the context splits it into n_batch chunks).
    void prefill(std::span<const int32_t> prompt) {
        const Clock::time_point t0 = Clock::now();
        source_.eval(prompt, record_prompt());
        t_prefilled_ = Clock::now();
        result_.timings.prompt_tokens = static_cast<int64_t>(prompt.size());
        result_.timings.prompt_seconds = seconds_between(t0, t_prefilled_);
        if (record_prompt())
            for (int64_t i = 0; i < source_.n_outputs(); ++i) opts_.on_prompt_logits(i, source_.logits(i));
        logits_ = source_.logits(source_.n_outputs() - 1);
        if (opts_.ignore_eos) ban_end_tokens();
    }

    // Samples, streams and feeds back tokens until a stop reason.
    GenerateResult run() {
        std::optional<StopReason> stop;
        while (!(stop = step())) {
        }
        const StopReason reason = *stop;
        if (reason != StopReason::StopString) emit(filter_.flush(), true);
        result_.stop_reason = reason;
        result_.timings.generated_tokens = static_cast<int64_t>(result_.tokens.size());
        result_.timings.generation_seconds = seconds_between(t_prefilled_, Clock::now());
        return std::move(result_);
    }

private:
    bool record_prompt() const { return static_cast<bool>(opts_.on_prompt_logits); }
    bool record_generated() const { return static_cast<bool>(opts_.on_generated_logits); }
    bool reached_max() const {
        return opts_.n_predict >= 0 && static_cast<int64_t>(result_.tokens.size()) >= opts_.n_predict;
    }

    // With ignore_eos, end-of-generation tokens are never sampled (llama.cpp biases them to
    // -inf), so the text goes on instead of printing an end marker.
    void ban_end_tokens() {
        for (int32_t id = 0; id < static_cast<int32_t>(logits_.size()); ++id)
            if (decoder_.is_end_of_generation(id)) end_ids_.push_back(id);
    }
    std::span<const float> sampling_logits() { return without_tokens(logits_, end_ids_, biased_); }

    // Whole UTF-8 characters to on_text (the rest waits for the next piece, or is flushed last).
    void emit(std::string_view bytes, bool last) {
        std::string text = utf8_.push(bytes);
        if (last) text += utf8_.flush();
        if (text.empty()) return;
        result_.text += text;
        if (opts_.on_text) opts_.on_text(text);
    }

    // One token: sample it, stream it, feed it back. The stop reason when generation ends there.
    std::optional<StopReason> step() {
        if (opts_.cancel && opts_.cancel->load(std::memory_order_relaxed)) return StopReason::Cancelled;
        if (reached_max()) return StopReason::MaxTokens;
        const int32_t token = sampler_.sample(sampling_logits(), history_);
        if (!opts_.ignore_eos && decoder_.is_end_of_generation(token)) {
            result_.end_token = token;
            return StopReason::EndOfGeneration;
        }
        history_.push_back(token);
        result_.tokens.push_back(token);

        std::string released = filter_.push(decoder_.token_to_piece(token));
        if (filter_.stopped()) {
            emit(released, true);
            return StopReason::StopString;
        }
        emit(released, false);

        const bool at_max = reached_max();
        if (at_max && !record_generated()) return StopReason::MaxTokens;
        if (source_.n_past() >= source_.n_ctx())
            return at_max ? StopReason::MaxTokens : StopReason::ContextFull;
        source_.eval(std::span<const int32_t>(&token, 1), false);
        logits_ = source_.logits(source_.n_outputs() - 1);
        if (record_generated()) opts_.on_generated_logits(static_cast<int64_t>(result_.tokens.size()) - 1, logits_);
        if (at_max) return StopReason::MaxTokens;
        return std::nullopt;
    }

    LogitsSource& source_;
    const TokenDecoder& decoder_;
    Sampler& sampler_;
    const GenerateOptions& opts_;
    GenerateResult result_;
    std::vector<int32_t> history_;  // what the repetition penalties see
    StopStringFilter filter_;
    Utf8Stream utf8_;
    std::span<const float> logits_;  // after the last token evaluated
    std::vector<int32_t> end_ids_;   // banned with ignore_eos
    std::vector<float> biased_;
    Clock::time_point t_prefilled_;
};

}  // namespace

GenerateResult generate(LogitsSource& source, const TokenDecoder& decoder, Sampler& sampler,
                        std::span<const int32_t> prompt, const GenerateOptions& opts) {
    validate(opts);
    if (prompt.empty())
        throw_error("generate: the prompt has no tokens; give a non-empty prompt (or add BOS)");
    const int64_t room = source.n_ctx() - source.n_past();
    if (static_cast<int64_t>(prompt.size()) > room)
        throw_error("generate: the prompt has {} tokens but the context has room for {}; use a larger "
                    "--ctx-size or a shorter prompt", prompt.size(), room);
    Generation g(source, decoder, sampler, prompt, opts);
    g.prefill(prompt);
    return g.run();
}

}  // namespace qlm
