// Models with hostile weight values (NaN, infinity) from otherwise valid files: the forward pass
// runs without undefined behaviour (UBSan under the asan preset), and `qlm quantize`'s quantizer
// refuses them with one line naming the tensor (as llama-quantize's row validation does).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "common/tiny_gguf.h"
#include "src/gguf/gguf_file.h"
#include "src/model/context.h"
#include "src/quantize/quantize_model.h"
#include "src/util/error.h"

namespace qlm {
namespace {

test::TinyModel with_value_in(const std::string& tensor, float value) {
    test::TinyModel m;
    m.edit_tensor = [tensor, value](const std::string& name, std::vector<uint8_t>& bytes) {
        if (name != tensor) return;
        for (size_t i = 0; i + 4 <= bytes.size(); i += 12) std::memcpy(bytes.data() + i, &value, 4);
    };
    return m;
}

// Found by tests/fuzz/fuzz_gguf: NaN activations reached the Q8_0 activation quantizer's
// float -> int8 cast (undefined behaviour).
TEST(HostileWeights, NanAndInfWeightsRunWithoutUndefinedBehaviour) {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    for (const auto& [tensor, value] : std::vector<std::pair<std::string, float>>{
             {"blk.0.attn_q.weight", nan}, {"token_embd.weight", inf}, {"blk.0.ffn_down.weight", -inf},
             {"output_norm.weight", nan}, {"blk.0.attn_norm.weight", nan}}) {
        for (GgmlType mt : {GgmlType::F32, GgmlType::Q8_0}) {  // Q8_0: activations are quantized to int8
            test::TinyModel m = with_value_in(tensor, value);
            m.matrix_type = mt;
            m.n_embd = m.n_ff = 32;
            const std::vector<uint8_t> bytes = m.writer().to_bytes();
            std::shared_ptr<const gguf::GgufFile> file = gguf::GgufFile::parse(bytes, "hostile.gguf");
            auto model = Model::load(file);
            InferenceContext ctx(*model, {.n_ctx = 8, .n_batch = 4, .n_outputs = 3, .n_threads = 1});
            const std::vector<int32_t> prompt = {1, 260, 263};
            ctx.eval(prompt, true);
            ASSERT_EQ(ctx.n_outputs(), 3) << tensor;
            const int32_t next = 5;
            ctx.eval(std::span<const int32_t>(&next, 1), false);
            EXPECT_EQ(ctx.logits(0).size(), static_cast<size_t>(model->hparams().n_vocab)) << tensor;
        }
    }
}

TEST(HostileWeights, QuantizeRefusesNonFiniteInputWithTheTensorName) {
    const auto dir = test::temp_dir("hostile_quantize");
    const auto in = dir / "nan.gguf";
    test::write_bytes(in, with_value_in("blk.0.ffn_up.weight", std::numeric_limits<float>::quiet_NaN())
                              .writer().to_bytes());
    QuantizeOptions o;
    o.input = in.string();
    o.output = (dir / "out.gguf").string();
    o.preset = QuantPreset::Q8_0;
    o.policy.pure = true;
    try {
        quantize_model(o);
        FAIL() << "quantized a model with NaN weights";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("blk.0.ffn_up.weight"), std::string::npos) << msg;
        EXPECT_NE(msg.find("not a finite number"), std::string::npos) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "out.gguf"));
}

}  // namespace
}  // namespace qlm
