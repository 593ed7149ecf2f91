// int8 codes from scaled floats without undefined behaviour: a NaN (a NaN or infinite weight or
// activation, e.g. from a corrupt model file) becomes code 0 and anything outside [-128, 127]
// saturates. For finite inputs scaled by 127/amax the result equals the plain cast.
#pragma once

#include <cmath>
#include <cstdint>

namespace qlm {

inline int8_t int8_code(float rounded) {
    if (!(rounded == rounded)) return 0;
    return static_cast<int8_t>(std::fmax(-128.f, std::fmin(127.f, rounded)));
}

}  // namespace qlm
