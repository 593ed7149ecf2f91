// Stop strings for streamed text: bytes go in as tokens are generated; what comes out is safe to
// show. A suffix that could still grow into a stop string is held back until it is decided; when
// a stop string appears, the text before it is released and everything from it on is dropped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qlm {

class StopStringFilter {
public:
    explicit StopStringFilter(std::vector<std::string> stops);  // empty strings are ignored

    // Appends bytes; returns the bytes now safe to emit. Once stopped(), returns "" forever.
    std::string push(std::string_view bytes);
    // The held-back bytes, for when generation ends without a stop string.
    std::string flush();
    bool stopped() const { return stopped_; }

private:
    // Length of the longest suffix of held_ that is a proper prefix of a stop string.
    size_t partial_match_length() const;

    std::vector<std::string> stops_;
    std::string held_;
    bool stopped_ = false;
};

}  // namespace qlm
