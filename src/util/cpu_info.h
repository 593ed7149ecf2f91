// What the thread defaults and limits are based on, and the CPU's name for reports.
#pragma once

#include <string>

namespace qlm {

// Physical CPU cores (distinct (package, core id) pairs in sysfs), or the logical CPU count when
// the topology is unknown. The default thread count: SMT siblings share one core's SIMD units,
// so a second thread per core slows the int8/FMA kernels down rather than up.
int physical_cores();

// The processor's model name (/proc/cpuinfo "model name", as llama-bench's cpu_info reports it);
// empty when the system does not say.
std::string cpu_model_name();
// Logical CPUs (std::thread::hardware_concurrency(), at least 1).
int logical_cores();

// The most threads one context or command may use: kMaxThreadsPerCore x the logical CPUs. More
// threads than CPUs only take turns, and an absurd count (-t 100000) would exhaust the process's
// thread limit.
inline constexpr int kMaxThreadsPerCore = 4;
int max_threads();

}  // namespace qlm
