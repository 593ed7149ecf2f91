// Split GGUF models, as llama.cpp's gguf-split writes them: parts PREFIX-00001-of-0000M.gguf ..
// PREFIX-0000M-of-0000M.gguf, each with split.no (its 0-based index), split.count (M) and
// split.tensors.count (the tensors of all parts together); the model's metadata is in the first
// part. GgufFile::open on the first part opens the others (gguf_file.h); these are the naming rule
// and the key checks it uses. A part's name comes only from the first part's name and the counts,
// never from text inside a file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qlm::gguf {

class GgufFile;

inline constexpr std::string_view kSplitNoKey = "split.no";
inline constexpr std::string_view kSplitCountKey = "split.count";
inline constexpr std::string_view kSplitTensorsCountKey = "split.tensors.count";
// llama.cpp stores split.no and split.count as uint16.
inline constexpr uint64_t kMaxSplitCount = 65535;

// The path of part `no` (0-based) of `count`: PREFIX-%05d-of-%05d.gguf with no + 1.
std::string split_path(std::string_view prefix, uint32_t no, uint32_t count);
// PREFIX when `path` is named as part `no` of `count`; nullopt when it is not.
std::optional<std::string> split_prefix(std::string_view path, uint32_t no, uint32_t count);

struct SplitInfo {
    bool present = false;  // the file has split.no or split.count
    uint32_t no = 0;       // 0-based index of this part
    uint32_t count = 1;    // parts in the model
    std::optional<uint64_t> tensors_count;
};

// The split keys of a parsed file, checked: integers, 1 <= split.count <= 65535, split.no below it,
// split.no present when split.count > 1. Throws qlm::Error naming the file and key.
SplitInfo read_split_info(const GgufFile& f);

}  // namespace qlm::gguf
