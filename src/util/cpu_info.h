// What the thread defaults are based on.
#pragma once

namespace qlm {

// Physical CPU cores (distinct (package, core id) pairs in sysfs), or the logical CPU count when
// the topology is unknown. The default thread count: SMT siblings share one core's SIMD units,
// so a second thread per core slows the int8/FMA kernels down rather than up.
int physical_cores();

// Logical CPUs (std::thread::hardware_concurrency(), at least 1).
int logical_cores();

// The most threads one context or command may use: kMaxThreadsPerCore x the logical CPUs. More
// threads than CPUs only take turns, and an absurd count (-t 100000) would exhaust the process's
// thread limit.
inline constexpr int kMaxThreadsPerCore = 4;
int max_threads();

}  // namespace qlm
