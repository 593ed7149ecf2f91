// Which type each tensor gets when a model is quantized to a preset: llama.cpp's
// llama_tensor_get_type mixes (output at Q6_K, attn_v / ffn_down bumps of the _M presets chosen by
// use_more_bits, ...), the user overrides (--pure, --tensor-type, --output-tensor-type,
// --token-embedding-type) and the fallback for rows that are not a whole number of blocks.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quant/ggml_type.h"

namespace qlm {

enum class QuantPreset {
    F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S, Q3_K_M, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K,
    IQ4_NL, IQ4_XS,
};

struct PresetInfo {
    QuantPreset preset;
    std::string_view name;   // "Q4_K_M"
    GgmlType default_type;   // the type of most weight matrices
    uint32_t file_type;      // llama_ftype, written as general.file_type (FORMATS.md §5.6)
};

const std::vector<PresetInfo>& quant_presets();
const PresetInfo& preset_info(QuantPreset p);
// Case-insensitive; nullopt when unknown.
std::optional<QuantPreset> preset_from_name(std::string_view name);
// "Q8_0, Q4_0, ..." for error messages.
std::string preset_names();

struct PolicyOptions {
    bool pure = false;                                            // every weight matrix at the default type
    std::vector<std::pair<std::string, GgmlType>> tensor_types;   // REGEX=TYPE, first match wins
    std::optional<GgmlType> output_tensor_type;
    std::optional<GgmlType> token_embedding_type;
    bool has_imatrix = false;  // an importance matrix is given (llama.cpp's mixes differ with one)
};

struct PolicyTensor {
    std::string name;
    std::array<uint64_t, 4> ne{1, 1, 1, 1};
    int n_dims = 1;  // number of dimensions (trailing 1s do not count, as ggml_n_dims)
};

struct PolicyModel {
    std::string arch;   // general.architecture
    uint32_t n_layer = 0;
    uint32_t n_head = 0;
    uint32_t n_head_kv = 0;
    uint32_t n_expert = 0;  // ARCH.expert_count (0: dense)
};

struct TypeChoice {
    bool quantize = false;   // false: the tensor is copied in its source type
    GgmlType type = GgmlType::F32;   // the type written (after any fallback)
    GgmlType wanted = GgmlType::F32; // the type the policy asked for
    bool fallback = false;           // ne0 was not a multiple of wanted's block size
};

// llama.cpp's use_more_bits: the layers the _M presets give more bits.
bool use_more_bits(int i_layer, int n_layers);

// The 32-block type a type falls back to when ne0 is not a multiple of its block size
// (Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL, 32-block types -> F16).
GgmlType fallback_type(GgmlType t);

// Chooses the type of every tensor, in file order (the counters of the layer rules run in that
// order, as llama.cpp's). `source_types` are the tensors' types in the input file.
std::vector<TypeChoice> choose_types(QuantPreset preset, const PolicyOptions& opts, const PolicyModel& model,
                                     const std::vector<PolicyTensor>& tensors,
                                     const std::vector<GgmlType>& source_types);

}  // namespace qlm
