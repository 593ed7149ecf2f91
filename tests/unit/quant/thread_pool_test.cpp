// ThreadPool: the slices are OpenMP's schedule(static) split; every loop (and for_each_range's
// ranges) runs each index exactly once and has finished (all its writes visible) when it returns;
// many short loops in a row (the decode pattern) lose none, with waiting threads spinning (the
// default) and with every wait going to sleep at once (spin 0), on pools larger than this
// machine's core count; the workers take part; a stalled worker does not hold the owner up;
// fn(i, thread) gets the running thread's index.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <tuple>
#include <vector>

#include "quant/thread_pool.h"
#include "src/util/error.h"

namespace qlm {
namespace {

using std::chrono::microseconds;

TEST(ThreadPool, StaticSliceIsContiguousAndBalanced) {
    for (int size : {1, 2, 3, 7, 16})
        for (int64_t n : {0, 1, 2, 5, 6, 7, 100, 1001}) {
            int64_t expect_begin = 0;
            for (int i = 0; i < size; ++i) {
                const auto [b, e] = static_slice(n, i, size);
                EXPECT_EQ(b, expect_begin) << n << " items, thread " << i << " of " << size;
                // The first n % size threads take one item more than the others.
                EXPECT_EQ(e - b, n / size + (i < n % size ? 1 : 0)) << n << " items, thread " << i << " of " << size;
                expect_begin = e;
            }
            EXPECT_EQ(expect_begin, n);
        }
}

class PoolTest : public ::testing::TestWithParam<std::tuple<int, int>> {
protected:
    int threads() const { return std::get<0>(GetParam()); }
    microseconds spin() const { return microseconds(std::get<1>(GetParam())); }
};

TEST_P(PoolTest, LoopsRunEveryIndexOnce) {
    ThreadPool pool(threads(), spin());
    ASSERT_EQ(pool.size(), threads());
    for (int64_t n : {0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 1000, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n)), dyn(static_cast<size_t>(n));
        pool.for_each(n, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed); });
        pool.for_each_dynamic(n, [&](int64_t i) { dyn[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed); });
        for (int64_t i = 0; i < n; ++i) {
            ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "for_each, n " << n << ", i " << i;
            ASSERT_EQ(dyn[static_cast<size_t>(i)].load(), 1) << "for_each_dynamic, n " << n << ", i " << i;
        }
    }
}

// for_each_range: non-empty ranges that cover each index once, at most kChunksPerSlice per thread.
TEST_P(PoolTest, RangesCoverEveryIndexOnce) {
    ThreadPool pool(threads(), spin());
    for (int64_t n : {0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 1000, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> ranges{0}, empty{0};
        pool.for_each_range(n, [&](int64_t begin, int64_t end) {
            ranges.fetch_add(1, std::memory_order_relaxed);
            if (end <= begin) empty.fetch_add(1, std::memory_order_relaxed);
            for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed);
        });
        EXPECT_EQ(empty.load(), 0) << "n " << n;
        EXPECT_LE(ranges.load(), threads() * ThreadPool::kChunksPerSlice) << "n " << n;
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n " << n << ", i " << i;
    }
}

// Each loop reads what the previous one wrote (plain memory, no atomics): when a loop returns,
// every write of every thread must be visible to the next loop, wherever its indices run.
TEST_P(PoolTest, EachLoopSeesThePreviousLoopsWrites) {
    ThreadPool pool(threads(), spin());
    const int64_t n = 777;
    std::vector<int64_t> a(n, 0), b(n, 0);
    for (int round = 1; round <= 200; ++round) {
        pool.for_each(n, [&](int64_t i) { a[static_cast<size_t>(i)] = b[static_cast<size_t>(n - 1 - i)] + 1; });
        pool.for_each_dynamic(n, [&](int64_t i) { b[static_cast<size_t>(i)] = a[static_cast<size_t>(n - 1 - i)] + 1; });
    }
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(b[static_cast<size_t>(i)], 400) << i;
}

