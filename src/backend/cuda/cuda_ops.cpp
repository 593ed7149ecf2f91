#include "src/backend/cuda/cuda_ops.h"

#include <algorithm>
#include <bit>

#include "src/model/kv_cache.h"
#include "src/util/error.h"

namespace qlm::cuda {
namespace {

template <class T>
DeviceBuffer array(int64_t n, std::string_view what) {
    return DeviceBuffer(static_cast<size_t>(std::max<int64_t>(n, 0)) * sizeof(T), what);
}

template <class T>
void put(const DeviceBuffer& dst, const T* src, int64_t n, cudaStream_t s) {
    if (n > 0)
        check(cudaMemcpyAsync(dst.as<void>(), src, static_cast<size_t>(n) * sizeof(T), cudaMemcpyHostToDevice, s),
              "copying a chunk's rows to the device");
}

}  // namespace

CudaOps::CudaOps(const Model& model, const DeviceWeights& weights, const std::vector<bool>& on_device, bool head,
                 const ContextLayout& l, KvCache& kv)
    : model_(model), w_(weights), kv_(kv) {
    if (l.kv.type == KvType::Q8_0)
        throw_error("the CUDA backend keeps its KV cache in f16 or f32, not q8_0: use --kv-type f16 (or -ngl 0)");
    const char* what = "allocating the activations";
    const int64_t B = l.n_batch;
    x_ = array<float>(B * l.n_embd, what), xn_ = array<float>(B * l.n_embd, what), tmp_ = array<float>(B * l.n_embd, what);
    q_ = array<float>(B * l.q_dim, what), attn_ = array<float>(B * l.q_dim, what);
    k_ = array<float>(B * l.kv_dim, what), v_ = array<float>(B * l.kv_dim, what);
    gate_ = array<float>(l.ffn_rows * l.n_ff, what), up_ = array<float>(l.ffn_rows * l.n_ff, what);
    rope_cs_ = array<float>(B * l.n_rot, what);
    if (head) logits_ = array<float>(std::min(B, l.n_outputs) * l.n_vocab, "allocating the logits");
    slots_ = array<int64_t>(B, what), pos_ = array<int64_t>(B, what), table_at_ = array<int64_t>(B, what);
    out_rows_ = array<int64_t>(B, what);
    table_capacity_ = std::min(B, l.kv.n_seq_max) * ((l.n_ctx + l.kv.block_size - 1) / l.kv.block_size + 1);
    tables_ = array<int32_t>(table_capacity_, what);
    h_slots_.resize(static_cast<size_t>(B)), h_pos_.resize(static_cast<size_t>(B));
    h_table_at_.resize(static_cast<size_t>(B)), h_out_rows_.resize(static_cast<size_t>(B));
    h_tables_.reserve(static_cast<size_t>(table_capacity_));

    const int64_t n_layer = model.hparams().n_layer;
    block_bytes_ = l.kv.block_bytes;
    kv_k_.resize(static_cast<size_t>(n_layer)), kv_v_.resize(static_cast<size_t>(n_layer));
    kv_layer_.resize(static_cast<size_t>(n_layer));
    for (int64_t i = 0; i < n_layer; ++i) {
        const auto u = static_cast<size_t>(i);
        if (!on_device[u]) continue;
        const size_t bytes = static_cast<size_t>(l.kv.pool_blocks(i)) * l.kv.block_bytes;
        kv_k_[u] = DeviceBuffer(bytes, "allocating the KV cache");
        kv_v_[u] = DeviceBuffer(bytes, "allocating the KV cache");
        kv_layer_[u] = {.k = kv_k_[u].as<uint8_t>(), .v = kv_v_[u].as<uint8_t>(), .f16 = l.kv.type == KvType::F16,
                        .row_values = l.kv_dim};
    }
    kv_.clear_block_copies();
    kv_.log_block_copies(true);
}

CudaOps::~CudaOps() {
    kv_.log_block_copies(false);
    kv_.clear_block_copies();
}

void CudaOps::copy_blocks() {
    const KvLayout& l = kv_.layout();
    for (const KvBlockCopy& c : kv_.block_copies())
        for (int64_t i = 0; i < l.n_layer; ++i) {
            const auto u = static_cast<size_t>(i);
            if (!kv_layer_[u].k || l.slides(i) != c.sliding) continue;
            const uint64_t from = static_cast<uint64_t>(c.from) * block_bytes_, to = static_cast<uint64_t>(c.to) * block_bytes_;
            for (uint8_t* base : {kv_layer_[u].k, kv_layer_[u].v})
                check(cudaMemcpyAsync(base + to, base + from, block_bytes_, cudaMemcpyDeviceToDevice, stream_.get()),
                      "copying a shared KV block");
        }
    kv_.clear_block_copies();
}

void CudaOps::upload_rows(const ChunkInput& chunk) {
    const int shift = std::countr_zero(static_cast<uint64_t>(kv_.block_size()));
    const int64_t mask = kv_.block_size() - 1;
    h_tables_.clear();
    for (const SeqRun& r : chunk.runs) {
        const std::span<const int32_t> table = kv_.table(r.seq, false);
        const auto at = static_cast<int64_t>(h_tables_.size());
        const int64_t blocks = ((r.p0 + r.n - 1) >> shift) + 1;
        h_tables_.insert(h_tables_.end(), table.begin(), table.begin() + blocks);
        for (int64_t i = 0; i < r.n; ++i) {
            const auto t = static_cast<size_t>(r.row0 + i);
            const int64_t p = r.p0 + i;
            h_pos_[t] = p;
            h_table_at_[t] = at;
            h_slots_[t] = (static_cast<int64_t>(table[static_cast<size_t>(p >> shift)]) << shift) | (p & mask);
        }
    }
    std::copy(chunk.outputs.begin(), chunk.outputs.end(), h_out_rows_.begin());
    const cudaStream_t s = stream_.get();
    put(slots_, h_slots_.data(), n_, s);
    put(pos_, h_pos_.data(), n_, s);
    put(table_at_, h_table_at_.data(), n_, s);
    put(tables_, h_tables_.data(), static_cast<int64_t>(h_tables_.size()), s);
    put(out_rows_, h_out_rows_.data(), static_cast<int64_t>(chunk.outputs.size()), s);
}

void CudaOps::enter(const ChunkInput& chunk, ForwardBuffers& host) {
    const Hparams& hp = model_.hparams();
    chunk_ = &chunk;
    n_ = chunk.n;
    copy_blocks();
    put(x_, host.x.data(), n_ * hp.n_embd, stream_.get());
    put(rope_cs_, host.rope_cs.data(), n_ * hp.n_rot, stream_.get());  // the global layers' table
    upload_rows(chunk);
}

void CudaOps::to_host(ForwardBuffers& host) {
    const size_t bytes = static_cast<size_t>(n_ * model_.hparams().n_embd) * sizeof(float);
    check(cudaMemcpyAsync(host.x.data(), x_.as<void>(), bytes, cudaMemcpyDeviceToHost, stream_.get()),
          "copying the rows' state to the host");
    stream_.sync("a layer's ops");
}

void CudaOps::mv(const DevMatrix& w, const float* x, float* y, int64_t n_tokens) {
    check(matvec(w.type, w.data, w.row_bytes, w.rows, w.cols, x, w.cols, y, w.rows, n_tokens, stream_.get()),
          "a matrix product");
}

void CudaOps::attention_norm(int64_t layer) {
    const Hparams& hp = model_.hparams();
    check(rmsnorm(x_.as<float>(), w_.layer(layer).attn_norm, xn_.as<float>(), n_, hp.n_embd, hp.rms_eps, stream_.get()),
          "rmsnorm");
}

void CudaOps::matmul(int64_t layer, LayerMatmul m) {
    const DevLayer& d = w_.layer(layer);
    switch (m) {
        case LayerMatmul::Qkv:
            mv(d.wq, xn_.as<float>(), q_.as<float>(), n_);
            mv(d.wk, xn_.as<float>(), k_.as<float>(), n_);
            mv(d.wv, xn_.as<float>(), v_.as<float>(), n_);
            break;
        case LayerMatmul::O: mv(d.wo, attn_.as<float>(), tmp_.as<float>(), n_); break;
        case LayerMatmul::GateUp:
            mv(d.gate, xn_.as<float>(), gate_.as<float>(), n_);
            mv(d.up, xn_.as<float>(), up_.as<float>(), n_);
            break;
        case LayerMatmul::Down: mv(d.down, gate_.as<float>(), tmp_.as<float>(), n_); break;
    }
}

void CudaOps::prepare_qkv(int64_t layer) {
    const Hparams& hp = model_.hparams();
    const DevLayer& d = w_.layer(layer);
    const cudaStream_t s = stream_.get();
    const int64_t hd = hp.head_dim, QD = hp.n_head * hd, KVD = hp.n_head_kv * hd;
    const bool neox = hp.rope_style == RopeStyle::Neox;
    float *q = q_.as<float>(), *k = k_.as<float>();
    if (d.bq) check(add_bias(q, d.bq, n_, QD, s), "q bias");
    if (d.bk) check(add_bias(k, d.bk, n_, KVD, s), "k bias");
    if (d.bv) check(add_bias(v_.as<float>(), d.bv, n_, KVD, s), "v bias");
    if (d.q_norm) check(rmsnorm(q, d.q_norm, q, n_ * hp.n_head, hd, hp.rms_eps, s), "q norm");
    if (d.k_norm) check(rmsnorm(k, d.k_norm, k, n_ * hp.n_head_kv, hd, hp.rms_eps, s), "k norm");
    check(rope(q, QD, rope_cs_.as<float>(), n_, hp.n_head, hd, hp.n_rot, neox, s), "RoPE");
    check(rope(k, KVD, rope_cs_.as<float>(), n_, hp.n_head_kv, hd, hp.n_rot, neox, s), "RoPE");
    if (hp.scale_q) check(scale(q, hp.attn_scale, n_ * QD, s), "q scale");
}

void CudaOps::store_kv(int64_t layer) {
    check(kv_store(kv_layer_[static_cast<size_t>(layer)], k_.as<float>(), v_.as<float>(), slots_.as<int64_t>(), n_,
                   stream_.get()),
          "storing K and V");
}

void CudaOps::attention(int64_t layer) {
    const Hparams& hp = model_.hparams();
    const DevAttentionRows rows{.pos = pos_.as<int64_t>(), .table_at = table_at_.as<int64_t>(),
                                .tables = tables_.as<int32_t>(), .n = n_,
                                .block_shift = std::countr_zero(static_cast<uint64_t>(kv_.block_size()))};
    check(cuda::attention(kv_layer_[static_cast<size_t>(layer)], rows, q_.as<float>(), attn_.as<float>(), hp.n_head,
                          hp.n_head_kv, hp.head_dim, hp.scale_q ? 1.f : hp.kq_scale(), stream_.get()),
          "attention");
}

void CudaOps::attention_residual(int64_t layer) {
    const Hparams& hp = model_.hparams();
    const DevLayer& d = w_.layer(layer);
    const cudaStream_t s = stream_.get();
    const int64_t E = hp.n_embd;
    float *x = x_.as<float>(), *tmp = tmp_.as<float>();
    if (d.bo) check(add_bias(tmp, d.bo, n_, E, s), "o bias");
    if (d.post_attn_norm) check(rmsnorm(tmp, d.post_attn_norm, tmp, n_, E, hp.rms_eps, s), "post-attention norm");
    check(add(x, tmp, n_ * E, s), "residual");
    check(rmsnorm(x, d.ffn_norm, xn_.as<float>(), n_, E, hp.rms_eps, s), "rmsnorm");
}

void CudaOps::ffn_activation(int64_t) {
    check(swiglu(gate_.as<float>(), up_.as<float>(), n_ * model_.hparams().n_ff, stream_.get()), "SwiGLU");
}

void CudaOps::ffn_residual(int64_t layer) {
    const Hparams& hp = model_.hparams();
    const DevLayer& d = w_.layer(layer);
    const cudaStream_t s = stream_.get();
    float* tmp = tmp_.as<float>();
    if (d.post_ffn_norm) check(rmsnorm(tmp, d.post_ffn_norm, tmp, n_, hp.n_embd, hp.rms_eps, s), "post-FFN norm");
    check(add(x_.as<float>(), tmp, n_ * hp.n_embd, s), "residual");
}

void CudaOps::moe_ffn(int64_t layer) {
    // layer_gap keeps these layers on the CPU: reaching here is a placement error.
    throw_error("CUDA: layer {} has a mixture-of-experts feed-forward, which the CUDA backend cannot run", layer);
}

void CudaOps::output(float* logits_host) {
    const Hparams& hp = model_.hparams();
    const cudaStream_t s = stream_.get();
    const auto n_out = static_cast<int64_t>(chunk_->outputs.size());
    float* xn = xn_.as<float>();
    check(gather_rows(x_.as<float>(), out_rows_.as<int64_t>(), n_out, hp.n_embd, xn, s), "gathering the output rows");
    check(rmsnorm(xn, w_.output_norm(), xn, n_out, hp.n_embd, hp.rms_eps, s), "output norm");
    mv(w_.output(), xn, logits_.as<float>(), n_out);
    if (hp.final_logit_softcap > 0.f)
        check(softcap(logits_.as<float>(), hp.final_logit_softcap, n_out * hp.n_vocab, s), "soft-capping");
    check(cudaMemcpyAsync(logits_host, logits_.as<void>(), static_cast<size_t>(n_out * hp.n_vocab) * sizeof(float),
                          cudaMemcpyDeviceToHost, s),
          "copying the logits to the host");
    stream_.sync("the output head");
}

}  // namespace qlm::cuda
