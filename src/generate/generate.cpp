#include "src/generate/generate.h"

#include <limits>
#include <chrono>

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

GenerateResult generate(LogitsSource& source, const TokenDecoder& decoder, Sampler& sampler,
                        std::span<const int32_t> prompt, const GenerateOptions& opts) {
    validate(opts);
    if (prompt.empty())
        throw_error("generate: the prompt has no tokens; give a non-empty prompt (or add BOS)");
    const int64_t room = source.n_ctx() - source.n_past();
    if (static_cast<int64_t>(prompt.size()) > room)
        throw_error("generate: the prompt has {} tokens but the context has room for {}; use a larger "
                    "--ctx-size or a shorter prompt", prompt.size(), room);

    GenerateResult result;
    std::vector<int32_t> history(opts.history.begin(), opts.history.end());
    history.insert(history.end(), prompt.begin(), prompt.end());
    StopStringFilter filter(opts.stop);
    Utf8Stream utf8;
    auto emit = [&](std::string_view bytes, bool last) {
        std::string text = utf8.push(bytes);
        if (last) text += utf8.flush();
        if (text.empty()) return;
        result.text += text;
        if (opts.on_text) opts.on_text(text);
    };

    // Prefill: the whole prompt in one call (the context splits it into n_batch chunks).
    const bool record_prompt = static_cast<bool>(opts.on_prompt_logits);
    const bool record_generated = static_cast<bool>(opts.on_generated_logits);
    const Clock::time_point t0 = Clock::now();
    source.eval(prompt, record_prompt);
    const Clock::time_point t1 = Clock::now();
    result.timings.prompt_tokens = static_cast<int64_t>(prompt.size());
    result.timings.prompt_seconds = seconds_between(t0, t1);
    if (record_prompt)
        for (int64_t i = 0; i < source.n_outputs(); ++i) opts.on_prompt_logits(i, source.logits(i));
    std::span<const float> logits = source.logits(source.n_outputs() - 1);

    // With ignore_eos, end-of-generation tokens are never sampled (llama.cpp biases them to -inf),
    // so the text goes on instead of printing an end marker.
    std::vector<int32_t> end_ids;
    if (opts.ignore_eos)
        for (int32_t id = 0; id < static_cast<int32_t>(logits.size()); ++id)
            if (decoder.is_end_of_generation(id)) end_ids.push_back(id);
    std::vector<float> biased;
    auto banned_end_tokens = [&](std::span<const float> l) -> std::span<const float> {
        if (end_ids.empty()) return l;
        biased.assign(l.begin(), l.end());
        for (int32_t id : end_ids) biased[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
        return biased;
    };

    const int64_t n_predict = opts.n_predict;
    StopReason reason = StopReason::MaxTokens;
    for (;;) {
        if (opts.cancel && opts.cancel->load(std::memory_order_relaxed)) {
            reason = StopReason::Cancelled;
            break;
        }
        if (n_predict >= 0 && static_cast<int64_t>(result.tokens.size()) >= n_predict) {
            reason = StopReason::MaxTokens;
            break;
        }
        const int32_t token = sampler.sample(banned_end_tokens(logits), history);
        if (!opts.ignore_eos && decoder.is_end_of_generation(token)) {
            reason = StopReason::EndOfGeneration;
            result.end_token = token;
            break;
        }
        history.push_back(token);
        result.tokens.push_back(token);

        std::string released = filter.push(decoder.token_to_piece(token));
        if (filter.stopped()) {
            emit(released, true);
            reason = StopReason::StopString;
            break;
        }
        emit(released, false);

        const bool reached_max = n_predict >= 0 && static_cast<int64_t>(result.tokens.size()) >= n_predict;
        if (reached_max && !record_generated) {
            reason = StopReason::MaxTokens;
            break;
        }
        if (source.n_past() >= source.n_ctx()) {
            reason = reached_max ? StopReason::MaxTokens : StopReason::ContextFull;
            break;
        }
        source.eval(std::span<const int32_t>(&token, 1), false);
        logits = source.logits(source.n_outputs() - 1);
        if (record_generated)
            opts.on_generated_logits(static_cast<int64_t>(result.tokens.size()) - 1, logits);
        if (reached_max) {
            reason = StopReason::MaxTokens;
            break;
        }
    }
    if (reason != StopReason::StopString) emit(filter.flush(), true);

    result.stop_reason = reason;
    result.timings.generated_tokens = static_cast<int64_t>(result.tokens.size());
    result.timings.generation_seconds = seconds_between(t1, Clock::now());
    return result;
}

}  // namespace qlm
