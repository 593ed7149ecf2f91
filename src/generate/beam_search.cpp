#include "src/generate/beam_search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include "src/generate/parallel.h"
#include "src/sampling/sampler_stages.h"
#include "src/util/error.h"
#include "src/util/utf8.h"

namespace qlm {

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// A live beam: the sequence slot that holds its cache, its tokens and their raw bytes, its sum of
// log-probs, and the logits after its last token (valid until the next decode).
struct Beam {
    int32_t slot = 0;
    int32_t parent = -1;  // while the next beams are chosen: the live beam each continues
    std::vector<int32_t> tokens;
    std::string raw;
    double score = 0.0;
    std::span<const float> logits;
};

struct Candidate {
    double score;
    int32_t beam;   // index into the live beams
    int32_t token;
};

// Ranking order: higher score, then lower beam, then lower token.
bool ranks_before(const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.beam != b.beam) return a.beam < b.beam;
    return a.token < b.token;
}

// log_softmax of the raw logits, in double; NaN counts as -inf.
void log_softmax(std::span<const float> logits, std::vector<double>& out) {
    out.resize(logits.size());
    double mx = kNegInf;
    for (float x : logits)
        if (!std::isnan(x)) mx = std::max(mx, double{x});
    if (!std::isfinite(mx)) {  // nothing finite (or +inf): no candidate is usable
        std::fill(out.begin(), out.end(), kNegInf);
        return;
    }
    double sum = 0.0;
    for (float x : logits)
        if (!std::isnan(x)) sum += std::exp(double{x} - mx);
    const double log_sum = std::log(sum);
    for (size_t i = 0; i < logits.size(); ++i)
        out[i] = std::isnan(logits[i]) ? kNegInf : double{logits[i]} - mx - log_sum;
}

// Where a stop string begins in raw + piece when one ends inside piece (an earlier one would have
// ended the hypothesis before).
std::optional<size_t> stop_position(const std::string& raw, const std::string& piece,
                                    const std::vector<std::string>& stops) {
    if (stops.empty() || piece.empty()) return std::nullopt;
    const std::string text = raw + piece;
    std::optional<size_t> first;
    for (const std::string& s : stops) {
        const size_t from = raw.size() + 1 > s.size() ? raw.size() + 1 - s.size() : 0;
        const size_t at = text.find(s, from);
        if (at != std::string::npos && (!first || at < *first)) first = at;
    }
    return first;
}

std::string valid_text(const std::string& raw) {
    Utf8Stream u;
    std::string t = u.push(raw);
    return t + u.flush();
}

// One search: the live beams, the finished list and the context they run on.
class Search {
public:
    Search(InferenceContext& ctx, const TokenDecoder& decoder, std::span<const int32_t> prompt, const BeamParams& p,
           const GenerateOptions& opts)
        : ctx_(ctx), decoder_(decoder), prompt_(prompt), p_(p), opts_(opts),
          finished_(p.n_beams, p.length_penalty, p.early_stopping) {}

    BeamResult run();

private:
    struct Child {
        int32_t parent;
        int32_t token;
        double score;
        std::string raw;
    };
    void find_end_tokens(int64_t n_vocab);
    void rank_candidates();
    std::vector<Child> choose(int64_t step, std::optional<StopReason> last);
    std::optional<StopReason> last_step(int64_t step) const;
    std::vector<Beam> grow(std::vector<Child>& children) const;
    void place(std::vector<Beam>& next);
    void decode(std::vector<Beam>& beams);

    InferenceContext& ctx_;
    const TokenDecoder& decoder_;
    std::span<const int32_t> prompt_;
    const BeamParams& p_;
    const GenerateOptions& opts_;
    FinishedHypotheses finished_;
    std::vector<int32_t> end_ids_;  // end-of-generation tokens
    size_t n_keep_ = 0;             // candidates ranked per step: max(2, 1 + E)·K
    std::vector<Beam> live_;
    std::vector<Candidate> ranked_, own_;
    std::vector<double> logprobs_;
    std::vector<int32_t> history_;
    Batch batch_;
    BeamResult out_;
};

