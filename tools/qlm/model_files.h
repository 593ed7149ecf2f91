// Opening model files for the subcommands: clear one-line errors for the usual mistakes (no such
// file, a directory, not a GGUF file, an architecture or tensor type qlm can't run), and the
// numbers the load summary and `qlm info` print.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "src/gguf/gguf_file.h"

namespace qlm::cli {

// Checks the path (exists, regular file, GGUF magic) before handing it to the GGUF reader.
std::shared_ptr<const gguf::GgufFile> open_model_file(const std::string& path);

// Throws qlm::Error unless general.architecture is one qlm runs (llama, qwen2).
void check_architecture(const gguf::GgufFile& file);
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

// "292.80 K", "7.62 B".
std::string format_count(uint64_t n);
// "1,185,376"
std::string with_commas(uint64_t n);

}  // namespace qlm::cli
