// Logits dumps for `qlm run --logits-out FILE`, in the layout of ../shared/golden/*.json
// (llama.cpp's reference outputs), so the same comparison scripts and tests read both:
//
//   {"model": "mini-f32.gguf", "n_vocab": 512, "prompt_ids": [...],
//    "prompt_logits": [{"full": [...]} or {"top": [[id, logit] x 20]}, ...],  // one per prompt position
//    "greedy": [...generated ids...], "greedy_text": "..." (only when valid UTF-8), "greedy_text_hex": "...",
//    "generated_logits": [...]}  // same entries, the logits after each generated token was fed back
//
// The ids are "greedy" (with "greedy_text", "greedy_text_hex") when they were decoded greedily, as
// in the golden files, and "generated" ("generated_text", "generated_text_hex") when they were
// sampled at a temperature above 0: the name says what the ids are.
//
// "full" when n_vocab <= 600, else "top": the 20 largest logits, sorted by logit descending (ties:
// lower id first). Logits are written with 9 significant digits (exact float round trip).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace qlm {

struct LogitsEntry {
    std::vector<float> full;                       // every vocab entry, or empty
    std::vector<std::pair<int32_t, float>> top;    // (id, logit), sorted, or empty
};

constexpr int64_t kLogitsFullMaxVocab = 600;
constexpr int kLogitsTopN = 20;

// "full" when logits.size() <= full_max_vocab, else the top_n largest.
LogitsEntry make_logits_entry(std::span<const float> logits, int64_t full_max_vocab = kLogitsFullMaxVocab,
                              int top_n = kLogitsTopN);

struct LogitsDump {
    std::string model;      // the model file's name
    int64_t n_vocab = 0;
    std::vector<int32_t> prompt_ids;
    std::vector<LogitsEntry> prompt_logits;
    std::vector<int32_t> greedy;  // generated ids: greedy ones, or sampled ones when `sampled`
    std::string greedy_bytes;     // the generated text's raw bytes (Tokenizer::decode)
    bool sampled = false;         // the ids were sampled: written under "generated", not "greedy"
    std::vector<LogitsEntry> generated_logits;
};

std::string to_hex(std::string_view bytes);  // lowercase, two digits per byte

// The JSON text: keys in the golden order, one logits entry per line.
std::string logits_dump_to_json_text(const LogitsDump& dump);
// Writes the JSON text to path; qlm::Error names the path when it can't be written.
void write_logits_json(const std::filesystem::path& path, const LogitsDump& dump);
// Reads our layout or a golden file back (greedy_bytes from greedy_text_hex); qlm::Error names the
// missing or malformed key. `what` names the source in messages.
LogitsDump logits_dump_from_json(const nlohmann::json& j, const std::string& what);

}  // namespace qlm