void Search::find_end_tokens(int64_t n_vocab) {
    for (int32_t id = 0; id < n_vocab; ++id)
        if (decoder_.is_end_of_generation(id)) end_ids_.push_back(id);
    // With ignore_eos they are banned: transformers without an end token ranks 2K candidates.
    const size_t n_end = opts_.ignore_eos ? 0 : end_ids_.size();
    n_keep_ = std::max<size_t>(2, 1 + n_end) * static_cast<size_t>(p_.n_beams);
}

// The best n_keep_ candidates of all live beams, in ranking order, into ranked_.
void Search::rank_candidates() {
    ranked_.clear();
    for (size_t b = 0; b < live_.size(); ++b) {
        const Beam& beam = live_[b];
        log_softmax(beam.logits, logprobs_);
        if (p_.no_repeat_ngram > 0) {
            history_.assign(prompt_.begin(), prompt_.end());
            history_.insert(history_.end(), beam.tokens.begin(), beam.tokens.end());
            for (int32_t id : repeated_ngram_tokens(history_, p_.no_repeat_ngram))
                logprobs_[static_cast<size_t>(id)] = kNegInf;
        }
        if (opts_.ignore_eos)
            for (int32_t id : end_ids_) logprobs_[static_cast<size_t>(id)] = kNegInf;
        own_.clear();
        for (size_t t = 0; t < logprobs_.size(); ++t)
            if (logprobs_[t] != kNegInf)
                own_.push_back({beam.score + logprobs_[t], static_cast<int32_t>(b), static_cast<int32_t>(t)});
        // The global best n_keep_ hold at most n_keep_ of one beam.
        const size_t keep = std::min(n_keep_, own_.size());
        std::partial_sort(own_.begin(), own_.begin() + static_cast<std::ptrdiff_t>(keep), own_.end(), ranks_before);
        ranked_.insert(ranked_.end(), own_.begin(), own_.begin() + static_cast<std::ptrdiff_t>(keep));
    }
    const size_t keep = std::min(n_keep_, ranked_.size());
    std::partial_sort(ranked_.begin(), ranked_.begin() + static_cast<std::ptrdiff_t>(keep), ranked_.end(),
                      ranks_before);
    ranked_.resize(keep);
}

// Down the ranking: a candidate that ends the text (end token, stop string), or any candidate on
// the last step (`last`: the reason the search ends there), joins the finished list when its rank
// is below K; the others become the next beams, until K of them.
std::vector<Search::Child> Search::choose(int64_t step, std::optional<StopReason> last) {
    const auto k = static_cast<size_t>(p_.n_beams);
    std::vector<Child> children;
    for (size_t rank = 0; rank < ranked_.size() && children.size() < k; ++rank) {
        const Candidate& c = ranked_[rank];
        const Beam& parent = live_[static_cast<size_t>(c.beam)];
        const bool is_end = !opts_.ignore_eos && decoder_.is_end_of_generation(c.token);
        const std::string piece = is_end ? std::string() : decoder_.token_to_piece(c.token);
        const std::optional<size_t> stop = stop_position(parent.raw, piece, opts_.stop);
        if (!is_end && !stop && !last) {
            children.push_back({c.beam, c.token, c.score, parent.raw + piece});
            continue;
        }
        if (rank >= k) {
            if (last) break;
            continue;
        }
        BeamHypothesis h;
        h.tokens = parent.tokens;
        h.sum_logprob = c.score;
        h.length = step;
        if (is_end) {
            h.stop_reason = StopReason::EndOfGeneration;
            h.end_token = c.token;
            h.text = valid_text(parent.raw);
        } else {
            h.tokens.push_back(c.token);
            h.stop_reason = stop ? StopReason::StopString : *last;
            h.text = valid_text(stop ? (parent.raw + piece).substr(0, *stop) : parent.raw + piece);
        }
        finished_.add(std::move(h));
    }
    return children;
}