// The decode pattern: thousands of short loops with the owner's own work in between.
TEST_P(PoolTest, ManyShortLoopsLoseNoWork) {
    ThreadPool pool(threads(), spin());
    std::atomic<int64_t> total{0};
    int64_t want = 0;
    for (int r = 0; r < 3000; ++r) {
        const int64_t n = 1 + r % 37;
        if (r % 2)
            pool.for_each(n, [&](int64_t i) { total.fetch_add(i + 1, std::memory_order_relaxed); });
        else
            pool.for_each_dynamic(n, [&](int64_t i) { total.fetch_add(i + 1, std::memory_order_relaxed); });
        want += n * (n + 1) / 2;
        ASSERT_EQ(total.load(), want) << "loop " << r;
    }
}

// fn(i, thread): the index names the running thread (the owner is 0), the same one for every item
// a thread runs and below the pool's size, so per-thread buffers are never shared by two threads
// at once.
TEST_P(PoolTest, ThreadIndexIsTheRunningThreads) {
    ThreadPool pool(threads(), spin());
    const std::thread::id owner = std::this_thread::get_id();
    for (int64_t n : {1, 5, 64, 1000}) {
        std::vector<std::atomic<int>> in_use(static_cast<size_t>(threads()));
        std::atomic<int> bad{0}, owner_not_zero{0};
        auto item = [&](int64_t, int t) {
            if (t < 0 || t >= threads()) {
                bad.fetch_add(1);
                return;
            }
            const auto ut = static_cast<size_t>(t);
            if (in_use[ut].fetch_add(1) != 0) bad.fetch_add(1);  // two threads with one index at once
            const std::thread::id me = std::this_thread::get_id();
            if ((me == owner) != (t == 0)) owner_not_zero.fetch_add(1);
            in_use[ut].fetch_sub(1);
        };
        pool.for_each(n, item);
        pool.for_each_dynamic(n, item);
        EXPECT_EQ(bad.load(), 0) << "n " << n;
        EXPECT_EQ(owner_not_zero.load(), 0) << "n " << n;
    }
}

INSTANTIATE_TEST_SUITE_P(SizesAndSpins, PoolTest,
                         ::testing::Combine(::testing::Values(1, 2, 3, 7), ::testing::Values(0, 50)));

// The pool's threads take part in the loops: with two items that wait for each other, the loop
// only finishes if a second thread runs one of them.
TEST(ThreadPool, WorkersTakePartInLoops) {
    ThreadPool pool(2);
    std::atomic<int> arrived{0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    pool.for_each_dynamic(2, [&](int64_t) {
        arrived.fetch_add(1);
        while (arrived.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    });
    EXPECT_EQ(arrived.load(), 2);
}

// A worker that stalls (here: in the first item it takes, until every other item is done, as if it
// had lost its core) does not hold the loop up: the owner runs the rest of the worker's slice.
// Without that, the stalled item would wait for its 20 s deadline and the owner would have run
// only its own slice.
TEST(ThreadPool, OwnerTakesOverTheSliceOfAStalledWorker) {
    ThreadPool pool(2);
    const std::thread::id owner = std::this_thread::get_id();
    const int64_t n = 2 * ThreadPool::kChunksPerSlice;  // one item per chunk
    std::atomic<int64_t> done{0}, by_owner{0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    pool.for_each(n, [&](int64_t) {
        if (std::this_thread::get_id() == owner)
            by_owner.fetch_add(1);
        else
            while (done.load() < n - 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
        done.fetch_add(1);
    });
    EXPECT_EQ(done.load(), n);
    EXPECT_GE(by_owner.load(), n - 1);
}

TEST(ThreadPool, RejectsAnEmptyPool) {
    EXPECT_THROW(ThreadPool(0), Error);
    EXPECT_THROW(ThreadPool(-3), Error);
}

}  // namespace
}  // namespace qlm
