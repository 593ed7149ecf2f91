#include "malformed_gguf.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>

#include "common/test_support.h"
#include "common/tiny_gguf.h"
#include "src/gguf/gguf_file.h"
#include "unit/gguf/gguf_test_bytes.h"

namespace qlm::test {

namespace {

constexpr uint64_t kU64Max = ~uint64_t{0};
constexpr uint32_t kF32 = 0, kString = 8, kArray = 9, kUint32 = 4;

// Little-endian walk over a well-formed file (ours), recording where each field starts.
struct Walker {
    const std::vector<uint8_t>& b;
    std::vector<uint64_t>& out;
    uint64_t pos = 0;

    template <typename T>
    T get() {
        if (pos + sizeof(T) > b.size()) throw std::runtime_error("field_offsets: the file is not well-formed");
        T v;
        std::memcpy(&v, b.data() + pos, sizeof(T));
        pos += sizeof(T);
        return v;
    }
    void mark() { out.push_back(pos); }
    void skip_string() { pos += get<uint64_t>(); }
    void value(uint32_t type, bool record) {
        static const uint64_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        if (type == kString) {
            skip_string();
        } else if (type == kArray) {
            if (record) mark();
            const uint32_t et = get<uint32_t>();
            if (record) mark();
            const uint64_t n = get<uint64_t>();
            for (uint64_t k = 0; k < n; ++k) {
                if (record && (k == 0 || k + 1 == n)) mark();
                value(et, false);
            }
        } else {
            pos += sizes[type];
        }
    }
};

MalformedCase refused(std::string name, std::vector<uint8_t> bytes, std::string mention) {
    MalformedCase c;
    c.name = std::move(name);
    c.bytes = std::move(bytes);
    c.mention = std::move(mention);
    c.cve = true;
    c.quantize = Expect::Refused;
    return c;
}

std::vector<uint8_t> tiny_with(const std::function<void(gguf::GgufWriter&)>& edit) {
    gguf::GgufWriter w = TinyModel{}.writer();
    edit(w);
    return w.to_bytes();
}

}  // namespace

std::vector<uint8_t> tiny_model_bytes() { return TinyModel{}.writer().to_bytes(); }

std::vector<uint64_t> field_offsets(const std::vector<uint8_t>& b) {
    std::vector<uint64_t> out;
    Walker w{b, out};
    for (uint64_t p : {0, 4, 8, 16}) out.push_back(p);  // magic, version, n_tensors, n_kv
    w.pos = 8;
    const uint64_t n_tensors = w.get<uint64_t>();
    const uint64_t n_kv = w.get<uint64_t>();
    for (uint64_t k = 0; k < n_kv; ++k) {
        w.mark();  // key length
        const uint64_t len = w.get<uint64_t>();
        w.mark();  // key
        w.pos += len;
        w.mark();  // value type
        const uint32_t t = w.get<uint32_t>();
        w.mark();  // value
        w.value(t, true);
    }
    for (uint64_t k = 0; k < n_tensors; ++k) {
        w.mark();  // name length
        w.skip_string();
        w.mark();  // n_dims
        const uint32_t nd = w.get<uint32_t>();
        for (uint32_t d = 0; d < nd; ++d) {
            w.mark();
            w.pos += 8;
        }
        w.mark();  // type
        w.pos += 4;
        w.mark();  // offset
        w.pos += 8;
    }
    w.mark();  // end of the tensor table (padding, then data)
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::vector<MalformedCase> truncation_cases() {
    const std::vector<uint8_t> full = tiny_model_bytes();
    const auto file = gguf::GgufFile::parse(full, "tiny.gguf");
    uint64_t data_end = 0;
    for (const auto& t : file->tensors()) data_end = std::max(data_end, file->data_offset() + t.offset + t.n_bytes);
    std::vector<uint64_t> cuts;
    for (uint64_t p : field_offsets(full)) {  // at each field, and one byte into it
        cuts.push_back(p);
        cuts.push_back(p + 1);
    }
    for (uint64_t p = 0; p < 24; ++p) cuts.push_back(p);                  // every byte of the header
    for (uint64_t k = 1; k < 24; ++k) cuts.push_back(data_end * k / 24);  // spread over the file
    cuts.push_back(file->data_offset() + 1);
    cuts.push_back(data_end - 1);
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::vector<MalformedCase> out;
    for (uint64_t p : cuts) {
        if (p >= data_end) continue;
        MalformedCase c;
        c.name = "truncated_at_" + std::to_string(p);
        c.bytes.assign(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(p));
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<MalformedCase> vulnerability_cases() {
    std::vector<MalformedCase> c;
    auto raw = [](const GgufBytes& g) { return g.b; };
    // --- header / string / array length overflows (llama.cpp, 2024) ---
    c.push_back(refused("CVE-2024-21836_n_tensors_overflow", raw(GgufBytes{}.header(3, (kU64Max / 40) + 1, 0)),
                        "n_tensors"));
    c.push_back(refused("CVE-2024-23605_n_kv_overflow", raw(GgufBytes{}.header(3, 0, uint64_t{1} << 60)), "n_kv"));
    c.push_back(refused("CVE-2024-23496_key_length_overflow", raw(GgufBytes{}.header(3, 0, 1).u64(kU64Max).zeros(16)),
                        "string length"));
    c.push_back(refused("CVE-2024-23496_string_value_length_overflow",
                        raw(GgufBytes{}.header(3, 0, 1).key("general.name", kString).u64(kU64Max).zeros(16)),
                        "string length"));
    c.push_back(refused("CVE-2024-21825_string_array_count_overflow",
                        raw(GgufBytes{}.header(3, 0, 1).key("tokenizer.ggml.tokens", kArray).u32(kString)
                                .u64(uint64_t{1} << 61).str("a").str("b")),
                        "array of"));
    c.push_back(refused("CVE-2024-21825_uint32_array_count_overflow",
                        raw(GgufBytes{}.header(3, 0, 1).key("tokenizer.ggml.token_type", kArray).u32(kUint32)
                                .u64(uint64_t{1} << 62).u32(1)),
                        "array of"));
    c.push_back(refused("CVE-2024-21802_n_dims_overflow",
                        raw(GgufBytes{}.header(3, 1, 0).tensor("w", {2, 2, 2, 2, 2, 2, 2, 2}, kF32, 0).zeros(64)),
                        "n_dims"));
    // --- tensor sizes (2025-2026) ---
    c.push_back(refused("CVE-2025-53630_tensor_size_sum_overflow",
                        raw(GgufBytes{}.header(3, 2, 0)
                                .tensor("a", {uint64_t{1} << 61}, kF32, 0)
                                .tensor("b", {uint64_t{1} << 61}, kF32, uint64_t{1} << 63)
                                .pad_to(32).zeros(64)),
                        "extends past the end"));
    c.push_back(refused("CVE-2026-27940_tensor_end_overflow",
                        raw(GgufBytes{}.header(3, 1, 0).tensor("a", {(uint64_t{1} << 62) - 8}, kF32, 0).pad_to(32).zeros(64)),
                        "extends past the end"));
    c.push_back(refused("CVE-2026-33298_nbytes_overflow",
                        raw(GgufBytes{}.header(3, 1, 0).tensor("w", {uint64_t{1} << 31, uint64_t{1} << 31}, kF32, 0)
                                .pad_to(32).zeros(64)),
                        "overflows"));
    {  // Ollama: a tensor whose extent runs past the end of the file, reached through the quantizer.
        std::vector<uint8_t> b = tiny_model_bytes();
        b.resize(b.size() - 100);
        c.push_back(refused("CVE-2026-7482_tensor_extent_beyond_file", b, "extends past the end"));
    }
    // --- fuzzing findings (2026) ---
    c.push_back(refused("fuzz2026_empty_key", raw(GgufBytes{}.header(3, 0, 1).kv_u32("", 1)), "key is empty"));
    c.push_back(refused("fuzz2026_zero_dimension",
                        raw(GgufBytes{}.header(3, 1, 0).tensor("w", {32, 0}, kF32, 0).pad_to(32).zeros(128)), "is 0"));
    c.push_back(refused("fuzz2026_alignment_string_typed",
                        raw(GgufBytes{}.header(3, 1, 1).kv_str("general.alignment", "32").tensor("w", {32}, kF32, 0)
                                .pad_to(32).zeros(128)),
                        "general.alignment"));
    c.push_back(refused("fuzz2026_alignment_uint64_typed",
                        raw(GgufBytes{}.header(3, 0, 1).kv_u64("general.alignment", 32)), "general.alignment"));
    c.push_back(refused("fuzz2026_alignment_not_power_of_two",
                        raw(GgufBytes{}.header(3, 0, 1).kv_u32("general.alignment", 48)), "general.alignment"));
    {
        MalformedCase m = refused("fuzz2026_block_count_beyond_tensors",
                                  tiny_with([](gguf::GgufWriter& w) { w.set_u32("llama.block_count", 40); }),
                                  "blk.1.");
        m.quantize = Expect::Either;  // the quantizer copies tensors; it does not bind layers
        c.push_back(std::move(m));
    }
    auto vocab_case = [&](std::string name, std::function<void(gguf::GgufWriter&)> edit, std::string mention) {
        MalformedCase m = refused(std::move(name), tiny_with(edit), std::move(mention));
        m.quantize = Expect::Either;
        c.push_back(std::move(m));
    };
    vocab_case("fuzz2026_tokens_wrong_element_type", [](gguf::GgufWriter& w) {
        w.set_int_array("tokenizer.ggml.tokens", gguf::ValueType::INT32, std::vector<int64_t>(267, 7));
    }, "tokenizer.ggml.tokens");
    vocab_case("fuzz2026_scores_wrong_element_type", [](gguf::GgufWriter& w) {
        w.set_string_array("tokenizer.ggml.scores", std::vector<std::string>(267, "0.5"));
    }, "tokenizer.ggml.scores");
    vocab_case("fuzz2026_token_type_wrong_element_type", [](gguf::GgufWriter& w) {
        w.set_float_array("tokenizer.ggml.token_type", gguf::ValueType::FLOAT32, std::vector<double>(267, 1.0));
    }, "tokenizer.ggml.token_type");
    vocab_case("fuzz2026_merges_wrong_element_type", [](gguf::GgufWriter& w) {
        w.set_string("tokenizer.ggml.model", "gpt2");
        w.set_int_array("tokenizer.ggml.merges", gguf::ValueType::UINT8, {1, 2, 3});
    }, "tokenizer.ggml.merges");
    vocab_case("fuzz2026_bos_token_id_out_of_range",
               [](gguf::GgufWriter& w) { w.set_u32("tokenizer.ggml.bos_token_id", 1000000); }, "bos_token_id");
    vocab_case("fuzz2026_eos_token_id_negative",
               [](gguf::GgufWriter& w) { w.set_i32("tokenizer.ggml.eos_token_id", -5); }, "eos_token_id");
    vocab_case("fuzz2026_special_token_id_wrong_type",
               [](gguf::GgufWriter& w) { w.set_string("tokenizer.ggml.unknown_token_id", "0"); }, "unknown_token_id");
    {  // A byte token whose text is not <0xNN>: it loads and reads as its own text.
        std::vector<std::string> toks = TinyModel::tokens();
        toks[3] = "<0x-1>";
        toks[4] = "<0xZZ>";
        MalformedCase m;
        m.name = "fuzz2026_byte_token_malformed";
        m.bytes = tiny_with([&](gguf::GgufWriter& w) { w.set_string_array("tokenizer.ggml.tokens", toks); });
        m.info = m.run = m.quantize = Expect::Loads;
        m.cve = true;
        c.push_back(std::move(m));
    }
    return c;
}

std::vector<MalformedCase> bit_flip_cases(const std::filesystem::path& shared, int count) {
    std::vector<MalformedCase> out;
    const char* files[] = {"stories260K-Q8_0.gguf", "stories260K-F32.gguf"};
    const std::vector<uint8_t> originals[] = {read_bytes(shared / "models" / files[0]),
                                              read_bytes(shared / "models" / files[1])};
    const std::unique_ptr<gguf::GgufFile> parsed[] = {gguf::GgufFile::parse(originals[0], files[0]),
                                                      gguf::GgufFile::parse(originals[1], files[1])};
    for (int k = 0; k < count; ++k) {
        const std::string fname = files[k % 2];
        const std::vector<uint8_t>& orig = originals[k % 2];
        const gguf::GgufFile* f = parsed[k % 2].get();
        std::mt19937_64 rng(0x5eed0000u + static_cast<uint64_t>(k));
        // k % 4 in {0, 1}: a bit of the header, metadata or tensor table; {2, 3}: of the tensor data.
        const uint64_t lo = k % 4 < 2 ? 0 : f->data_offset();
        const uint64_t hi = k % 4 < 2 ? f->data_offset() : orig.size();
        const uint64_t at = lo + rng() % (hi - lo);
        const int bit = static_cast<int>(rng() % 8);
        MalformedCase c;
        c.name = "bitflip_" + fname.substr(0, fname.size() - 5) + "_" + std::to_string(at) + "_bit" + std::to_string(bit);
        c.bytes = orig;
        c.bytes[at] ^= static_cast<uint8_t>(1u << bit);
        c.info = c.run = Expect::Either;
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace qlm::test
