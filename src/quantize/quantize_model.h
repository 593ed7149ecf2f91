// The offline quantizer behind `qlm quantize`: reads an F32/F16/BF16 GGUF, chooses each tensor's
// type with quantize_policy.h, quantizes chunks of rows on a thread pool and writes a new GGUF
// with the same metadata (general.file_type and general.quantization_version set), atomically and
// byte-for-byte reproducibly.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "quant/ggml_type.h"
#include "src/quantize/quantize_policy.h"

namespace qlm {

struct QuantizeOptions {
    std::string input;
    std::string output;
    QuantPreset preset = QuantPreset::Q8_0;
    PolicyOptions policy;
    int n_threads = 0;                 // 0: one per logical CPU; at most max_threads() (src/util/cpu_info.h)
    bool allow_requantize = false;     // accept already-quantized input tensors
    // false (default): the error-minimizing search of quant/quantize_search.h for every format that
    // has one (Q8_0 and the float types keep their single rule); true: llama.cpp's reference
    // rounding, byte-identical to llama-quantize without an importance matrix.
    bool reference_rounding = false;
    // Per-tensor column importances (an importance matrix, src/quantize/imatrix.h): tensor name ->
    // ne0 non-negative weights. Tensors listed here weight their per-element squared error with
    // them; requires reference_rounding == false.
    std::map<std::string, std::vector<float>> importance;
    // Called after each tensor is written: (tensors done, tensor count).
    std::function<void(size_t, size_t)> progress;
    // When set and it becomes true, quantization stops and nothing is left at the output.
    const std::atomic<bool>* cancel = nullptr;
};

struct QuantizedTensor {
    std::string name;
    GgmlType from = GgmlType::F32;
    GgmlType to = GgmlType::F32;
    GgmlType wanted = GgmlType::F32;   // differs from `to` when the fallback applied
    bool fallback = false;
    bool searched = false;             // written with the error-minimizing search
    bool weighted = false;             // ... weighted by the importance matrix
    uint64_t n_elements = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    // Σ (dequantized − source)² and Σ source² over the tensor (0 when copied unchanged).
    double sq_error = 0, sq_norm = 0;
};

struct QuantizeReport {
    std::vector<QuantizedTensor> tensors;
    uint64_t file_bytes_in = 0;
    uint64_t file_bytes_out = 0;
    double seconds = 0;
};

// True when quantize_model writes tensors of type t: the weight formats of the format table
// (quant/formats.h), the activation-only Q8_1 and Q8_K excluded.
bool writable_type(GgmlType t);
// The writable types' names, "f32, f16, bf16, q8_0, ...", for error messages.
std::string writable_type_names();

// The type each tensor of `input` would get (no writing); for --dry-run style checks and tests.
std::vector<QuantizedTensor> plan_quantization(const std::string& input, QuantPreset preset, const PolicyOptions& policy);

// Quantizes; throws qlm::Error with one line (the output is then absent). Before writing, the
// output's folder must have room for the whole output (statvfs; $QLM_DISK_FREE_LIMIT=BYTES caps
// the free space it sees, for tests); the error names the bytes needed and free.
QuantizeReport quantize_model(const QuantizeOptions& opts);

}  // namespace qlm
