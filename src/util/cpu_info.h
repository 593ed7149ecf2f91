// What the thread defaults are based on, and the CPU's name for reports.
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

}  // namespace qlm
