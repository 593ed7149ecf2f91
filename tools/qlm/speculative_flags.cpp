#include "tools/qlm/speculative_flags.h"

#include <filesystem>

#include <fmt/format.h>

#include "src/generate/speculative_models.h"
#include "src/util/plural.h"
#include "tools/qlm/usage_error.h"

namespace qlm::cli {

void add_speculative_flags(CLI::App& app, SpeculativeFlags& f) {
    app.add_option("--model-draft", f.draft_model,
                   "speculative decoding with this draft model (-md; same vocabulary as -m): it drafts, the target "
                   "verifies the draft in one pass");
    f.draft_max_opt = app.add_option("--draft-max,--draft,--draft-n", f.draft_max,
                                     "tokens drafted per step at most (with -md or --self-spec)")
                          ->capture_default_str();
    f.draft_min_opt = app.add_option("--draft-min,--draft-n-min", f.draft_min,
                                     "a shorter draft is dropped and the step decodes one token")
                          ->capture_default_str();
    f.draft_p_min_opt = app.add_option("--draft-p-min", f.draft_p_min,
                                       "stop drafting at a token the drafter gives less than P (softmax of its "
                                       "logits; with -md or --self-spec)")
                            ->capture_default_str();
    f.lookup_opt = app.add_option("--lookup", f.lookup,
                   "speculative decoding without a draft model: draft up to N tokens that followed an earlier "
                   "occurrence of the last n-gram of the text");
    f.self_spec_opt = app.add_option("--self-spec", f.self_spec,
                   "self-speculative decoding: the model's first L layers with its final norm and head draft, the "
                   "whole model verifies, reusing the draft's K/V of layers < L");
}

void check_speculative_flags(const SpeculativeFlags& f, int64_t n_parallel, bool logits_out) {
    const auto given = [](const CLI::Option* o) { return o && o->count() > 0; };
    const bool lookup = given(f.lookup_opt) || f.lookup != 0, self_spec = given(f.self_spec_opt) || f.self_spec != 0;
    const int modes = (f.draft_model.empty() ? 0 : 1) + (lookup ? 1 : 0) + (self_spec ? 1 : 0);
    const bool max_set = given(f.draft_max_opt), min_set = given(f.draft_min_opt), p_min_set = given(f.draft_p_min_opt);
    if (modes == 0) {
        if (max_set || min_set || p_min_set)
            throw_usage("--draft-max, --draft-min and --draft-p-min need a drafting mode: -md DRAFT.gguf, --lookup N or "
                        "--self-spec L");
        return;
    }
    if (modes > 1) throw_usage("-md, --lookup and --self-spec are drafting modes: give one of them");
    if (n_parallel > 1)
        throw_usage("speculative decoding runs one sequence: leave out --parallel {} (or the drafting flag)", n_parallel);
    if (logits_out) throw_usage("--logits-out records plain decoding: leave out the drafting flag (or --logits-out)");
    if (lookup) {
        if (f.lookup < 1 || f.lookup > kDraftMaxLimit)
            throw_usage("--lookup {}: the draft length must be in 1 .. {}", f.lookup, kDraftMaxLimit);
        if (max_set) throw_usage("--lookup N sets the draft length: leave out --draft-max");
        if (p_min_set) throw_usage("--lookup drafts without probabilities: leave out --draft-p-min");
    } else if (f.draft_max < 1 || f.draft_max > kDraftMaxLimit) {
        throw_usage("--draft-max {}: the draft length must be in 1 .. {}", f.draft_max, kDraftMaxLimit);
    }
    if (f.draft_min < 0 || f.draft_min > f.n_draft())
        throw_usage("--draft-min {}: must be in 0 .. {} (the draft length)", f.draft_min, f.n_draft());
    if (!(f.draft_p_min >= 0.0f && f.draft_p_min <= 1.0f))
        throw_usage("--draft-p-min {}: must be in 0 .. 1 (0: off)", f.draft_p_min);
    if (self_spec && f.self_spec < 1)
        throw_usage("--self-spec {}: give a number of layers in 1 .. n_layer-1", f.self_spec);
    if (!f.draft_model.empty()) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(f.draft_model, ec))
            throw_usage("-md {}: no such file (give the draft model's GGUF file)", f.draft_model);
    }
}

DraftForGeneration load_draft(const SpeculativeFlags& f, const ModelForGeneration& target) {
    DraftForGeneration d;
    d.loaded = load_model(f.draft_model);
    const Hparams& dh = d.loaded.model->hparams();
    const Hparams& th = target.loaded.model->hparams();
    const std::string why = vocabulary_mismatch(*target.loaded.tokenizer, *d.loaded.tokenizer, th.n_vocab, dh.n_vocab);
    if (!why.empty()) throw_usage("-md {}: {}; the draft must share the target's vocabulary", f.draft_model, why);
    if (dh.n_ctx_train < target.context.n_ctx)
        throw_usage("-md {}: the draft model's context holds {} tokens, less than the target's -c {}: use -c {}",
                    f.draft_model, dh.n_ctx_train, target.context.n_ctx, dh.n_ctx_train);
    d.context = target.context;
    d.context.device = nullptr;  // the target's device holds the target's layers
    d.context.n_outputs = 1;
    return d;
}

std::string speculative_summary(const SpeculativeFlags& f, int64_t n_layer, const SpeculativeResult& r) {
    std::string mode;
    if (!f.draft_model.empty())
        mode = fmt::format("draft model '{}'", std::filesystem::path(f.draft_model).filename().string());
    else if (f.lookup != 0)
        mode = fmt::format("n-gram lookup, up to {}", counted(f.lookup, "token"));
    else
        mode = fmt::format("self-speculative, {} of {} layers draft", f.self_spec, n_layer);
    const SpeculativeStats& s = r.stats;
    const double tps = r.generation.timings.generation_tokens_per_second();
    const std::string speedup = s.plain_tokens > 0 && s.plain_tokens_per_second() > 0
                                    ? fmt::format("{:.2f}x", tps / s.plain_tokens_per_second())
                                    : std::string("n/a");
    return fmt::format(
        "qlm: speculative decoding ({}): {} drafted, {} accepted (acceptance {:.1f} %), {} target passes "
        "({:.2f} tokens per pass) | plain decoding of the target, timed after the generation on its first {}: "
        "{:.1f} tokens/s | speed-up {}\n",
        mode, s.drafted, s.accepted, 100.0 * s.acceptance(), s.steps,
        s.steps > 0 ? static_cast<double>(r.generation.timings.generated_tokens) / static_cast<double>(s.steps) : 0.0,
        counted(s.plain_tokens, "token"), s.plain_tokens_per_second(), speedup);
}

}  // namespace qlm::cli
