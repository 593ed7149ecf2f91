// Typed metadata accessors (wrong types give a one-line error naming file, key, actual and expected
// type), GgufFile::open's file-system errors, and GgufWriter round trips and atomic writes.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include "common/test_support.h"
#include "gguf_test_bytes.h"
#include "src/gguf/gguf_file.h"
#include "src/gguf/gguf_writer.h"
#include "src/util/error.h"

namespace qlm::gguf {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

#define EXPECT_ERROR(stmt, substr)                                                    \
    do {                                                                              \
        std::string _m = error_of([&] { (void)(stmt); });                             \
        EXPECT_NE(_m.find(substr), std::string::npos) << "message: " << _m;           \
        EXPECT_EQ(_m.find('\n'), std::string::npos) << "not one line: " << _m;       \
    } while (0)

std::unique_ptr<GgufFile> typed_file(std::vector<uint8_t>& storage) {
    GgufWriter w;
    w.set_u32("x.u32", 7);
    w.set_i32("x.neg", -5);
    w.set_u64("x.big", std::numeric_limits<uint64_t>::max());
    w.set_u8("x.u8", 200);
    w.set_f32("x.f32", 1.5f);
    w.set_f64("x.f64", -0.25);
    w.set_bool("x.bool", true);
    w.set_string("x.str", "hello");
    w.set_int_array("tokenizer.ggml.tokens", ValueType::INT32, {1, 2, 3});
    w.set_int_array("x.u8s", ValueType::UINT8, {0, 255});
    w.set_float_array("x.f64s", ValueType::FLOAT64, {0.5});
    w.set_string_array("x.strs", {"a"});
    storage = w.to_bytes();
    return GgufFile::parse(storage, "typed.gguf");
}

TEST(Accessors, ReturnValuesOfCompatibleTypes) {
    std::vector<uint8_t> s;
    auto f = typed_file(s);
    EXPECT_EQ(f->get_u64("x.u32"), 7u);
    EXPECT_EQ(f->get_i64("x.u32"), 7);
    EXPECT_EQ(f->get_i64("x.neg"), -5);
    EXPECT_EQ(f->get_u64("x.u8"), 200u);
    EXPECT_EQ(f->get_u64("x.big"), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(f->get_f64("x.f32"), 1.5);
    EXPECT_EQ(f->get_f64("x.f64"), -0.25);
    EXPECT_EQ(f->get_bool("x.bool"), true);
    EXPECT_EQ(f->get_string("x.str"), "hello");
    // Integer arrays accept any integer element type; float arrays any float type.
    const ArrayValue* u8s = f->get_array("x.u8s", ValueType::INT32);
    ASSERT_NE(u8s, nullptr);
    EXPECT_EQ(u8s->ints, (std::vector<int64_t>{0, 255}));
    ASSERT_NE(f->get_array("x.f64s", ValueType::FLOAT32), nullptr);
    EXPECT_EQ(f->get_array("x.f64s", ValueType::FLOAT32)->floats.at(0), 0.5);
    // Absent keys.
    EXPECT_FALSE(f->get_u64("nope").has_value());
    EXPECT_FALSE(f->get_string("nope").has_value());
    EXPECT_EQ(f->get_array("nope", ValueType::STRING), nullptr);
    EXPECT_EQ(f->find("nope"), nullptr);
}

TEST(Accessors, WrongTypesNameFileKeyActualAndExpected) {
    std::vector<uint8_t> s;
    auto f = typed_file(s);
    EXPECT_ERROR(f->get_array("tokenizer.ggml.tokens", ValueType::STRING),
                 "typed.gguf: tokenizer.ggml.tokens is an array of int32, expected an array of string");
    EXPECT_ERROR(f->get_array("x.u32", ValueType::INT32), "typed.gguf: x.u32 is a uint32, expected an array of int32");
    EXPECT_ERROR(f->get_array("x.strs", ValueType::FLOAT32), "x.strs is an array of string, expected an array of float32");
    EXPECT_ERROR(f->get_u64("x.neg"), "typed.gguf: x.neg is an int32 with the negative value -5");
    EXPECT_ERROR(f->get_u64("x.str"), "typed.gguf: x.str is a string, expected an unsigned integer");
    EXPECT_ERROR(f->get_u64("x.f32"), "x.f32 is a float32, expected an unsigned integer");
    EXPECT_ERROR(f->get_i64("x.big"), "x.big is a uint64 with the value 18446744073709551615, which does not fit an int64");
    EXPECT_ERROR(f->get_i64("x.bool"), "x.bool is a bool, expected an integer");
    EXPECT_ERROR(f->get_f64("x.u32"), "typed.gguf: x.u32 is a uint32, expected a float32 or float64");
    EXPECT_ERROR(f->get_bool("x.str"), "typed.gguf: x.str is a string, expected a bool");
    EXPECT_ERROR(f->get_string("x.strs"), "typed.gguf: x.strs is an array of string, expected a string");
    EXPECT_ERROR(f->get_string("x.u8"), "x.u8 is a uint8, expected a string");
}

TEST(Open, FileSystemErrorsAreClear) {
    fs::path dir = test::temp_dir("gguf-open");
    EXPECT_ERROR(GgufFile::open((dir / "x.gguf").string()),
                 "cannot open '" + (dir / "x.gguf").string() + "': No such file or directory");
    EXPECT_ERROR(GgufFile::open(dir.string()), dir.string() + ": is a directory, not a GGUF file");
    test::write_bytes(dir / "empty.gguf", {});
    EXPECT_ERROR(GgufFile::open((dir / "empty.gguf").string()), "empty.gguf: the file is empty (0 bytes)");
    std::string text = "{\"not\": \"a model\"}\n";
    test::write_bytes(dir / "model.json", std::vector<uint8_t>(text.begin(), text.end()));
    EXPECT_ERROR(GgufFile::open((dir / "model.json").string()), "model.json: not a GGUF file (magic is '{\"no'");
    fs::remove_all(dir);
}

TEST(Open, MapsTensorDataWithoutCopy) {
    fs::path dir = test::temp_dir("gguf-map");
    test::GgufBytes g;
    g.header(3, 1, 0).tensor("w", {4}, 0, 0).pad_to(32);
    size_t at = g.size();
    g.f32(1.0f).f32(-2.0f).f32(3.5f).f32(0.0f);
    test::write_bytes(dir / "w.gguf", g.b);
    auto f = GgufFile::open((dir / "w.gguf").string());
    const TensorInfo* t = f->find_tensor("w");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->data, f->bytes().data() + at);
    float v[4];
    std::memcpy(v, t->data, sizeof v);
    EXPECT_EQ(v[1], -2.0f);
    EXPECT_EQ(v[2], 3.5f);
    fs::remove_all(dir);
}

// Deep comparison of two metadata values.
void expect_same(const Value& a, const Value& b, const std::string& key) {
    ASSERT_EQ(a.type, b.type) << key;
    switch (a.type) {
        case ValueType::STRING: EXPECT_EQ(a.s, b.s) << key; break;
        case ValueType::BOOL: EXPECT_EQ(a.b, b.b) << key; break;
        case ValueType::FLOAT32: case ValueType::FLOAT64:
            EXPECT_TRUE(a.f == b.f || (std::isnan(a.f) && std::isnan(b.f))) << key; break;
        case ValueType::ARRAY: {
            ASSERT_TRUE(a.arr && b.arr) << key;
            EXPECT_EQ(a.arr->elem_type, b.arr->elem_type) << key;
            EXPECT_EQ(a.arr->count, b.arr->count) << key;
            EXPECT_EQ(a.arr->strings, b.arr->strings) << key;
            EXPECT_EQ(a.arr->ints, b.arr->ints) << key;
            ASSERT_EQ(a.arr->floats.size(), b.arr->floats.size()) << key;
            for (size_t k = 0; k < a.arr->floats.size(); ++k)
                EXPECT_TRUE(a.arr->floats[k] == b.arr->floats[k] ||
                            (std::isnan(a.arr->floats[k]) && std::isnan(b.arr->floats[k]))) << key;
            ASSERT_EQ(a.arr->arrays.size(), b.arr->arrays.size()) << key;
            for (size_t k = 0; k < a.arr->arrays.size(); ++k) expect_same(a.arr->arrays[k], b.arr->arrays[k], key);
            break;
        }
        default: EXPECT_EQ(a.u, b.u) << key; EXPECT_EQ(a.i, b.i) << key;
    }
}

TEST(Writer, RoundTripsEveryValueTypeAndTensors) {
    GgufWriter w;
    w.set_u8("v.u8", 255);
    w.set_i8("v.i8", -128);
    w.set_u16("v.u16", 65535);
    w.set_i16("v.i16", -32768);
    w.set_u32("v.u32", 4000000000u);
    w.set_i32("v.i32", -2000000000);
    w.set_u64("v.u64", 18000000000000000000ull);
    w.set_i64("v.i64", std::numeric_limits<int64_t>::min());
    w.set_f32("v.f32", 3.25f);
    w.set_f64("v.f64", 1e300);
    w.set_bool("v.bool", false);
    w.set_string("v.str", std::string("with\0nul and ünïcode", 21));
    w.set_string("v.empty", "");
    w.set_string_array("v.strs", {"", "a", "\xe2\x96\x81hello"});
    w.set_int_array("v.u64s", ValueType::UINT64, {0, static_cast<int64_t>(0xFFFFFFFFFFFFFFFFull)});
    w.set_int_array("v.i8s", ValueType::INT8, {-1, 127});
    w.set_int_array("v.bools", ValueType::BOOL, {1, 0, 1});
    w.set_float_array("v.f32s", ValueType::FLOAT32, {0.5, -1.0});
    w.set_float_array("v.empty_floats", ValueType::FLOAT32, {});
    {
        auto inner = std::make_shared<ArrayValue>();
        inner->elem_type = ValueType::UINT16;
        inner->count = 2;
        inner->ints = {1, 2};
        Value iv;
        iv.type = ValueType::ARRAY;
        iv.arr = inner;
        auto outer = std::make_shared<ArrayValue>();
        outer->elem_type = ValueType::ARRAY;
        outer->count = 2;
        outer->arrays = {iv, iv};
        Value ov;
        ov.type = ValueType::ARRAY;
        ov.arr = outer;
        w.set_value("v.nested", ov);
    }
    w.set_u32("v.u32", 17);  // replaces in place, keeps position
    std::vector<uint8_t> a(32 * 3 * 4);
    for (size_t k = 0; k < a.size(); ++k) a[k] = static_cast<uint8_t>(k * 7);
    w.add_tensor("a", {32, 3}, GgmlType::F32, a);
    w.add_tensor("q", {64, 2}, GgmlType::Q8_0, [](std::span<uint8_t> out) {
        for (size_t k = 0; k < out.size(); ++k) out[k] = static_cast<uint8_t>(255 - k);
    });
    w.add_tensor("h", {5}, GgmlType::F16, std::vector<uint8_t>(10, 0xAB));

    fs::path dir = test::temp_dir("gguf-write");
    std::string path = (dir / "rt.gguf").string();
    w.write(path);
    auto f = GgufFile::open(path);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), 32u);
    ASSERT_EQ(f->metadata().size(), w.metadata().size());
    for (size_t k = 0; k < w.metadata().size(); ++k) {
        EXPECT_EQ(f->metadata()[k].key, w.metadata()[k].key);
        expect_same(f->metadata()[k].value, w.metadata()[k].value, w.metadata()[k].key);
    }
    EXPECT_EQ(f->metadata()[4].key, "v.u32");
    EXPECT_EQ(f->get_u64("v.u32"), 17u);
    EXPECT_EQ(f->get_string("v.str")->size(), 21u);
    EXPECT_EQ(f->get_array("v.u64s", ValueType::UINT64)->ints[1], -1);  // bit-cast u64 max
    ASSERT_EQ(f->tensors().size(), 3u);
    const TensorInfo* ta = f->find_tensor("a");
    ASSERT_NE(ta, nullptr);
    EXPECT_EQ(std::vector<uint8_t>(ta->data, ta->data + ta->n_bytes), a);
    const TensorInfo* tq = f->find_tensor("q");
    ASSERT_NE(tq, nullptr);
    EXPECT_EQ(tq->type, GgmlType::Q8_0);
    EXPECT_EQ(tq->n_bytes, 2u * 2u * 34u);
    EXPECT_EQ(tq->data[0], 255);
    EXPECT_EQ(tq->data[135], 255 - 135);
    EXPECT_EQ(f->find_tensor("h")->ne[0], 5u);
    EXPECT_EQ(f->find_tensor("h")->n_bytes, 10u);
    // Deterministic: the file equals to_bytes(), and a second rendering is identical.
    auto file_bytes = test::read_bytes(path);
    EXPECT_EQ(file_bytes, w.to_bytes());
    EXPECT_EQ(w.to_bytes(), w.to_bytes());
    // Only the file itself is left in the folder.
    EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
    fs::remove_all(dir);
}

