// A batch of tokens for InferenceContext::decode (context.h), from one or several sequences:
// per row a token, its position in its sequence, the sequence id and whether its logits are
// wanted (llama.cpp's llama_batch). Each sequence's rows form one run of consecutive rows whose
// positions continue the sequence (n_pos, n_pos+1, ...); logits come out in row order.
//
//   Batch b;
//   for (size_t i = 0; i < prompt.size(); ++i) b.add(prompt[i], i, 0, i + 1 == prompt.size());
//   b.add(next_a, 17, 1, true);   // one decode step of sequence 1 in the same pass
#pragma once

#include <cstdint>
#include <vector>

namespace qlm {

struct Batch {
    std::vector<int32_t> token;
    std::vector<int64_t> pos;
    std::vector<int32_t> seq;
    std::vector<uint8_t> logits;  // 1: keep this row's logits

    void add(int32_t t, int64_t p, int32_t s, bool want_logits) {
        token.push_back(t);
        pos.push_back(p);
        seq.push_back(s);
        logits.push_back(want_logits ? 1 : 0);
    }
    void clear() {
        token.clear();
        pos.clear();
        seq.clear();
        logits.clear();
    }
    int64_t size() const { return static_cast<int64_t>(token.size()); }
};

}  // namespace qlm
