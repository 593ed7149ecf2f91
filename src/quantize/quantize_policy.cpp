#include "src/quantize/quantize_policy.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include "src/util/error.h"

namespace qlm {

namespace {
bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }
bool ends_with(std::string_view s, std::string_view tail) {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}
bool is_quantized_type(GgmlType t) { return t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::BF16; }

// Whether llama.cpp quantizes this tensor at all (weights of 2+ dims, no norms, no routers/positions).
bool quantizable(const PolicyTensor& t) {
    std::string_view n = t.name;
    if (!ends_with(n, "weight") || t.n_dims < 2) return false;
    if (contains(n, "_norm.weight") || contains(n, "ffn_gate_inp.weight")) return false;
    if (n == "position_embd.weight" || n == "token_types.weight") return false;
    return true;
}

struct State {
    QuantPreset preset;
    const PolicyModel& model;
    bool has_imatrix = false;
    bool has_output = false;
    int n_attention_wv = 0, i_attention_wv = 0;
    int n_ffn_down = 0, i_ffn_down = 0;
};

// llama_tensor_get_type for the presets qlm offers (of the IQ types IQ4_NL and IQ4_XS; of the
// Falcon and MoE special cases those that change a Llama/Qwen2/Qwen3-MoE/Mixtral model: with 8
// experts, attn_k and attn_v at Q8_0 and attn_output at Q5_K for the 2- to 4-bit presets, as
// llama.cpp does).
GgmlType preset_type(State& s, GgmlType new_type, const PolicyTensor& t) {
    const std::string& name = t.name;
    const QuantPreset p = s.preset;
    const bool falcon = s.model.arch == "falcon";
    const bool iq4 = p == QuantPreset::IQ4_NL || p == QuantPreset::IQ4_XS;
    const uint32_t n_gqa = s.model.n_head_kv ? s.model.n_head / s.model.n_head_kv : 1;
    const bool eight_experts = s.model.n_expert == 8;
    if (name == "output.weight" || (!s.has_output && name == "token_embd.weight")) {
        if (falcon || t.ne[0] % 256 != 0) return GgmlType::Q8_0;
        if (new_type != GgmlType::Q8_0) return GgmlType::Q6_K;
        return new_type;
    }
    if (name == "token_embd.weight") return new_type;
    if (contains(name, "attn_v.weight")) {
        const int i = s.i_attention_wv++;
        if (p == QuantPreset::Q2_K)
            new_type = n_gqa >= 4 ? GgmlType::Q4_K : GgmlType::Q3_K;
        else if (p == QuantPreset::Q3_K_M)
            new_type = i < 2 ? GgmlType::Q5_K : GgmlType::Q4_K;
        else if (iq4 && n_gqa >= 4)
            new_type = GgmlType::Q5_K;
        else if ((p == QuantPreset::Q4_K_M || p == QuantPreset::Q5_K_M) && use_more_bits(i, s.n_attention_wv))
            new_type = GgmlType::Q6_K;
        else if (p == QuantPreset::Q4_K_S && i < 4)
            new_type = GgmlType::Q5_K;
        if (eight_experts) new_type = GgmlType::Q8_0;
        return new_type;
    }
    if (contains(name, "attn_k.weight") && eight_experts) return GgmlType::Q8_0;
    if (contains(name, "ffn_down")) {
        const int i = s.i_ffn_down++, n = s.n_ffn_down;
        if (p == QuantPreset::Q2_K)
            new_type = GgmlType::Q3_K;
        else if (p == QuantPreset::Q3_K_M)
            new_type = i < n / 16 ? GgmlType::Q5_K
                       : (!falcon || use_more_bits(i, n)) ? GgmlType::Q4_K
                                                           : GgmlType::Q3_K;
        else if (p == QuantPreset::Q4_K_M) {
            if (falcon)
                new_type = i < n / 16 ? GgmlType::Q6_K : use_more_bits(i, n) ? GgmlType::Q5_K : GgmlType::Q4_K;
            else if (use_more_bits(i, n))
                new_type = GgmlType::Q6_K;
        } else if (iq4 && i < n / 8 && !s.has_imatrix)
            new_type = GgmlType::Q5_K;
        else if (p == QuantPreset::Q5_K_M && use_more_bits(i, n))
            new_type = GgmlType::Q6_K;
        else if (p == QuantPreset::Q4_K_S && !falcon && i < n / 8)
            new_type = GgmlType::Q5_K;
        else if ((p == QuantPreset::Q4_0 || p == QuantPreset::Q5_0) && s.has_imatrix && i < n / 8)
            // llama.cpp guards the first ffn_down layers of Q4_0/Q5_0 this way only with an imatrix.
            new_type = p == QuantPreset::Q4_0 ? GgmlType::Q4_1 : GgmlType::Q5_1;
        return new_type;
    }
    if (contains(name, "attn_output.weight")) {
        if (!falcon && eight_experts) {
            if (p == QuantPreset::Q2_K || p == QuantPreset::Q3_K_S || p == QuantPreset::Q3_K_M ||
                p == QuantPreset::Q4_K_S || p == QuantPreset::Q4_K_M || iq4)
                new_type = GgmlType::Q5_K;
        } else if (!falcon) {
            if (p == QuantPreset::Q2_K) new_type = GgmlType::Q3_K;
            else if (p == QuantPreset::Q3_K_M) new_type = GgmlType::Q4_K;
        }
        return new_type;
    }
    return new_type;
}
}  // namespace

