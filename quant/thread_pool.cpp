#include "quant/thread_pool.h"

#include <algorithm>
#include <system_error>

#include "src/util/error.h"

namespace qlm {

namespace {
// A slice's claim word: the loop's number (40 bits), the next chunk to hand out and the slice's
// chunk count (12 bits each). A thread takes a chunk with one compare-and-swap that checks all
// three, so a thread still looking at an earlier loop can never take a chunk of a later one.
constexpr int kCountBits = 12;
constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
constexpr int64_t kMaxChunks = static_cast<int64_t>(kCountMask);  // per slice (for_each_dynamic: per loop)

constexpr uint64_t kLoopMask = (uint64_t{1} << (64 - 2 * kCountBits)) - 1;

constexpr uint64_t claim_word(uint64_t loop, uint64_t next, uint64_t count) {
    return (loop & kLoopMask) << (2 * kCountBits) | next << kCountBits | count;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

}  // namespace

// How long one thread spins before it sleeps. On an idle machine a sleeping worker costs a wake-up
// (tens of µs on a virtual CPU) at the first loop of every token, since the gap between two tokens'
// loops (sampling, printing) outlasts a short spin: so spin `full` (ThreadPool's spin). But a
// thread whose core is shared with another process must not hold it: once a spin shows the thread
// was descheduled (the clock jumped between two looks), it spins at most kShortSpin for the next
// kShortFor.
// The owner gives the same signal to every worker when it has run kAloneLoops loops in a row
// without a worker taking a chunk (the workers were not there).
struct SpinBudget {
    static constexpr std::chrono::microseconds kShortSpin{20};
    static constexpr std::chrono::microseconds kPreemptedGap{50};
    static constexpr std::chrono::milliseconds kShortFor{50};
    static constexpr int kAloneLoops = 8;
    std::chrono::nanoseconds full{0};
    std::chrono::steady_clock::time_point short_until{};
    const std::atomic<int64_t>* pool_short_until = nullptr;  // steady_clock ticks, set by the owner

    std::chrono::nanoseconds short_spin() const { return std::min<std::chrono::nanoseconds>(full, kShortSpin); }
    bool is_short(std::chrono::steady_clock::time_point now) const {
        return now < short_until ||
               (pool_short_until && now.time_since_epoch().count() < pool_short_until->load(std::memory_order_relaxed));
    }
};

// A futex word and the number of threads asleep on it: a notify costs a system call only when one
// is (the count is read after the word changes and raised before the sleeper's last look at the
// word, both sequentially consistent, so a sleeper is never missed).
struct ThreadPool::WaitWord {
    std::atomic<uint32_t> value{0};
    std::atomic<int32_t> sleepers{0};

    // Returns once `value` no longer holds `old`: spins (reading the clock every 64 pauses) for
    // the waiting thread's budget, then sleeps until a notify.
    void wait_while_equal(uint32_t old, SpinBudget& budget) {
        if (value.load(std::memory_order_acquire) != old) return;
        if (budget.full.count() > 0) {
            using Clock = std::chrono::steady_clock;
            const auto start = Clock::now();
            auto last = start;
            for (;;) {
                for (int i = 0; i < 64; ++i) {
                    cpu_relax();
                    if (value.load(std::memory_order_acquire) != old) return;
                }
                const auto now = Clock::now();
                // 64 pauses take a few µs: a longer gap means the thread lost its core meanwhile.
                if (now - last > SpinBudget::kPreemptedGap) budget.short_until = now + SpinBudget::kShortFor;
                last = now;
                if (now - start >= (budget.is_short(now) ? budget.short_spin() : budget.full)) break;
            }
        }
        sleepers.fetch_add(1, std::memory_order_seq_cst);
        while (value.load(std::memory_order_seq_cst) == old) value.wait(old, std::memory_order_seq_cst);
        sleepers.fetch_sub(1, std::memory_order_relaxed);
    }
    // After a change of `value`.
    void notify() {
        if (sleepers.load(std::memory_order_seq_cst) > 0) value.notify_all();
    }
};

namespace {
// Slice s of a loop: items [begin, end) in `chunks` chunks.
struct Slice {
    int64_t begin, end;
    int64_t chunks;
};

Slice slice_of(int64_t n, bool dynamic, int s, int size) {
    if (dynamic) return s == 0 ? Slice{0, n, std::min(n, kMaxChunks)} : Slice{0, 0, 0};
    const auto [b, e] = static_slice(n, s, size);
    return {b, e, std::min<int64_t>(e - b, ThreadPool::kChunksPerSlice)};
}
}  // namespace

// What the owner and the workers share. The descriptor of the loop in progress is written by the
// owner before it publishes the loop's number; a worker may read a newer descriptor than the loop
// it looks at, but then every claim it tries fails (the claim words carry the newer number), and
// once a claim succeeds the loop cannot end before the chunk is done, so what it read is that
// loop's. Every field threads write sits on a cache line of its own.
struct ThreadPool::Shared {
    // The announcement: the loop's descriptor, its number and the wake word share one cache line,
    // so a worker that sees the wake word change has the whole loop in that one transfer.
    struct alignas(64) Announcement {
        WaitWord wake;                      // bumped (and notified) for each new loop
        std::atomic<uint64_t> loop{0};      // the number of the loop in progress
        std::atomic<RangeFn> range_fn{nullptr};
        std::atomic<void*> fn{nullptr};
        std::atomic<int64_t> n{0};
        std::atomic<bool> dynamic{false};
        std::atomic<bool> stop{false};
        std::atomic<int64_t> short_until{0};  // SpinBudget::pool_short_until
    };
    Announcement a;
    SpinBudget owner_spin;                         // the owner's, waiting for chunks
    int alone = 0;                                 // the owner's count of loops no worker joined
    bool joined = false;                           // a worker has joined a loop (they have started)
    alignas(64) WaitWord done;                     // chunks finished by the workers and the owner
    struct alignas(64) Claim {
        std::atomic<uint64_t> word{0};
    };
    std::unique_ptr<Claim[]> claims;  // one per slice