// Why step `step` is the last, if it is: cancelled, n_predict reached, or the cache may not hold
// the next decode (a position past n_ctx, or fewer free blocks than beams: each beam's new token
// takes at most one block, a new one or a copy of a shared one).
std::optional<StopReason> Search::last_step(int64_t step) const {
    if (opts_.cancel && opts_.cancel->load(std::memory_order_relaxed)) return StopReason::Cancelled;
    if (opts_.n_predict > 0 && step >= opts_.n_predict) return StopReason::MaxTokens;
    const int64_t n_pos = static_cast<int64_t>(prompt_.size()) + step - 1;  // where this step's tokens go
    if (n_pos >= ctx_.n_ctx() || ctx_.kv().free_blocks() < p_.n_beams) return StopReason::ContextFull;
    return std::nullopt;
}

// The children as beams (slot -1: not placed yet).
std::vector<Beam> Search::grow(std::vector<Child>& children) const {
    std::vector<Beam> next(children.size());
    for (size_t j = 0; j < children.size(); ++j) {
        const Beam& parent = live_[static_cast<size_t>(children[j].parent)];
        next[j].slot = -1;
        next[j].parent = children[j].parent;
        next[j].tokens = parent.tokens;
        next[j].tokens.push_back(children[j].token);
        next[j].raw = std::move(children[j].raw);
        next[j].score = children[j].score;
    }
    return next;
}

// The new beams into sequence slots: a parent's first child keeps its slot, the others are forked
// into slots whose beams had no child (never a parent's, so no source is overwritten before it is
// copied); slots left over are emptied.
void Search::place(std::vector<Beam>& next) {
    const auto n_slots = static_cast<size_t>(p_.n_beams);
    std::vector<uint8_t> taken(n_slots, 0);
    for (Beam& b : next) {
        const auto parent_slot = static_cast<size_t>(live_[static_cast<size_t>(b.parent)].slot);
        if (!taken[parent_slot]) b.slot = static_cast<int32_t>(parent_slot);
        taken[parent_slot] = 1;
    }
    size_t free_slot = 0;
    for (Beam& b : next) {
        if (b.slot >= 0) continue;
        while (taken[free_slot]) ++free_slot;
        taken[free_slot] = 1;
        b.slot = static_cast<int32_t>(free_slot);
        ctx_.seq_cp(live_[static_cast<size_t>(b.parent)].slot, b.slot);
        ++out_.forks;
    }
    for (size_t s = 0; s < n_slots; ++s)
        if (!taken[s] && ctx_.n_pos(static_cast<int32_t>(s)) > 0) ctx_.seq_rm(static_cast<int32_t>(s), 0);
}

// All beams' new tokens in one batch; each beam's logits are its row's.
void Search::decode(std::vector<Beam>& beams) {
    batch_.clear();
    for (const Beam& b : beams) batch_.add(b.tokens.back(), ctx_.n_pos(b.slot), b.slot, true);
    ctx_.decode(batch_);
    for (size_t i = 0; i < beams.size(); ++i) beams[i].logits = ctx_.logits(static_cast<int64_t>(i));
    out_.timings.generated_tokens += batch_.size();
}

BeamResult Search::run() {
    const Clock::time_point t0 = Clock::now();
    ctx_.eval(prompt_, false, 0);
    const Clock::time_point t_prefilled = Clock::now();
    out_.timings.prompt_tokens = static_cast<int64_t>(prompt_.size());
    out_.timings.prompt_seconds = seconds_between(t0, t_prefilled);
    find_end_tokens(ctx_.model().hparams().n_vocab);
    live_.assign(1, Beam{});
    live_[0].logits = ctx_.logits(0);
    if (opts_.n_predict == 0) {
        finished_.add(BeamHypothesis{});
        out_.search_end = StopReason::MaxTokens;
    }
    for (int64_t step = 1; opts_.n_predict != 0; ++step) {
        const std::optional<StopReason> last = last_step(step);
        rank_candidates();
        std::vector<Child> children = choose(step, last);
        out_.steps = step;
        if (last) {
            out_.search_end = *last;
            break;
        }
        // Done: no live beam left, or K finished and the best live beam's score at this length
        // cannot beat the worst of them (or K finished, with early stopping).
        if (children.empty() || finished_.is_done(children.front().score, step)) break;
        std::vector<Beam> next = grow(children);
        place(next);
        decode(next);
        live_ = std::move(next);
    }
    out_.timings.generation_seconds = seconds_between(t_prefilled, Clock::now());
    out_.hypotheses = finished_.best_first();
    for (const BeamHypothesis& h : out_.hypotheses) out_.n_finished += h.finished() ? 1 : 0;
    return std::move(out_);
}

}  // namespace

