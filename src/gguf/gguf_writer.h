// GGUF v3 writer: metadata of every type, tensors from bytes or from a producer callback, written
// atomically (temp file in the target folder, fsync, rename) and deterministically (metadata and
// tensors in insertion order, zero padding).
//
//   gguf::GgufWriter w;
//   w.copy_metadata_from(*src);                       // all keys of an opened file, in file order
//   w.set_u32("general.file_type", 7);
//   w.add_tensor("token_embd.weight", {64, 512}, GgmlType::Q8_0,
//                [&](std::span<uint8_t> out) { quantize_into(out); });
//   w.write("out.gguf");                              // throws qlm::Error with one line
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/gguf/gguf_file.h"

namespace qlm::gguf {

class GgufWriter {
public:
    // Fills `out` (exactly the tensor's n_bytes long) with the tensor's data.
    using Producer = std::function<void(std::span<uint8_t> out)>;

    // --- metadata (setting an existing key replaces its value in place, keeping its position) ---
    void set_u8(std::string_view key, uint8_t v);
    void set_i8(std::string_view key, int8_t v);
    void set_u16(std::string_view key, uint16_t v);
    void set_i16(std::string_view key, int16_t v);
    void set_u32(std::string_view key, uint32_t v);
    void set_i32(std::string_view key, int32_t v);
    void set_u64(std::string_view key, uint64_t v);
    void set_i64(std::string_view key, int64_t v);
    void set_f32(std::string_view key, float v);
    void set_f64(std::string_view key, double v);
    void set_bool(std::string_view key, bool v);
    void set_string(std::string_view key, std::string_view v);
    void set_string_array(std::string_view key, const std::vector<std::string>& v);
    // Integer/bool arrays: elem is the stored element type (UINT8..INT64, BOOL).
    void set_int_array(std::string_view key, ValueType elem, const std::vector<int64_t>& v);
    // Float arrays: elem is FLOAT32 or FLOAT64.
    void set_float_array(std::string_view key, ValueType elem, const std::vector<double>& v);
    // Any value, arrays of arrays included (validated: consistent types and counts).
    void set_value(std::string_view key, const Value& v);
    // Copies every metadata pair of `src` in file order (replacing keys already set).
    void copy_metadata_from(const GgufFile& src);
    // Removes a key; returns whether it was present.
    bool remove(std::string_view key);
    const std::vector<KeyValue>& metadata() const { return kvs_; }

    // --- tensors (written in the order added) ---
    // Copies `bytes`, which must be exactly the tensor's size.
    void add_tensor(std::string_view name, const std::vector<uint64_t>& shape, GgmlType type,
                    std::span<const uint8_t> bytes);
    // Produces the bytes when the file is written.
    void add_tensor(std::string_view name, const std::vector<uint64_t>& shape, GgmlType type,
                    Producer producer);
    size_t tensor_count() const { return tensors_.size(); }

    // Writes the file atomically; on failure nothing is left at `path` or beside it.
    void write(const std::string& path) const;
    // The bytes write() would produce (for tests and small files).
    std::vector<uint8_t> to_bytes() const;

    class Sink;  // byte destination of emit() (memory or file); defined in the .cpp

private:
    struct PendingTensor {
        std::string name;
        std::vector<uint64_t> shape;
        GgmlType type;
        uint64_t n_bytes;
        std::vector<uint8_t> bytes;  // when given as bytes
        Producer producer;           // otherwise
    };
    void set(std::string_view key, Value v);
    uint64_t alignment() const;
    uint64_t check_tensor(std::string_view name, const std::vector<uint64_t>& shape, GgmlType type) const;
    void emit(Sink& out) const;

    std::vector<KeyValue> kvs_;
    std::vector<PendingTensor> tensors_;
};

}  // namespace qlm::gguf
