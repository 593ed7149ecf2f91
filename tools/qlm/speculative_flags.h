// qlm run's speculative decoding flags (src/generate/speculative.h), as llama.cpp spells those it
// has: -md/--model-draft FILE, --draft-max N (--draft, --draft-n), --draft-min N (--draft-n-min),
// --draft-p-min P;
// and qlm's --lookup N (n-gram drafting) and --self-spec L (the target's first L layers draft).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "src/generate/speculative.h"
#include "tools/qlm/model_setup.h"

namespace qlm::cli {

constexpr int64_t kDraftMaxLimit = 128;  // the target keeps a logits row per drafted token

struct SpeculativeFlags {
    std::string draft_model;
    int64_t draft_max = 16;  // llama.cpp's default
    int64_t draft_min = 0;   // llama.cpp's default
    float draft_p_min = 0.0f;  // llama.cpp's default: off
    int64_t lookup = 0;      // 0: off
    int64_t self_spec = 0;   // 0: off
    CLI::Option* draft_max_opt = nullptr;
    CLI::Option* draft_min_opt = nullptr;
    CLI::Option* draft_p_min_opt = nullptr;
    CLI::Option* lookup_opt = nullptr;
    CLI::Option* self_spec_opt = nullptr;

    bool requested() const { return !draft_model.empty() || lookup != 0 || self_spec != 0; }
    int64_t n_draft() const { return lookup != 0 ? lookup : draft_max; }  // tokens drafted per step at most
    SpeculativeOptions options() const {
        return {.draft_max = n_draft(), .draft_min = draft_min, .draft_p_min = draft_p_min};
    }
};

void add_speculative_flags(CLI::App& app, SpeculativeFlags& f);

// The checks before any model is loaded (throws UsageError): one drafting mode at a time, values in
// range, --draft-max/--draft-min only with a mode that uses them, no --parallel or --logits-out,
// the draft file present.
void check_speculative_flags(const SpeculativeFlags& f, int64_t n_parallel, bool logits_out);

// The draft model (-md), loaded and checked against the target: the same vocabulary, and a context
// of the target's length (throws UsageError naming the limit).
struct DraftForGeneration {
    LoadedModel loaded;
    ContextOptions context;
};
DraftForGeneration load_draft(const SpeculativeFlags& f, const ModelForGeneration& target);

// "qlm: speculative decoding (draft model 'x'): ..." with the acceptance rate and the speed-up
// against plain decoding of the target (timed after the generation on the same text).
std::string speculative_summary(const SpeculativeFlags& f, int64_t n_layer, const SpeculativeResult& r);

}  // namespace qlm::cli
