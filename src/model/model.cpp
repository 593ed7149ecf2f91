// Model::load: hyperparameters + weights bound to an open GGUF file.
#include "src/model/model.h"

#include "src/model/weights.h"

namespace qlm {

std::unique_ptr<Model> Model::load(std::shared_ptr<const gguf::GgufFile> file) {
    std::unique_ptr<Model> m(new Model());
    m->file_ = std::move(file);
    m->hp_ = read_hparams(*m->file_);
    m->weights_ = std::make_unique<ModelWeights>(*m->file_, m->hp_);
    return m;
}

Model::~Model() = default;

}  // namespace qlm
