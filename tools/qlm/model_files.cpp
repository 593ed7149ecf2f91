#include "tools/qlm/model_files.h"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "quant/formats.h"
#include "quant/ggml_type.h"
#include "src/util/error.h"

namespace qlm::cli {

std::shared_ptr<const gguf::GgufFile> open_model_file(const std::string& path) {
    if (path.empty()) throw_error("no model given: pass -m MODEL.gguf (get one with scripts/get-model.sh stories260K)");
    std::error_code ec;
    auto st = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(st))
        throw_error("{}: no such model file (check the path, or download one with scripts/get-model.sh stories260K)",
                    path);
    return std::shared_ptr<const gguf::GgufFile>(gguf::GgufFile::open(path));
}

void check_architecture(const gguf::GgufFile& file) {
    auto arch = file.get_string("general.architecture");
    if (!arch)
        throw_error("{}: general.architecture is missing: not a model file qlm can run (vocab-only or "
                    "incomplete GGUF?)",
                    file.path());
    if (*arch != "llama" && *arch != "qwen2")
        throw_error("{}: architecture '{}' is not supported: qlm runs 'llama' (Llama, Mistral, TinyLlama, "
                    "SmolLM) and 'qwen2' models",
                    file.path(), *arch);
}

void check_tensor_types(const gguf::GgufFile& file) {
    for (const auto& t : file.tensors()) {
        if (!find_format(t.type))
            throw_error("{}: tensor '{}' has type {}, which qlm cannot compute with yet: re-quantize the "
                        "model to q8_0, q4_k_m or f16",
                        file.path(), t.name, type_name(t.type));
    }
}

TensorStats tensor_stats(const gguf::GgufFile& file) {
    TensorStats s;
    for (const auto& t : file.tensors()) {
        TypeCount& c = s.by_type[std::string(type_name(t.type))];
        c.tensors += 1;
        c.elements += t.n_elements;
        c.bytes += t.n_bytes;
        s.n_params += t.n_elements;
        s.n_bytes += t.n_bytes;
    }
    return s;
}

std::string format_count(uint64_t n) {
    double v = static_cast<double>(n);
    if (n >= 1000000000ull) return fmt::format("{:.2f} B", v / 1e9);
    if (n >= 1000000ull) return fmt::format("{:.2f} M", v / 1e6);
    if (n >= 1000ull) return fmt::format("{:.2f} K", v / 1e3);
    return fmt::format("{}", n);
}

std::string with_commas(uint64_t n) {
    std::string digits = std::to_string(n), out;
    int k = 0;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
        if (k && k % 3 == 0) out.push_back(',');
        out.push_back(*it);
        ++k;
    }
    return std::string(out.rbegin(), out.rend());
}

}  // namespace qlm::cli
