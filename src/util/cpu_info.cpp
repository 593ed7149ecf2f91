#include "src/util/cpu_info.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

namespace qlm {

int physical_cores() {
    static const int n = [] {
        std::set<std::pair<int, int>> cores;
        namespace fs = std::filesystem;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator("/sys/devices/system/cpu", ec)) {
            const std::string name = e.path().filename().string();
            if (name.size() < 4 || name.rfind("cpu", 0) != 0 || !std::isdigit(static_cast<unsigned char>(name[3])))
                continue;
            std::ifstream core(e.path() / "topology/core_id"), pkg(e.path() / "topology/physical_package_id");
            int c = -1, p = 0;
            if (!(core >> c)) continue;
            pkg >> p;
            cores.emplace(p, c);
        }
        if (!cores.empty()) return static_cast<int>(cores.size());
        return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    }();
    return n;
}

int logical_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

int max_threads() { return kMaxThreadsPerCore * logical_cores(); }

}  // namespace qlm
