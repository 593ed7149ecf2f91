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

std::string cpu_model_name() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("model name", 0) != 0) continue;
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        const size_t start = line.find_first_not_of(" \t", colon + 1);
        return start == std::string::npos ? std::string() : line.substr(start);
    }
    return {};
}
int logical_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

int max_threads() { return kMaxThreadsPerCore * logical_cores(); }

}  // namespace qlm
