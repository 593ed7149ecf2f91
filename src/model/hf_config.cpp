#include "src/model/hf_config.h"

#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "src/util/checked_math.h"
#include "src/util/error.h"

namespace qlm {
namespace {

using nlohmann::json;

// Values above this are rejected: no real config comes near it, and it keeps every product of
// a handful of them far from 64-bit overflow before the checked arithmetic even runs.
constexpr int64_t kMaxDim = int64_t{1} << 32;

int64_t get_dim(const json& j, const char* key, const std::string& name, std::optional<int64_t> dflt) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (dflt) return *dflt;
        throw_error("{}: field '{}' is missing (a Hugging Face config.json for Llama/Qwen2/Mistral has it)",
                    name, key);
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

ModelShape parse_hf_config(std::string_view json_text, const std::string& name) {
    json j;
    try {
        j = json::parse(json_text);
    } catch (const json::exception& e) {
        throw_error("{}: not valid JSON ({}); pass a Hugging Face config.json", name, e.what());
    }
    if (!j.is_object()) throw_error("{}: expected a JSON object (a Hugging Face config.json)", name);

    ModelShape s;
    auto mt = j.find("model_type");
    if (mt == j.end() || !mt->is_string())
        throw_error("{}: field 'model_type' is missing; expected \"llama\", \"mistral\" or \"qwen2\"", name);
    s.arch = mt->get<std::string>();
    if (s.arch != "llama" && s.arch != "mistral" && s.arch != "qwen2")
        throw_error("{}: model_type \"{}\" is not supported; qlm supports llama, mistral and qwen2", name, s.arch);

    s.n_vocab = get_dim(j, "vocab_size", name, std::nullopt);
    s.n_embd = get_dim(j, "hidden_size", name, std::nullopt);
    s.n_ff = get_dim(j, "intermediate_size", name, std::nullopt);
    s.n_layer = get_dim(j, "num_hidden_layers", name, std::nullopt);
    s.n_head = get_dim(j, "num_attention_heads", name, std::nullopt);
    s.n_head_kv = get_dim(j, "num_key_value_heads", name, s.n_head);
    if (s.n_head % s.n_head_kv != 0)
        throw_error("{}: num_attention_heads ({}) is not a multiple of num_key_value_heads ({})", name,
                    s.n_head, s.n_head_kv);
    if (j.contains("head_dim") && !j["head_dim"].is_null()) {
        s.head_dim = get_dim(j, "head_dim", name, std::nullopt);
    } else {
        if (s.n_embd % s.n_head != 0)
            throw_error("{}: hidden_size ({}) is not a multiple of num_attention_heads ({}); give head_dim", name,
                        s.n_embd, s.n_head);
        s.head_dim = s.n_embd / s.n_head;
    }
    s.n_ctx_train = get_dim(j, "max_position_embeddings", name, int64_t{2048});
    s.tied_output = get_bool(j, "tie_word_embeddings", name, false);
    if (s.arch == "qwen2") {
        s.qkv_bias = true;
    } else {
        bool attention_bias = get_bool(j, "attention_bias", name, false);
        s.qkv_bias = attention_bias;
        s.o_bias = attention_bias;
        s.mlp_bias = get_bool(j, "mlp_bias", name, false);
    }

    // torch_dtype (older configs) or dtype (newer); transformers' default is float32.
    const json* dt = nullptr;
    if (auto it = j.find("torch_dtype"); it != j.end() && it->is_string()) dt = &*it;
    else if (auto it2 = j.find("dtype"); it2 != j.end() && it2->is_string()) dt = &*it2;
    s.dtype = dt ? dt->get<std::string>() : "float32";
    if (s.dtype == "float32") s.weight_bytes = 4;
    else if (s.dtype == "float16" || s.dtype == "bfloat16") s.weight_bytes = 2;
    else throw_error("{}: torch_dtype \"{}\" is not supported; expected float32, float16 or bfloat16", name, s.dtype);

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
    b.norms = mul(2, embd);
    b.final_norm = embd;
    uint64_t per_layer = add(add(b.attention, b.ffn), b.norms);
    b.total = add(add(add(b.embedding, b.output), mul(u(s.n_layer), per_layer)), b.final_norm);
    return b;
}

uint64_t param_count(const ModelShape& s) { return param_breakdown(s).total; }

}  // namespace qlm
