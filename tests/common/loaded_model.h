// A model file from ../shared/models loaded with its tokenizer (stories260K F32 unless named): the
// fixture of the tests that run the engine end to end on a real file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "src/gguf/gguf_file.h"
#include "src/model/model.h"
#include "src/tokenizer/tokenizer.h"

namespace qlm::test {

struct LoadedModel {
    explicit LoadedModel(const std::string& name = "stories260K-F32.gguf")
        : file(gguf::GgufFile::open(shared_file("models/" + name).string())),
          model(Model::load(file)),
          tok(Tokenizer::from_gguf(*file)) {}

    // `text` as the model sees a prompt: tokenized with its BOS.
    std::vector<int32_t> encode(const std::string& text) const { return tok->encode(text, {.add_bos = true}); }

    std::shared_ptr<const gguf::GgufFile> file;
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
};

}  // namespace qlm::test
