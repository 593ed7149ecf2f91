// Every GGUF in ../shared/models and the generated synthetic models must load with all tensors
// inside the file; header facts are checked against MANIFEST.md (written by an independent parser).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "common/test_support.h"
#include "src/gguf/gguf_file.h"
#include "src/util/error.h"

namespace qlm::gguf {
namespace {

namespace fs = std::filesystem;
using Fields = std::map<std::string, std::string>;

// "### `rel/path.gguf`" sections of MANIFEST.md with their "| field | value |" rows.
std::map<std::string, Fields> manifest_summaries() {
    std::ifstream in(test::shared_file("models/MANIFEST.md"));
    std::map<std::string, Fields> out;
    std::string line, current;
    while (std::getline(in, line)) {
        if (line.rfind("### `", 0) == 0) {
            size_t end = line.find('`', 5);
            current = end == std::string::npos ? "" : line.substr(5, end - 5);
            continue;
        }
        if (line.rfind("## ", 0) == 0) current.clear();
        if (current.empty() || line.size() < 2 || line[0] != '|') continue;
        size_t bar = line.find('|', 1);
        if (bar == std::string::npos) continue;
        size_t bar2 = line.find('|', bar + 1);
        if (bar2 == std::string::npos) continue;
        auto trim = [](std::string s) {
            s.erase(0, s.find_first_not_of(' '));
            s.erase(s.find_last_not_of(' ') + 1);
            return s;
        };
        out[current][trim(line.substr(1, bar - 1))] = trim(line.substr(bar + 1, bar2 - bar - 1));
    }
    return out;
}

void expect_tensors_inside(const GgufFile& f) {
    const uint8_t* begin = f.bytes().data();
    for (const TensorInfo& t : f.tensors()) {
        EXPECT_EQ(t.data, begin + f.data_offset() + t.offset) << f.path() << " " << t.name;
        EXPECT_LE(f.data_offset() + t.offset + t.n_bytes, f.file_size()) << f.path() << " " << t.name;
        EXPECT_EQ(t.offset % f.alignment(), 0u) << t.name;
        const TypeInfo& ti = type_info(t.type);
        EXPECT_EQ(t.n_bytes, t.n_elements / ti.block_size * ti.type_size) << t.name;
        uint64_t n = 1;
        for (uint32_t d = 0; d < t.n_dims; ++d) n *= t.ne[d];
        EXPECT_EQ(n, t.n_elements) << t.name;
    }
}

TEST(RealFiles, EverySharedModelLoads) {
    fs::path root = test::shared_file("models");
    auto summaries = manifest_summaries();
    ASSERT_GE(summaries.size(), 13u) << "MANIFEST.md header summaries not found";
    int loaded = 0, compared = 0;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file() || e.path().extension() != ".gguf") continue;
        SCOPED_TRACE(e.path().string());
        std::unique_ptr<GgufFile> f;
        try {
            f = GgufFile::open(e.path().string());
        } catch (const Error& err) {
            ADD_FAILURE() << err.what();
            continue;
        }
        ++loaded;
        expect_tensors_inside(*f);
        EXPECT_TRUE(f->get_string("general.architecture").has_value());
        std::string rel = fs::relative(e.path(), root).generic_string();
        auto it = summaries.find(rel);
        if (it == summaries.end()) continue;
        const Fields& m = it->second;
        ++compared;
        EXPECT_EQ(std::to_string(f->file_size()), m.at("size"));
        EXPECT_EQ(std::to_string(f->version()), m.at("gguf_version"));
        EXPECT_EQ(std::to_string(f->tensors().size()), m.at("tensor_count"));
        EXPECT_EQ(std::to_string(f->metadata().size()), m.at("kv_count"));
        EXPECT_EQ(f->get_string("general.architecture").value_or(""), m.at("general.architecture"));
        if (m.count("vocab_size(tokens array)")) {
            const ArrayValue* toks = f->get_array("tokenizer.ggml.tokens", ValueType::STRING);
            ASSERT_NE(toks, nullptr);
            EXPECT_EQ(std::to_string(toks->strings.size()), m.at("vocab_size(tokens array)"));
        }
        if (m.count("metadata keys")) {  // "`a`, `b`, ..." in file order
            std::vector<std::string> want, got;
            const std::string& keys = m.at("metadata keys");
            for (size_t p = keys.find('`'); p != std::string::npos; p = keys.find('`', p + 1)) {
                size_t q = keys.find('`', p + 1);
                if (q == std::string::npos) break;
                want.push_back(keys.substr(p + 1, q - p - 1));
                p = q;
            }
            for (const KeyValue& kv : f->metadata()) got.push_back(kv.key);
            EXPECT_EQ(got, want);
        }
        if (!f->tensors().empty() && m.count("tensor_data_start")) {
            EXPECT_EQ(std::to_string(f->data_offset()), m.at("tensor_data_start"));
        }
    }
    EXPECT_GE(loaded, 25);
    EXPECT_EQ(compared, 13);
}

