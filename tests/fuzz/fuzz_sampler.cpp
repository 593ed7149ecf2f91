// libFuzzer target: sampling parameters, logits and history from bytes. The first 41 bytes are
// the parameters (floats may be NaN, inf, negative; ints any value), then a uint16 vocabulary
// size, then a history length byte and history ids (any int32, also outside the vocabulary, as a
// buggy caller might pass), then the logits (float32, any bit pattern; short input repeats them).
// validate() must refuse what the sampler cannot handle with a qlm::Error; what it accepts must
// sample an id inside the vocabulary, and the same seed must sample the same id.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "src/sampling/sampler.h"
#include "src/util/error.h"

namespace {

struct Bytes {
    const uint8_t* p;
    size_t n;
    template <typename T>
    T take() {
        T v{};
        const size_t k = n < sizeof(T) ? n : sizeof(T);
        std::memcpy(&v, p, k);
        p += k;
        n -= k;
        return v;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace qlm;
    Bytes in{data, size};
    SamplingParams sp;
    sp.temperature = in.take<float>();
    sp.top_k = in.take<int32_t>();
    sp.top_p = in.take<float>();
    sp.min_p = in.take<float>();
    sp.repeat_penalty = in.take<float>();
    sp.repeat_last_n = in.take<int32_t>();
    sp.frequency_penalty = in.take<float>();
    sp.presence_penalty = in.take<float>();
    sp.no_repeat_ngram = in.take<int32_t>() % 64;  // the n-gram scan is O(history x n)
    sp.seed = in.take<uint32_t>();
    const uint8_t mode = in.take<uint8_t>();
    if (mode & 1) sp.temperature = 0.0f;  // greedy is a separate path; reach it often
    const size_t n_vocab = 1 + in.take<uint16_t>() % 4096;
    const size_t n_hist = in.take<uint8_t>();
    std::vector<int32_t> history(n_hist);
    for (auto& h : history) {
        h = in.take<int32_t>();
        if (mode & 2) h = static_cast<int32_t>(static_cast<uint32_t>(h) % n_vocab);  // in-range ids
    }
    std::vector<float> logits(n_vocab);
    const size_t n_floats = in.n / 4;
    for (size_t i = 0; i < n_vocab; ++i) {
        float f = 0.0f;
        if (n_floats) std::memcpy(&f, in.p + 4 * (i % n_floats), 4);
        else f = static_cast<float>(i % 7);
        logits[i] = f;
    }

    try {
        validate(sp);
    } catch (const Error&) {
        return 0;
    }
    Sampler a(sp);
    SamplingParams same = sp;
    same.seed = a.seed();  // kRandomSeed drew one: the second sampler uses the seed actually used
    Sampler b(same);
    for (int step = 0; step < 2; ++step) {
        const int32_t x = a.sample(logits, history);
        const int32_t y = b.sample(logits, history);
        if (x < 0 || static_cast<size_t>(x) >= n_vocab || x != y) {
            std::fprintf(stderr, "sampler: sampled %d and %d with a vocabulary of %zu\n", x, y, n_vocab);
            std::abort();
        }
        history.push_back(x);
    }
    return 0;
}
