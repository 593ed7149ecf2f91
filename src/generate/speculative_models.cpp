#include "src/generate/speculative_models.h"

#include <fmt/format.h>

#include "src/generate/draft_lookup.h"
#include "src/util/error.h"

namespace qlm {

namespace {

void plain(InferenceContext& t, std::span<const int32_t> text, int64_t n_prompt, int64_t n) {
    t.seq_rm(0, n_prompt);
    for (int64_t j = 0; j < n; ++j) t.eval(text.subspan(static_cast<size_t>(n_prompt + j), 1), false);
}

// The target side shared by the drafters: one batch of the context's last token and the draft,
// logits for every row (self-speculation replaces the verifying pass with the layers above its
// draft's).
class TargetVerifier : public SpeculativeModel {
public:
    explicit TargetVerifier(InferenceContext& target) : t_(target) {}
    void prefill(std::span<const int32_t> prompt) override { t_.eval(prompt, false); }
    void verify(std::span<const int32_t> context, std::span<const int32_t> draft) override {
        const auto p0 = static_cast<int64_t>(context.size()) - 1;
        batch_.clear();
        batch_.add(context.back(), p0, 0, true);
        for (size_t i = 0; i < draft.size(); ++i) batch_.add(draft[i], p0 + 1 + static_cast<int64_t>(i), 0, true);
        t_.decode(batch_);
    }
    std::span<const float> logits(int64_t i) const override { return t_.logits(i); }
    void keep(int64_t n) override {
        if (t_.n_pos(0) > n) t_.seq_rm(0, n);
    }
    int64_t n_past() const override { return t_.n_pos(0); }
    int64_t n_ctx() const override { return t_.n_ctx(); }
    void decode_plain(std::span<const int32_t> text, int64_t n_prompt, int64_t n) override {
        plain(t_, text, n_prompt, n);
    }
    int64_t max_draft() const override { return t_.layout().n_outputs - 1; }

protected:
    InferenceContext& t_;
    Batch batch_;
};

class DraftModel final : public TargetVerifier {
public:
    DraftModel(InferenceContext& target, InferenceContext& draft) : TargetVerifier(target), d_(draft) {}
    void prefill(std::span<const int32_t> prompt) override {
        TargetVerifier::prefill(prompt);
        d_.eval(prompt, false);
    }
    void draft(std::span<const int32_t> context, int64_t n_max, DraftPicker& picker, Draft& out) override {
        // The draft's cache catches up with the context: the tokens emitted since it last drafted.
        auto held = static_cast<size_t>(d_.n_pos(0));
        if (held >= context.size()) {
            held = context.size() - 1;
            d_.seq_rm(0, static_cast<int64_t>(held));
        }
        d_.eval(context.subspan(held), false);
        history_.assign(context.begin(), context.end());
        for (int64_t j = 0; j < n_max; ++j) {
            out.q.emplace_back();
            const int32_t x = picker.pick(d_.logits(d_.n_outputs() - 1), history_, out.q.back());
            if (!picker.confident()) {
                out.q.pop_back();
                break;
            }
            out.tokens.push_back(x);
            history_.push_back(x);
            if (j + 1 < n_max) d_.eval(std::span<const int32_t>(&x, 1), false);
        }
    }
    void keep(int64_t n) override {
        TargetVerifier::keep(n);
        if (d_.n_pos(0) > n) d_.seq_rm(0, n);
    }

private:
    InferenceContext& d_;
    std::vector<int32_t> history_;
};

class Lookup final : public TargetVerifier {
public:
    using TargetVerifier::TargetVerifier;
    void draft(std::span<const int32_t> context, int64_t n_max, DraftPicker&, Draft& out) override {
        lookup_draft(context, n_max, out.tokens);
        out.q.resize(out.tokens.size());
        for (size_t i = 0; i < out.tokens.size(); ++i) out.q[i].set_point_mass(out.tokens[i]);
    }
};

class SelfSpeculation final : public TargetVerifier {
public:
    SelfSpeculation(InferenceContext& ctx, int64_t n_draft_layers)
        : TargetVerifier(ctx), L_(n_draft_layers), E_(ctx.model().hparams().n_embd),
          hidden_(static_cast<size_t>(ctx.layout().n_outputs * E_)) {}

