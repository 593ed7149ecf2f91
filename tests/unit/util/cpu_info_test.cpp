// physical_cores(): between 1 and the logical CPU count, and equal to the number of distinct
// (package, core id) pairs that sysfs lists when it lists any; the thread limit. cpu_model_name():
// the value of /proc/cpuinfo's first "model name" line, without the padding around it.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "src/util/cpu_info.h"

namespace qlm {
namespace {

TEST(CpuInfo, PhysicalCoresIsWithinTheLogicalCount) {
    const int n = physical_cores();
    EXPECT_GE(n, 1);
    const unsigned logical = std::thread::hardware_concurrency();
    if (logical > 0) {
        EXPECT_LE(n, static_cast<int>(logical));
    }
    EXPECT_EQ(physical_cores(), n);  // stable across calls
}

TEST(CpuInfo, ThreadLimitIsFourTimesTheLogicalCores) {
    const unsigned logical = std::thread::hardware_concurrency();
    EXPECT_EQ(logical_cores(), logical > 0 ? static_cast<int>(logical) : 1);
    EXPECT_EQ(max_threads(), 4 * logical_cores());
    EXPECT_GE(max_threads(), physical_cores());  // the default count is always allowed
}

TEST(CpuInfo, DefaultThreadsLeaveOutBusyCpus) {
    EXPECT_EQ(default_threads_for(2, 2, 0), 2);
    EXPECT_EQ(default_threads_for(2, 2, 1), 1);
    EXPECT_EQ(default_threads_for(2, 2, 5), 1);   // never below one
    EXPECT_EQ(default_threads_for(8, 16, 1), 8);  // SMT: a busy sibling leaves every core a thread
    EXPECT_EQ(default_threads_for(8, 16, 10), 6);
    EXPECT_EQ(default_threads_for(4, 4, -3), 4);  // a nonsense count changes nothing
    EXPECT_GE(default_threads(), 1);
    EXPECT_LE(default_threads(), physical_cores());
}

TEST(CpuInfo, ReadsProcsRunningAndCpuLines) {
    const std::string stat =
        "cpu  10 0 5 100 0 0 0 0 0 0\ncpu0 5 0 2 50 0 0 0 0 0 0\ncpu1 5 0 3 50 0 0 0 0 0 0\n"
        "intr 12 0\nctxt 99\nbtime 1\nprocesses 40\nprocs_running 3\nprocs_blocked 0\n";
    EXPECT_EQ(procs_running(stat), 3);
    EXPECT_EQ(proc_stat_cpus(stat), 2);
    EXPECT_EQ(procs_running("procs_running 17"), 17);  // last line without a newline
    EXPECT_EQ(procs_running("procs_blocked 2\n"), std::nullopt);
    EXPECT_EQ(procs_running("procs_running x\n"), std::nullopt);
    EXPECT_EQ(procs_running("procs_running 99999999999999\n"), std::nullopt);
    EXPECT_EQ(procs_running(""), std::nullopt);
    EXPECT_EQ(proc_stat_cpus("cpu 1 2\ncpux 3\n"), 0);
}

// A thread of this process spinning is a runnable task other than the caller: it is counted.
TEST(CpuInfo, BusyCpusCountASpinningThread) {
    std::ifstream f("/proc/stat");
    std::stringstream text;
    text << f.rdbuf();
    if (!f || !proc_stat_describes_this_process(text.str()))
        GTEST_SKIP() << "/proc/stat does not describe this process's CPUs";
    std::atomic<bool> stop{false};
    std::thread spinner([&] {
        while (!stop.load(std::memory_order_relaxed)) {
        }
    });
    const int busy = busy_cpus_elsewhere();
    stop = true;
    spinner.join();
    EXPECT_GE(busy, 1);
}

TEST(CpuInfo, CountsDistinctCoreIds) {
    std::set<std::pair<int, int>> ids;
    for (unsigned i = 0; i < 4096; ++i) {
        const std::filesystem::path d = "/sys/devices/system/cpu/cpu" + std::to_string(i) + "/topology";
        std::ifstream c(d / "core_id"), p(d / "physical_package_id");
        int core = -1, pkg = 0;
        if (!(c >> core)) continue;
        p >> pkg;
        ids.emplace(pkg, core);
    }
    if (ids.empty()) GTEST_SKIP() << "no CPU topology in sysfs";
    EXPECT_EQ(physical_cores(), static_cast<int>(ids.size()));
}

TEST(CpuInfo, ModelNameIsTheCpuinfoValue) {
    std::ifstream f("/proc/cpuinfo");
    std::string line, expected_line;
    while (std::getline(f, line))
        if (line.rfind("model name", 0) == 0) {
            expected_line = line;
            break;
        }
    const std::string name = cpu_model_name();
    if (expected_line.empty()) {
        EXPECT_EQ(name, "");
        GTEST_SKIP() << "/proc/cpuinfo has no model name line";
    }
    ASSERT_FALSE(name.empty()) << expected_line;
    EXPECT_NE(name.front(), ' ');
    EXPECT_NE(name.front(), '\t');
    EXPECT_NE(name.front(), ':');
    // The line is "model name<tabs>: NAME".
    ASSERT_GE(expected_line.size(), name.size());
    EXPECT_EQ(expected_line.substr(expected_line.size() - name.size()), name);
    EXPECT_NE(expected_line.find(": " + name), std::string::npos) << expected_line;
}

}  // namespace
}  // namespace qlm
