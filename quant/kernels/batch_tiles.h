// A batch of fewer tokens than a lanes kernel pays off for: 4x3 tiles where 4 rows and 3 tokens
// fit, the one-token dot for the rest (what matmul does for a format without a batch kernel).
#pragma once

#include <cstdint>

namespace qlm::kernels {

template <class Tile, class Dot>
inline void tiles_then_dots(Tile tile, Dot dot, int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a,
                            uint64_t as, int64_t nt, float* y, int64_t ys) {
    const auto* wb = static_cast<const uint8_t*>(w);
    const auto* ab = static_cast<const uint8_t*>(a);
    int64_t t = 0;
    for (; t + 3 <= nt; t += 3) {
        int64_t r = 0;
        for (; r + 4 <= rows; r += 4)
            tile(n, wb + ws * static_cast<uint64_t>(r), ws, ab + as * static_cast<uint64_t>(t), as, y + t * ys + r, ys);
        for (; r < rows; ++r)
            for (int64_t k = t; k < t + 3; ++k)
                y[k * ys + r] = dot(n, wb + ws * static_cast<uint64_t>(r), ab + as * static_cast<uint64_t>(k));
    }
    for (; t < nt; ++t)
        for (int64_t r = 0; r < rows; ++r)
            y[t * ys + r] = dot(n, wb + ws * static_cast<uint64_t>(r), ab + as * static_cast<uint64_t>(t));
}

}  // namespace qlm::kernels
