#include "src/util/cpu_info.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
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

std::optional<int> procs_running(std::string_view proc_stat) {
    constexpr std::string_view kKey = "procs_running ";
    for (size_t at = 0; at < proc_stat.size();) {
        const size_t end = std::min(proc_stat.find('\n', at), proc_stat.size());
        const std::string_view line = proc_stat.substr(at, end - at);
        if (line.substr(0, kKey.size()) == kKey) {
            int v = 0;
            size_t i = kKey.size();
            if (i >= line.size() || !std::isdigit(static_cast<unsigned char>(line[i]))) return std::nullopt;
            for (; i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); ++i) {
                if (v > 1'000'000) return std::nullopt;
                v = v * 10 + (line[i] - '0');
            }
            return v;
        }
        at = end + 1;
    }
    return std::nullopt;
}

int proc_stat_cpus(std::string_view proc_stat) {
    int n = 0;
    for (size_t at = 0; at < proc_stat.size();) {
        const size_t end = std::min(proc_stat.find('\n', at), proc_stat.size());
        if (end - at > 3 && proc_stat.substr(at, 3) == "cpu" && std::isdigit(static_cast<unsigned char>(proc_stat[at + 3])))
            ++n;
        at = end + 1;
    }
    return n;
}

bool proc_stat_describes_this_process(std::string_view proc_stat) {
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof set, &set) == 0 && proc_stat_cpus(proc_stat) == CPU_COUNT(&set);
}

int busy_cpus_elsewhere() {
    int fewest = -1;
    for (int sample = 0; sample < 5; ++sample) {
        if (sample > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::ifstream f("/proc/stat");
        if (!f) return 0;
        std::ostringstream text;
        text << f.rdbuf();
        const std::string s = text.str();
        const std::optional<int> running = procs_running(s);
        if (!running || !proc_stat_describes_this_process(s)) return 0;
        fewest = fewest < 0 ? *running : std::min(fewest, *running);
        if (fewest <= 1) return 0;  // only this thread
    }
    return std::max(0, fewest - 1);
}

int default_threads_for(int physical, int logical, int busy) {
    return std::max(1, std::min(physical, logical - std::max(0, busy)));
}

int default_threads() { return default_threads_for(physical_cores(), logical_cores(), busy_cpus_elsewhere()); }

}  // namespace qlm
