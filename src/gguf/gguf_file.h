// A GGUF v2/v3 file, opened, fully validated and mmap'd. Everything above src/gguf may trust the
// shapes, counts and offsets it exposes: every check against the file happens in open()/parse().
//
//   auto f = gguf::GgufFile::open("model.gguf");           // throws qlm::Error with one line
//   std::string arch = f->get_string("general.architecture").value_or("");
//   const gguf::TensorInfo* t = f->find_tensor("token_embd.weight");
//   const uint8_t* bytes = t->data;                         // points into the mmap; no copy
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "quant/ggml_type.h"
#include "src/gguf/gguf_split.h"

namespace qlm::gguf {

enum class ValueType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view value_type_name(ValueType t);  // "uint32", "array", ...

struct ArrayValue;

// One metadata value. Exactly one of the members is meaningful, chosen by `type`:
// unsigned integers -> u, signed integers -> i, FLOAT32/FLOAT64 -> f, BOOL -> b, STRING -> s,
// ARRAY -> arr.
struct Value {
    ValueType type = ValueType::UINT8;
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0.0;
    bool b = false;
    std::string s;
    std::shared_ptr<const ArrayValue> arr;
};

// An array: elements of one type. Strings go to `strings`, integer and bool elements to `ints`
// (unsigned 64-bit values above INT64_MAX are stored bit-cast), float elements to `floats`,
// and nested arrays to `arrays`.
struct ArrayValue {
    ValueType elem_type = ValueType::UINT8;
    uint64_t count = 0;
    std::vector<std::string> strings;
    std::vector<int64_t> ints;
    std::vector<double> floats;
    std::vector<Value> arrays;
};

struct TensorInfo {
    std::string name;
    uint32_t n_dims = 0;
    std::array<uint64_t, 4> ne{1, 1, 1, 1};  // ne[0] is the contiguous (input) dimension
    GgmlType type = GgmlType::F32;
    uint64_t offset = 0;       // relative to the data section of the file (the part) holding it
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;
    const uint8_t* data = nullptr;  // into the mapping; n_bytes long
    // True when ne[0] is not a multiple of the type's block size but the total element count is:
    // the blocks then run flat across row boundaries (only accepted in legacy GGUF v2 files, e.g.
    // stories260K-Q8_0.gguf's ffn_down with ne0 = 172). Row-wise code must refuse such a tensor
    // or dequantize it as one flat run of n_elements.
    bool flat_blocks = false;
};

// Limits the reader enforces on untrusted files.
inline constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;  // 1 GiB, as ggml
inline constexpr uint32_t kMaxArrayDepth = 8;                   // nesting of arrays of arrays
inline constexpr uint64_t kMaxTensorNameBytes = 63;             // ggml: GGML_MAX_NAME (64) incl. NUL
inline constexpr uint64_t kDefaultAlignment = 32;

// "a uint32", "an array of string", ... (for error messages).
std::string describe_type(const Value& v);

struct KeyValue {
    std::string key;
    Value value;
};

class GgufFile {
public:
    // Opens, maps and validates a file. Throws qlm::Error: "PATH: problem (fix)". The first part
    // of a split model (gguf_split.h) opens every part: tensors() then holds the tensors of all
    // of them, metadata() the first part's; any other part is refused with the first one's name.
    static std::unique_ptr<GgufFile> open(const std::string& path);
    // Parses and validates bytes already in memory (fuzzing, tests). `bytes` must outlive the
    // returned object; `name` is used in error messages. A part of a split model is parsed alone.
    static std::unique_ptr<GgufFile> parse(std::span<const uint8_t> bytes, const std::string& name);
    // The parts of a split model in memory, the first first, joined and checked as open() does
    // (part k is called NAME-0000k-of-0000M.gguf in errors). The bytes must outlive the result.
    static std::unique_ptr<GgufFile> parse_split(std::span<const std::span<const uint8_t>> parts,
                                                 const std::string& name);

    ~GgufFile();
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }  // start of the data section in the file
    // Bytes of the file; of all its parts together for a split model.
    uint64_t file_size() const;
    // The split keys (split.count is 1 for a file that is not split).
    const SplitInfo& split() const { return split_; }
    // Every part's path, this file first (just this file's when it is not split).
    std::vector<std::string> part_paths() const;

    // Metadata in file order.
    const std::vector<KeyValue>& metadata() const { return kvs_; }
    const Value* find(std::string_view key) const;

    // Typed accessors. nullopt when the key is absent; qlm::Error naming the file, key, actual
    // and expected type when present with an incompatible type. Integers accept any integer
    // type whose value fits (negative values are an error for get_u64); floats accept
    // FLOAT32/FLOAT64.
    std::optional<uint64_t> get_u64(std::string_view key) const;
    std::optional<int64_t> get_i64(std::string_view key) const;
    std::optional<double> get_f64(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string> get_string(std::string_view key) const;
    // An array whose elements have type `elem` (for integer arrays any integer element type is
    // accepted when elem is an integer type; for FLOAT32 any float type). nullptr when absent.
    const ArrayValue* get_array(std::string_view key, ValueType elem) const;

    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find_tensor(std::string_view name) const;

    // Raw bytes of the whole file (the mapping; the first part's for a split model).
    std::span<const uint8_t> bytes() const { return bytes_; }
    // True when the tensors' bytes are the read-only private mappings of open() (pages dropped
    // with madvise are read again from the file), false for bytes parsed in memory.
    bool mapped() const { return map_ != nullptr; }

private:
    GgufFile() = default;
    static std::unique_ptr<GgufFile> open_one(const std::string& path);
    void parse_all();
    // gguf_split.cpp: for a split model, the other parts (this must be the first).
    void open_parts();
    void attach_parts(std::vector<std::unique_ptr<GgufFile>> parts);

    std::string path_;
    std::span<const uint8_t> bytes_;
    void* map_ = nullptr;
    size_t map_len_ = 0;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<KeyValue> kvs_;
    std::unordered_map<std::string, size_t> kv_index_;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
    SplitInfo split_;
    std::vector<std::unique_ptr<GgufFile>> parts_;  // parts 2.. of a split model (their mappings)
};

}  // namespace qlm::gguf
