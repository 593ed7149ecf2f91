// libFuzzer target: arbitrary bytes as a GGUF file, through everything `qlm info` / `qlm run` do
// with a file before generating: the validating reader, every typed accessor, the architecture's
// hyperparameters, tensor binding, the memory plan, the vocabulary, and a short encode/decode and
// one forward step on whatever loads. Every failure must be a qlm::Error; anything else (a crash,
// a sanitizer report, another exception type, a leak) is a finding.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "src/gguf/gguf_file.h"
#include "src/model/hf_config.h"
#include "src/model/memory_plan.h"
#include "src/model/context.h"
#include "src/model/weights.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/error.h"

namespace {

using namespace qlm;

void touch_metadata(const gguf::GgufFile& f) {
    for (const auto& kv : f.metadata()) {
        (void)gguf::describe_type(kv.value);
        try { (void)f.get_u64(kv.key); } catch (const Error&) {}
        try { (void)f.get_i64(kv.key); } catch (const Error&) {}
        try { (void)f.get_f64(kv.key); } catch (const Error&) {}
        try { (void)f.get_bool(kv.key); } catch (const Error&) {}
        try { (void)f.get_string(kv.key); } catch (const Error&) {}
        try { (void)f.get_array(kv.key, gguf::ValueType::INT32); } catch (const Error&) {}
    }
}

void exercise_tokenizer(const Tokenizer& tok) {
    static const char* const texts[] = {"Hello world", " <s>x</s> <|endoftext|>\n\n", "\xff\xfe\xc3", "  a  1234 ."};
    for (const char* t : texts) {
        for (bool special : {false, true}) {
            EncodeOptions eo;
            eo.add_bos = tok.add_bos();
            eo.add_eos = tok.add_eos();
            eo.parse_special = special;
            std::vector<int32_t> ids = tok.encode(t, eo);
            (void)tok.decode(ids, special);
        }
    }
    const int64_t n = tok.n_vocab();
    std::vector<int32_t> ids;
    for (int64_t id = 0; id < n && id < 300; ++id) ids.push_back(static_cast<int32_t>(id));
    for (int64_t id = n - 1; id >= 300 && id >= n - 16; --id) ids.push_back(static_cast<int32_t>(id));
    Utf8Stream stream;
    for (int32_t id : ids) {
        (void)stream.push(tok.token_to_piece(id, id % 2 == 0));
        (void)tok.is_end_of_generation(id);
        (void)tok.token_type(id);
    }
    (void)stream.flush();
    (void)tok.decode(ids, true);
}

void exercise_model(const std::shared_ptr<const gguf::GgufFile>& file) {
    auto model = Model::load(file);
    const Hparams& hp = model->hparams();
    const ModelShape shape = shape_from_hparams(hp);
    (void)param_count(shape);
    (void)plan_memory(hp, model->weights().matmul_groups(), 0, {.n_ctx = 0, .n_batch = 512, .n_threads = 1});
    // One token through the forward pass, as `qlm run -c 4` would, when the model is small.
    uint64_t bytes = 0;
    for (const auto& t : file->tensors()) bytes += t.n_bytes;
    if (bytes > (uint64_t{1} << 20) || hp.n_ff > 4096 || hp.n_layer > 8) return;
    InferenceContext ctx(*model, {.n_ctx = std::min<int64_t>(4, hp.n_ctx_train), .n_batch = 4, .n_threads = 1});
    const int32_t tok = 0;
    ctx.eval(std::span<const int32_t>(&tok, 1), false);
    (void)ctx.logits(0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::shared_ptr<const gguf::GgufFile> file;
    try {
        file = gguf::GgufFile::parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
    } catch (const Error&) {
        return 0;
    }
    touch_metadata(*file);
    try {
        exercise_model(file);
    } catch (const Error&) {
    }
    try {
        auto tok = Tokenizer::from_gguf(*file);
        exercise_tokenizer(*tok);
    } catch (const Error&) {
    }
    return 0;
}
