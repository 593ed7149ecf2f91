// Resource limits against hostile or oversized requests: a file that asks for a giant vocabulary,
// context or tensor is refused before anything that size is allocated; `qlm run -c N` refuses a
// KV cache larger than the memory available and says how much it needs; `qlm quantize` refuses
// an output larger than the free disk space and names the bytes needed and free.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "common/tiny_gguf.h"
#include "src/gguf/gguf_file.h"
#include "src/model/context_layout.h"
#include "src/model/model.h"
#include "src/model/weights.h"
#include "src/util/cpu_info.h"
#include "unit/gguf/gguf_test_bytes.h"

namespace qlm::test {
namespace {

size_t count_lines(const std::string& s) {
    size_t n = 0;
    for (char c : s) n += c == '\n';
    if (!s.empty() && s.back() != '\n') ++n;
    return n;
}

// Runs qlm under a 1 GiB address-space limit (ulimit -v): an attempt to allocate what the file
// asks for would fail with "out of memory" instead of the specific refusal the test expects.
// Under AddressSanitizer (which reserves terabytes of shadow address space) there is no ulimit;
// ASan itself reports a giant allocation, which fails the test the same way.
#if defined(__SANITIZE_ADDRESS__)
constexpr const char* kLimit = "";
#else
constexpr const char* kLimit = "ulimit -v 1048576; ";
#endif
CommandResult qlm_limited(const std::vector<std::string>& args, const std::string& env = "") {
    std::string cmd = std::string(kLimit) + "exec " + (env.empty() ? "" : "env " + env + " ") + qlm_bin().string();
    for (const auto& a : args) cmd += " '" + a + "'";
    return run_command({"/bin/sh", "-c", cmd}, "", 120);
}

void expect_refusal(const CommandResult& r, const std::vector<std::string>& needles) {
    SCOPED_TRACE("stderr: " + r.err);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(count_lines(r.err), 1u);
    EXPECT_EQ(r.err.rfind("qlm: error: ", 0), 0u);
    for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << "missing '" << n << "'";
}

std::string write_tiny(const std::string& tag, const std::function<void(gguf::GgufWriter&)>& edit) {
    gguf::GgufWriter w = TinyModel{}.writer();
    edit(w);
    const auto p = temp_dir(tag) / (tag + ".gguf");
    write_bytes(p, w.to_bytes());
    return p.string();
}

TEST(ResourceLimits, GiantVocabularyInMetadataIsRefused) {
    const std::string p = write_tiny("giant-vocab", [](gguf::GgufWriter& w) { w.set_u64("llama.vocab_size", uint64_t{1} << 40); });
    for (const char* cmd : {"info", "run"}) {
        auto r = cmd == std::string("info") ? qlm_limited({"info", p}) : qlm_limited({"run", "-m", p, "-p", "hi", "-n", "1"});
        expect_refusal(r, {p, "llama.vocab_size", "outside the supported range"});
    }
}

TEST(ResourceLimits, GiantTokenArrayNotInTheFileIsRefusedBeforeAllocating) {
    // 2^40 strings announced in a 60-byte file.
    const auto p = temp_dir("giant-tokens") / "giant-tokens.gguf";
    write_bytes(p, GgufBytes{}.header(3, 0, 1).key("tokenizer.ggml.tokens", 9).u32(8).u64(uint64_t{1} << 40).str("a").b);
    expect_refusal(qlm_limited({"info", p.string()}), {p.string(), "tokenizer.ggml.tokens", "array of 1099511627776 string"});
}

TEST(ResourceLimits, GiantContextLengthIsRefused) {
    const std::string p = write_tiny("giant-ctx", [](gguf::GgufWriter& w) { w.set_u32("llama.context_length", 1u << 30); });
    expect_refusal(qlm_limited({"run", "-m", p, "-p", "hi", "-n", "1"}), {p, "llama.context_length", "outside the supported range"});
}

TEST(ResourceLimits, LargeTrainedContextNeedsMemoryTheRunRefuses) {
    // A context length inside the supported range whose KV cache (and scratch) exceeds the memory
    // allowed: the default -c (the model's) is refused with the bytes needed, nothing allocated.
    const std::string p = write_tiny("big-ctx", [](gguf::GgufWriter& w) { w.set_u32("llama.context_length", 1u << 24); });
    // -t given: the default leaves out CPUs that other processes (a parallel test run) keep busy.
    const int threads = physical_cores();
    auto r = qlm_limited({"run", "-m", p, "-p", "hi", "-n", "1", "-t", std::to_string(threads)}, "QLM_MEMORY_LIMIT=50000000");
    expect_refusal(r, {"a context of 16777216 tokens needs", "but only 50000000 bytes", "e.g. -c "});
    // The number it names is the memory plan's KV cache + scratch, for run's threads.
    auto model = Model::load(std::shared_ptr<const gguf::GgufFile>(gguf::GgufFile::open(p)));
    const ContextLayout plan = plan_context(model->hparams(), model->weights().matmul_groups(),
                                            {.n_ctx = 1 << 24, .n_batch = 512, .n_threads = threads});
    EXPECT_NE(r.err.find(std::to_string(plan.total_bytes) + " bytes"), std::string::npos) << r.err;
}

TEST(ResourceLimits, GiantTensorNotInTheFileIsRefused) {
    const auto p = temp_dir("giant-tensor") / "giant-tensor.gguf";
    write_bytes(p, GgufBytes{}.header(3, 1, 0).tensor("token_embd.weight", {4096, uint64_t{1} << 30}, 0, 0).pad_to(32).zeros(64).b);
    for (auto r : {qlm_limited({"info", p.string()}), qlm_limited({"quantize", p.string(), p.string() + ".out", "q8_0"})})
        expect_refusal(r, {p.string(), "token_embd.weight", "extends past the end of the file"});
}

TEST(ResourceLimits, QuantizeRefusesWhenTheDiskIsTooFull) {
    const std::string in = shared_file("models/stories260K-F32.gguf").string();
    const auto out = temp_dir("quantize-disk") / "out.gguf";
    auto r = qlm_limited({"quantize", in, out.string(), "q8_0"}, "QLM_DISK_FREE_LIMIT=100000");
    expect_refusal(r, {out.string(), "the output needs about", "but only 100000 bytes are free"});
    EXPECT_FALSE(std::filesystem::exists(out));
    // With room, the same command writes the file.
    auto ok = qlm_limited({"quantize", in, out.string(), "q8_0", "-t", "1"}, "QLM_DISK_FREE_LIMIT=100000000");
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_TRUE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace qlm::test
