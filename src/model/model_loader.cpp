#include "src/model/model_loader.h"

#include <chrono>
#include <filesystem>
#include <system_error>

#include "quant/formats.h"
#include "quant/ggml_type.h"
#include "src/model/hparams.h"
#include "src/util/error.h"

namespace qlm {

std::shared_ptr<const gguf::GgufFile> open_model_file(const std::string& path) {
    if (path.empty()) throw_error("no model given: pass -m MODEL.gguf (get one with scripts/get-model.sh stories260K)");
    std::error_code ec;
    auto st = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(st))
        throw_error("{}: no such model file (check the path, or download one with scripts/get-model.sh stories260K)",
                    path);
    return std::shared_ptr<const gguf::GgufFile>(gguf::GgufFile::open(path));
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

LoadedModel load_model(const std::string& path, const LoadModelOptions& opts) {
    const auto t0 = std::chrono::steady_clock::now();
    LoadedModel m;
    m.file = open_model_file(path);
    (void)model_architecture(*m.file);  // before the tensor checks: a file of another kind says so first
    if (opts.check_tensor_types) check_tensor_types(*m.file);
    m.model = Model::load(m.file);
    const bool has_vocab = m.file->find("tokenizer.ggml.model") != nullptr;
    if (opts.tokenizer == TokenizerNeed::Required || (opts.tokenizer == TokenizerNeed::IfPresent && has_vocab)) {
        m.tokenizer = Tokenizer::from_gguf(*m.file);
        const int64_t n_vocab = m.model->hparams().n_vocab;
        if (m.tokenizer->n_vocab() != n_vocab)
            throw_error("{}: the tokenizer has {} tokens but the model's vocabulary is {}: the file is inconsistent",
                        path, m.tokenizer->n_vocab(), n_vocab);
    }
    m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return m;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
    return Tokenizer::from_gguf(*open_model_file(path));
}

}  // namespace qlm
