#include "src/model/hf_config.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/util/checked_math.h"
#include "src/util/error.h"

namespace qlm {
namespace {

using nlohmann::json;

// Values above this are rejected: no real config comes near it, and it keeps every product of
// a handful of them far from 64-bit overflow before the checked arithmetic even runs.
constexpr int64_t kMaxDim = int64_t{1} << 32;
constexpr const char* kFamilies = "llama, mistral, qwen2, qwen3, qwen3_moe, mixtral, phi3, gemma3 and gemma3_text";

int64_t get_dim(const json& j, const char* key, const std::string& name, std::optional<int64_t> dflt) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (dflt) return *dflt;
        throw_error("{}: field '{}' is missing (a Hugging Face config.json of this model_type has it)", name, key);
    }
    if (!it->is_number_integer()) throw_error("{}: field '{}' must be an integer, got {}", name, key, it->dump());
    int64_t v = it->get<int64_t>();
    if (v <= 0 || v > kMaxDim) throw_error("{}: field '{}' = {} is out of range (1..{})", name, key, v, kMaxDim);
    return v;
}

bool get_bool(const json& j, const char* key, const std::string& name, bool dflt) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return dflt;
    if (!it->is_boolean()) throw_error("{}: field '{}' must be true or false, got {}", name, key, it->dump());
    return it->get<bool>();
}

uint64_t mul(uint64_t a, uint64_t b) {
    auto r = checked_mul(a, b);
    if (!r) throw_error("model shape: parameter count overflows 64 bits (the config's sizes are not plausible)");
    return *r;
}
uint64_t add(uint64_t a, uint64_t b) {
    auto r = checked_add(a, b);
    if (!r) throw_error("model shape: parameter count overflows 64 bits (the config's sizes are not plausible)");
    return *r;
}
uint64_t u(int64_t v) {
    if (v < 0) throw_error("model shape: negative size {}", v);
    return static_cast<uint64_t>(v);
}

}  // namespace

namespace {

// What a model_type's layers hold beyond the Llama layout, and which fields it must give.
struct Family {
    bool qwen2_bias = false;      // q/k/v biases always (Qwen2)
    bool attention_bias = false;  // attention_bias puts biases on q, k, v and o
    bool mlp_bias = false;        // mlp_bias puts biases on gate, up and down (Llama)
    bool qk_norm = false;
    int norms_per_layer = 2;
    bool experts = false;         // Mixtral's num_local_experts / Qwen3-MoE's num_experts
    bool gemma_defaults = false;  // Gemma3TextConfig's defaults for the fields a config leaves out
};

std::optional<Family> family_of(const std::string& t) {
    if (t == "llama" || t == "mistral") return Family{.attention_bias = true, .mlp_bias = true};
    if (t == "qwen2") return Family{.qwen2_bias = true};
    if (t == "qwen3") return Family{.attention_bias = true, .qk_norm = true};
    if (t == "qwen3_moe") return Family{.attention_bias = true, .qk_norm = true, .experts = true};
    if (t == "mixtral") return Family{.experts = true};
    if (t == "phi3") return Family{};
    if (t == "gemma3" || t == "gemma3_text")
        return Family{.attention_bias = true, .qk_norm = true, .norms_per_layer = 4, .gemma_defaults = true};
    return std::nullopt;
}

// The layers (of n_layer) whose feed-forward is the experts: Qwen3-MoE leaves out the layers in
// mlp_only_layers and all but every decoder_sparse_step-th; Mixtral has experts in every layer.
int64_t moe_layer_count(const json& j, const ModelShape& s, const std::string& name) {
    if (s.arch != "qwen3_moe") return s.n_layer;
    const int64_t step = get_dim(j, "decoder_sparse_step", name, int64_t{1});
    std::vector<bool> dense(static_cast<size_t>(s.n_layer), false);
    if (auto it = j.find("mlp_only_layers"); it != j.end() && !it->is_null()) {
        if (!it->is_array()) throw_error("{}: field 'mlp_only_layers' must be an array of layer numbers", name);
        for (const json& v : *it) {
            if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= s.n_layer)
                throw_error("{}: field 'mlp_only_layers' holds {}, not a layer number 0..{}", name, v.dump(),
                            s.n_layer - 1);
            dense[static_cast<size_t>(v.get<int64_t>())] = true;
        }
    }
    int64_t n = 0;
    for (int64_t i = 0; i < s.n_layer; ++i) n += !dense[static_cast<size_t>(i)] && (i + 1) % step == 0;
    return n;
}

