// The one way every subcommand loads a model: open the file (clear errors for a missing path, a
// directory, a file that is not GGUF), check the architecture and the tensor types, bind the
// weights (Model::load) and load the tokenizer, checked against the model's vocabulary.
//
//   LoadedModel m = load_model("models/stories260K.gguf");     // throws qlm::Error
//   InferenceContext ctx(*m.model, {.n_ctx = 512});
//   std::vector<int32_t> ids = m.tokenizer->encode("Once upon a time", {.add_bos = true});
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "src/gguf/gguf_file.h"
#include "src/model/model.h"
#include "src/tokenizer/tokenizer.h"

namespace qlm {

enum class TokenizerNeed {
    Required,   // the file must have a vocabulary (generation, perplexity, imatrix)
    IfPresent,  // load and check it when the file has one (describing a file)
    None,       // do not load it (benchmarks)
};

struct LoadModelOptions {
    // Refuse a tensor whose type the forward pass cannot compute with; off to describe any file.
    bool check_tensor_types = true;
    TokenizerNeed tokenizer = TokenizerNeed::Required;
};

struct LoadedModel {
    std::shared_ptr<const gguf::GgufFile> file;
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tokenizer;  // null when not asked for, or IfPresent and absent
    double load_seconds = 0;               // opening to the tokenizer, wall clock
};

// Throws qlm::Error naming the problem and the fix.
LoadedModel load_model(const std::string& path, const LoadModelOptions& opts = {});

// The vocabulary alone (qlm tokenize: a vocab-only file is enough).
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// Checks the path (given, exists) before handing it to the GGUF reader.
std::shared_ptr<const gguf::GgufFile> open_model_file(const std::string& path);
// Throws qlm::Error naming the first tensor whose type qlm can't compute with.
void check_tensor_types(const gguf::GgufFile& file);

struct TypeCount {
    uint64_t tensors = 0;
    uint64_t elements = 0;
    uint64_t bytes = 0;
};
struct TensorStats {
    std::map<std::string, TypeCount> by_type;  // type name -> counts
    uint64_t n_params = 0;                     // sum of element counts of every tensor
    uint64_t n_bytes = 0;                      // sum of tensor data bytes
};
TensorStats tensor_stats(const gguf::GgufFile& file);

}  // namespace qlm