    // Runs chunks of loop `loop` on thread `first` (its index), from slice `first` on, until none
    // is left; returns how many.
    uint32_t take_chunks(uint64_t loop_number, int first, int size) noexcept {
        const int64_t n_items = a.n.load(std::memory_order_relaxed);
        const bool dyn = a.dynamic.load(std::memory_order_relaxed);
        const RangeFn f = a.range_fn.load(std::memory_order_relaxed);
        void* const ctx = a.fn.load(std::memory_order_relaxed);
        uint32_t ran = 0;
        for (int k = 0; k < size; ++k) {
            const int s = (first + k) % size;
            std::atomic<uint64_t>& word = claims[s].word;
            uint64_t w = word.load(std::memory_order_relaxed);
            for (;;) {
                if (w >> (2 * kCountBits) != (loop_number & kLoopMask)) return ran;  // that loop has ended
                const uint64_t next = (w >> kCountBits) & kCountMask, count = w & kCountMask;
                if (next >= count) break;
                if (!word.compare_exchange_weak(w, w + (uint64_t{1} << kCountBits), std::memory_order_acquire,
                                                std::memory_order_relaxed))
                    continue;
                // The claim succeeded, so the descriptor read above is this loop's.
                const Slice sl = slice_of(n_items, dyn, s, size);
                const int64_t len = sl.end - sl.begin, q = len / sl.chunks, r = len % sl.chunks;
                const auto c = static_cast<int64_t>(next);
                const int64_t b = sl.begin + c * q + std::min(c, r);
                f(ctx, b, b + q + (c < r ? 1 : 0), first);
                ++ran;
                w = word.load(std::memory_order_relaxed);
            }
        }
        return ran;
    }
};

ThreadPool::ThreadPool(int n_threads, std::chrono::microseconds spin) : size_(n_threads) {
    if (n_threads < 1) throw_error("a thread pool needs at least one thread, not {}", n_threads);
    if (n_threads == 1) return;
    shared_ = std::make_unique<Shared>();
    shared_->owner_spin.full = spin;
    shared_->claims = std::make_unique<Shared::Claim[]>(static_cast<size_t>(n_threads));
    threads_.reserve(static_cast<size_t>(n_threads - 1));
    try {
        for (int i = 1; i < n_threads; ++i) threads_.emplace_back([this, i] { worker(i); });
    } catch (const std::system_error& e) {
        const size_t started = threads_.size();
        stop_workers();
        throw_error("could not start thread {} of {} ({}): use fewer threads (-t)", started + 2, n_threads, e.what());
    }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
    if (threads_.empty()) return;
    shared_->a.stop.store(true, std::memory_order_relaxed);
    shared_->a.wake.value.fetch_add(1, std::memory_order_seq_cst);
    shared_->a.wake.notify();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
}

void ThreadPool::worker(int index) {
    Shared& s = *shared_;
    uint32_t seen = 0;
    SpinBudget budget{.full = s.owner_spin.full, .pool_short_until = &s.a.short_until};
    for (;;) {
        s.a.wake.wait_while_equal(seen, budget);
        seen = s.a.wake.value.load(std::memory_order_acquire);
        if (s.a.stop.load(std::memory_order_relaxed)) return;
        const uint32_t ran = s.take_chunks(s.a.loop.load(std::memory_order_acquire), index, size_);
        if (ran > 0) {
            s.done.value.fetch_add(ran, std::memory_order_seq_cst);
            s.done.notify();
        }
    }
}

void ThreadPool::share(int64_t n, bool dynamic, RangeFn range_fn, void* fn) {
    Shared& s = *shared_;
    const uint64_t loop = s.a.loop.load(std::memory_order_relaxed) + 1;
    s.a.range_fn.store(range_fn, std::memory_order_relaxed);
    s.a.fn.store(fn, std::memory_order_relaxed);
    s.a.n.store(n, std::memory_order_relaxed);
    s.a.dynamic.store(dynamic, std::memory_order_relaxed);
    s.done.value.store(0, std::memory_order_relaxed);
    uint32_t total = 0;
    for (int i = 0; i < size_; ++i) {
        const auto chunks = static_cast<uint64_t>(slice_of(n, dynamic, i, size_).chunks);
        s.claims[i].word.store(claim_word(loop, 0, chunks), std::memory_order_relaxed);
        total += static_cast<uint32_t>(chunks);
    }
    s.a.loop.store(loop, std::memory_order_release);
    s.a.wake.value.fetch_add(1, std::memory_order_seq_cst);
    s.a.wake.notify();

    const uint32_t ran = s.take_chunks(loop, 0, size_);
    if (ran == total) {  // no worker took a chunk
        if (total > 1 && s.joined && ++s.alone >= SpinBudget::kAloneLoops) {
            s.alone = 0;
            const auto until = std::chrono::steady_clock::now() + SpinBudget::kShortFor;
            s.a.short_until.store(until.time_since_epoch().count(), std::memory_order_relaxed);
        }
        return;
    }
    s.alone = 0;
    s.joined = true;
    uint32_t d = s.done.value.fetch_add(ran, std::memory_order_acq_rel) + ran;
    while (d != total) {
        s.done.wait_while_equal(d, s.owner_spin);
        d = s.done.value.load(std::memory_order_acquire);
    }
}

}  // namespace qlm