void read_experts(const json& j, ModelShape& s, const std::string& name) {
    const bool mixtral = s.arch == "mixtral";
    s.n_expert = get_dim(j, mixtral ? "num_local_experts" : "num_experts", name, std::nullopt);
    s.n_expert_used = get_dim(j, "num_experts_per_tok", name, std::nullopt);
    if (s.n_expert_used > s.n_expert)
        throw_error("{}: num_experts_per_tok ({}) is more than the {} experts", name, s.n_expert_used, s.n_expert);
    s.n_ff_exp = mixtral ? s.n_ff : get_dim(j, "moe_intermediate_size", name, std::nullopt);
    s.n_moe_layers = moe_layer_count(j, s, name);
}

// The sizes every family gives (Gemma 3: with Gemma3TextConfig's defaults for the ones a
// vision-language config's text_config leaves out).
void read_sizes(const json& j, ModelShape& s, const Family& f, const std::string& name) {
    auto dflt = [&](int64_t v) { return f.gemma_defaults ? std::optional<int64_t>(v) : std::nullopt; };
    s.n_vocab = get_dim(j, "vocab_size", name, dflt(262208));
    s.n_embd = get_dim(j, "hidden_size", name, std::nullopt);
    // Qwen3-MoE's dense width matters only for layers without experts.
    s.n_ff = get_dim(j, "intermediate_size", name, s.arch == "qwen3_moe" ? std::optional<int64_t>(0) : std::nullopt);
    s.n_layer = get_dim(j, "num_hidden_layers", name, std::nullopt);
    s.n_head = get_dim(j, "num_attention_heads", name, dflt(8));
    s.n_head_kv = get_dim(j, "num_key_value_heads", name, f.gemma_defaults ? 4 : s.n_head);
    if (s.n_head % s.n_head_kv != 0)
        throw_error("{}: num_attention_heads ({}) is not a multiple of num_key_value_heads ({})", name,
                    s.n_head, s.n_head_kv);
    if (f.gemma_defaults || (j.contains("head_dim") && !j["head_dim"].is_null())) {
        s.head_dim = get_dim(j, "head_dim", name, dflt(256));
    } else {
        if (s.n_embd % s.n_head != 0)
            throw_error("{}: hidden_size ({}) is not a multiple of num_attention_heads ({}); give head_dim", name,
                        s.n_embd, s.n_head);
        s.head_dim = s.n_embd / s.n_head;
    }
    s.n_ctx_train = get_dim(j, "max_position_embeddings", name, f.gemma_defaults ? 131072 : int64_t{2048});
    s.tied_output = get_bool(j, "tie_word_embeddings", name, f.gemma_defaults);
}

// torch_dtype (older configs) or dtype (newer), at the top or in text_config; transformers'
// default is float32.
void read_dtype(const json& top, const json& j, ModelShape& s, const std::string& name) {
    const json* dt = nullptr;
    for (const json* o : {&top, &j})
        for (const char* k : {"torch_dtype", "dtype"})
            if (auto it = o->find(k); !dt && it != o->end() && it->is_string()) dt = &*it;
    s.dtype = dt ? dt->get<std::string>() : "float32";
    if (s.dtype == "float32") s.weight_bytes = 4;
    else if (s.dtype == "float16" || s.dtype == "bfloat16") s.weight_bytes = 2;
    else throw_error("{}: torch_dtype \"{}\" is not supported; expected float32, float16 or bfloat16", name, s.dtype);
}

}  // namespace

ModelShape parse_hf_config(std::string_view json_text, const std::string& name) {
    json top;
    try {
        top = json::parse(json_text);
    } catch (const json::exception& e) {
        throw_error("{}: not valid JSON ({}); pass a Hugging Face config.json", name, e.what());
    }
    if (!top.is_object()) throw_error("{}: expected a JSON object (a Hugging Face config.json)", name);

    ModelShape s;
    auto mt = top.find("model_type");
    if (mt == top.end() || !mt->is_string())
        throw_error("{}: field 'model_type' is missing; expected one of {}", name, kFamilies);
    s.arch = mt->get<std::string>();
    const std::optional<Family> f = family_of(s.arch);
    if (!f) throw_error("{}: model_type \"{}\" is not supported; qlm supports {}", name, s.arch, kFamilies);
    const json* j = &top;
    if (auto tc = top.find("text_config"); s.arch == "gemma3" && tc != top.end()) {
        if (!tc->is_object()) throw_error("{}: field 'text_config' must be an object", name);
        j = &*tc;
        s.multimodal = true;
    }
    read_sizes(*j, s, *f, name);
    const bool attention_bias = f->attention_bias && get_bool(*j, "attention_bias", name, false);
    s.qkv_bias = f->qwen2_bias || attention_bias;
    s.o_bias = attention_bias;
    s.mlp_bias = f->mlp_bias && get_bool(*j, "mlp_bias", name, false);
    s.qk_norm = f->qk_norm;
    s.norms_per_layer = f->norms_per_layer;
    if (f->experts) read_experts(*j, s, name);
    if (s.n_ff == 0 && s.n_moe_layers < s.n_layer)
        throw_error("{}: field 'intermediate_size' is missing (the layers without experts need it)", name);
    read_dtype(top, *j, s, name);
    param_count(s);  // rejects shapes whose count overflows
    return s;
}

