// What the thread defaults and limits are based on, and the CPU's name for reports.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace qlm {

// Physical CPU cores (distinct (package, core id) pairs in sysfs), or the logical CPU count when
// the topology is unknown. The default thread count: SMT siblings share one core's SIMD units,
// so a second thread per core slows the int8/FMA kernels down rather than up.
int physical_cores();

// The default thread count of `run`, `chat` and `perplexity` (-t 0): one per physical core, less
// the CPUs that other processes keep busy when it is called (busy_cpus_elsewhere), at least one.
// A thread that shares a core with a busy process gets a time slice in two and holds up every
// loop the others wait on; one thread on the free core is faster. The engine's own -t 0 (the
// library's ContextLayout) stays physical_cores(): only the command line looks at the machine.
int default_threads();
// default_threads() from its inputs: min(physical, logical - busy), at least 1.
int default_threads_for(int physical, int logical, int busy);

// CPUs kept busy by other processes: the fewest runnable tasks (/proc/stat "procs_running", this
// thread included) over a few samples ~2 ms apart, less this thread. 0 when that count says
// nothing about our CPUs: /proc/stat unreadable, or it lists more CPUs than this process may run
// on (a container or a CPU set sees the whole host's runnable tasks).
int busy_cpus_elsewhere();
// /proc/stat's "procs_running N" value, or nullopt; and how many "cpuN" lines it has.
std::optional<int> procs_running(std::string_view proc_stat);
int proc_stat_cpus(std::string_view proc_stat);
// Whether that text lists exactly the CPUs this process may run on (its runnable count is ours).
bool proc_stat_describes_this_process(std::string_view proc_stat);

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
