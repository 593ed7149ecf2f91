// A model cut into the parts of a split GGUF the way llama.cpp's gguf-split writes them, with the
// project's own GgufWriter: part 1 carries every metadata pair, each part split.no (uint16),
// split.count (uint16) and split.tensors.count (int32), and the tensors are shared out in file
// order, in runs of equal length. Header-only, so the fuzz seed generator can use it too.
//
//   auto src = gguf::GgufFile::parse(bytes, "m.gguf");
//   std::vector<gguf::GgufWriter> parts = test::split_writers(*src, 3);
//   parts[k].write(gguf::split_path(dir / "m", k, 3));
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "src/gguf/gguf_file.h"
#include "src/gguf/gguf_split.h"
#include "src/gguf/gguf_writer.h"

namespace qlm::test {

// n_parts writers; with tensors_in_first false the first part holds metadata only (gguf-split
// --no-tensor-first-split) and the tensors go to the others.
inline std::vector<gguf::GgufWriter> split_writers(const gguf::GgufFile& src, int n_parts, bool tensors_in_first = true) {
    std::vector<gguf::GgufWriter> parts(static_cast<size_t>(n_parts));
    const auto& tensors = src.tensors();
    for (int k = 0; k < n_parts; ++k) {
        gguf::GgufWriter& w = parts[static_cast<size_t>(k)];
        if (k == 0) w.copy_metadata_from(src);
        w.set_u16(gguf::kSplitNoKey, static_cast<uint16_t>(k));
        w.set_u16(gguf::kSplitCountKey, static_cast<uint16_t>(n_parts));
        w.set_i32(gguf::kSplitTensorsCountKey, static_cast<int32_t>(tensors.size()));
    }
    const size_t first = tensors_in_first ? 0 : 1;
    const size_t holders = static_cast<size_t>(n_parts) - first;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const gguf::TensorInfo& t = tensors[i];
        std::vector<uint64_t> shape(t.ne.begin(), t.ne.begin() + t.n_dims);
        parts[first + i * holders / tensors.size()].add_tensor(t.name, shape, t.type,
                                                               std::span<const uint8_t>(t.data, t.n_bytes));
    }
    return parts;
}

}  // namespace qlm::test
