#include "src/model/weights.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "quant/formats.h"
#include "src/util/error.h"

namespace qlm {

namespace {
std::string shape_str(const gguf::TensorInfo& t) {
    std::string s = "[";
    for (uint32_t i = 0; i < std::max<uint32_t>(t.n_dims, 1); ++i) s += (i ? ", " : "") + std::to_string(t.ne[i]);
    return s + "]";
}

// Rows [first, first + count) of w, as a view of the same data.
WeightView row_range(const WeightView& w, int64_t first, int64_t count) {
    WeightView r = w;
    r.rows = count;
    if (w.data) r.data = static_cast<const uint8_t*>(w.data) + static_cast<uint64_t>(first) * w.row_stride;
    return r;
}
}  // namespace

std::vector<MatmulGroup> matmul_groups(const std::vector<LayerWeights>& layers, const WeightView& output) {
    std::vector<MatmulGroup> g;
    for (const LayerWeights& L : layers) {
        g.push_back({L.wq, L.wk, L.wv});
        g.push_back({L.wo});
        if (L.moe.router.rows > 0) {
            g.push_back({L.moe.router});
            g.push_back({L.moe.gate.first, L.moe.up.first});
            g.push_back({L.moe.down.first});
        } else {
            g.push_back({L.gate, L.up});
            g.push_back({L.down});
        }
    }
    g.push_back({output});
    return g;
}

std::vector<MatmulGroup> matmul_groups(const Hparams& hp, GgmlType type) {
    const uint64_t elem = format_row_bytes(format_ops(type), 1);
    auto view = [&](int64_t cols, int64_t rows) {
        return WeightView{.type = type, .data = nullptr, .cols = cols, .rows = rows,
                          .row_stride = elem * static_cast<uint64_t>(cols)};
    };
    const int64_t q_dim = hp.n_head * hp.head_dim, kv_dim = hp.n_head_kv * hp.head_dim;
    LayerWeights L;
    L.wq = view(hp.n_embd, q_dim);
    L.wk = view(hp.n_embd, kv_dim);
    L.wv = view(hp.n_embd, kv_dim);
    L.wo = view(q_dim, hp.n_embd);
    if (hp.is_moe()) {
        L.moe.router = view(hp.n_embd, hp.n_expert);
        L.moe.gate.first = view(hp.n_embd, hp.n_ff_exp);
        L.moe.up.first = view(hp.n_embd, hp.n_ff_exp);
        L.moe.down.first = view(hp.n_ff_exp, hp.n_embd);
    } else {
        L.gate = view(hp.n_embd, hp.n_ff);
        L.up = view(hp.n_embd, hp.n_ff);
        L.down = view(hp.n_ff, hp.n_embd);
    }
    return matmul_groups(std::vector<LayerWeights>{L}, view(hp.n_embd, hp.n_vocab));
}

ModelWeights::ModelWeights(const gguf::GgufFile& file, const Hparams& hp) : file_(file), arch_(hp.arch) {
    token_embd = matrix("token_embd.weight", hp.n_embd, hp.n_vocab);
    output_norm = vector("output_norm.weight", hp.n_embd, true);
    output = hp.tied_output ? token_embd : matrix("output.weight", hp.n_embd, hp.n_vocab);
    if (hp.arch == "llama") rope_freqs = vector("rope_freqs.weight", hp.n_rot / 2, false);
    layers.resize(static_cast<size_t>(hp.n_layer));
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights& L = layers[static_cast<size_t>(l)];
        L.attn_norm = vector(p + "attn_norm.weight", hp.n_embd, true);
        bind_attention(hp, p, L);
        L.ffn_norm = vector(p + "ffn_norm.weight", hp.n_embd, true);
        bind_ffn(hp, p, L);
        if (hp.post_norms) {
            L.post_attn_norm = vector(p + "post_attention_norm.weight", hp.n_embd, true);
            L.post_ffn_norm = vector(p + "post_ffw_norm.weight", hp.n_embd, true);
        }
    }
    check_all_used();
    repack_x16();
}