ModelShape load_hf_config(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw_error("{}: cannot open the file (check the path to config.json)", path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return parse_hf_config(ss.str(), path);
}

ModelShape shape_from_hparams(const Hparams& hp) {
    ModelShape s;
    s.arch = hp.arch;
    s.n_vocab = hp.n_vocab;
    s.n_embd = hp.n_embd;
    s.n_ff = hp.n_ff;
    s.n_layer = hp.n_layer;
    s.n_head = hp.n_head;
    s.n_head_kv = hp.n_head_kv;
    s.head_dim = hp.head_dim;
    s.n_ctx_train = hp.n_ctx_train;
    s.tied_output = hp.tied_output;
    s.qkv_bias = hp.qkv_bias;
    s.qk_norm = hp.qk_norm;
    if (hp.is_moe()) {
        s.n_expert = hp.n_expert;
        s.n_expert_used = hp.n_expert_used;
        s.n_ff_exp = hp.n_ff_exp;
        s.n_moe_layers = hp.n_layer;
    }
    s.weight_bytes = 0;
    s.dtype = "";
    return s;
}

Hparams hparams_from_shape(const ModelShape& s) {
    Hparams hp;
    hp.arch = s.arch;
    hp.n_vocab = s.n_vocab;
    hp.n_ctx_train = s.n_ctx_train;
    hp.n_embd = s.n_embd;
    hp.n_layer = s.n_layer;
    hp.n_head = s.n_head;
    hp.n_head_kv = s.n_head_kv;
    hp.n_ff = s.n_ff;
    hp.head_dim = s.head_dim;
    hp.n_rot = s.head_dim;
    hp.qkv_bias = s.qkv_bias;
    hp.tied_output = s.tied_output;
    hp.qk_norm = s.qk_norm;
    if (s.n_moe_layers > 0) {
        hp.n_expert = s.n_expert;
        hp.n_expert_used = s.n_expert_used;
        hp.n_ff_exp = s.n_ff_exp;
    }
    return hp;
}

GgmlType weight_type(const ModelShape& s) {
    if (s.dtype == "float16") return GgmlType::F16;
    if (s.dtype == "bfloat16") return GgmlType::BF16;
    return GgmlType::F32;
}

ParamBreakdown param_breakdown(const ModelShape& s) {
    ParamBreakdown b;
    const uint64_t embd = u(s.n_embd), q_dim = mul(u(s.n_head), u(s.head_dim)),
                   kv_dim = mul(u(s.n_head_kv), u(s.head_dim)), ff = u(s.n_ff);
    b.embedding = mul(u(s.n_vocab), embd);
    b.output = s.tied_output ? 0 : b.embedding;
    // q: embd -> q_dim, k/v: embd -> kv_dim, o: q_dim -> embd.
    uint64_t attn = add(add(mul(embd, q_dim), mul(2, mul(embd, kv_dim))), mul(q_dim, embd));
    if (s.qkv_bias) attn = add(attn, add(q_dim, mul(2, kv_dim)));
    if (s.o_bias) attn = add(attn, embd);
    b.attention = attn;
    uint64_t ffn = mul(3, mul(embd, ff));
    if (s.mlp_bias) ffn = add(ffn, add(mul(2, ff), embd));
    b.ffn = ffn;
    b.norms = mul(u(s.norms_per_layer), embd);
    if (s.qk_norm) b.norms = add(b.norms, mul(2, u(s.head_dim)));
    b.router = mul(embd, u(s.n_expert));
    b.expert = mul(3, mul(embd, u(s.n_ff_exp)));
    b.final_norm = embd;
    const uint64_t moe_layers = u(s.n_moe_layers), dense_layers = u(s.n_layer) - std::min(u(s.n_layer), moe_layers);
    const uint64_t per_moe_layer = add(b.router, mul(u(s.n_expert), b.expert));
    b.total = add(add(add(b.embedding, b.output), mul(u(s.n_layer), add(b.attention, b.norms))), b.final_norm);
    b.total = add(b.total, add(mul(dense_layers, b.ffn), mul(moe_layers, per_moe_layer)));
    b.active = b.total - mul(moe_layers, mul(u(s.n_expert - s.n_expert_used), b.expert));
    return b;
}

uint64_t param_count(const ModelShape& s) { return param_breakdown(s).total; }

}  // namespace qlm
