// A fixed set of threads that share out parallel loops for the thread that owns them.
//
//   ThreadPool pool(4);                              // 3 workers + the calling thread
//   pool.for_each(n, [&](int64_t i) { ... });        // returns when every i in [0, n) is done
//   pool.for_each_dynamic(n, [&](int64_t i) { ... });
//   pool.for_each_range(n, [&](int64_t begin, int64_t end) { ... });  // for_each's chunks
//
// One thread (the owner) runs the program and calls the loops; the workers only ever run pieces
// of the loop in progress. A loop is cut into chunks: for_each gives each thread one contiguous
// slice of [0, n) (the split of OpenMP's schedule(static), so each thread streams its own part of
// a weight matrix), cut into a few chunks; a thread that has finished its slice takes the chunks
// of other slices that nobody has started. for_each_dynamic hands out single indices (for items
// of uneven cost). fn(i) must give the same result on any thread, so the split never changes a
// result. Nothing in fn may throw (a throw ends the process). fn may also take the running
// thread's index, fn(i, thread) with thread in [0, size()) (the owner is 0), to use buffers of
// its own (one per thread, allocated up front).
//
// Why not a team with barriers (OpenMP's model): a barrier waits for every thread to arrive, and
// a thread that has lost its core to another process arrives a scheduler time slice late, at
// every one of the ~100 barriers of a decode token. Here the owner waits only for chunks that
// another thread has started, and does the rest itself; and a waiting thread spins for a bounded
// time (kDefaultSpin: longer than the gap between two tokens' loops; much shorter once the thread
// has seen itself lose its core), then sleeps on a futex (std::atomic::wait), so it never holds a
// core that someone else needs for long. GNU OpenMP spins far longer by default, whatever the
// load, and its spin count is read once, when the library loads.
//
// The pool is owned by its user (one per inference context): thread counts are per pool, nothing
// is process-wide. It sits beside matmul, its lowest user (the kernels below are single-threaded;
// src/ hands its pool to matmul_team and attention).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace qlm {

// OpenMP's schedule(static) split: n items in one contiguous slice per thread, the first
// n % size threads taking one item more. Returns [begin, end) of thread `index`.
inline std::pair<int64_t, int64_t> static_slice(int64_t n, int index, int size) {
    const int64_t q = n / size, r = n % size, i = index;
    const int64_t begin = i < r ? i * (q + 1) : i * q + r;
    return {begin, begin + (i < r ? q + 1 : q)};
}

class ThreadPool {
public:
    // How long a waiting thread spins before it sleeps: longer than the gap between two tokens'
    // loops, so that on an idle machine no worker sleeps and is woken within a decode (a wake-up
    // costs tens of µs on a virtual CPU: kjv-8M decoded 1230 t/s with a 20 µs spin, 1650 with
    // 200 µs, OpenMP's threads 1676). A thread that finds it has lost its core to another process
    // spins at most 20 µs for a while (thread_pool.cpp, SpinBudget): with a busy loop on one of two
    // cores, 50 µs made two threads decode slower than one; 5 and 20 µs faster.
    static constexpr std::chrono::microseconds kDefaultSpin{200};
    // Chunks per slice of for_each: how finely a finished thread can take over another's slice.
    static constexpr int kChunksPerSlice = 8;

    // n_threads >= 1: starts n_threads - 1 workers (a pool of 1 runs every loop on the caller).
    // Throws qlm::Error when a thread cannot be started.
    explicit ThreadPool(int n_threads = 1, std::chrono::microseconds spin = kDefaultSpin);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return size_; }

    // fn(i) (or fn(i, thread)) for every i in [0, n); returns when all are done. Called by one
    // thread at a time, never from inside fn.
    template <class Fn>
    void for_each(int64_t n, Fn&& fn) {
        if (size_ == 1 || n <= 1) {
            run_range<std::remove_reference_t<Fn>>(erase(fn), 0, n, 0);
            return;
        }
        share(n, /*dynamic=*/false, &run_range<std::remove_reference_t<Fn>>, erase(fn));
    }

    // The same, each index handed to the next thread that asks for one.
    template <class Fn>
    void for_each_dynamic(int64_t n, Fn&& fn) {
        if (size_ == 1 || n <= 1) {
            run_range<std::remove_reference_t<Fn>>(erase(fn), 0, n, 0);
            return;
        }
        share(n, /*dynamic=*/true, &run_range<std::remove_reference_t<Fn>>, erase(fn));
    }

    // for_each's split handed out as ranges: fn(begin, end) for each chunk of [0, n), consecutive
    // indices of one slice, so fn may run neighbouring items as one (a kernel call over more rows).
    template <class Fn>
    void for_each_range(int64_t n, Fn&& fn) {
        if (n <= 0) return;
        if (size_ == 1 || n == 1) {
            fn(int64_t{0}, n);
            return;
        }
        share(n, /*dynamic=*/false, &call_range<std::remove_reference_t<Fn>>, erase(fn));
    }

    struct Shared;    // thread_pool.cpp
    struct WaitWord;  // thread_pool.cpp

private:
    using RangeFn = void (*)(void* fn, int64_t begin, int64_t end, int thread);
    template <class F>
    static void run_range(void* fn, int64_t begin, int64_t end, int thread) {
        F& f = *static_cast<F*>(fn);
        for (int64_t i = begin; i < end; ++i) {
            if constexpr (std::is_invocable_v<F&, int64_t, int>)
                f(i, thread);
            else
                f(i);
        }
    }
    template <class F>
    static void call_range(void* fn, int64_t begin, int64_t end, int) {
        (*static_cast<F*>(fn))(begin, end);
    }
    template <class F>
    static void* erase(F& fn) {
        return const_cast<void*>(static_cast<const void*>(std::addressof(fn)));
    }
    void share(int64_t n, bool dynamic, RangeFn range_fn, void* fn);
    void worker(int index);
    void stop_workers();

    int size_;
    std::unique_ptr<Shared> shared_;
    std::vector<std::thread> threads_;
};

}  // namespace qlm
