#include "src/generate/stop_strings.h"

#include <algorithm>

namespace qlm {

StopStringFilter::StopStringFilter(std::vector<std::string> stops) {
    for (std::string& s : stops)
        if (!s.empty()) stops_.push_back(std::move(s));
}

std::string StopStringFilter::push(std::string_view bytes) {
    if (stopped_) return {};
    held_.append(bytes);
    // held_ never contains a whole stop string before this push, so the earliest match is the cut.
    size_t cut = std::string::npos;
    for (const std::string& s : stops_) cut = std::min(cut, held_.find(s));
    if (cut != std::string::npos) {
        std::string out = held_.substr(0, cut);
        held_.clear();
        stopped_ = true;
        return out;
    }
    size_t keep = partial_match_length();
    std::string out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
}

std::string StopStringFilter::flush() {
    std::string out;
    out.swap(held_);
    return out;
}

size_t StopStringFilter::partial_match_length() const {
    size_t best = 0;
    const std::string_view held(held_);
    for (const std::string& s : stops_) {
        for (size_t len = std::min(s.size() - 1, held.size()); len > best; --len) {
            if (held.substr(held.size() - len) == std::string_view(s).substr(0, len)) {
                best = len;
                break;
            }
        }
    }
    return best;
}

}  // namespace qlm
