// Hostile GGUF files: each case breaks one check of the reader (or reproduces a llama.cpp GGUF CVE
// class) and must be refused with a qlm::Error whose one-line message names the specific problem.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gguf_test_bytes.h"
#include "src/gguf/gguf_file.h"
#include "src/gguf/gguf_writer.h"
#include "src/util/error.h"

namespace qlm::gguf {
namespace {

using test::GgufBytes;
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr uint32_t kF32 = 0, kQ8_0 = 8;

struct BadCase {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string expect;  // substring of the error message
};

// A valid v3 file with one metadata pair and one F32 tensor [32, 2] (256 bytes of data).
GgufBytes one_tensor_file(const std::function<void(GgufBytes&)>& infos, uint64_t n_tensors = 1,
                          uint32_t version = 3, size_t data_bytes = 256) {
    GgufBytes g;
    g.header(version, n_tensors, 1).kv_str("general.architecture", "test");
    infos(g);
    g.pad_to(32).zeros(data_bytes);
    return g;
}

// A file with exactly one metadata pair whose key/value bytes come from `kv`.
GgufBytes one_kv_file(const std::function<void(GgufBytes&)>& kv, size_t tail = 64) {
    GgufBytes g;
    g.header(3, 0, 1);
    kv(g);
    g.zeros(tail);
    return g;
}

std::vector<BadCase> bad_cases() {
    std::vector<BadCase> c;
    auto add = [&](std::string name, const GgufBytes& g, std::string expect) {
        c.push_back({std::move(name), g.b, std::move(expect)});
    };

    // --- header ---
    add("empty_file", GgufBytes{}, "the file is empty (0 bytes)");
    add("three_bytes", GgufBytes{}.raw("GGU", 3), "too short for a GGUF header");
    add("bad_magic", GgufBytes{}.raw("GGML", 4).u32(3).u64(0).u64(0), "not a GGUF file (magic is 'GGML'");
    add("binary_magic", GgufBytes{}.raw("\x7f" "ELF", 4).zeros(20), "not a GGUF file (magic is '\\x7fELF'");
    add("truncated_version", GgufBytes{}.raw("GGUF", 4).u16(3), "version: truncated");
    add("version_1", GgufBytes{}.raw("GGUF", 4).u32(1).u32(0).u32(0), "GGUF v1 is not supported");
    add("big_endian_v3", GgufBytes{}.raw("GGUF", 4).raw("\0\0\0\x03", 4).zeros(16), "big-endian");
    add("version_4", GgufBytes{}.header(4, 0, 0), "unsupported GGUF version 4");
    add("version_0", GgufBytes{}.header(0, 0, 0), "unsupported GGUF version 0");
    add("truncated_n_tensors", GgufBytes{}.raw("GGUF", 4).u32(3).u32(0), "n_tensors: truncated");
    add("truncated_n_kv", GgufBytes{}.raw("GGUF", 4).u32(3).u64(0).u32(0), "n_kv: truncated");
    add("huge_n_tensors", GgufBytes{}.header(3, uint64_t{1} << 62, 0).zeros(100),
        "n_tensors: 4611686018427387904 tensors cannot fit");
    add("n_tensors_u64_max", GgufBytes{}.header(3, kU64Max, 0).zeros(100), "n_tensors: 18446744073709551615 tensors cannot fit");
    add("huge_n_kv", GgufBytes{}.header(3, 0, kU64Max).zeros(100), "n_kv: 18446744073709551615 metadata pairs cannot fit");
    add("n_kv_slightly_too_big", GgufBytes{}.header(3, 0, 10).zeros(100), "n_kv: 10 metadata pairs cannot fit");
    add("n_tensors_and_n_kv_together_too_big", GgufBytes{}.header(3, 3, 4).zeros(100), "3 tensors and 4 metadata pairs cannot fit");

    // --- metadata ---
    add("huge_key_length", one_kv_file([](GgufBytes& g) { g.u64(uint64_t{1} << 63); }), "metadata key #0: string length 9223372036854775808 exceeds the 1 GiB limit");
    add("key_past_eof", one_kv_file([](GgufBytes& g) { g.u64(1000).raw("general", 7); }, 20), "metadata key #0: string of 1000 bytes at offset 32 runs past the end");
    add("empty_key", one_kv_file([](GgufBytes& g) { g.str("").u32(4).u32(1); }), "metadata key #0: the key is empty");
    add("duplicate_key", GgufBytes{}.header(3, 0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2), "metadata 'a.b': duplicate key");
    add("unknown_value_type", one_kv_file([](GgufBytes& g) { g.key("k", 13).u32(0); }), "metadata 'k': unknown value type 13");
    add("value_type_negative", one_kv_file([](GgufBytes& g) { g.key("k", 0xFFFFFFFFu).u32(0); }), "unknown value type 4294967295");
    add("truncated_u64_value", GgufBytes{}.header(3, 0, 1).key("k", 10).u32(7), "metadata 'k' value: truncated");
    add("huge_value_string", one_kv_file([](GgufBytes& g) { g.key("k", 8).u64(uint64_t{1} << 40); }), "metadata 'k' value: string length 1099511627776 exceeds the 1 GiB limit");
    add("value_string_past_eof", one_kv_file([](GgufBytes& g) { g.key("k", 8).u64(500); }), "metadata 'k' value: string of 500 bytes");
    add("huge_array_count", one_kv_file([](GgufBytes& g) { g.key("k", 9).u32(0).u64(uint64_t{1} << 60); }), "metadata 'k': array of 1152921504606846976 uint8 elements needs at least");
    add("array_count_overflows_bytes", one_kv_file([](GgufBytes& g) { g.key("k", 9).u32(10).u64(uint64_t{1} << 62); }), "needs at least 2^64+ bytes");
    add("string_array_count_too_big", one_kv_file([](GgufBytes& g) { g.key("tokenizer.ggml.tokens", 9).u32(8).u64(1000000); }), "array of 1000000 string elements needs at least 8000000 bytes");
    add("string_array_element_past_eof", one_kv_file([](GgufBytes& g) { g.key("t", 9).u32(8).u64(2).str("ok").u64(400); }, 16), "metadata 't' element 1: string of 400 bytes");
    add("array_unknown_element_type", one_kv_file([](GgufBytes& g) { g.key("k", 9).u32(20).u64(1); }), "unknown array element type 20");
    add("nested_array_depth_bomb", one_kv_file([](GgufBytes& g) {
            g.key("k", 9);
            for (int d = 0; d < 10000; ++d) g.u32(9).u64(1);
        }), "arrays nested more than 8 levels deep");
    add("array_of_arrays_with_truncated_inner", one_kv_file([](GgufBytes& g) { g.key("k", 9).u32(9).u64(2).u32(5).u64(1).u32(7).u32(5).u64(100); }, 0), "metadata 'k': array of 100 int32 elements needs at least 400 bytes");

    // --- general.alignment ---
    add("alignment_zero", GgufBytes{}.header(3, 0, 1).kv_u32("general.alignment", 0), "general.alignment: 0 is not a non-zero power of two");
    add("alignment_not_power_of_two", GgufBytes{}.header(3, 0, 1).kv_u32("general.alignment", 48), "general.alignment: 48 is not a non-zero power of two");
    add("alignment_is_string", GgufBytes{}.header(3, 0, 1).kv_str("general.alignment", "32"), "general.alignment: is a string, expected a uint32");
    add("alignment_is_u64", GgufBytes{}.header(3, 0, 1).kv_u64("general.alignment", 32), "general.alignment: is a uint64, expected a uint32");

    // --- tensor infos ---
    add("tensor_name_empty", one_tensor_file([](GgufBytes& g) { g.tensor("", {32, 2}, kF32, 0); }), "tensor #0: the name is empty");
    add("tensor_name_too_long", one_tensor_file([](GgufBytes& g) { g.tensor(std::string(64, 'x'), {32, 2}, kF32, 0); }), "name is 64 bytes long, the limit is 63");
    add("tensor_name_huge_length", one_tensor_file([](GgufBytes& g) { g.u64(kU64Max); }), "tensor #0 name: string length 18446744073709551615 exceeds the 1 GiB limit");
    add("duplicate_tensor_name", one_tensor_file([](GgufBytes& g) { g.tensor("w", {32}, kF32, 0).tensor("w", {32}, kF32, 128); }, 2), "tensor 'w': duplicate tensor name");
    add("n_dims_0", one_tensor_file([](GgufBytes& g) { g.tensor("w", {}, kF32, 0); }), "tensor 'w': n_dims is 0, expected 1..4");
    add("n_dims_5", one_tensor_file([](GgufBytes& g) { g.tensor("w", {2, 2, 2, 2, 2}, kF32, 0); }), "tensor 'w': n_dims is 5, expected 1..4");
    add("n_dims_huge", one_tensor_file([](GgufBytes& g) { g.str("w").u32(0xFFFFFFFFu); }), "n_dims is 4294967295");
    add("zero_dim", one_tensor_file([](GgufBytes& g) { g.tensor("w", {32, 0}, kF32, 0); }), "tensor 'w': dimension ne[1] is 0");
    add("dim_above_int64_max", one_tensor_file([](GgufBytes& g) { g.tensor("w", {kU64Max}, kF32, 0); }), "dimension ne[0] = 18446744073709551615 is too large");
    add("element_count_overflow", one_tensor_file([](GgufBytes& g) { g.tensor("w", {uint64_t{1} << 32, uint64_t{1} << 32}, kF32, 0); }), "tensor 'w': element count overflows");
    add("element_count_overflow_4d", one_tensor_file([](GgufBytes& g) { g.tensor("w", {1 << 16, 1 << 16, 1 << 16, 1 << 16}, kF32, 0); }), "element count overflows (dimensions so far [65536, 65536, 65536, 65536])");
    add("nbytes_overflow", one_tensor_file([](GgufBytes& g) { g.tensor("w", {uint64_t{1} << 31, uint64_t{1} << 31}, kF32, 0); }), "tensor 'w': byte size of 4611686018427387904 f32 elements overflows");
    add("unknown_type_id_removed_q4_2", one_tensor_file([](GgufBytes& g) { g.tensor("w", {32, 2}, 4, 0); }), "tensor 'w': unknown ggml type id 4");
    add("unknown_type_id_huge", one_tensor_file([](GgufBytes& g) { g.tensor("w", {32, 2}, 100000, 0); }), "unknown ggml type id 100000");
    add("ne0_not_multiple_of_block_v3", one_tensor_file([](GgufBytes& g) { g.tensor("w", {172, 8}, kQ8_0, 0); }, 1, 3, 1462), "tensor 'w': ne[0] = 172 is not a multiple of the q8_0 block size 32");
    add("ne0_not_multiple_of_block_v2_total_not_either", one_tensor_file([](GgufBytes& g) { g.tensor("w", {172, 1}, kQ8_0, 0); }, 1, 2), "ne[0] = 172 is not a multiple of the q8_0 block size 32");
    add("offset_misaligned", one_tensor_file([](GgufBytes& g) { g.tensor("w", {32}, kF32, 4); }), "tensor 'w': offset 4 is not a multiple of the alignment 32");
    add("tensor_past_eof", one_tensor_file([](GgufBytes& g) { g.tensor("blk.0.attn_q.weight", {32, 4}, kF32, 0); }), "tensor 'blk.0.attn_q.weight' (offset 0, 512 bytes) extends past the end of the file (file is");
    add("tensor_offset_past_eof", one_tensor_file([](GgufBytes& g) { g.tensor("w", {32}, kF32, 1 << 20); }), "tensor 'w' (offset 1048576, 128 bytes) extends past the end");
    add("tensor_offset_wraps_u64", one_tensor_file([](GgufBytes& g) { g.tensor("w", {32}, kF32, kU64Max - 31); }), "(offset 18446744073709551584, 128 bytes) extends past the end");
    add("tensor_size_sum_overflow", one_tensor_file([](GgufBytes& g) {
            g.tensor("a", {uint64_t{1} << 61}, kF32, 0).tensor("b", {uint64_t{1} << 61}, kF32, uint64_t{1} << 63);
        }, 2), "tensor 'a' (offset 0, 9223372036854775808 bytes) extends past the end");
    add("overlapping_tensors", one_tensor_file([](GgufBytes& g) { g.tensor("a", {64}, kF32, 0).tensor("b", {32}, kF32, 32); }, 2), "tensors 'a' (offset 0, 256 bytes) and 'b' (offset 32) overlap");
    add("data_section_past_eof", GgufBytes{}.header(3, 1, 0).tensor("w", {32}, kF32, 0).zeros(3), "data section: starts at offset");
    add("truncated_tensor_offset", GgufBytes{}.header(3, 1, 0).str("wwwwwwww").u32(1).u64(32).u32(0).u32(0), "tensor 'wwwwwwww' offset: truncated");
    add("alignment_64_offset_32", GgufBytes{}.header(3, 1, 1).kv_u32("general.alignment", 64).tensor("w", {32}, kF32, 32).pad_to(64).zeros(256), "offset 32 is not a multiple of the alignment 64");
    return c;
}

class BadFile : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadFile, IsRefusedWithSpecificOneLineError) {
    const BadCase& bc = GetParam();
    try {
        auto f = GgufFile::parse(bc.bytes, "bad.gguf");
        FAIL() << "accepted a bad file (" << f->tensors().size() << " tensors)";
    } catch (const Error& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find(bc.expect), std::string::npos) << "message: " << msg;
        EXPECT_EQ(msg.rfind("bad.gguf: ", 0), 0u) << "message does not start with the file name: " << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    }
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadFile, ::testing::ValuesIn(bad_cases()),
                         [](const ::testing::TestParamInfo<BadCase>& i) { return i.param.name; });

