// physical_cores(): between 1 and the logical CPU count, and equal to the number of distinct
// (package, core id) pairs that sysfs lists when it lists any; the thread limit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
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

}  // namespace
}  // namespace qlm