void validate(const BeamParams& p) {
    if (p.n_beams < 1) throw_error("--beams {}: the number of beams must be at least 1", p.n_beams);
    if (!std::isfinite(p.length_penalty))
        throw_error("--length-penalty {}: give a finite number (1 divides by the length, 0 not at all)",
                    p.length_penalty);
    if (p.no_repeat_ngram < 0)
        throw_error("--no-repeat-ngram {}: give an n-gram size >= 0 (0 = off)", p.no_repeat_ngram);
}

FinishedHypotheses::FinishedHypotheses(int32_t n_beams, float length_penalty, bool early_stopping)
    : n_beams_(n_beams), length_penalty_(length_penalty), early_stopping_(early_stopping) {}

double FinishedHypotheses::score(double sum_logprob, int64_t length) const {
    if (length <= 0) return sum_logprob;
    return sum_logprob / std::pow(static_cast<double>(length), static_cast<double>(length_penalty_));
}

void FinishedHypotheses::add(BeamHypothesis h) {
    h.score = score(h.sum_logprob, h.length);
    if (size() >= n_beams_ && !(h.score > worst_)) return;
    const double s = h.score;
    kept_.push_back(std::move(h));
    if (size() > n_beams_) {
        size_t worst = 0;  // the earliest added among the lowest
        for (size_t i = 1; i < kept_.size(); ++i)
            if (kept_[i].score < kept_[worst].score) worst = i;
        kept_.erase(kept_.begin() + static_cast<std::ptrdiff_t>(worst));
        worst_ = kept_.front().score;
        for (const BeamHypothesis& k : kept_) worst_ = std::min(worst_, k.score);
    } else {
        worst_ = std::min(worst_, s);
    }
}

bool FinishedHypotheses::is_done(double best_sum_logprob, int64_t length) const {
    if (size() < n_beams_) return false;
    if (early_stopping_) return true;
    return worst_ >= score(best_sum_logprob, length);
}

std::vector<BeamHypothesis> FinishedHypotheses::best_first() const {
    std::vector<BeamHypothesis> out = kept_;
    std::stable_sort(out.begin(), out.end(),
                     [](const BeamHypothesis& a, const BeamHypothesis& b) { return a.score < b.score; });
    std::reverse(out.begin(), out.end());
    return out;
}

int64_t max_beams(const KvLayout& kv, int64_t n_prompt) { return max_parallel_sequences(kv, n_prompt); }

BeamResult beam_search(InferenceContext& ctx, const TokenDecoder& decoder, std::span<const int32_t> prompt,
                       const BeamParams& params, const GenerateOptions& opts) {
    validate(params);
    validate(opts);
    const auto n_prompt = static_cast<int64_t>(prompt.size());
    const int64_t k = params.n_beams;
    if (prompt.empty()) throw_error("generate: the prompt has no tokens; give a non-empty prompt (or add BOS)");
    if (k > ctx.n_seq_max() || k > ctx.layout().n_outputs)
        throw_error("beam search: {} beams, but the context holds {} sequences and {} logits rows", k,
                    ctx.n_seq_max(), ctx.layout().n_outputs);
    const KvLayout& kv = ctx.layout().kv;
    const int64_t fit = std::max<int64_t>(0, max_beams(kv, n_prompt));
    if (n_prompt >= ctx.n_ctx() || k > fit)
        throw_error("{} beams do not fit in the KV cache: after the prompt's {} tokens, {} of its {} blocks of {} "
                    "positions are left, one for each beam's first token (use a larger context or at most {} beams)",
                    k, n_prompt, fit, kv.n_blocks, kv.block_size, fit);
    if (ctx.n_pos(0) != 0) throw_error("beam search: the context must be empty");
    Search search(ctx, decoder, prompt, params, opts);
    return search.run();
}

}  // namespace qlm
