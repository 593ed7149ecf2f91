// ggml tensor type ids (as stored in GGUF) and their block geometry. Which of them qlm computes
// with is the format table's business (quant/formats.h: find_format).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qlm {

enum class GgmlType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
    IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};
// Every id is below this: tables indexed by type id have this many slots.
constexpr size_t kGgmlTypeIdLimit = 40;

struct TypeInfo {
    GgmlType type;
    std::string_view name;  // ggml's name, e.g. "q8_0"
    uint32_t block_size;    // elements per block
    uint32_t type_size;     // bytes per block
};

// The geometry of a known type id, or nullopt for an id that no ggml version defines.
std::optional<TypeInfo> type_info(uint32_t id);
// Same for a type known to exist.
const TypeInfo& type_info(GgmlType t);
std::string_view type_name(GgmlType t);
// Parses "q8_0", "Q8_0", "f16", ... ; nullopt when unknown.
std::optional<GgmlType> type_from_name(std::string_view name);

// Bytes used by n elements of a type; n must be a multiple of the block size.
inline uint64_t row_bytes(const TypeInfo& ti, uint64_t n) { return n / ti.block_size * ti.type_size; }

}  // namespace qlm
