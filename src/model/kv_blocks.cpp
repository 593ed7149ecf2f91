#include "src/model/kv_blocks.h"

#include "src/model/plan_math.h"
#include "src/util/error.h"

namespace qlm {

BlockPool::BlockPool(int64_t n_blocks) : refs_(static_cast<size_t>(n_blocks), 0) {
    free_.reserve(refs_.size());
    reset();
}

void BlockPool::reset() {
    free_.clear();
    for (int64_t b = size() - 1; b >= 0; --b) {
        refs_[static_cast<size_t>(b)] = 0;
        free_.push_back(static_cast<int32_t>(b));
    }
}

int32_t BlockPool::allocate() {
    if (free_.empty())
        throw_error("KV cache: all {} blocks are in use (use a larger context size -c, or fewer sequences)", size());
    const int32_t b = free_.back();
    free_.pop_back();
    refs_[static_cast<size_t>(b)] = 1;
    return b;
}

void BlockPool::retain(int32_t block) { ++refs_[static_cast<size_t>(block)]; }

void BlockPool::release(int32_t block) {
    if (--refs_[static_cast<size_t>(block)] == 0) free_.push_back(block);
}

uint64_t BlockPool::bookkeeping_bytes(int64_t n_blocks) {
    return plan_math::mul({2, plan_math::u(n_blocks), sizeof(int32_t)});
}

}  // namespace qlm
