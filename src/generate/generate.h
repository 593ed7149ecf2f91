// The generation loop: prefill the prompt in one batch, then sample -> end-of-generation check ->
// stream the piece (whole UTF-8 characters, stop strings held back) -> max tokens -> feed the
// token back, until one of the stop reasons below.
//
//   ContextLogitsSource src(ctx);            // model_adapters.h
//   TokenizerDecoder dec(*tokenizer);
//   Sampler sampler(params);
//   GenerateOptions opts;  opts.n_predict = 64;  opts.on_text = [](std::string_view s) { ... };
//   GenerateResult r = generate(src, dec, sampler, prompt_ids, opts);
//
// The loop runs on two small interfaces so it can be tested with scripted fakes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/sampling/sampler.h"

namespace qlm {

// What the loop needs from a model: the InferenceContext surface (model_adapters.h adapts it).
class LogitsSource {
public:
    virtual ~LogitsSource() = default;
    // Runs tokens at positions n_past() .. n_past()+size-1. all_logits: keep logits for every
    // token (n_outputs() == tokens.size()), else only for the last one (n_outputs() == 1).
    virtual void eval(std::span<const int32_t> tokens, bool all_logits) = 0;
    virtual int64_t n_outputs() const = 0;
    virtual std::span<const float> logits(int64_t i) const = 0;  // i < n_outputs(); n_vocab floats
    virtual int64_t n_past() const = 0;
    virtual int64_t n_ctx() const = 0;
};

// What the loop needs from a tokenizer.
class TokenDecoder {
public:
    virtual ~TokenDecoder() = default;
    virtual std::string token_to_piece(int32_t id) const = 0;  // raw bytes, maybe a partial char
    virtual bool is_end_of_generation(int32_t id) const = 0;   // EOS / EOT / EOM
};

enum class StopReason {
    EndOfGeneration,  // the model produced EOS/EOT (not with ignore_eos)
    MaxTokens,        // n_predict tokens were generated
    StopString,       // the text contained one of the stop strings
    ContextFull,      // no room left in the context for the next token
    Cancelled,        // *cancel became true
};
const char* to_string(StopReason r);  // "eos", "max-tokens", "stop-string", "context-full", "cancelled"

struct GenerateOptions {
    int32_t n_predict = -1;  // tokens to generate; -1: until end of generation or context full
    bool ignore_eos = false;  // never sample EOS/EOT/EOM: generation goes on to n_predict
    // Generation stops when the text contains any of these; the stop string and everything after
    // it are never emitted. Empty strings are an error.
    std::vector<std::string> stop;
    // Streamed text: whole UTF-8 characters (invalid bytes -> U+FFFD at the end), in order.
    std::function<void(std::string_view)> on_text;
    // Tokens already in the context before `prompt` (a chat's earlier turns): the sampler's
    // repetition penalties see them as history too.
    std::span<const int32_t> history;
    // Checked before every token; when it becomes true the loop ends with StopReason::Cancelled.
    const std::atomic<bool>* cancel = nullptr;
    // Logits recording (e.g. for --logits-out). on_prompt_logits gets the logits after each prompt
    // position (the prompt is then evaluated with all_logits), on_generated_logits the logits after
    // each generated token fed back to the model. When set, the last generated token is fed back too
    // (if the context has room), so there is one entry per generated token.
    std::function<void(int64_t pos, std::span<const float> logits)> on_prompt_logits;
    std::function<void(int64_t step, std::span<const float> logits)> on_generated_logits;
};

// Throws qlm::Error naming --n-predict / --stop when a value is invalid.
void validate(const GenerateOptions& opts);

struct GenerateTimings {
    int64_t prompt_tokens = 0;
    double prompt_seconds = 0.0;     // the prefill forward pass (steady_clock)
    int64_t generated_tokens = 0;
    double generation_seconds = 0.0;  // from the end of prefill to the end of the loop
    double prompt_tokens_per_second() const;
    double generation_tokens_per_second() const;
};

struct GenerateResult {
    std::vector<int32_t> tokens;  // generated ids (an ending EOS/EOT is not included)
    std::string text;             // everything passed to on_text, concatenated
    StopReason stop_reason = StopReason::MaxTokens;
    int32_t end_token = -1;       // the EOS/EOT id that ended generation, else -1
    GenerateTimings timings;
};

// Runs the loop. The source's context must already hold everything before `prompt` (n_past()
// positions; usually 0). Throws qlm::Error for an empty prompt or one that does not fit the
// context, and passes on the source's errors.
GenerateResult generate(LogitsSource& source, const TokenDecoder& decoder, Sampler& sampler,
                        std::span<const int32_t> prompt, const GenerateOptions& opts);

}  // namespace qlm