    // Each row runs layers [0, L) alone, as a plain decode step would, and leaves its state after
    // layer L-1 in hidden_; the last draft token gets its pass too, without logits, so that every
    // row the verifying pass takes has its state.
    void draft(std::span<const int32_t> context, int64_t n_max, DraftPicker& picker, Draft& out) override {
        const auto p0 = static_cast<int64_t>(context.size()) - 1;
        history_.assign(context.begin(), context.end());
        int32_t token = context.back();
        for (int64_t j = 0; j <= n_max; ++j) {
            one_.clear();
            one_.add(token, p0 + j, 0, j < n_max);
            t_.decode(one_, {.begin = 0, .end = L_, .hidden_out = hidden_.data() + j * E_});
            lower_rows_ = j + 1;
            if (j == n_max) break;
            out.q.emplace_back();
            token = picker.pick(t_.logits(0), history_, out.q.back());
            if (!picker.confident()) {
                out.q.pop_back();
                break;
            }
            out.tokens.push_back(token);
            history_.push_back(token);
        }
    }

    void verify(std::span<const int32_t> context, std::span<const int32_t> draft) override {
        const auto p0 = static_cast<int64_t>(context.size()) - 1;
        const auto k = static_cast<int64_t>(draft.size());
        batch_.clear();
        batch_.add(context.back(), p0, 0, true);
        for (int64_t i = 0; i < k; ++i) batch_.add(draft[static_cast<size_t>(i)], p0 + 1 + i, 0, true);
        if (lower_rows_ < k + 1) {  // nothing drafted this step: a plain pass
            t_.decode(batch_);
        } else {
            if (t_.n_pos(0) > p0 + k + 1) t_.seq_rm(0, p0 + k + 1);  // a draft dropped after its passes
            t_.decode(batch_, {.begin = L_, .hidden_in = hidden_.data()});
        }
        lower_rows_ = 0;
    }

private:
    int64_t L_, E_;
    std::vector<float> hidden_;  // a row per position of the step: the state after layer L-1
    int64_t lower_rows_ = 0;     // rows of this step whose layers [0, L) have run
    std::vector<int32_t> history_;
    Batch one_;
};

}  // namespace

std::unique_ptr<SpeculativeModel> draft_model_speculation(InferenceContext& target, InferenceContext& draft) {
    return std::make_unique<DraftModel>(target, draft);
}

std::unique_ptr<SpeculativeModel> lookup_speculation(InferenceContext& target) {
    return std::make_unique<Lookup>(target);
}

std::unique_ptr<SpeculativeModel> self_speculation(InferenceContext& target, int64_t n_draft_layers) {
    const Hparams& hp = target.model().hparams();
    if (n_draft_layers < 1 || n_draft_layers > hp.n_layer - 1)
        throw_error("--self-spec {} is out of range: this model has {} layers, draft with 1 .. {} of them",
                    n_draft_layers, hp.n_layer, hp.n_layer - 1);
    if (hp.has_swa())
        throw_error("--self-spec: {} has sliding-window layers, whose cache keeps only the newest window; use -md or "
                    "--lookup with it",
                    hp.arch);
    return std::make_unique<SelfSpeculation>(target, n_draft_layers);
}

std::string vocabulary_mismatch(const Tokenizer& target, const Tokenizer& draft, int64_t target_n_vocab,
                                int64_t draft_n_vocab) {
    if (target_n_vocab != draft_n_vocab || target.n_vocab() != draft.n_vocab())
        return fmt::format("the draft model's vocabulary has {} tokens, the target's {}", draft_n_vocab, target_n_vocab);
    for (int32_t id = 0; id < static_cast<int32_t>(target.n_vocab()); ++id)
        if (target.token_text(id) != draft.token_text(id))
            return fmt::format("token {} is '{}' in the draft model's vocabulary but '{}' in the target's", id,
                               draft.token_text(id), target.token_text(id));
    return {};
}

}  // namespace qlm