const std::vector<PresetInfo>& quant_presets() {
    static const std::vector<PresetInfo> presets = {
        {QuantPreset::Q8_0, "Q8_0", GgmlType::Q8_0, 7},     {QuantPreset::Q4_0, "Q4_0", GgmlType::Q4_0, 2},
        {QuantPreset::Q4_1, "Q4_1", GgmlType::Q4_1, 3},     {QuantPreset::Q5_0, "Q5_0", GgmlType::Q5_0, 8},
        {QuantPreset::Q5_1, "Q5_1", GgmlType::Q5_1, 9},     {QuantPreset::Q2_K, "Q2_K", GgmlType::Q2_K, 10},
        {QuantPreset::Q3_K_S, "Q3_K_S", GgmlType::Q3_K, 11}, {QuantPreset::Q3_K_M, "Q3_K_M", GgmlType::Q3_K, 12},
        {QuantPreset::Q4_K_S, "Q4_K_S", GgmlType::Q4_K, 14}, {QuantPreset::Q4_K_M, "Q4_K_M", GgmlType::Q4_K, 15},
        {QuantPreset::Q5_K_S, "Q5_K_S", GgmlType::Q5_K, 16}, {QuantPreset::Q5_K_M, "Q5_K_M", GgmlType::Q5_K, 17},
        {QuantPreset::Q6_K, "Q6_K", GgmlType::Q6_K, 18},     {QuantPreset::IQ4_NL, "IQ4_NL", GgmlType::IQ4_NL, 25},
        {QuantPreset::IQ4_XS, "IQ4_XS", GgmlType::IQ4_XS, 30}, {QuantPreset::F16, "F16", GgmlType::F16, 1},
        {QuantPreset::BF16, "BF16", GgmlType::BF16, 32},     {QuantPreset::F32, "F32", GgmlType::F32, 0},
    };
    return presets;
}

const PresetInfo& preset_info(QuantPreset p) {
    for (const auto& i : quant_presets())
        if (i.preset == p) return i;
    throw_error("unknown quantization preset {}", static_cast<int>(p));
}

std::optional<QuantPreset> preset_from_name(std::string_view name) {
    for (const auto& i : quant_presets()) {
        if (i.name.size() != name.size()) continue;
        bool eq = true;
        for (size_t k = 0; k < name.size(); ++k)
            if (std::toupper(static_cast<unsigned char>(name[k])) != static_cast<unsigned char>(i.name[k])) eq = false;
        if (eq) return i.preset;
    }
    return std::nullopt;
}

std::string preset_names() {
    std::string s;
    for (const auto& i : quant_presets()) {
        if (!s.empty()) s += ", ";
        s += i.name;
    }
    return s;
}

bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

GgmlType fallback_type(GgmlType t) {
    switch (t) {
        case GgmlType::Q2_K:
        case GgmlType::Q3_K: return GgmlType::Q4_0;
        case GgmlType::Q4_K: return GgmlType::Q5_0;
        case GgmlType::Q5_K: return GgmlType::Q5_1;
        case GgmlType::Q6_K: return GgmlType::Q8_0;
        case GgmlType::IQ4_XS: return GgmlType::IQ4_NL;
        default: return GgmlType::F16;
    }
}

std::vector<TypeChoice> choose_types(QuantPreset preset, const PolicyOptions& opts, const PolicyModel& model,
                                     const std::vector<PolicyTensor>& tensors,
                                     const std::vector<GgmlType>& source_types) {
    if (source_types.size() != tensors.size())
        throw_error("choose_types: {} tensors but {} source types", tensors.size(), source_types.size());
    std::vector<std::pair<std::regex, GgmlType>> overrides;
    for (const auto& [pattern, type] : opts.tensor_types) {
        try {
            overrides.emplace_back(std::regex(pattern), type);
        } catch (const std::regex_error& e) {
            throw_error("--tensor-type '{}': not a valid regular expression ({})", pattern, e.what());
        }
    }
    State s{preset, model, opts.has_imatrix};
    for (const auto& t : tensors) {
        if (t.name == "output.weight") s.has_output = true;
        if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight")) ++s.n_attention_wv;
    }
    s.n_ffn_down = static_cast<int>(model.n_layer);
    if (s.n_ffn_down == 0)
        for (const auto& t : tensors) s.n_ffn_down += contains(t.name, "ffn_down") ? 1 : 0;

    const GgmlType default_type = preset_info(preset).default_type;
    std::vector<TypeChoice> out;
    out.reserve(tensors.size());
    for (size_t k = 0; k < tensors.size(); ++k) {
        const PolicyTensor& t = tensors[k];
        TypeChoice c;
        c.type = c.wanted = source_types[k];
        if (!quantizable(t)) {
            out.push_back(c);
            continue;
        }
        GgmlType type = default_type;
        if (!opts.pure && is_quantized_type(default_type)) type = preset_type(s, type, t);
        for (const auto& [re, ot] : overrides)
            if (std::regex_search(t.name, re)) {
                type = ot;
                break;
            }
        if (opts.token_embedding_type && t.name == "token_embd.weight") type = *opts.token_embedding_type;
        if (opts.output_tensor_type && t.name == "output.weight") type = *opts.output_tensor_type;
        c.wanted = type;
        while (t.ne[0] % type_info(type).block_size != 0) {
            type = fallback_type(type);
            c.fallback = true;
        }
        c.type = type;
        c.quantize = true;
        out.push_back(c);
    }
    return out;
}

}  // namespace qlm
