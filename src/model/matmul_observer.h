// A hook into the forward pass (ContextOptions::matmul_observer): sees the input of every matrix
// product, e.g. to collect an importance matrix.
#pragma once

#include <cstdint>

namespace qlm {

struct WeightView;  // quant/matmul.h

// x is n_tokens rows of w.cols floats, multiplied by w next. Called on the thread that runs
// eval(), in forward order, between the forward pass's parallel loops: it must not throw.
class MatmulObserver {
public:
    virtual ~MatmulObserver() = default;
    virtual void on_matmul(const WeightView& w, const float* x, int64_t n_tokens) = 0;
};

}  // namespace qlm
