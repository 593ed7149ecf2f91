// Importance matrices: the legacy .dat file round trip, hostile files (truncated, impossible
// counts, wrong nval, unknown tensors, NaN/negative values) rejected with one-line errors, and the
// collector's values on a real model equal a direct computation of layer 0's attention input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "quant/matmul.h"
#include "src/gguf/gguf_file.h"
#include "src/model/context.h"
#include "src/model/ops.h"
#include "src/model/weights.h"
#include "src/quantize/imatrix.h"
#include "src/util/error.h"

namespace qlm {
namespace {

namespace fs = std::filesystem;

Imatrix sample() {
    Imatrix m;
    m.entries.push_back({"blk.0.attn_q.weight", 3, {0.5f, 1.25f, 0.f, 7.f}});
    m.entries.push_back({"blk.0.ffn_down.weight", 3, {2.f, 4.f}});
    m.last_chunk = 3;
    m.dataset = "calib.txt";
    return m;
}

void put_i32(std::vector<uint8_t>& b, int32_t v) {
    uint8_t x[4];
    std::memcpy(x, &v, 4);
    b.insert(b.end(), x, x + 4);
}
void put_f32(std::vector<uint8_t>& b, float v) {
    uint8_t x[4];
    std::memcpy(x, &v, 4);
    b.insert(b.end(), x, x + 4);
}
// One entry, built by hand (name_len, name, ncall, nval, values).
std::vector<uint8_t> entry(const std::string& name, int32_t ncall, int32_t nval, const std::vector<float>& v) {
    std::vector<uint8_t> b;
    put_i32(b, static_cast<int32_t>(name.size()));
    b.insert(b.end(), name.begin(), name.end());
    put_i32(b, ncall);
    put_i32(b, nval);
    for (float f : v) put_f32(b, f);
    return b;
}

std::string error_of(const fs::path& p) {
    try {
        read_imatrix(p.string());
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(Imatrix, RoundTrip) {
    const fs::path p = test::temp_dir("imatrix-rt") / "m.dat";
    const Imatrix m = sample();
    write_imatrix(p.string(), m);
    const Imatrix r = read_imatrix(p.string());
    ASSERT_EQ(r.entries.size(), 2u);
    for (size_t k = 0; k < 2; ++k) {
        EXPECT_EQ(r.entries[k].name, m.entries[k].name);
        EXPECT_EQ(r.entries[k].ncall, m.entries[k].ncall);
        EXPECT_EQ(r.entries[k].values, m.entries[k].values);
    }
    EXPECT_EQ(r.last_chunk, 3);
    EXPECT_EQ(r.dataset, "calib.txt");
    // The exact llama.cpp layout: count, then name_len/name/ncall/nval/values, then the trailer.
    std::vector<uint8_t> want;
    put_i32(want, 2);
    auto e0 = entry("blk.0.attn_q.weight", 3, 4, {0.5f, 1.25f, 0.f, 7.f});
    auto e1 = entry("blk.0.ffn_down.weight", 3, 2, {2.f, 4.f});
    want.insert(want.end(), e0.begin(), e0.end());
    want.insert(want.end(), e1.begin(), e1.end());
    put_i32(want, 3);
    put_i32(want, 9);
    for (char c : std::string("calib.txt")) want.push_back(static_cast<uint8_t>(c));
    EXPECT_EQ(test::read_bytes(p), want);
}

TEST(Imatrix, TrailerIsOptional) {
    const fs::path p = test::temp_dir("imatrix-notrailer") / "m.dat";
    std::vector<uint8_t> b;
    put_i32(b, 1);
    auto e = entry("a.weight", 1, 2, {1.f, 2.f});
    b.insert(b.end(), e.begin(), e.end());
    test::write_bytes(p, b);
    const Imatrix r = read_imatrix(p.string());
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.last_chunk, 0);
    EXPECT_EQ(r.dataset, "");
}

TEST(Imatrix, EveryTruncationIsRejectedOrComplete) {
    const fs::path dir = test::temp_dir("imatrix-trunc");
    write_imatrix((dir / "full.dat").string(), sample());
    const auto full = test::read_bytes(dir / "full.dat");
    // The entries end before the 4-byte chunk count, the 4-byte name length and the 9-byte name.
    const size_t entries_end = full.size() - 4 - 4 - 9;
    for (size_t n = 0; n < full.size(); ++n) {
        const fs::path p = dir / "cut.dat";
        test::write_bytes(p, std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(n)));
        const std::string err = error_of(p);
        const bool complete = n == entries_end || n == entries_end + 4;
        if (complete) {
            EXPECT_EQ(err, "") << n;
        } else {
            EXPECT_NE(err, "") << "prefix of " << n << " bytes was accepted";
            EXPECT_EQ(err.find('\n'), std::string::npos) << err;
        }
    }
}

struct Hostile {
    const char* what;
    std::vector<uint8_t> bytes;
    const char* expect;  // a fragment of the error
};

std::vector<uint8_t> file_of(int32_t n, const std::vector<std::vector<uint8_t>>& entries) {
    std::vector<uint8_t> b;
    put_i32(b, n);
    for (const auto& e : entries) b.insert(b.end(), e.begin(), e.end());
    return b;
}

TEST(Imatrix, HostileFilesGiveOneLineErrors) {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    const auto ok = entry("a.weight", 1, 2, {1.f, 2.f});
    std::vector<Hostile> cases = {
        {"empty", {}, "truncated"},
        {"zero entries", file_of(0, {}), "entry count 0"},
        {"negative entries", file_of(-5, {ok}), "entry count -5"},
        {"huge entry count", file_of(1 << 30, {ok}), "impossible"},
        {"negative name length", file_of(1, {entry("", 1, 2, {1.f, 2.f})}), "name length of 0"},
        {"zero ncall", file_of(1, {entry("a.weight", 0, 2, {1.f, 2.f})}), "call count of 0"},
        {"negative ncall", file_of(1, {entry("a.weight", -2, 2, {1.f, 2.f})}), "call count of -2"},
        {"zero nval", file_of(1, {entry("a.weight", 1, 0, {})}), "0 values"},
        {"negative nval", file_of(1, {entry("a.weight", 1, -1, {})}), "-1 values"},
        {"nval past the end", file_of(1, {entry("a.weight", 1, 1000, {1.f, 2.f})}), "1000 values"},
        {"NaN", file_of(1, {entry("a.weight", 1, 2, {1.f, nan})}), "finite"},
        {"infinity", file_of(1, {entry("a.weight", 1, 2, {inf, 1.f})}), "finite"},
        {"negative value", file_of(1, {entry("a.weight", 1, 2, {1.f, -0.5f})}), "non-negative"},
        {"duplicate", file_of(2, {ok, ok}), "appears twice"},
        {"more entries than present", file_of(2, {ok, std::vector<uint8_t>(17, 0)}), "name length"},
    };
    {
        // A name length far beyond the file.
        std::vector<uint8_t> b;
        put_i32(b, 1);
        put_i32(b, 100000);
        for (int i = 0; i < 20; ++i) b.push_back('x');
        cases.push_back({"name past the end", b, "name length of 100000"});
    }
    {
        // Dataset length past the end, and junk after a complete trailer.
        auto b = file_of(1, {ok});
        put_i32(b, 1);
        put_i32(b, 50);
        cases.push_back({"dataset past the end", b, "dataset name length 50"});
        auto c = file_of(1, {ok});
        put_i32(c, 1);
        put_i32(c, 0);
        c.push_back(7);
        cases.push_back({"trailing bytes", c, "unexpected bytes"});
    }
    const fs::path dir = test::temp_dir("imatrix-hostile");
    for (const auto& h : cases) {
        const fs::path p = dir / "h.dat";
        test::write_bytes(p, h.bytes);
        const std::string err = error_of(p);
        EXPECT_NE(err.find(h.expect), std::string::npos) << h.what << ": " << err;
        EXPECT_EQ(err.find('\n'), std::string::npos) << h.what << ": " << err;
    }
    EXPECT_NE(error_of(dir / "missing.dat").find("cannot open"), std::string::npos);
}

std::shared_ptr<gguf::GgufFile> stories() {
    return std::shared_ptr<gguf::GgufFile>(gguf::GgufFile::open(test::shared_file("models/stories260K-F32.gguf").string()));
}

TEST(Imatrix, ImportancesAreCheckedAgainstTheModel) {
    auto f = stories();
    Imatrix m;
    m.entries.push_back({"blk.0.attn_q.weight", 4, std::vector<float>(64, 2.f)});
    auto imp = imatrix_importances(m, *f, "m.dat");
    ASSERT_EQ(imp.size(), 1u);
    EXPECT_EQ(imp.at("blk.0.attn_q.weight"), std::vector<float>(64, 0.5f));  // values / ncall

    m.entries[0].values.resize(63);
    try {
        imatrix_importances(m, *f, "m.dat");
        FAIL() << "wrong nval accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("63 values but its rows have 64"), std::string::npos) << e.what();
    }
    m.entries[0] = {"blk.9.attn_q.weight", 1, std::vector<float>(64, 1.f)};
    try {
        imatrix_importances(m, *f, "m.dat");
        FAIL() << "unknown tensor accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'blk.9.attn_q.weight' is not in"), std::string::npos) << e.what();
    }
}

