// Split GGUF models (gguf-split's -0000k-of-0000M.gguf parts), written here with the project's
// GgufWriter: opening the first part maps every part and finds every tensor, the model computes
// what the single file computes, and a missing, foreign, renamed or inconsistent part is a one-line
// error naming the file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "common/split_gguf.h"
#include "common/test_support.h"
#include "common/tiny_gguf.h"
#include "src/gguf/gguf_file.h"
#include "src/gguf/gguf_split.h"
#include "src/model/context.h"
#include "src/model/model_loader.h"
#include "src/quantize/quantize_model.h"
#include "src/util/error.h"

namespace qlm {
namespace {

namespace fs = std::filesystem;
using gguf::GgufFile;
using gguf::GgufWriter;

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

#define EXPECT_ERROR(stmt, substr)                                              \
    do {                                                                        \
        const std::string _m = error_of([&] { (void)(stmt); });                 \
        EXPECT_NE(_m.find(substr), std::string::npos) << "message: " << _m;     \
        EXPECT_EQ(_m.find('\n'), std::string::npos) << "not one line: " << _m; \
    } while (0)

struct SplitModel {
    std::vector<uint8_t> single;             // the model as one file
    std::unique_ptr<GgufFile> source;        // parsed from `single`
    std::vector<GgufWriter> parts;
    fs::path dir;

