// Split models: the part names, the split keys, and GgufFile's joining of the parts (open_parts,
// attach_parts, parse_split), checked so that a missing, foreign or reordered part is one clear
// error and every tensor of the model is found in exactly one part.
#include "src/gguf/gguf_split.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "src/gguf/gguf_file.h"
#include "src/util/error.h"

namespace qlm::gguf {

namespace {
constexpr const char* kFixParts = "download every part of the model again into one folder";

std::string part_suffix(uint32_t no, uint32_t count) { return fmt::format("-{:05}-of-{:05}.gguf", no + 1, count); }
}  // namespace

std::string split_path(std::string_view prefix, uint32_t no, uint32_t count) {
    return std::string(prefix) + part_suffix(no, count);
}

std::optional<std::string> split_prefix(std::string_view path, uint32_t no, uint32_t count) {
    const std::string suffix = part_suffix(no, count);
    if (path.size() <= suffix.size() || !path.ends_with(suffix)) return std::nullopt;
    return std::string(path.substr(0, path.size() - suffix.size()));
}

SplitInfo read_split_info(const GgufFile& f) {
    SplitInfo s;
    const auto no = f.get_u64(kSplitNoKey);
    const auto count = f.get_u64(kSplitCountKey);
    s.present = no || count;
    s.tensors_count = f.get_u64(kSplitTensorsCountKey);
    if (count) {
        if (*count == 0 || *count > kMaxSplitCount)
            throw_error("{}: {} is {}, outside 1..{}: the file is corrupt; download it again", f.path(),
                        kSplitCountKey, *count, kMaxSplitCount);
        s.count = static_cast<uint32_t>(*count);
    }
    if (!no && s.count > 1)
        throw_error("{}: {} is {} but {} is missing: the file is corrupt; download it again", f.path(), kSplitCountKey,
                    s.count, kSplitNoKey);
    if (no) {
        if (*no >= s.count)
            throw_error("{}: {} is {} but the model has {} part{} ({} {}): the file is corrupt; download it again",
                        f.path(), kSplitNoKey, *no, s.count, s.count == 1 ? "" : "s", kSplitCountKey, s.count);
        s.no = static_cast<uint32_t>(*no);
    }
    return s;
}

// Part k (1-based k > 0 of split_.count) must say so, and bring only tensors no other part has.
void GgufFile::attach_parts(std::vector<std::unique_ptr<GgufFile>> parts) {
    for (size_t k = 0; k < parts.size(); ++k) {
        const GgufFile& p = *parts[k];
        const uint32_t want = static_cast<uint32_t>(k + 1);
        if (!p.split_.present)
            throw_error("{}: has no {} key, so it is not part {} of {} of the split model '{}': {}", p.path_,
                        kSplitNoKey, want + 1, split_.count, path_, kFixParts);
        if (p.split_.count != split_.count)
            throw_error("{}: {} is {} but the first part '{}' says {}: the parts come from different splits; {}",
                        p.path_, kSplitCountKey, p.split_.count, path_, split_.count, kFixParts);
        if (p.split_.no != want)
            throw_error("{}: {} is {} (part {} of {}), expected {} for this name: the parts are mixed up; {}", p.path_,
                        kSplitNoKey, p.split_.no, p.split_.no + 1, split_.count, want, kFixParts);
        for (const TensorInfo& t : p.tensors_) {
            if (tensor_index_.count(t.name))
                throw_error("{}: tensor '{}' is also in an earlier part of the split model '{}': the parts are "
                            "inconsistent; {}", p.path_, t.name, path_, kFixParts);
            tensor_index_.emplace(t.name, tensors_.size());
            tensors_.push_back(t);  // its data stays in the part's mapping, owned by parts_
        }
    }
    if (split_.tensors_count && *split_.tensors_count != tensors_.size())
        throw_error("{}: {} is {} but the {} parts hold {} tensors: a part is damaged or from another split; {}", path_,
                    kSplitTensorsCountKey, *split_.tensors_count, split_.count, tensors_.size(), kFixParts);
    parts_ = std::move(parts);
}

// This file is part 1 of a split model: its name gives the others' names, each must exist.
void GgufFile::open_parts() {
    const auto prefix = split_prefix(path_, 0, split_.count);
    if (!prefix)
        throw_error("{}: this is part 1 of {} of a split model, but its name does not end in '{}', so the other parts "
                    "cannot be found: keep the names llama-gguf-split gave the parts",
                    path_, split_.count, part_suffix(0, split_.count));
    std::vector<std::unique_ptr<GgufFile>> parts;
    for (uint32_t k = 1; k < split_.count; ++k) {
        const std::string part = split_path(*prefix, k, split_.count);
        struct stat st {};
        if (::stat(part.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR))
            throw_error("{}: part {} of {} of the split model '{}' is missing: {}", part, k + 1, split_.count, path_,
                        kFixParts);
        parts.push_back(open_one(part));
    }
    attach_parts(std::move(parts));
}

std::unique_ptr<GgufFile> GgufFile::parse_split(std::span<const std::span<const uint8_t>> parts,
                                                const std::string& name) {
    if (parts.empty()) throw_error("{}: no parts given", name);
    std::unique_ptr<GgufFile> first = parse(parts[0], split_path(name, 0, static_cast<uint32_t>(parts.size())));
    if (first->split_.no != 0)
        throw_error("{}: this is part {} of {} of a split model, not the first", first->path_, first->split_.no + 1,
                    first->split_.count);
    if (first->split_.count != parts.size())
        throw_error("{}: {} is {} but {} parts were given", first->path_, kSplitCountKey, first->split_.count,
                    parts.size());
    std::vector<std::unique_ptr<GgufFile>> rest;
    for (size_t k = 1; k < parts.size(); ++k)
        rest.push_back(parse(parts[k], split_path(name, static_cast<uint32_t>(k), first->split_.count)));
    first->attach_parts(std::move(rest));
    return first;
}

}  // namespace qlm::gguf
