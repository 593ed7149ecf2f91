// A byte builder for hand-made (often deliberately broken) GGUF files in the tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace qlm::test {

struct GgufBytes {
    std::vector<uint8_t> b;

    GgufBytes& raw(const void* p, size_t n) {
        const uint8_t* c = static_cast<const uint8_t*>(p);
        b.insert(b.end(), c, c + n);
        return *this;
    }
    GgufBytes& u8(uint8_t v) { return raw(&v, 1); }
    GgufBytes& u16(uint16_t v) { return raw(&v, 2); }
    GgufBytes& u32(uint32_t v) { return raw(&v, 4); }
    GgufBytes& u64(uint64_t v) { return raw(&v, 8); }
    GgufBytes& i32(int32_t v) { return raw(&v, 4); }
    GgufBytes& i64(int64_t v) { return raw(&v, 8); }
    GgufBytes& f32(float v) { return raw(&v, 4); }
    GgufBytes& f64(double v) { return raw(&v, 8); }
    GgufBytes& str(std::string_view s) { return u64(s.size()).raw(s.data(), s.size()); }
    GgufBytes& zeros(size_t n) {
        b.insert(b.end(), n, 0);
        return *this;
    }
    GgufBytes& pad_to(uint64_t align) {
        while (b.size() % align) b.push_back(0);
        return *this;
    }

    // "GGUF", version, n_tensors, n_kv.
    GgufBytes& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
        return raw("GGUF", 4).u32(version).u64(n_tensors).u64(n_kv);
    }
    // Key + value type id (the value follows).
    GgufBytes& key(std::string_view k, uint32_t type) { return str(k).u32(type); }
    GgufBytes& kv_u32(std::string_view k, uint32_t v) { return key(k, 4).u32(v); }
    GgufBytes& kv_u64(std::string_view k, uint64_t v) { return key(k, 10).u64(v); }
    GgufBytes& kv_str(std::string_view k, std::string_view v) { return key(k, 8).str(v); }
    // Tensor info record.
    GgufBytes& tensor(std::string_view name, const std::vector<uint64_t>& ne, uint32_t type,
                      uint64_t offset) {
        str(name).u32(static_cast<uint32_t>(ne.size()));
        for (uint64_t d : ne) u64(d);
        return u32(type).u64(offset);
    }
    size_t size() const { return b.size(); }
};

}  // namespace qlm::test
