// The shape of a Llama-family transformer (Llama, Mistral, Qwen2, Qwen3, Gemma 3, Phi-3, and the
// mixtures of experts Mixtral and Qwen3-MoE) and its exact parameter count — in total and, for a
// mixture of experts, the part one token uses — from either a GGUF model's Hparams or a Hugging
// Face config.json.
//
//   ModelShape s = parse_hf_config(json_text, "config.json");   // throws qlm::Error
//   uint64_t n = param_count(s);                                 // 7,615,616,512 for Qwen2-7B
//   uint64_t a = param_breakdown(s).active;                      // 12,879,925,248 for Mixtral-8x7B
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "quant/ggml_type.h"
#include "src/model/hparams.h"

namespace qlm {

struct ModelShape {
    // HF model_type: llama, mistral, qwen2, qwen3, qwen3_moe, mixtral, phi3, gemma3 (gemma3_text);
    // or a GGUF architecture (shape_from_hparams).
    std::string arch;
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
    bool qk_norm = false;        // per-head q and k RMS norms of head_dim weights (Qwen3, Gemma 3)
    int norms_per_layer = 2;     // RMS norms of n_embd per layer (Gemma 3: 4, before and after each block)
    // Mixture of experts: n_moe_layers layers have n_expert SwiGLU experts of n_ff_exp rows and a
    // router (n_embd × n_expert), of which n_expert_used run per token; the other layers have a
    // dense feed-forward of n_ff rows.
    int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0, n_moe_layers = 0;
    bool multimodal = false;     // a vision-language config: only its language model is described
    uint32_t weight_bytes = 2;   // bytes per parameter as stored (torch_dtype)
    std::string dtype = "bfloat16";
};

// Parses a Hugging Face config.json (model_type llama, mistral, qwen2, qwen3, qwen3_moe, mixtral,
// phi3, gemma3 or gemma3_text; of a gemma3 vision-language config, its text_config, with
// Gemma3TextConfig's defaults for the fields it leaves out). `name` is used in error messages.
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
//   + n_layer × (q + k + v (+ biases) + o + norms (+ q/k norms))
//   + dense layers × 3 × n_embd × n_ff + MoE layers × (router + n_expert × 3 × n_embd × n_ff_exp)
//   + final norm.
// Throws qlm::Error if the count overflows 64 bits (a hostile config).
uint64_t param_count(const ModelShape& s);

// The parameters of one layer and of the embeddings, for printing the formula.
struct ParamBreakdown {
    uint64_t embedding = 0;   // n_vocab × n_embd
    uint64_t output = 0;      // n_vocab × n_embd, or 0 when tied
    uint64_t attention = 0;   // per layer: q, k, v, o (+ biases)
    uint64_t ffn = 0;         // per dense layer: 3 × n_embd × n_ff (+ biases)
    uint64_t norms = 0;       // per layer: norms_per_layer × n_embd (+ 2 × head_dim q/k norms)
    uint64_t router = 0;      // per MoE layer: n_embd × n_expert
    uint64_t expert = 0;      // one expert: 3 × n_embd × n_ff_exp
    uint64_t final_norm = 0;  // n_embd
    uint64_t total = 0;
    uint64_t active = 0;      // what one token uses: total less the experts it does not (= total when dense)
};
ParamBreakdown param_breakdown(const ModelShape& s);

}  // namespace qlm
