// InferenceContext: resolves the options into a ContextLayout, allocates its buffers, checks a
// batch, and runs it as chunks of n_batch rows through forward_chunk (forward.h) after reserving
// each sequence's cache slots.
#include "src/model/context.h"

#include <algorithm>
#include <new>
#include <vector>

#include "quant/matmul.h"
#include "quant/thread_pool.h"
#include "src/model/cpu_ops.h"
#include "src/model/forward.h"
#include "src/model/layer_ops.h"
#include "src/model/memory_plan.h"
#include "src/model/weights.h"
#include "src/util/error.h"

namespace qlm {

InferenceContext::InferenceContext(const Model& model, const ContextOptions& opts)
    : model_(model), observer_(opts.matmul_observer) {
    const Hparams& hp = model.hparams();
    ContextOptions o = opts;
    o.n_ctx = resolve_context_size(hp, opts.n_ctx);
    const std::vector<MatmulGroup> groups = model.weights().matmul_groups();
    for (const MatmulGroup& g : groups)
        for (const WeightView& w : g) check_matmul_shape(w);
    layout_ = plan_context(hp, groups, o);
    if (const auto avail = available_memory_bytes()) check_context_fits(hp, groups, o, *avail);
    try {
        kv_ = std::make_unique<KvCache>(layout_.kv);
        buffers_ = std::make_unique<ForwardBuffers>(layout_);
        logits_.resize(static_cast<size_t>(layout_.n_outputs) * static_cast<size_t>(layout_.n_vocab));
        output_seq_.reserve(static_cast<size_t>(layout_.n_outputs));
        runs_.reserve(static_cast<size_t>(std::min(layout_.n_batch, layout_.kv.n_seq_max)));
        chunk_outputs_.reserve(static_cast<size_t>(std::min(layout_.n_batch, layout_.n_outputs)));
        seq_seen_.resize(static_cast<size_t>(layout_.kv.n_seq_max));
    } catch (const std::bad_alloc&) {
        throw_error("the buffers of a context of {} tokens ({} bytes) could not be allocated (use a smaller context "
                    "or batch)",
                    layout_.n_ctx, layout_.total_bytes);
    }
    pool_ = std::make_unique<ThreadPool>(layout_.n_threads);
    cpu_ops_ = std::make_unique<CpuOps>(model_, *kv_, *buffers_, *pool_, observer_);
    if (opts.device && observer_)
        throw_error("a matmul observer sees the CPU's layers only: run without a device ({}) to observe them",
                    opts.device->name());
    if (opts.device) device_ops_ = opts.device->make_ops(layout_, *kv_);
    layer_ops_.resize(static_cast<size_t>(hp.n_layer));
    for (int64_t l = 0; l < hp.n_layer; ++l)
        layer_ops_[static_cast<size_t>(l)] = device_ops_ && opts.device->runs_layer(l) ? device_ops_.get() : cpu_ops_.get();
    head_ops_ = device_ops_ && opts.device->runs_head() ? device_ops_.get() : cpu_ops_.get();
}

InferenceContext::~InferenceContext() = default;

std::string_view InferenceContext::layer_ops_name(int64_t layer) const {
    if (layer < 0 || layer >= static_cast<int64_t>(layer_ops_.size()))
        throw_error("layer {} requested, but the model has {} layers", layer, layer_ops_.size());
    return layer_ops_[static_cast<size_t>(layer)]->name();
}

std::string_view InferenceContext::head_ops_name() const { return head_ops_->name(); }

std::span<const float> InferenceContext::logits(int64_t i) const {
    if (i < 0 || i >= n_outputs_) throw_error("logits({}) requested, but only {} outputs exist", i, n_outputs_);
    const auto nv = static_cast<size_t>(model_.hparams().n_vocab);
    return {logits_.data() + static_cast<size_t>(i) * nv, nv};
}

std::span<const float> InferenceContext::seq_logits(int32_t seq) const {
    for (int64_t i = n_outputs_ - 1; i >= 0; --i)
        if (output_seq_[static_cast<size_t>(i)] == seq) return logits(i);
    throw_error("the last decode kept no logits for sequence {}", seq);
}

uint64_t InferenceContext::allocated_bytes() const {
    return kv_->bytes() + kv_->table_bytes() + buffers_->bytes() + logits_.capacity() * sizeof(float);
}

// Everything decode refuses, checked before the cache changes.
void InferenceContext::check_batch(const Batch& b) {
    const Hparams& hp = model_.hparams();
    const int64_t n = b.size();
    if (static_cast<int64_t>(b.pos.size()) != n || static_cast<int64_t>(b.seq.size()) != n ||
        static_cast<int64_t>(b.logits.size()) != n)
        throw_error("a batch's token, position, sequence and logits columns differ in length");
    std::fill(seq_seen_.begin(), seq_seen_.end(), 0);
    int64_t n_out = 0, blocks = 0;
    for (int64_t i = 0; i < n; ++i) {
        const auto iu = static_cast<size_t>(i);
        if (b.token[iu] < 0 || b.token[iu] >= hp.n_vocab)
            throw_error("token id {} at index {} is outside the vocabulary (0..{})", b.token[iu], i, hp.n_vocab - 1);
        const int32_t s = b.seq[iu];
        n_out += b.logits[iu] != 0;
        if (i > 0 && s == b.seq[iu - 1]) {
            if (b.pos[iu] != b.pos[iu - 1] + 1)
                throw_error("batch row {}: position {} of sequence {} does not follow position {}", i, b.pos[iu], s,
                            b.pos[iu - 1]);
            continue;
        }
        const int64_t start = kv_->n_pos(s);  // throws for an id out of range
        if (seq_seen_[static_cast<size_t>(s)])
            throw_error("batch row {}: the rows of sequence {} must be consecutive in a batch", i, s);
        seq_seen_[static_cast<size_t>(s)] = 1;
        if (b.pos[iu] != start)
            throw_error("batch row {}: sequence {} continues at position {}, not {}", i, s, start, b.pos[iu]);
        int64_t len = 1;
        while (i + len < n && b.seq[static_cast<size_t>(i + len)] == s) ++len;
        if (len > n_ctx() - start)
            throw_error("the context is full: sequence {} holds {} tokens, {} more do not fit in a context of {}", s,
                        start, len, n_ctx());
        blocks += kv_->blocks_needed(s, len);
    }
    if (n_out > layout_.n_outputs)
        throw_error("logits of {} rows were asked for, but the context keeps {} rows per decode (set "
                    "ContextOptions::n_outputs)",
                    n_out, layout_.n_outputs);
    if (blocks > kv_->free_blocks())
        throw_error("the KV cache is full: this batch needs {} more blocks of {} positions, {} of its {} are free "
                    "(use a larger context size -c, or fewer sequences)",
                    blocks, kv_->block_size(), kv_->free_blocks(), kv_->n_blocks());
}

// What decode refuses for a range that starts past layer 0: its rows rerun positions already held.
void InferenceContext::check_held_rows(const Batch& b, const LayerRange& range) {
    const int64_t n_layer = model_.hparams().n_layer;
    const int64_t end = range.end < 0 ? n_layer : range.end;
    if (range.begin < 0 || range.begin >= end || end > n_layer)
        throw_error("layers [{}, {}) are not a range of this model's {} layers", range.begin, end, n_layer);
    if (range.begin == 0) return;
    if (!range.hidden_in) throw_error("a decode from layer {} needs the rows' hidden states", range.begin);
    int64_t n_out = 0;
    for (int64_t i = 0; i < b.size(); ++i) {
        const auto iu = static_cast<size_t>(i);
        n_out += b.logits[iu] != 0;
        const bool continues = i > 0 && b.seq[iu] == b.seq[iu - 1];
        if (continues && b.pos[iu] != b.pos[iu - 1] + 1)
            throw_error("batch row {}: position {} of sequence {} does not follow position {}", i, b.pos[iu],
                        b.seq[iu], b.pos[iu - 1]);
        if (b.pos[iu] < 0 || b.pos[iu] >= kv_->n_pos(b.seq[iu]))
            throw_error("batch row {}: a decode from layer {} reruns held positions, and sequence {} holds {}, not "
                        "position {}",
                        i, range.begin, b.seq[iu], kv_->n_pos(b.seq[iu]), b.pos[iu]);
    }
    if (n_out > layout_.n_outputs)
        throw_error("logits of {} rows were asked for, but the context keeps {} rows per decode", n_out,
                    layout_.n_outputs);
}

void InferenceContext::decode(const Batch& b) { decode(b, LayerRange{}); }

void InferenceContext::decode(const Batch& b, const LayerRange& range) {
    n_outputs_ = 0;
    output_seq_.clear();
    if (b.size() == 0) return;
    check_held_rows(b, range);
    if (range.begin == 0) check_batch(b);
    const auto E = static_cast<size_t>(model_.hparams().n_embd);
    const OpsPlan plan{.layers = layer_ops_, .head = head_ops_};
    const auto nv = static_cast<size_t>(layout_.n_vocab);
    for (int64_t c0 = 0; c0 < b.size(); c0 += layout_.n_batch) {
        const int64_t n = std::min(layout_.n_batch, b.size() - c0);
        runs_.clear();
        chunk_outputs_.clear();
        for (int64_t r = 0; r < n; ++r) {
            const auto i = static_cast<size_t>(c0 + r);
            if (r == 0 || b.seq[i] != b.seq[i - 1]) runs_.push_back({.seq = b.seq[i], .row0 = r, .n = 0, .p0 = b.pos[i]});
            ++runs_.back().n;
            if (b.logits[i]) {
                chunk_outputs_.push_back(r);
                output_seq_.push_back(b.seq[i]);
            }
        }
        if (range.begin == 0)
            for (const SeqRun& run : runs_) kv_->reserve(run.seq, run.n);
        float* out = chunk_outputs_.empty() ? nullptr : logits_.data() + static_cast<size_t>(n_outputs_) * nv;
        const auto row0 = static_cast<size_t>(c0) * E;
        forward_chunk(model_, *buffers_, plan,
                      {.tokens = b.token.data() + c0, .pos = b.pos.data() + c0, .n = n, .runs = runs_,
                       .outputs = chunk_outputs_, .layer_begin = range.begin, .layer_end = range.end,
                       .hidden_in = range.hidden_in ? range.hidden_in + row0 : nullptr,
                       .hidden_out = range.hidden_out ? range.hidden_out + row0 : nullptr},
                      out);
        n_outputs_ += static_cast<int64_t>(chunk_outputs_.size());
    }
}

void InferenceContext::eval(std::span<const int32_t> tokens, bool all_logits, int32_t seq) {
    const int64_t p0 = n_pos(seq);
    const auto n = static_cast<int64_t>(tokens.size());
    one_seq_.clear();
    for (int64_t i = 0; i < n; ++i) one_seq_.add(tokens[static_cast<size_t>(i)], p0 + i, seq, all_logits || i == n - 1);
    decode(one_seq_);
}

}  // namespace qlm