TEST(BadFileCorpus, HasAtLeastThirtyCases) { EXPECT_GE(bad_cases().size(), 30u); }

// The writer's output with metadata of many types and two tensors: the base for truncation and
// byte-flip tests.
std::vector<uint8_t> rich_valid_file() {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.block_count", 2);
    w.set_i64("x.i64", -5);
    w.set_f32("x.f32", 0.5f);
    w.set_bool("x.bool", true);
    w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "a", "bc"});
    w.set_float_array("tokenizer.ggml.scores", ValueType::FLOAT32, {0.0, -1.0, -2.5});
    w.set_int_array("tokenizer.ggml.token_type", ValueType::INT32, {2, 1, 1});
    std::vector<uint8_t> a(32 * 2 * 4, 0x11), b(34 * 2, 0x22);
    w.add_tensor("a", {32, 2}, GgmlType::F32, a);
    w.add_tensor("b", {64}, GgmlType::Q8_0, b);
    return w.to_bytes();
}

TEST(BadFileMutation, EveryTruncationIsRefused) {
    std::vector<uint8_t> full = rich_valid_file();
    auto ok = GgufFile::parse(full, "full.gguf");
    const uint64_t data_start = ok->data_offset();
    // The last tensor ends exactly at the end of the file or is followed only by padding.
    const TensorInfo& last = ok->tensors().back();
    const uint64_t last_end = data_start + last.offset + last.n_bytes;
    ASSERT_LE(last_end, full.size());
    for (size_t len = 0; len < last_end; ++len) {
        std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(len));
        try {
            GgufFile::parse(cut, "cut.gguf");
            ADD_FAILURE() << "accepted a file truncated to " << len << " bytes";
        } catch (const Error& e) {
            std::string msg = e.what();
            std::vector<std::string> expect;
            if (len == 0) expect = {"the file is empty"};
            else if (len < 4) expect = {"too short for a GGUF header"};
            else if (len < data_start)  // a field cut short, or a count/length that no longer fits
                expect = {": truncated: needs", "cannot fit in the", "runs past the end of the file",
                          "elements needs at least", "data section: starts at"};
            else expect = {"extends past the end of the file"};
            bool good = false;
            for (const std::string& x : expect) good = good || msg.find(x) != std::string::npos;
            EXPECT_TRUE(good) << "len " << len << ": " << msg;
        }
    }
}