// q, k, v (separate, or views of a fused attn_qkv), the output projection, biases, q/k norms.
void ModelWeights::bind_attention(const Hparams& hp, const std::string& p, LayerWeights& L) {
    const int64_t hd = hp.head_dim, q_dim = hp.n_head * hd, kv_dim = hp.n_head_kv * hd;
    if (file_.find_tensor(p + "attn_qkv.weight")) {
        const WeightView qkv = matrix(p + "attn_qkv.weight", hp.n_embd, q_dim + 2 * kv_dim);
        L.wq = row_range(qkv, 0, q_dim);
        L.wk = row_range(qkv, q_dim, kv_dim);
        L.wv = row_range(qkv, q_dim + kv_dim, kv_dim);
    } else {
        L.wq = matrix(p + "attn_q.weight", hp.n_embd, q_dim);
        L.wk = matrix(p + "attn_k.weight", hp.n_embd, kv_dim);
        L.wv = matrix(p + "attn_v.weight", hp.n_embd, kv_dim);
    }
    L.wo = matrix(p + "attn_output.weight", q_dim, hp.n_embd);
    const bool bias_required = hp.arch == "qwen2";
    L.bq = vector(p + "attn_q.bias", q_dim, bias_required);
    L.bk = vector(p + "attn_k.bias", kv_dim, bias_required);
    L.bv = vector(p + "attn_v.bias", kv_dim, bias_required);
    L.bo = vector(p + "attn_output.bias", hp.n_embd, false);
    if (hp.qk_norm) {
        L.q_norm = vector(p + "attn_q_norm.weight", hd, true);
        L.k_norm = vector(p + "attn_k_norm.weight", hd, true);
    }
}

// gate, up and down (Phi-3's ffn_up holds the gate's rows, then the up rows), or a MoE layer's
// router and experts.
void ModelWeights::bind_ffn(const Hparams& hp, const std::string& p, LayerWeights& L) {
    if (hp.is_moe()) {
        L.moe.router = matrix(p + "ffn_gate_inp.weight", hp.n_embd, hp.n_expert);
        L.moe.gate = experts(p + "ffn_gate_exps.weight", hp.n_embd, hp.n_ff_exp, hp.n_expert);
        L.moe.up = experts(p + "ffn_up_exps.weight", hp.n_embd, hp.n_ff_exp, hp.n_expert);
        L.moe.down = experts(p + "ffn_down_exps.weight", hp.n_ff_exp, hp.n_embd, hp.n_expert);
        return;
    }
    if (hp.arch == "phi3") {
        const WeightView gate_up = matrix(p + "ffn_up.weight", hp.n_embd, 2 * hp.n_ff);
        L.gate = row_range(gate_up, 0, hp.n_ff);
        L.up = row_range(gate_up, hp.n_ff, hp.n_ff);
    } else {
        L.gate = matrix(p + "ffn_gate.weight", hp.n_embd, hp.n_ff);
        L.up = matrix(p + "ffn_up.weight", hp.n_embd, hp.n_ff);
    }
    L.down = matrix(p + "ffn_down.weight", hp.n_ff, hp.n_embd);
}

// A tensor nothing above bound (Phi-3's long-context rope factors, norm biases, ...) belongs to a
// variant of the architecture qlm does not compute: refuse it rather than run without it.
void ModelWeights::check_all_used() const {
    for (const gguf::TensorInfo& t : file_.tensors())
        if (!used_.contains(t.name))
            throw_error("{}: tensor '{}' is not used by qlm's '{}' forward pass (a variant of the architecture qlm "
                        "does not support)",
                        file_.path(), t.name, arch_);
}

const gguf::TensorInfo& ModelWeights::find(const std::string& name, bool required) {
    static const gguf::TensorInfo kNone{};
    const gguf::TensorInfo* t = file_.find_tensor(name);
    if (!t) {
        if (required)
            throw_error("{}: tensor '{}' is missing (the metadata promises it; the file is incomplete or not a "
                        "'{}' model)",
                        file_.path(), name, arch_);
        return kNone;
    }
    used_.insert(name);
    return *t;
}

WeightView ModelWeights::matrix(const std::string& name, int64_t cols, int64_t rows) {
    const gguf::TensorInfo& t = find(name, true);
    if (t.ne[0] != static_cast<uint64_t>(cols) || t.ne[1] != static_cast<uint64_t>(rows) || t.ne[2] != 1 ||
        t.ne[3] != 1)
        throw_error("{}: tensor '{}' has shape {}, expected [{}, {}]", file_.path(), name, shape_str(t), cols, rows);
    return bind(t, cols, rows);
}

ExpertMatrix ModelWeights::experts(const std::string& name, int64_t cols, int64_t rows, int64_t n_mat) {
    const gguf::TensorInfo& t = find(name, true);
    if (t.ne[0] != static_cast<uint64_t>(cols) || t.ne[1] != static_cast<uint64_t>(rows) ||
        t.ne[2] != static_cast<uint64_t>(n_mat) || t.ne[3] != 1)
        throw_error("{}: tensor '{}' has shape {}, expected [{}, {}, {}] ({} experts)", file_.path(), name,
                    shape_str(t), cols, rows, n_mat, n_mat);
    // The experts are consecutive matrices: one view of all their rows, cut per expert.
    WeightView all = bind(t, cols, rows * n_mat);
    ExpertMatrix m;
    m.first = all;
    m.first.rows = rows;
    m.expert_stride = all.row_stride * static_cast<uint64_t>(rows);
    m.n_expert = n_mat;
    return m;
}

