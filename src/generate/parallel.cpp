#include "src/generate/parallel.h"

#include <chrono>
#include <limits>
#include <optional>

#include "src/generate/stop_strings.h"
#include "src/util/error.h"
#include "src/util/utf8.h"

namespace qlm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// One sequence's part of the loop: what generate()'s loop keeps for its single sequence.
struct Sequence {
    Sequence(std::span<const int32_t> prompt, const GenerateOptions& opts) : filter(opts.stop) {
        history.assign(prompt.begin(), prompt.end());
    }
    std::vector<int32_t> history;  // prompt + generated: what the repetition penalties see
    StopStringFilter filter;
    Utf8Stream utf8;
    GenerateResult result;
    std::span<const float> logits;
    bool done = false;

    void emit(std::string_view bytes, bool last) {
        result.text += utf8.push(bytes);
        if (last) result.text += utf8.flush();
    }
    void stop(StopReason r) {
        done = true;
        result.stop_reason = r;
        if (r != StopReason::StopString) emit(filter.flush(), true);
    }
};

// With ignore_eos, end-of-generation tokens are never sampled (as in generate()).
std::span<const float> sampling_logits(std::span<const float> logits, const std::vector<int32_t>& end_ids,
                                       std::vector<float>& biased) {
    if (end_ids.empty()) return logits;
    biased.assign(logits.begin(), logits.end());
    for (int32_t id : end_ids) biased[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
    return biased;
}

}  // namespace

int64_t max_parallel_sequences(const KvLayout& kv, int64_t n_prompt) {
    return kv.n_blocks - (n_prompt + kv.block_size - 1) / kv.block_size;
}

ParallelResult generate_parallel(InferenceContext& ctx, const TokenDecoder& decoder, std::span<Sampler> samplers,
                                 std::span<const int32_t> prompt, const GenerateOptions& opts) {
    validate(opts);
    const auto n_seq = static_cast<int64_t>(samplers.size());
    const auto n_prompt = static_cast<int64_t>(prompt.size());
    if (prompt.empty()) throw_error("generate: the prompt has no tokens; give a non-empty prompt (or add BOS)");
    if (n_seq < 1) throw_error("generate: no sequences to generate");
    if (n_seq > ctx.n_seq_max() || n_seq > ctx.layout().n_outputs)
        throw_error("generate: {} sequences, but the context holds {} sequences and {} logits rows", n_seq,
                    ctx.n_seq_max(), ctx.layout().n_outputs);
    const KvLayout& kv = ctx.layout().kv;
    if (n_prompt >= ctx.n_ctx() || n_seq > max_parallel_sequences(kv, n_prompt))
        throw_error("{} sequences do not fit in the KV cache: after the prompt's {} tokens, {} of its {} blocks of {} "
                    "positions are left, one for each sequence's first token (use a larger context or at most {} "
                    "sequences)",
                    n_seq, n_prompt, std::max<int64_t>(0, max_parallel_sequences(kv, n_prompt)), kv.n_blocks,
                    kv.block_size, std::max<int64_t>(0, max_parallel_sequences(kv, n_prompt)));

    ParallelResult out;
    const Clock::time_point t0 = Clock::now();
    ctx.eval(prompt, false, 0);
    const std::vector<float> first(ctx.logits(0).begin(), ctx.logits(0).end());
    for (int32_t s = 1; s < n_seq; ++s) ctx.seq_cp(0, s);
    const Clock::time_point t_prefilled = Clock::now();
    out.timings.prompt_tokens = n_prompt;
    out.timings.prompt_seconds = seconds_between(t0, t_prefilled);

    std::vector<int32_t> end_ids;
    if (opts.ignore_eos)
        for (int32_t id = 0; id < static_cast<int32_t>(first.size()); ++id)
            if (decoder.is_end_of_generation(id)) end_ids.push_back(id);
    std::vector<Sequence> seqs;
    seqs.reserve(static_cast<size_t>(n_seq));
    for (int64_t s = 0; s < n_seq; ++s) {
        seqs.emplace_back(prompt, opts);
        seqs.back().logits = first;
    }
    auto reached_max = [&](const Sequence& q) {
        return opts.n_predict >= 0 && static_cast<int64_t>(q.result.tokens.size()) >= opts.n_predict;
    };
    std::vector<float> biased;
    Batch batch;
    for (;;) {
        const bool cancelled = opts.cancel && opts.cancel->load(std::memory_order_relaxed);
        batch.clear();
        int64_t blocks = 0;
        for (int32_t s = 0; s < n_seq; ++s) {
            Sequence& q = seqs[static_cast<size_t>(s)];
            if (q.done) continue;
            if (cancelled) {
                q.stop(StopReason::Cancelled);
                continue;
            }
            if (reached_max(q)) {
                q.stop(StopReason::MaxTokens);
                continue;
            }
            const int32_t token =
                samplers[static_cast<size_t>(s)].sample(sampling_logits(q.logits, end_ids, biased), q.history);
            if (!opts.ignore_eos && decoder.is_end_of_generation(token)) {
                q.result.end_token = token;
                q.stop(StopReason::EndOfGeneration);
                continue;
            }
            q.history.push_back(token);
            q.result.tokens.push_back(token);
            const std::string released = q.filter.push(decoder.token_to_piece(token));
            if (q.filter.stopped()) {
                q.emit(released, true);
                q.stop(StopReason::StopString);
                continue;
            }
            q.emit(released, false);
            if (reached_max(q)) {
                q.stop(StopReason::MaxTokens);
                continue;
            }
            // The sequences share the cache's blocks: one that finds none free stops as a full context would.
            const int64_t need = ctx.kv().blocks_needed(s, 1);
            if (ctx.n_pos(s) >= ctx.n_ctx() || blocks + need > ctx.kv().free_blocks()) {
                q.stop(StopReason::ContextFull);
                continue;
            }
            blocks += need;
            batch.add(token, ctx.n_pos(s), s, true);
        }
        if (batch.size() == 0) break;
        ctx.decode(batch);
        for (int64_t i = 0; i < batch.size(); ++i) {
            const int32_t s = batch.seq[static_cast<size_t>(i)];
            seqs[static_cast<size_t>(s)].logits = ctx.logits(i);
        }
    }
    for (Sequence& q : seqs) {
        out.timings.generated_tokens += static_cast<int64_t>(q.result.tokens.size());
        out.sequences.push_back(std::move(q.result));
    }
    out.timings.generation_seconds = seconds_between(t_prefilled, Clock::now());
    return out;
}

}  // namespace qlm
