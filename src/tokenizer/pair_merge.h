// The pairwise merge both tokenizer kinds run (internal to src/tokenizer): the text is cut into
// characters, then the best adjacent pair the vocabulary allows is merged into one symbol, again
// and again, until no allowed pair is left. SentencePiece ranks a pair by its token's score
// (highest first), byte-level BPE by its merge rank (lowest first); ties go to the leftmost pair.
#pragma once

#include <algorithm>
#include <cstddef>
#include <queue>
#include <string_view>
#include <vector>

#include "src/util/utf8.h"

namespace qlm::pair_merge {

// One symbol of the text being merged: a doubly linked list over a vector.
struct Symbol {
    int prev, next;     // neighbour indices, -1 at the ends
    size_t offset, n;   // bytes of the text; n == 0 once merged into its left neighbour
};

// The text as UTF-8 characters, cut by lead byte as llama.cpp does (an invalid or truncated
// sequence still makes a symbol of at most the bytes that are left).
inline std::vector<Symbol> split_characters(std::string_view text) {
    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    for (size_t off = 0; off < text.size();) {
        const size_t len = std::min(utf8::lead_length(static_cast<unsigned char>(text[off])), text.size() - off);
        const int index = static_cast<int>(symbols.size());
        symbols.push_back({index - 1, off + len == text.size() ? -1 : index + 1, off, len});
        off += len;
    }
    return symbols;
}

// Merges adjacent symbols, the pair of highest priority first (the leftmost on equal priorities),
// until no allowed pair is left. `pair_priority(left, right, priority)` returns whether the two
// symbols may merge and, when they may, sets the pair's priority.
template <typename Priority, typename PairPriority>
void merge(std::vector<Symbol>& symbols, PairPriority&& pair_priority) {
    struct Candidate {
        int left, right;
        Priority priority;
        size_t size;  // bytes of the pair when queued, to recognise stale entries
    };
    auto later = [](const Candidate& a, const Candidate& b) {
        return a.priority < b.priority || (a.priority == b.priority && a.left > b.left);
    };
    std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> queue(later);
    auto try_add = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        Priority priority{};
        if (!pair_priority(symbols[left], symbols[right], priority)) return;
        queue.push({left, right, priority, symbols[left].n + symbols[right].n});
    };
    for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
        const Candidate c = queue.top();
        queue.pop();
        Symbol& l = symbols[c.left];
        Symbol& r = symbols[c.right];
        // A queued pair stays adjacent while both symbols live, and symbols only grow, so an
        // unchanged total size means both are as they were when the pair was queued.
        if (l.n == 0 || r.n == 0 || l.n + r.n != c.size) continue;
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) symbols[r.next].prev = c.left;
        try_add(l.prev, c.left);
        try_add(c.left, l.next);
    }
}

// Calls visit(symbol) for each symbol left after merge(), in text order.
template <typename Visit>
void for_each_merged(const std::vector<Symbol>& symbols, Visit&& visit) {
    if (symbols.empty()) return;
    for (int i = 0; i != -1; i = symbols[i].next) visit(symbols[i]);
}

}  // namespace qlm::pair_merge
