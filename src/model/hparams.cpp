// read_hparams: the architecture's hyperparameters from GGUF metadata (the `ARCH.*` keys llama.cpp
// writes), with range checks so that nothing downstream allocates from an unchecked number.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "src/model/hparams.h"
#include "src/util/error.h"

namespace qlm {

namespace {

constexpr int64_t kMaxEmbd = 1 << 16;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 1024;
constexpr int64_t kMaxHeadDim = 1024;
constexpr int64_t kMaxFf = 1 << 20;
constexpr int64_t kMaxVocab = 1 << 22;
constexpr int64_t kMaxCtx = int64_t{1} << 24;
constexpr int64_t kMaxExperts = 512;  // llama.cpp's LLAMA_MAX_EXPERTS

struct Reader {
    const gguf::GgufFile& f;
    const std::string& arch;

    std::string key(const char* suffix) const { return arch + "." + suffix; }

    [[noreturn]] void missing(const std::string& k) const {
        throw_error("{}: missing metadata key {} (required for architecture {})", f.path(), k, arch);
    }

    // A u32-like value; per-layer arrays are accepted when all entries are equal.
    std::optional<int64_t> integer(const std::string& k) const {
        const gguf::Value* v = f.find(k);
        if (!v) return std::nullopt;
        if (v->type == gguf::ValueType::ARRAY) {
            const gguf::ArrayValue* a = f.get_array(k, gguf::ValueType::INT64);
            if (!a || a->ints.empty()) throw_error("{}: metadata key {} is an empty or non-integer array", f.path(), k);
            for (int64_t x : a->ints)
                if (x != a->ints[0])
                    throw_error("{}: metadata key {} varies per layer, which qlm does not support", f.path(), k);
            return a->ints[0];
        }
        const auto u = f.get_u64(k);
        if (*u > static_cast<uint64_t>(INT64_MAX)) throw_error("{}: metadata key {} = {} is too large", f.path(), k, *u);
        return static_cast<int64_t>(*u);
    }
    int64_t required(const char* suffix) const {
        const std::string k = key(suffix);
        auto v = integer(k);
        if (!v) missing(k);
        return *v;
    }
    void check_range(const std::string& k, int64_t v, int64_t lo, int64_t hi) const {
        if (v < lo || v > hi)
            throw_error("{}: metadata key {} = {} is outside the supported range {}..{}", f.path(), k, v, lo, hi);
    }
};

// Embedding, layers, feed-forward, heads and training context.
void read_sizes(const Reader& r, Hparams& hp) {
    hp.n_embd = r.required("embedding_length");
    r.check_range(r.key("embedding_length"), hp.n_embd, 1, kMaxEmbd);
    hp.n_layer = r.required("block_count");
    r.check_range(r.key("block_count"), hp.n_layer, 1, kMaxLayers);
    hp.n_ff = r.required("feed_forward_length");
    r.check_range(r.key("feed_forward_length"), hp.n_ff, 1, kMaxFf);
    hp.n_head = r.required("attention.head_count");
    r.check_range(r.key("attention.head_count"), hp.n_head, 1, kMaxHeads);
    hp.n_head_kv = r.integer(r.key("attention.head_count_kv")).value_or(hp.n_head);
    r.check_range(r.key("attention.head_count_kv"), hp.n_head_kv, 1, hp.n_head);
    if (hp.n_head % hp.n_head_kv != 0)
        throw_error("{}: {} = {} is not a multiple of {} = {}", r.f.path(), r.key("attention.head_count"), hp.n_head,
                    r.key("attention.head_count_kv"), hp.n_head_kv);
    hp.n_ctx_train = r.required("context_length");
    r.check_range(r.key("context_length"), hp.n_ctx_train, 1, kMaxCtx);
}

// The key/value head size: attention.key_length (= value_length), else n_embd / n_head.
void read_head_size(const Reader& r, Hparams& hp) {
    if (auto kl = r.integer(r.key("attention.key_length"))) {
        r.check_range(r.key("attention.key_length"), *kl, 1, kMaxHeadDim);
        hp.head_dim = *kl;
        if (auto vl = r.integer(r.key("attention.value_length")); vl && *vl != *kl)
            throw_error("{}: {} = {} differs from {} = {}, which qlm does not support", r.f.path(),
                        r.key("attention.value_length"), *vl, r.key("attention.key_length"), *kl);
        return;
    }
    if (hp.n_embd % hp.n_head != 0)
        throw_error("{}: {} = {} is not a multiple of {} = {} (and no {} is given)", r.f.path(),
                    r.key("embedding_length"), hp.n_embd, r.key("attention.head_count"), hp.n_head,
                    r.key("attention.key_length"));
    hp.head_dim = hp.n_embd / hp.n_head;
    r.check_range("head size", hp.head_dim, 1, kMaxHeadDim);
}

// RMS norm epsilon and RoPE: rotated dimensions, frequency base, linear scaling, style.
void read_norm_and_rope(const Reader& r, Hparams& hp) {
    const gguf::GgufFile& file = r.f;
    hp.n_rot = r.integer(r.key("rope.dimension_count")).value_or(hp.head_dim);
    if (hp.n_rot < 2 || hp.n_rot % 2 != 0 || hp.n_rot > hp.head_dim)
        throw_error("{}: {} = {} must be even and between 2 and the head size {}", file.path(),
                    r.key("rope.dimension_count"), hp.n_rot, hp.head_dim);

    const std::string eps_key = r.key("attention.layer_norm_rms_epsilon");
    const auto eps = file.get_f64(eps_key);
    if (!eps) r.missing(eps_key);
    if (!(*eps > 0.0 && *eps < 1.0))
        throw_error("{}: metadata key {} = {} must be between 0 and 1", file.path(), eps_key, *eps);
    hp.rms_eps = static_cast<float>(*eps);

    const std::string base_key = r.key("rope.freq_base");
    hp.rope_freq_base = static_cast<float>(file.get_f64(base_key).value_or(10000.0));
    if (!(std::isfinite(hp.rope_freq_base) && hp.rope_freq_base > 0.f))
        throw_error("{}: metadata key {} = {} must be a positive number", file.path(), base_key, hp.rope_freq_base);

    const std::string scaling = file.get_string(r.key("rope.scaling.type")).value_or("");
    double factor = 0.0;
    if (scaling == "linear") {
        factor = file.get_f64(r.key("rope.scaling.factor")).value_or(0.0);
    } else if (scaling.empty()) {
        factor = file.get_f64(r.key("rope.scale_linear")).value_or(0.0);
    } else if (scaling != "none") {
        throw_error("{}: rope scaling type '{}' is not supported (qlm supports none and linear)", file.path(), scaling);
    }
    if (factor != 0.0) {
        if (!(std::isfinite(factor) && factor > 0.0))
            throw_error("{}: rope scaling factor {} must be a positive number", file.path(), factor);
        hp.rope_freq_scale = static_cast<float>(1.0 / factor);
    }
    hp.rope_style = hp.arch == "llama" ? RopeStyle::Norm : RopeStyle::Neox;
}

// What the architecture does beyond llama's forward pass, as llama.cpp's loader and graph for it
// set it (llama-model.cpp, src/models/ARCH.cpp).
void read_architecture_options(const Reader& r, Hparams& hp) {
    const gguf::GgufFile& file = r.f;
    if (hp.arch == "qwen3" || hp.arch == "qwen3moe") hp.qk_norm = true;
    if (hp.arch == "phi3") {
        // Phi-3 scales q by 1/√head_dim before the dots. Its sliding_window key is ignored: llama.cpp
        // runs Phi-3 with full attention.
        hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
        hp.scale_q = true;
    }
    if (hp.arch == "gemma3") {
        hp.qk_norm = true;
        hp.post_norms = true;
        hp.ffn_activation = FfnActivation::GeluTanh;
        hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
        // Gemma 3 27B (62 layers) scales by query_pre_attn_scalar = n_embd / n_head, the others by
        // the head size; llama.cpp tells them apart by the layer count.
        hp.attn_scale = hp.n_layer == 62 ? 1.0f / std::sqrt(static_cast<float>(hp.n_embd / hp.n_head))
                                         : 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
        hp.scale_q = true;
        if (auto w = r.integer(r.key("attention.sliding_window")); w && *w > 0) {
            r.check_range(r.key("attention.sliding_window"), *w, 1, kMaxCtx);
            hp.n_swa = *w;
            hp.swa_period = 6;  // five local layers, then a global one
            const std::string base_key = r.key("rope.freq_base_swa");
            hp.rope_freq_base_swa = static_cast<float>(file.get_f64(base_key).value_or(10000.0));
            if (!(std::isfinite(hp.rope_freq_base_swa) && hp.rope_freq_base_swa > 0.f))
                throw_error("{}: metadata key {} = {} must be a positive number", file.path(), base_key,
                            hp.rope_freq_base_swa);
            hp.rope_freq_scale_swa = 1.f;  // the local layers are not rescaled
        }
        if (auto cap = file.get_f64(r.key("final_logit_softcapping")); cap && *cap != 0.0) {
            if (!(std::isfinite(*cap) && *cap > 0.0))
                throw_error("{}: metadata key {} = {} must be a positive number", file.path(),
                            r.key("final_logit_softcapping"), *cap);
            hp.final_logit_softcap = static_cast<float>(*cap);
        }
    }
}

// The experts of a mixture-of-experts feed-forward: qwen3moe always has them, llama when
// expert_count > 0 (Mixtral). qwen3moe's experts are expert_feed_forward_length wide (else
// n_ff / expert_used_count); llama's are feed_forward_length wide, as llama.cpp reads them.
void read_experts(const Reader& r, Hparams& hp) {
    const bool qwen3moe = hp.arch == "qwen3moe";
    if (hp.arch != "llama" && !qwen3moe) return;  // the other architectures' layers are dense
    hp.n_expert = r.integer(r.key("expert_count")).value_or(0);
    if (hp.n_expert == 0 && !qwen3moe) return;
    r.check_range(r.key("expert_count"), hp.n_expert, 1, kMaxExperts);
    hp.n_expert_used = r.required("expert_used_count");
    r.check_range(r.key("expert_used_count"), hp.n_expert_used, 1, hp.n_expert);
    hp.n_ff_exp = hp.n_ff;
    if (qwen3moe) {
        hp.n_ff_exp = r.integer(r.key("expert_feed_forward_length")).value_or(hp.n_ff / hp.n_expert_used);
        r.check_range(r.key("expert_feed_forward_length"), hp.n_ff_exp, 1, kMaxFf);
    }
    const std::string scale_key = r.key("expert_weights_scale");
    const double scale = r.f.get_f64(scale_key).value_or(0.0);
    if (!(std::isfinite(scale) && scale >= 0.0 && scale < 1e6))
        throw_error("{}: metadata key {} = {} must be a non-negative number", r.f.path(), scale_key, scale);
    hp.expert_weights_scale = static_cast<float>(scale);
}

// Vocabulary size: explicit key, else the tokenizer's token list, else token_embd's rows.
int64_t read_vocab_size(const Reader& r) {
    const gguf::GgufFile& file = r.f;
    int64_t n_vocab = 0;
    std::string vocab_from;  // names the source in a range error
    if (auto nv = r.integer(r.key("vocab_size"))) {
        n_vocab = *nv;
        vocab_from = r.key("vocab_size");
    } else if (const auto* toks = file.get_array("tokenizer.ggml.tokens", gguf::ValueType::STRING)) {
        n_vocab = static_cast<int64_t>(std::min<uint64_t>(toks->count, INT64_MAX));
        vocab_from = "the vocabulary size (entries of tokenizer.ggml.tokens)";
    } else if (const auto* te = file.find_tensor("token_embd.weight")) {
        n_vocab = static_cast<int64_t>(std::min<uint64_t>(te->ne[1], INT64_MAX));
        vocab_from = "the vocabulary size (rows of token_embd.weight)";
    } else {
        r.missing(r.key("vocab_size"));
    }
    r.check_range(vocab_from, n_vocab, 1, kMaxVocab);
    return n_vocab;
}

}  // namespace

float Hparams::kq_scale() const {
    return attn_scale > 0.f ? attn_scale : 1.0f / std::sqrt(static_cast<float>(head_dim));
}

std::string model_architecture(const gguf::GgufFile& file) {
    auto arch = file.get_string("general.architecture");
    if (!arch)
        throw_error("{}: general.architecture is missing: not a model file qlm can run (vocab-only or "
                    "incomplete GGUF?)",
                    file.path());
    if (*arch != "llama" && *arch != "qwen2" && *arch != "qwen3" && *arch != "qwen3moe" && *arch != "phi3" &&
        *arch != "gemma3")
        throw_error("{}: architecture '{}' is not supported: qlm runs 'llama' (Llama 1-3, Mistral, Mixtral, "
                    "TinyLlama, SmolLM), 'qwen2', 'qwen3', 'qwen3moe', 'phi3' and 'gemma3' models",
                    file.path(), *arch);
    return *arch;
}

Hparams read_hparams(const gguf::GgufFile& file) {
    Hparams hp;
    hp.arch = model_architecture(file);
    hp.name = file.get_string("general.name").value_or("");
    const Reader r{file, hp.arch};
    read_sizes(r, hp);
    read_head_size(r, hp);
    read_norm_and_rope(r, hp);
    read_architecture_options(r, hp);
    read_experts(r, hp);
    hp.n_vocab = read_vocab_size(r);
    hp.qkv_bias = hp.arch == "qwen2" || file.find_tensor("blk.0.attn_q.bias") != nullptr;
    hp.tied_output = file.find_tensor("output.weight") == nullptr;
    return hp;
}

}  // namespace qlm
