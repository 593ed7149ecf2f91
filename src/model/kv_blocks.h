// The block allocator of the paged KV cache (kv_cache.h): a pool of n fixed-size blocks, a free
// list and a reference count per block. A block referenced by more than one sequence (a shared
// prompt, a fork) is copied before it is written (KvCache::reserve does the copy).
//
//   BlockPool pool(4);
//   int32_t b = pool.allocate();   // refs(b) == 1
//   pool.retain(b);                // a second table refers to it: refs 2, shared(b)
//   pool.release(b); pool.release(b);  // back on the free list
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qlm {

class BlockPool {
public:
    explicit BlockPool(int64_t n_blocks);  // throws std::bad_alloc

    int64_t size() const { return static_cast<int64_t>(refs_.size()); }
    int64_t n_free() const { return static_cast<int64_t>(free_.size()); }
    int32_t refs(int32_t block) const { return refs_[static_cast<size_t>(block)]; }
    bool shared(int32_t block) const { return refs(block) > 1; }

    // A free block with one reference, lowest-numbered first when none was released yet. Throws
    // qlm::Error naming the pool's size when every block is in use.
    int32_t allocate();
    void retain(int32_t block);   // one more reference
    void release(int32_t block);  // one fewer; the block is free again at 0
    void reset();                 // every block free

    // Bytes of its bookkeeping for n blocks (reference counts and free list).
    static uint64_t bookkeeping_bytes(int64_t n_blocks);

private:
    std::vector<int32_t> refs_;
    std::vector<int32_t> free_;  // a stack: the next block to hand out is at the back
};

}  // namespace qlm
