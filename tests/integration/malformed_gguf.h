// A generator of malformed GGUF files for the CLI robustness tests (malformed_gguf_test.cpp):
// truncations at every field of a complete model's header, metadata and tensor table and at many
// other offsets, one file per known GGUF loader vulnerability class (named after its CVE or
// fuzzing finding), and deterministic bit flips of real model files.
//
//   for (const MalformedCase& c : malformed_cases(shared_dir)) write_bytes(dir / c.name, c.bytes);
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qlm::test {

// What a qlm command must do with the file.
enum class Expect {
    Refused,  // exit 1, exactly one stderr line "qlm: error: ..." naming the problem
    Loads,    // exit 0
    Either,   // exit 0, or the same one-line refusal (bit flips: a flipped weight may load and run)
};

struct MalformedCase {
    std::string name;              // file name stem, e.g. "CVE-2024-21836_n_tensors_overflow"
    std::vector<uint8_t> bytes;
    Expect info = Expect::Refused;     // qlm info FILE
    Expect run = Expect::Refused;      // qlm run -m FILE -n 1 -p hi
    Expect quantize = Expect::Either;  // qlm quantize FILE OUT q8_0 (only run for cve() cases)
    std::string mention;           // a substring the refusal must contain ("" = only the file path)
    bool cve = false;              // a named vulnerability class
};

// A complete tiny model (tests/common/tiny_gguf.h), the base of the truncations and classes.
std::vector<uint8_t> tiny_model_bytes();

// Offsets at which a field of the GGUF structure starts: header fields, each metadata pair's
// key length, key, value type and value (for arrays: element type, count, first and last
// element), each tensor info's name, n_dims, dimensions, type and offset, and the data section.
std::vector<uint64_t> field_offsets(const std::vector<uint8_t>& gguf);

std::vector<MalformedCase> truncation_cases();
std::vector<MalformedCase> vulnerability_cases();
// count flips of one bit each in the files under shared/models (seeded: the same every run).
std::vector<MalformedCase> bit_flip_cases(const std::filesystem::path& shared, int count);

}  // namespace qlm::test
