// `qlm imatrix` and `qlm quantize --imatrix` end to end: the file llama.cpp's readers expect,
// importance-weighted quantization lowering the importance-weighted weight error, and hostile
// or mismatched importance matrices refused with one-line errors and no output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "quant/formats.h"
#include "src/gguf/gguf_file.h"
#include "src/quantize/imatrix.h"

namespace qlm {
namespace {

namespace fs = std::filesystem;

std::string mini() { return test::synth_model("mini-f32.gguf").string(); }
std::string stories() { return test::shared_file("models/stories260K-F32.gguf").string(); }
std::string text() { return test::shared_file("models/kjv-test.txt").string(); }

test::CommandResult qlm(const std::vector<std::string>& args) {
    std::vector<std::string> argv{test::qlm_bin().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_command(argv, "", 300);
}

// Σ_tensors Σ_rows Σ_i imp_i (dequantized − source)² over the tensors with importances.
double weighted_error(const gguf::GgufFile& src, const gguf::GgufFile& q,
                      const std::map<std::string, std::vector<float>>& imp) {
    double total = 0;
    for (const auto& [name, w] : imp) {
        const gguf::TensorInfo* s = src.find_tensor(name);
        const gguf::TensorInfo* t = q.find_tensor(name);
        EXPECT_TRUE(s && t) << name;
        if (!s || !t) continue;
        const FormatOps& ops = format_ops(t->type);
        const int64_t ne0 = static_cast<int64_t>(t->ne[0]), rows = static_cast<int64_t>(t->n_elements) / ne0;
        const uint64_t rb = format_row_bytes(ops, ne0);
        std::vector<float> y(static_cast<size_t>(ne0));
        for (int64_t r = 0; r < rows; ++r) {
            ops.dequantize_row(t->data + r * rb, y.data(), ne0);
            const auto* x = reinterpret_cast<const float*>(s->data) + r * ne0;
            for (int64_t i = 0; i < ne0; ++i) {
                const double d = static_cast<double>(y[static_cast<size_t>(i)]) - x[i];
                total += static_cast<double>(w[static_cast<size_t>(i)]) * d * d;
            }
        }
    }
    return total;
}

TEST(Imatrix, ComputeThenQuantizeLowersWeightedError) {
    const fs::path dir = test::temp_dir("imatrix-cli");
    const std::string dat = (dir / "stories.dat").string();
    auto r = qlm({"imatrix", "-m", stories(), "-f", text(), "-o", dat, "-c", "128", "--chunks", "4", "-t", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("Final estimate: PPL = "), std::string::npos) << r.out;
    const Imatrix m = read_imatrix(dat);
    EXPECT_EQ(m.entries.size(), 35u);  // 7 matrices x 5 layers; output.weight is not collected
    EXPECT_EQ(m.last_chunk, 4);
    EXPECT_EQ(m.dataset, "kjv-test.txt");
    for (const auto& e : m.entries) EXPECT_EQ(e.ncall, 4) << e.name;
    auto src = gguf::GgufFile::open(stories());
    const auto imp = imatrix_importances(m, *src, dat);

    for (const char* preset : {"Q4_K_M", "Q4_0", "Q5_0", "Q5_1"}) {
        const std::string with = (dir / (std::string(preset) + "-imx.gguf")).string();
        const std::string without = (dir / (std::string(preset) + ".gguf")).string();
        r = qlm({"quantize", stories(), with, preset, "--imatrix", dat, "-t", "2"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.out.find("weighted by the importance matrix"), std::string::npos) << r.out;
        r = qlm({"quantize", stories(), without, preset, "-t", "2"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        auto qw = gguf::GgufFile::open(with);
        auto qu = gguf::GgufFile::open(without);
        const double ew = weighted_error(*src, *qw, imp), eu = weighted_error(*src, *qu, imp);
        std::printf("%s: importance-weighted weight error %.6g with the imatrix, %.6g without (ratio %.3f)\n", preset,
                    ew, eu, ew / eu);
        EXPECT_LT(ew, eu) << preset;
    }
}

TEST(Imatrix, BadImatrixFilesAreRefused) {
    const fs::path dir = test::temp_dir("imatrix-bad");
    const std::string dat = (dir / "stories.dat").string();
    // An importance matrix of another model: its tensors have other shapes.
    auto r = qlm({"imatrix", "-m", stories(), "-f", text(), "-o", dat, "-c", "64", "--chunks", "1", "-t", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string out = (dir / "out.gguf").string();
    r = qlm({"quantize", mini(), out, "Q4_K_M", "--imatrix", dat});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("values but its rows have"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(out));

    // Truncated.
    auto bytes = test::read_bytes(dat);
    bytes.resize(bytes.size() / 2);
    const std::string cut = (dir / "cut.dat").string();
    test::write_bytes(cut, bytes);
    r = qlm({"quantize", mini(), out, "Q4_K_M", "--imatrix", cut});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("remain"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(out));

    // With the reference rounding, an importance matrix has no effect: refused.
    r = qlm({"quantize", mini(), out, "Q4_K_M", "--imatrix", dat, "--reference-rounding"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("--reference-rounding"), std::string::npos) << r.err;

    // Missing options and a text too short for one chunk.
    r = qlm({"imatrix", "-m", mini(), "-f", text()});
    EXPECT_NE(r.exit_code, 0);
    const std::string tiny = (dir / "tiny.txt").string();
    test::write_bytes(tiny, {'H', 'i', '\n'});
    r = qlm({"imatrix", "-m", mini(), "-f", tiny, "-o", (dir / "t.dat").string(), "-c", "64"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(dir / "t.dat"));
}

}  // namespace
}  // namespace qlm