TEST(Writer, CopiesAllMetadataAndTensorsOfARealFile) {
    auto src = GgufFile::open(test::shared_file("models/stories260K-F32.gguf").string());
    GgufWriter w;
    w.copy_metadata_from(*src);
    for (const TensorInfo& t : src->tensors())
        w.add_tensor(t.name, std::vector<uint64_t>(t.ne.begin(), t.ne.begin() + t.n_dims), t.type,
                     std::span<const uint8_t>(t.data, t.n_bytes));
    std::vector<uint8_t> out = w.to_bytes();
    auto f = GgufFile::parse(out, "copy.gguf");
    ASSERT_EQ(f->metadata().size(), src->metadata().size());
    for (size_t k = 0; k < f->metadata().size(); ++k) {
        EXPECT_EQ(f->metadata()[k].key, src->metadata()[k].key);
        expect_same(f->metadata()[k].value, src->metadata()[k].value, src->metadata()[k].key);
    }
    ASSERT_EQ(f->tensors().size(), src->tensors().size());
    for (size_t k = 0; k < f->tensors().size(); ++k) {
        const TensorInfo& a = f->tensors()[k];
        const TensorInfo& b = src->tensors()[k];
        EXPECT_EQ(a.name, b.name);
        EXPECT_EQ(a.ne, b.ne);
        EXPECT_EQ(a.offset, b.offset) << a.name;  // same ggml layout rule
        EXPECT_EQ(0, std::memcmp(a.data, b.data, a.n_bytes)) << a.name;
    }
    // llama.cpp writes the same layout, so the copy is byte-identical to the original.
    EXPECT_EQ(out.size(), src->file_size());
    EXPECT_TRUE(std::equal(out.begin(), out.end(), src->bytes().begin()));
}