// Tensor t as a matrix of `rows` rows of `cols` (its shape already checked).
WeightView ModelWeights::bind(const gguf::TensorInfo& t, int64_t cols, int64_t rows) {
    const std::string& name = t.name;
    const FormatOps* f = find_format(t.type);
    if (!f) throw_error("{}: tensor '{}' has type {}, which qlm cannot compute yet", file_.path(), name, type_name(t.type));
    WeightView w;
    w.cols = cols;
    w.rows = rows;
    const uint64_t n = static_cast<uint64_t>(cols) * static_cast<uint64_t>(rows);
    // Views need whole blocks per row and addresses the kernels may load from; anything else
    // (legacy flat blocks, a file with general.alignment 1) is converted to F32 once.
    const bool aligned = reinterpret_cast<uintptr_t>(t.data) % f->block_align == 0 &&
                         format_row_bytes(*f, cols) % f->block_align == 0;
    if (cols % f->block_size == 0 && aligned) {
        w.type = t.type;
        w.data = t.data;
        w.row_stride = format_row_bytes(*f, cols);
        return w;
    }
    // Blocks cross rows (legacy files): dequantize the whole tensor as one flat run of blocks.
    if (n % static_cast<uint64_t>(f->block_size) != 0 || t.n_bytes < n / f->block_size * f->block_bytes)
        throw_error("{}: tensor '{}' ({} elements) is not a whole number of {} blocks", file_.path(), name, n,
                    type_name(t.type));
    auto buf = std::make_unique<float[]>(n);
    if (reinterpret_cast<uintptr_t>(t.data) % f->block_align == 0) {
        f->dequantize_row(t.data, buf.get(), static_cast<int64_t>(n));
    } else {  // copy to an aligned buffer first
        const size_t nbytes = static_cast<size_t>(n / f->block_size) * f->block_bytes;
        auto aligned_copy = std::make_unique<uint64_t[]>(nbytes / 8 + 1);
        std::memcpy(aligned_copy.get(), t.data, nbytes);
        f->dequantize_row(aligned_copy.get(), buf.get(), static_cast<int64_t>(n));
    }
    w.type = GgmlType::F32;
    w.data = buf.get();
    w.row_stride = static_cast<uint64_t>(cols) * sizeof(float);
    owned_.push_back(std::move(buf));
    return w;
}

const float* ModelWeights::vector(const std::string& name, int64_t n, bool required) {
    const gguf::TensorInfo& t = find(name, required);
    if (t.name.empty()) return nullptr;
    if (t.n_elements != static_cast<uint64_t>(n) || t.ne[0] != static_cast<uint64_t>(n))
        throw_error("{}: tensor '{}' has shape {}, expected [{}]", file_.path(), name, shape_str(t), n);
    const FormatOps* f = find_format(t.type);
    if (!f) throw_error("{}: tensor '{}' has type {}, which qlm cannot compute yet", file_.path(), name, type_name(t.type));
    if (t.type == GgmlType::F32) {
        // Copied even where it could be read in place: a read of a page of the mapping maps the
        // whole large folio around it, so reading a norm in place once per token would bring back
        // megabytes of the neighbouring matrices that repack_x16 dropped.
        auto buf = std::make_unique<float[]>(static_cast<size_t>(n));
        std::memcpy(buf.get(), t.data, static_cast<size_t>(n) * sizeof(float));
        owned_.push_back(std::move(buf));
        return owned_.back().get();
    }
    if (n % f->block_size != 0)
        throw_error("{}: tensor '{}' ({} elements) is not a whole number of {} blocks", file_.path(), name, n,
                    type_name(t.type));
    auto buf = std::make_unique<float[]>(static_cast<size_t>(n));
    const size_t nbytes = static_cast<size_t>(n / f->block_size) * f->block_bytes;
    auto aligned_copy = std::make_unique<uint64_t[]>(nbytes / 8 + 1);  // any alignment the format needs
    std::memcpy(aligned_copy.get(), t.data, nbytes);
    f->dequantize_row(aligned_copy.get(), buf.get(), n);
    owned_.push_back(std::move(buf));
    return owned_.back().get();
}

}  // namespace qlm