    explicit SplitModel(const std::string& tag, int n_parts = 3, bool tensors_in_first = true) {
        test::TinyModel m;
        m.n_layer = 2;
        single = m.writer().to_bytes();
        source = GgufFile::parse(single, "tiny.gguf");
        parts = test::split_writers(*source, n_parts, tensors_in_first);
        dir = test::temp_dir("split-" + tag);
    }
    std::string path(size_t k, const std::string& prefix = "tiny") const {
        return gguf::split_path((dir / prefix).string(), static_cast<uint32_t>(k), static_cast<uint32_t>(parts.size()));
    }
    std::string write(const std::string& prefix = "tiny") const {
        for (size_t k = 0; k < parts.size(); ++k) parts[k].write(path(k, prefix));
        return path(0, prefix);
    }
};

TEST(SplitNames, AsGgufSplitWritesThem) {
    EXPECT_EQ(gguf::split_path("dir/model", 0, 3), "dir/model-00001-of-00003.gguf");
    EXPECT_EQ(gguf::split_path("m", 65534, 65535), "m-65535-of-65535.gguf");
    EXPECT_EQ(gguf::split_prefix("dir/model-00002-of-00003.gguf", 1, 3), "dir/model");
    EXPECT_FALSE(gguf::split_prefix("dir/model-00002-of-00003.gguf", 0, 3));
    EXPECT_FALSE(gguf::split_prefix("dir/model-00001-of-00004.gguf", 0, 3));
    EXPECT_FALSE(gguf::split_prefix("-00001-of-00003.gguf", 0, 3));  // no prefix at all
}

TEST(SplitGguf, FirstPartOpensEveryPart) {
    SplitModel s("open");
    const std::string first = s.write();
    auto f = GgufFile::open(first);
    ASSERT_EQ(f->tensors().size(), s.source->tensors().size());
    for (const auto& t : s.source->tensors()) {
        const gguf::TensorInfo* got = f->find_tensor(t.name);
        ASSERT_NE(got, nullptr) << t.name;
        EXPECT_EQ(got->type, t.type);
        EXPECT_EQ(got->ne, t.ne);
        ASSERT_EQ(got->n_bytes, t.n_bytes);
        EXPECT_EQ(std::memcmp(got->data, t.data, t.n_bytes), 0) << t.name;
    }
    EXPECT_EQ(f->split().count, 3u);
    EXPECT_EQ(f->part_paths(), (std::vector<std::string>{s.path(0), s.path(1), s.path(2)}));
    uint64_t total = 0;
    for (size_t k = 0; k < 3; ++k) total += fs::file_size(s.path(k));
    EXPECT_EQ(f->file_size(), total);
    EXPECT_EQ(f->get_string("general.architecture"), "llama");
    // Each part holds some tensors (the last part's are found too).
    for (size_t k = 0; k < 3; ++k) EXPECT_GT(GgufFile::parse(test::read_bytes(s.path(k)), "p")->tensors().size(), 0u);
    const auto info = test::run_command({test::qlm_bin().string(), "info", first});
    EXPECT_EQ(info.exit_code, 0) << info.err;
    EXPECT_NE(info.out.find("split:         3 parts, " + s.path(0) + " .. " + s.path(2)), std::string::npos) << info.out;
}

// The split model computes exactly what the single file computes.
TEST(SplitGguf, ModelMatchesTheSingleFile) {
    SplitModel s("model");
    const std::string first = s.write();
    const fs::path single = s.dir / "single.gguf";
    test::write_bytes(single, s.single);
    std::vector<std::vector<float>> logits;
    for (const std::string& p : {single.string(), first}) {
        LoadedModel m = load_model(p);
        InferenceContext ctx(*m.model, {.n_ctx = 8, .n_threads = 1});
        const std::vector<int32_t> ids = {1, 260, 261, 5};
        ctx.eval(ids, false);
        const auto l = ctx.logits(0);
        logits.emplace_back(l.begin(), l.end());
    }
    EXPECT_EQ(logits[0], logits[1]);
}

// gguf-split --no-tensor-first-split: the first part has the metadata and no tensor.
TEST(SplitGguf, FirstPartWithoutTensors) {
    SplitModel s("meta-only", 2, false);
    const std::string first = s.write();
    EXPECT_EQ(GgufFile::parse(test::read_bytes(first), "p")->tensors().size(), 0u);
    EXPECT_EQ(GgufFile::open(first)->tensors().size(), s.source->tensors().size());
}

TEST(SplitGguf, MissingPartIsNamed) {
    SplitModel s("missing");
    const std::string first = s.write();
    fs::remove(s.path(1));
    EXPECT_ERROR(GgufFile::open(first), s.path(1) + ": part 2 of 3 of the split model '" + first + "' is missing");
    EXPECT_ERROR(load_model(first), "tiny-00002-of-00003.gguf: part 2 of 3");
    const auto run = test::run_command({test::qlm_bin().string(), "run", "-m", first, "-p", "hi", "-n", "2"});
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_EQ(run.err, "qlm: error: " + s.path(1) + ": part 2 of 3 of the split model '" + first +
                           "' is missing: download every part of the model again into one folder\n");
}

TEST(SplitGguf, OtherPartsPointToTheFirst) {
    SplitModel s("not-first");
    s.write();
    EXPECT_ERROR(GgufFile::open(s.path(2)), "this is part 3 of 3 of a split model: pass the first part, '" + s.path(0));
    // Renamed away from the pattern: it still says which name to look for.
    fs::rename(s.path(2), s.dir / "renamed.gguf");
    EXPECT_ERROR(GgufFile::open((s.dir / "renamed.gguf").string()), "the one named ...-00001-of-00003.gguf");
}

TEST(SplitGguf, FirstPartNameMustFollowThePattern) {
    SplitModel s("renamed-first");
    s.write();
    const fs::path renamed = s.dir / "model.gguf";
    fs::rename(s.path(0), renamed);
    EXPECT_ERROR(GgufFile::open(renamed.string()), "does not end in '-00001-of-00003.gguf'");
}

// A part that disagrees with its name or with the first part.
TEST(SplitGguf, InconsistentPartsAreRefused) {
    {
        SplitModel s("wrong-index");
        s.parts[2].set_u16(gguf::kSplitNoKey, 1);
        const std::string first = s.write();
        EXPECT_ERROR(GgufFile::open(first), s.path(2) + ": split.no is 1 (part 2 of 3), expected 2");
    }
    {
        SplitModel s("wrong-count");
        s.parts[1].set_u16(gguf::kSplitCountKey, 4);
        s.parts[1].set_u16(gguf::kSplitNoKey, 1);
        const std::string first = s.write();
        EXPECT_ERROR(GgufFile::open(first), s.path(1) + ": split.count is 4 but the first part");
    }
    {
        SplitModel s("no-keys");
        s.parts[1].remove(gguf::kSplitNoKey);
        s.parts[1].remove(gguf::kSplitCountKey);
        const std::string first = s.write();
        EXPECT_ERROR(GgufFile::open(first), s.path(1) + ": has no split.no key, so it is not part 2 of 3");
    }
    {
        SplitModel s("tensor-count");
        s.parts[0].set_i32(gguf::kSplitTensorsCountKey, 5);
        const std::string first = s.write();
        EXPECT_ERROR(GgufFile::open(first), "split.tensors.count is 5 but the 3 parts hold");
    }
    {
        SplitModel s("duplicate");
        const gguf::TensorInfo& t = s.source->tensors().front();  // in part 1
        s.parts[2].add_tensor(t.name, {t.ne[0], t.ne[1]}, t.type, std::span<const uint8_t>(t.data, t.n_bytes));
        const std::string first = s.write();
        EXPECT_ERROR(GgufFile::open(first), "tensor '" + t.name + "' is also in an earlier part");
    }
}

// Hostile counts and key types: one-line errors, never a loop over 2^64 parts.
TEST(SplitGguf, HostileSplitKeys) {
    const auto first_with = [](const std::string& tag, const std::function<void(GgufWriter&)>& edit) {
        SplitModel s(tag, 2);
        edit(s.parts[0]);
        s.parts[0].write(s.path(0));
        return s.path(0);
    };
    EXPECT_ERROR(GgufFile::open(first_with("count0", [](GgufWriter& w) { w.set_u16(gguf::kSplitCountKey, 0); })),
                 "split.count is 0, outside 1..65535");
    EXPECT_ERROR(
        GgufFile::open(first_with("count-huge", [](GgufWriter& w) { w.set_u64(gguf::kSplitCountKey, uint64_t{1} << 40); })),
        "outside 1..65535");
    EXPECT_ERROR(GgufFile::open(first_with("count-neg", [](GgufWriter& w) { w.set_i32(gguf::kSplitCountKey, -2); })),
                 "expected a non-negative integer");
    EXPECT_ERROR(GgufFile::open(first_with("count-str", [](GgufWriter& w) { w.set_string(gguf::kSplitCountKey, "2"); })),
                 "split.count is a string, expected an unsigned integer");
    EXPECT_ERROR(GgufFile::open(first_with("no-big", [](GgufWriter& w) { w.set_u16(gguf::kSplitNoKey, 2); })),
                 "split.no is 2 but the model has 2 parts");
    EXPECT_ERROR(GgufFile::open(first_with("no-missing", [](GgufWriter& w) { w.remove(gguf::kSplitNoKey); })),
                 "split.count is 2 but split.no is missing");
    // The largest count is valid: the second of 65535 parts is simply missing.
    SplitModel big("count-max", 2);
    big.parts[0].set_u16(gguf::kSplitCountKey, 65535);
    const std::string big_first = gguf::split_path((big.dir / "tiny").string(), 0, 65535);
    big.parts[0].write(big_first);
    EXPECT_ERROR(GgufFile::open(big_first), "tiny-00002-of-65535.gguf: part 2 of 65535 of the split model");
    // split.no in another integer type than gguf-split's uint16 is accepted.
    SplitModel s("int32-keys", 2);
    for (auto& p : s.parts) p.set_i32(gguf::kSplitNoKey, &p == &s.parts[0] ? 0 : 1);
    EXPECT_EQ(GgufFile::open(s.write())->tensors().size(), s.source->tensors().size());
}

// Part names come from the first part's path and the counts only: text inside the files (here a
// name that walks out of the folder) is never used, and a decoy beside the folder is not picked up.
TEST(SplitGguf, PartNamesComeOnlyFromTheFirstPartsName) {
    SplitModel s("names", 2);
    s.parts[0].set_string("general.name", "../decoy");
    s.parts[1].set_string("general.name", "../decoy");
    fs::create_directories(s.dir / "sub");
    const std::string first = gguf::split_path((s.dir / "sub" / "tiny").string(), 0, 2);
    s.parts[0].write(first);
    s.parts[1].write(gguf::split_path((s.dir / "tiny").string(), 1, 2));  // one folder up
    EXPECT_ERROR(GgufFile::open(first), (s.dir / "sub" / "tiny-00002-of-00002.gguf").string() + ": part 2 of 2");
}

TEST(SplitGguf, ParseSplitInMemory) {
    SplitModel s("memory");
    std::vector<std::vector<uint8_t>> bytes;
    for (const auto& p : s.parts) bytes.push_back(p.to_bytes());
    std::vector<std::span<const uint8_t>> spans(bytes.begin(), bytes.end());
    auto f = GgufFile::parse_split(spans, "mem");
    EXPECT_EQ(f->tensors().size(), s.source->tensors().size());
    std::swap(spans[1], spans[2]);
    EXPECT_ERROR(GgufFile::parse_split(spans, "mem"), "mem-00002-of-00003.gguf: split.no is 2 (part 3 of 3), expected 1");
    spans.pop_back();
    EXPECT_ERROR(GgufFile::parse_split(spans, "mem"), "split.count is 3 but 2 parts were given");
}

// `qlm quantize` reads a split model and writes one file without the split keys.
TEST(SplitGguf, QuantizeJoinsTheParts) {
    SplitModel s("quantize");
    QuantizeOptions o;
    o.input = s.write();
    o.output = (s.dir / "out.gguf").string();
    o.preset = QuantPreset::F16;
    quantize_model(o);
    auto out = GgufFile::open(o.output);
    EXPECT_EQ(out->tensors().size(), s.source->tensors().size());
    EXPECT_EQ(out->find(gguf::kSplitNoKey), nullptr);
    EXPECT_EQ(out->find(gguf::kSplitCountKey), nullptr);
    EXPECT_EQ(out->find(gguf::kSplitTensorsCountKey), nullptr);
    EXPECT_EQ(out->split().count, 1u);
}

}  // namespace
}  // namespace qlm