TEST(BadFileMutation, RandomByteCorruptionNeverCrashes) {
    std::vector<uint8_t> full = rich_valid_file();
    std::mt19937 rng(12345);
    int refused = 0, accepted = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        std::vector<uint8_t> bad = full;
        int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) {
            size_t pos = rng() % 400 % bad.size();  // mostly the header and metadata
            bad[pos] = static_cast<uint8_t>(rng());
        }
        try {
            auto f = GgufFile::parse(bad, "flip.gguf");
            for (const TensorInfo& t : f->tensors()) {
                ASSERT_GE(t.data, bad.data());
                ASSERT_LE(t.data + t.n_bytes, bad.data() + bad.size());
            }
            ++accepted;
        } catch (const Error&) {
            ++refused;
        }
    }
    EXPECT_GT(refused, 0);
    EXPECT_EQ(refused + accepted, 3000);
}

// Valid but unusual files that must load.
TEST(UnusualFile, ArrayOfArraysIsParsedRecursively) {
    GgufBytes g;
    g.header(3, 0, 1).key("nested", 9).u32(9).u64(2);
    g.u32(5).u64(2).i32(-1).i32(7);       // [-1, 7]
    g.u32(8).u64(1).str("hi");            // ["hi"]
    auto f = GgufFile::parse(g.b, "nested.gguf");
    const ArrayValue* a = f->get_array("nested", ValueType::ARRAY);
    ASSERT_NE(a, nullptr);
    ASSERT_EQ(a->count, 2u);
    ASSERT_EQ(a->arrays.size(), 2u);
    ASSERT_EQ(a->arrays[0].arr->elem_type, ValueType::INT32);
    EXPECT_EQ(a->arrays[0].arr->ints, (std::vector<int64_t>{-1, 7}));
    EXPECT_EQ(a->arrays[1].arr->strings, (std::vector<std::string>{"hi"}));
}

