// The KV cache types and the attention kernels through the qlm binary: a q8_0 cache and the
// flash kernel give nearly the perplexity of the default f16 exact path on the trained kjv-8M
// model; q8_0 is refused, with the fix, for a head size that is not whole q8_0 blocks; `qlm info`
// prints the q8_0 cache formula; `-fa` is accepted as llama.cpp spells it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/test_support.h"

namespace qlm {
namespace {

using test::shared_file;

test::CommandResult qlm(std::vector<std::string> args) {
    args.insert(args.begin(), test::qlm_bin().string());
    return test::run_command(args, "", 600);
}

double kjv_ppl(const std::vector<std::string>& extra) {
    std::vector<std::string> a{"perplexity", "-m", shared_file("models/kjv-8M-F32.gguf").string(), "-f",
                               shared_file("models/kjv-test.txt").string(), "-c", "256", "-b", "256", "--chunks", "6"};
    a.insert(a.end(), extra.begin(), extra.end());
    const auto r = qlm(a);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string label = "Final estimate: PPL = ";
    const size_t at = r.out.find(label);
    EXPECT_NE(at, std::string::npos) << r.out;
    return at == std::string::npos ? std::nan("") : std::strtod(r.out.c_str() + at + label.size(), nullptr);
}

TEST(CliAttention, Q8_0CacheAndFlashKeepPerplexity) {
    const double base = kjv_ppl({});
    ASSERT_TRUE(std::isfinite(base));
    EXPECT_NEAR(kjv_ppl({"--kv-type", "q8_0"}) / base, 1.0, 2e-3);
    EXPECT_NEAR(kjv_ppl({"-fa"}) / base, 1.0, 2e-4);
    EXPECT_NEAR(kjv_ppl({"--flash-attn", "--kv-type", "q8_0"}) / base, 1.0, 2e-3);
    EXPECT_NEAR(kjv_ppl({"--kv-type", "f32", "--fa"}) / base, 1.0, 2e-4);
}

TEST(CliAttention, RunWithQ8_0CacheAndFlash) {
    const auto r = qlm({"run", "-m", shared_file("models/kjv-8M-F32.gguf").string(), "-p", "And God said", "-n", "12",
                        "--temp", "0", "--kv-type", "q8_0", "-fa"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("And God said", 0), 0u) << r.out;
    EXPECT_GT(r.out.size(), std::string("And God said").size() + 12);
    EXPECT_NE(r.err.find("kv q8_0"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("flash attention"), std::string::npos) << r.err;
}

TEST(CliAttention, Q8_0CacheNeedsWholeBlocksPerHead) {
    const auto r = qlm({"run", "-m", shared_file("models/stories260K-F32.gguf").string(), "-p", "hi", "--kv-type", "q8_0"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "qlm: error: a q8_0 KV cache needs a head size that is a multiple of 32, but this model's is 8 (use "
                     "--kv-type f16)\n");
}

TEST(CliAttention, InfoPrintsTheQ8_0Formula) {
    const auto r = qlm({"info", shared_file("models/kjv-8M-F32.gguf").string(), "-c", "256", "--kv-type", "q8_0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // 2 x 8 layers x 256 ctx x 2 kv heads x 64 head_dim x 34/32 bytes = 557,056
    EXPECT_NE(r.out.find("557,056 bytes"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("x 64 head_dim x 34/32 bytes"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace qlm
