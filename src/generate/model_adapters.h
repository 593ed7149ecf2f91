// Adapters from the model and tokenizer contracts to the generate loop's interfaces.
#pragma once

#include "src/generate/generate.h"
#include "src/model/context.h"
#include "src/tokenizer/tokenizer.h"

namespace qlm {

class ContextLogitsSource : public LogitsSource {
public:
    explicit ContextLogitsSource(InferenceContext& ctx) : ctx_(ctx) {}
    void eval(std::span<const int32_t> tokens, bool all_logits) override;
    int64_t n_outputs() const override;
    std::span<const float> logits(int64_t i) const override;
    int64_t n_past() const override;
    int64_t n_ctx() const override;

private:
    InferenceContext& ctx_;
};

class TokenizerDecoder : public TokenDecoder {
public:
    // render_special: print control tokens' text (e.g. "</s>") instead of nothing.
    explicit TokenizerDecoder(const Tokenizer& tok, bool render_special = false)
        : tok_(tok), render_special_(render_special) {}
    std::string token_to_piece(int32_t id) const override;
    bool is_end_of_generation(int32_t id) const override;

private:
    const Tokenizer& tok_;
    bool render_special_;
};

}  // namespace qlm
