// The shape of a dense Llama-family transformer (Llama, Mistral, Qwen2) and its exact parameter
// count, from either a GGUF model's Hparams or a Hugging Face config.json.
//
//   ModelShape s = parse_hf_config(json_text, "config.json");   // throws qlm::Error
//   uint64_t n = param_count(s);                                 // 7,615,616,512 for Qwen2-7B
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "quant/ggml_type.h"
#include "src/model/hparams.h"

namespace qlm {

struct ModelShape {
    std::string arch;            // "llama" | "qwen2" | "mistral" (HF model_type)
    int64_t n_vocab = 0;
    int64_t n_embd = 0;          // hidden_size
    int64_t n_ff = 0;            // intermediate_size
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;        // hidden_size / heads unless given
    int64_t n_ctx_train = 0;     // max_position_embeddings
    bool tied_output = false;    // tie_word_embeddings
    bool qkv_bias = false;       // q/k/v projections carry a bias (Qwen2, attention_bias)
    bool o_bias = false;         // o_proj carries a bias (Llama's attention_bias)
    bool mlp_bias = false;       // gate/up/down carry biases (Llama's mlp_bias)
    uint32_t weight_bytes = 2;   // bytes per parameter as stored (torch_dtype)
    std::string dtype = "bfloat16";
};

// Parses a Hugging Face config.json (Llama, Mistral, Qwen2). `name` is used in error messages.
// Throws qlm::Error naming the field for a missing/invalid value or an unsupported model_type.
ModelShape parse_hf_config(std::string_view json_text, const std::string& name);
// Reads and parses a config.json file.
ModelShape load_hf_config(const std::string& path);

// The same shape from a GGUF model's hyperparameters (weight_bytes is left at 0: a GGUF file
// stores each tensor in its own type; use the tensor table for the byte count).
ModelShape shape_from_hparams(const Hparams& hp);

// The hyperparameters a context's memory plan needs, from a config (RoPE over the whole head).
Hparams hparams_from_shape(const ModelShape& s);
// The type the weights are stored in (torch_dtype): F32, F16 or BF16.
GgmlType weight_type(const ModelShape& s);

// Exact parameter count: embeddings + (untied ? output : 0)
//   + n_layer × (q + k + v (+ biases) + o + 3 × n_embd × n_ff + 2 norms) + final norm.
// Throws qlm::Error if the count overflows 64 bits (a hostile config).
uint64_t param_count(const ModelShape& s);

// The parameters of one layer and of the embeddings, for printing the formula.
struct ParamBreakdown {
    uint64_t embedding = 0;   // n_vocab × n_embd
    uint64_t output = 0;      // n_vocab × n_embd, or 0 when tied
    uint64_t attention = 0;   // per layer: q, k, v, o (+ biases)
    uint64_t ffn = 0;         // per layer: 3 × n_embd × n_ff (+ biases)
    uint64_t norms = 0;       // per layer: 2 × n_embd
    uint64_t final_norm = 0;  // n_embd
    uint64_t total = 0;
};
ParamBreakdown param_breakdown(const ModelShape& s);

}  // namespace qlm