TEST(UnusualFile, NestingUpToTheLimitLoads) {
    GgufBytes g;
    g.header(3, 0, 1).key("deep", 9);
    for (uint32_t d = 1; d < kMaxArrayDepth; ++d) g.u32(9).u64(1);
    g.u32(0).u64(1).u8(42);
    auto f = GgufFile::parse(g.b, "deep.gguf");
    const ArrayValue* a = f->get_array("deep", ValueType::ARRAY);
    for (uint32_t d = 1; d < kMaxArrayDepth; ++d) a = a->arrays.at(0).arr.get();
    ASSERT_EQ(a->elem_type, ValueType::UINT8);
    EXPECT_EQ(a->ints.at(0), 42);
}

TEST(UnusualFile, ZeroTensorFileWithoutPaddingLoads) {
    GgufBytes g;
    g.header(3, 0, 1).kv_str("general.architecture", "x");  // ends unaligned, no padding
    ASSERT_NE(g.size() % 32, 0u);
    auto f = GgufFile::parse(g.b, "vocab.gguf");
    EXPECT_TRUE(f->tensors().empty());
    EXPECT_EQ(f->data_offset(), g.size());
}

TEST(UnusualFile, LegacyV2FlatBlocksAreAccepted) {
    // Q8_0 [172, 8]: 1376 elements = 43 blocks of 32 that cross row boundaries.
    GgufBytes g;
    g.header(2, 1, 0).tensor("ffn_down.weight", {172, 8}, kQ8_0, 0).pad_to(32).zeros(43 * 34);
    auto f = GgufFile::parse(g.b, "legacy.gguf");
    const TensorInfo* t = f->find_tensor("ffn_down.weight");
    ASSERT_NE(t, nullptr);
    EXPECT_TRUE(t->flat_blocks);
    EXPECT_EQ(t->n_elements, 1376u);
    EXPECT_EQ(t->n_bytes, 43u * 34u);
}

TEST(UnusualFile, BoolByteOtherThanOneIsTrue) {
    GgufBytes g;
    g.header(3, 0, 1).key("b", 7).u8(2);
    EXPECT_EQ(GgufFile::parse(g.b, "b.gguf")->get_bool("b"), true);
}

TEST(UnusualFile, CustomAlignmentPlacesData) {
    GgufBytes g;
    g.header(3, 1, 1).kv_u32("general.alignment", 64).tensor("w", {4}, kF32, 0).pad_to(64);
    size_t data_at = g.size();
    g.f32(1).f32(2).f32(3).f32(4);
    auto f = GgufFile::parse(g.b, "a64.gguf");
    EXPECT_EQ(f->alignment(), 64u);
    EXPECT_EQ(f->data_offset(), data_at);
    EXPECT_EQ(f->tensors()[0].data, g.b.data() + data_at);
}

}  // namespace
}  // namespace qlm::gguf
