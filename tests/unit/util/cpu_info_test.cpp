// physical_cores(): between 1 and the logical CPU count, and equal to the number of distinct
// (package, core id) pairs that sysfs lists when it lists any; the thread limit. cpu_model_name():
// the value of /proc/cpuinfo's first "model name" line, without the padding around it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
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