TEST(RealFiles, Stories260KFacts) {
    auto f32 = GgufFile::open(test::shared_file("models/stories260K-F32.gguf").string());
    auto q8 = GgufFile::open(test::shared_file("models/stories260K-Q8_0.gguf").string());
    EXPECT_EQ(f32->version(), 3u);
    EXPECT_EQ(q8->version(), 2u);
    EXPECT_EQ(f32->tensors().size(), 48u);
    EXPECT_EQ(q8->tensors().size(), 48u);
    EXPECT_EQ(f32->get_array("tokenizer.ggml.tokens", ValueType::STRING)->count, 512u);
    EXPECT_EQ(f32->get_u64("llama.embedding_length"), 64u);
    EXPECT_EQ(f32->get_u64("llama.block_count"), 5u);
    EXPECT_EQ(q8->get_u64("general.file_type"), 7u);
    // Same model: the same tensor names and shapes in both files.
    int q8_count = 0, flat = 0;
    for (const TensorInfo& t : f32->tensors()) {
        EXPECT_EQ(t.type, GgmlType::F32);
        EXPECT_FALSE(t.flat_blocks);
        const TensorInfo* u = q8->find_tensor(t.name);
        ASSERT_NE(u, nullptr) << t.name;
        EXPECT_EQ(u->ne, t.ne) << t.name;
        EXPECT_EQ(u->n_elements, t.n_elements) << t.name;
        if (u->type == GgmlType::Q8_0) ++q8_count;
        if (u->flat_blocks) {
            ++flat;
            EXPECT_NE(t.name.find("ffn_down"), std::string::npos) << t.name;
            EXPECT_EQ(u->ne[0], 172u);
        }
    }
    EXPECT_EQ(q8_count, 37);
    EXPECT_EQ(flat, 5);  // ffn_down of each of the 5 layers
    const TensorInfo* emb = f32->find_tensor("token_embd.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->ne[0], 64u);
    EXPECT_EQ(emb->ne[1], 512u);
    EXPECT_EQ(f32->find_tensor("no.such.tensor"), nullptr);
}

TEST(RealFiles, SyntheticModelsLoad) {
    for (const char* name : {"mini-f32.gguf", "smol-f16.gguf", "qwen-mini-f32.gguf", "tinyllama-f16.gguf"}) {
        SCOPED_TRACE(name);
        auto f = GgufFile::open(test::synth_model(name).string());
        EXPECT_GT(f->tensors().size(), 0u);
        expect_tensors_inside(*f);
        EXPECT_TRUE(f->get_string("general.architecture").has_value());
        ASSERT_NE(f->find_tensor("token_embd.weight"), nullptr);
        // The last tensor ends at (or within alignment padding of) the end of the file.
        uint64_t max_end = 0;
        for (const TensorInfo& t : f->tensors())
            max_end = std::max(max_end, f->data_offset() + t.offset + t.n_bytes);
        EXPECT_LE(f->file_size() - max_end, f->alignment());
    }
}

}  // namespace
}  // namespace qlm::gguf
