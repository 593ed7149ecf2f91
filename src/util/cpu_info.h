// What the thread defaults are based on.
#pragma once

namespace qlm {

// Physical CPU cores (distinct (package, core id) pairs in sysfs), or the logical CPU count when
// the topology is unknown. The default thread count: SMT siblings share one core's SIMD units,
// so a second thread per core slows the int8/FMA kernels down rather than up.
int physical_cores();

}  // namespace qlm
