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
    hp.rope_style = hp.arch == "qwen2" ? RopeStyle::Neox : RopeStyle::Norm;
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

std::string model_architecture(const gguf::GgufFile& file) {
    auto arch = file.get_string("general.architecture");
    if (!arch)
        throw_error("{}: general.architecture is missing: not a model file qlm can run (vocab-only or "
                    "incomplete GGUF?)",
                    file.path());
    if (*arch != "llama" && *arch != "qwen2")
        throw_error("{}: architecture '{}' is not supported: qlm runs 'llama' (Llama, Mistral, TinyLlama, "
                    "SmolLM) and 'qwen2' models",
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
    hp.n_vocab = read_vocab_size(r);
    hp.qkv_bias = hp.arch == "qwen2" || file.find_tensor("blk.0.attn_q.bias") != nullptr;
    hp.tied_output = file.find_tensor("output.weight") == nullptr;
    return hp;
}

}  // namespace qlm