TEST(Writer, ZeroTensorFileRoundTrips) {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    std::vector<uint8_t> out = w.to_bytes();
    auto f = GgufFile::parse(out, "vocab.gguf");
    EXPECT_TRUE(f->tensors().empty());
    EXPECT_EQ(f->get_string("general.architecture"), "llama");
}

TEST(Writer, HonoursGeneralAlignment) {
    GgufWriter w;
    w.set_u32("general.alignment", 128);
    w.add_tensor("a", {3}, GgmlType::F32, std::vector<uint8_t>(12, 1));
    w.add_tensor("b", {3}, GgmlType::F32, std::vector<uint8_t>(12, 2));
    std::vector<uint8_t> out = w.to_bytes();
    auto f = GgufFile::parse(out, "a128.gguf");
    EXPECT_EQ(f->alignment(), 128u);
    EXPECT_EQ(f->data_offset() % 128, 0u);
    EXPECT_EQ(f->find_tensor("b")->offset, 128u);
    EXPECT_EQ(f->find_tensor("b")->data[0], 2);
}

TEST(Writer, RefusesInvalidInput) {
    GgufWriter w;
    EXPECT_ERROR(w.set_string("general.alignment", "32"), "general.alignment must be a uint32, got a string");
    EXPECT_ERROR(w.set_u64("general.alignment", 32), "general.alignment must be a uint32, got a uint64");
    EXPECT_ERROR(w.set_u32("general.alignment", 24), "general.alignment 24 is not a non-zero power of two");
    EXPECT_ERROR(w.set_u32("", 1), "metadata key is empty");
    EXPECT_ERROR(w.add_tensor("t", {33}, GgmlType::Q8_0, std::vector<uint8_t>(34)), "ne[0] = 33 is not a multiple of the q8_0 block size 32");
    EXPECT_ERROR(w.add_tensor("t", {4}, GgmlType::F32, std::vector<uint8_t>(15)), "got 15 bytes, its shape and type need 16");
    EXPECT_ERROR(w.add_tensor("t", {}, GgmlType::F32, std::vector<uint8_t>()), "0 dimensions, expected 1..4");
    EXPECT_ERROR(w.add_tensor(std::string(64, 'n'), {1}, GgmlType::F32, std::vector<uint8_t>(4)), "name is longer than 63 bytes");
    w.add_tensor("t", {4}, GgmlType::F32, std::vector<uint8_t>(16));
    EXPECT_ERROR(w.add_tensor("t", {4}, GgmlType::F32, std::vector<uint8_t>(16)), "tensor 't' added twice");
}

