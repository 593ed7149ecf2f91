// A model: its hyperparameters (hparams.h) and its weights (weights.h) bound to an open GGUF
// file, whose tensors stay memory-mapped. An InferenceContext (context.h) runs it.
//
//   auto file  = std::shared_ptr<gguf::GgufFile>(gguf::GgufFile::open(path));
//   auto model = Model::load(file);                                  // throws qlm::Error
#pragma once

#include <memory>

#include "src/gguf/gguf_file.h"
#include "src/model/hparams.h"

namespace qlm {

class ModelWeights;  // weights.h

class Model {
public:
    static std::unique_ptr<Model> load(std::shared_ptr<const gguf::GgufFile> file);
    ~Model();

    const Hparams& hparams() const { return hp_; }
    const gguf::GgufFile& file() const { return *file_; }
    std::shared_ptr<const gguf::GgufFile> file_ptr() const { return file_; }
    const ModelWeights& weights() const { return *weights_; }

private:
    Model() = default;
    std::shared_ptr<const gguf::GgufFile> file_;
    Hparams hp_;
    std::unique_ptr<ModelWeights> weights_;
};

}  // namespace qlm
