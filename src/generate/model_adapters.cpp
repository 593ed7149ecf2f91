#include "src/generate/model_adapters.h"

namespace qlm {

void ContextLogitsSource::eval(std::span<const int32_t> tokens, bool all_logits) { ctx_.eval(tokens, all_logits); }
int64_t ContextLogitsSource::n_outputs() const { return ctx_.n_outputs(); }
std::span<const float> ContextLogitsSource::logits(int64_t i) const { return ctx_.logits(i); }
int64_t ContextLogitsSource::n_past() const { return ctx_.n_past(); }
int64_t ContextLogitsSource::n_ctx() const { return ctx_.n_ctx(); }

std::string TokenizerDecoder::token_to_piece(int32_t id) const { return tok_.token_to_piece(id, render_special_); }
bool TokenizerDecoder::is_end_of_generation(int32_t id) const { return tok_.is_end_of_generation(id); }

}  // namespace qlm