TEST(Writer, FailedWritesLeaveNothingBehind) {
    fs::path dir = test::temp_dir("gguf-atomic");
    GgufWriter w;
    w.set_u32("x", 1);
    w.add_tensor("t", {4}, GgmlType::F32, std::vector<uint8_t>(16, 9));

    // A folder that does not exist.
    std::string missing = (dir / "no" / "such" / "out.gguf").string();
    EXPECT_ERROR(w.write(missing), "cannot create a temporary file in '");
    EXPECT_FALSE(fs::exists(dir / "no"));

    // An existing file is replaced only when the new one is complete.
    std::string path = (dir / "out.gguf").string();
    w.write(path);
    auto before = test::read_bytes(path);
    GgufWriter bad;
    bad.set_u32("x", 2);
    bad.add_tensor("t", {4}, GgmlType::F32, [](std::span<uint8_t>) { throw Error("producer failed"); });
    EXPECT_ERROR(bad.write(path), "producer failed");
    EXPECT_EQ(test::read_bytes(path), before);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1)
        << "a temporary file was left behind";

    // Writing over a directory fails at the rename; the temp file is removed.
    fs::create_directory(dir / "sub.gguf");
    fs::create_directory(dir / "sub.gguf" / "x");
    EXPECT_ERROR(w.write((dir / "sub.gguf").string()), "cannot rename the temporary file into place");
    EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
    fs::remove_all(dir);
}

}  // namespace
}  // namespace qlm::gguf

namespace qlm::gguf {
namespace {

TEST(Writer, Float32ArrayValuesOutOfRangeBecomeInfinity) {
    GgufWriter w;
    w.set_float_array("f", ValueType::FLOAT32, {1e300, -1e300, 0.5});
    std::vector<uint8_t> out = w.to_bytes();
    auto f = GgufFile::parse(out, "f.gguf");
    const ArrayValue* a = f->get_array("f", ValueType::FLOAT32);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->floats, (std::vector<double>{std::numeric_limits<double>::infinity(),
                                              -std::numeric_limits<double>::infinity(), 0.5}));
}

}  // namespace
}  // namespace qlm::gguf
