// Importance matrices: for every matmul weight tensor, the mean over calibration tokens of the
// squared input activation of each input column (what llama.cpp's llama-imatrix computes), and
// llama.cpp's legacy .dat file format for them:
//   int32 n_entries
//   n_entries x { int32 name_len, char name[name_len], int32 ncall, int32 nval, float values[nval] }
//   int32 last_chunk, int32 dataset_len, char dataset[dataset_len]     (optional trailer)
// all little-endian. values[i] = (Σ x_i² / tokens) · ncall, so a reader divides by ncall to get
// the per-token mean (as llama-quantize does); ncall is the number of chunks evaluated.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/gguf/gguf_file.h"
#include "src/model/matmul_observer.h"
#include "src/model/model.h"

namespace qlm {

struct ImatrixEntry {
    std::string name;           // the weight tensor, e.g. "blk.0.attn_q.weight"
    int32_t ncall = 0;          // chunks it was collected over (>= 1)
    std::vector<float> values;  // as stored: mean squared activation x ncall, one per input column
};

struct Imatrix {
    std::vector<ImatrixEntry> entries;
    int32_t last_chunk = 0;     // chunks of the run that wrote the file
    std::string dataset;        // the calibration text's file name
};

// Writes `m` atomically (temp file + rename); throws qlm::Error naming the path on failure.
void write_imatrix(const std::string& path, const Imatrix& m);

// Reads and validates a legacy .dat file: every count and length checked against the file size,
// names non-empty and unique, nval >= 1, ncall >= 1, values finite and non-negative. Throws
// qlm::Error with one line naming the problem.
Imatrix read_imatrix(const std::string& path);

// The per-column importances (values / ncall) by tensor name, checked against a model: every
// entry must name a tensor of `model` whose rows have nval elements. Throws qlm::Error.
std::map<std::string, std::vector<float>> imatrix_importances(const Imatrix& m, const gguf::GgufFile& model,
                                                              const std::string& imatrix_path);

// Collects an importance matrix while a context runs (ContextOptions::matmul_observer): Σ x²
// per input column and the token count of every weight matrix of `model` except output.weight
// (llama-imatrix's default). Call chunk_done() after each calibration chunk.
class ImatrixCollector : public MatmulObserver {
public:
    explicit ImatrixCollector(const Model& model);
    void on_matmul(const WeightView& w, const float* x, int64_t n_tokens) override;
    void chunk_done() { ++chunks_; }
    int32_t chunks() const { return chunks_; }
    // The entries (tensors that saw at least one token) in model order, ready to write.
    Imatrix result(const std::string& dataset) const;

private:
    struct Acc {
        std::string name;
        std::vector<double> sum_sq;
        int64_t tokens = 0;
    };
    std::vector<Acc> acc_;                          // model order
    std::unordered_map<const void*, size_t> index_; // weight data -> acc_ index
    int32_t chunks_ = 0;
};

}  // namespace qlm