// The collected importance of blk.0.attn_q.weight is the mean over tokens of the squared
// RMS-normalized token embedding (times attn_norm), computed here without the forward pass.
TEST(Imatrix, CollectorMatchesDirectComputation) {
    auto f = stories();
    auto model = Model::load(f);
    const Hparams& hp = model->hparams();
    std::vector<int32_t> tokens;
    for (int i = 0; i < 40; ++i) tokens.push_back((i * 37 + 5) % static_cast<int32_t>(hp.n_vocab));
    ImatrixCollector c(*model);
    {
        InferenceContext ctx(*model, {.n_ctx = 64, .n_batch = 16, .n_outputs = 20, .n_threads = 1, .matmul_observer = &c});
        ctx.eval(std::span<const int32_t>(tokens.data(), 20), true);
        c.chunk_done();
        ctx.seq_rm(0, 0);
        ctx.eval(std::span<const int32_t>(tokens.data() + 20, 20), true);
        c.chunk_done();
    }
    const Imatrix m = c.result("t.txt");
    EXPECT_EQ(m.last_chunk, 2);
    const int64_t E = hp.n_embd;
    std::vector<double> want(static_cast<size_t>(E), 0.0);
    std::vector<float> x(static_cast<size_t>(E)), xn(static_cast<size_t>(E));
    const gguf::TensorInfo* emb = f->find_tensor("token_embd.weight");
    const gguf::TensorInfo* norm = f->find_tensor("blk.0.attn_norm.weight");
    ASSERT_TRUE(emb && norm);
    for (int32_t t : tokens) {
        std::memcpy(x.data(), emb->data + static_cast<size_t>(t) * E * 4, static_cast<size_t>(E) * 4);
        ops::rmsnorm(x.data(), reinterpret_cast<const float*>(norm->data), xn.data(), E, hp.rms_eps);
        for (int64_t i = 0; i < E; ++i) want[static_cast<size_t>(i)] += static_cast<double>(xn[i]) * xn[i];
    }
    const ImatrixEntry* q = nullptr;
    int n_layer0 = 0;
    for (const auto& e : m.entries) {
        if (e.name == "blk.0.attn_q.weight") q = &e;
        n_layer0 += e.name.rfind("blk.0.", 0) == 0;
        EXPECT_NE(e.name, "output.weight");
    }
    EXPECT_EQ(n_layer0, 7);  // q, k, v, output, gate, up, down
    EXPECT_EQ(m.entries.size(), 7u * static_cast<size_t>(hp.n_layer));
    ASSERT_NE(q, nullptr);
    ASSERT_EQ(q->values.size(), static_cast<size_t>(E));
    EXPECT_EQ(q->ncall, 2);
    for (int64_t i = 0; i < E; ++i) {
        const double mean = want[static_cast<size_t>(i)] / static_cast<double>(tokens.size());
        EXPECT_NEAR(q->values[static_cast<size_t>(i)] / q->ncall, mean, 1e-5 * mean + 1e-7) << i;
    }
    // q, k and v see the same input.
    for (const auto& e : m.entries) {
        if (e.name == "blk.0.attn_k.weight" || e.name == "blk.0.attn_v.weight") {
            EXPECT_EQ(e.values, q->values);
        }
    }
}

}  // namespace
}  // namespace qlm
