#include "src/generate/logits_json.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include <fmt/format.h>

#include "src/util/error.h"
#include "src/util/utf8.h"

namespace qlm {

LogitsEntry make_logits_entry(std::span<const float> logits, int64_t full_max_vocab, int top_n) {
    LogitsEntry e;
    if (static_cast<int64_t>(logits.size()) <= full_max_vocab) {
        e.full.assign(logits.begin(), logits.end());
        return e;
    }
    std::vector<std::pair<int32_t, float>> all(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) {
        float l = logits[i];
        all[i] = {static_cast<int32_t>(i), std::isnan(l) ? -INFINITY : l};
    }
    const size_t n = std::min(all.size(), static_cast<size_t>(std::max(top_n, 0)));
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                      [](const auto& a, const auto& b) {
                          return a.second != b.second ? a.second > b.second : a.first < b.first;
                      });
    all.resize(n);
    e.top = std::move(all);
    return e;
}

std::string to_hex(std::string_view bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char ch : bytes) {
        const auto b = static_cast<unsigned char>(ch);
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xF]);
    }
    return out;
}

namespace {

// 9 significant digits: parses back to the same float. Non-finite values have no JSON spelling;
// they are written as the largest finite float of their sign (NaN as -FLT_MAX).
std::string float_text(float v) {
    if (std::isnan(v)) v = -std::numeric_limits<float>::max();
    if (std::isinf(v)) v = v > 0 ? std::numeric_limits<float>::max() : -std::numeric_limits<float>::max();
    return fmt::format("{:.9g}", v);
}

void append_ids(std::string& out, const std::vector<int32_t>& ids) {
    out += '[';
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(ids[i]);
    }
    out += ']';
}

void append_entry(std::string& out, const LogitsEntry& e) {
    if (!e.top.empty() || e.full.empty()) {
        out += "{\"top\":[";
        for (size_t i = 0; i < e.top.size(); ++i) {
            if (i) out += ',';
            out += fmt::format("[{},{}]", e.top[i].first, float_text(e.top[i].second));
        }
        out += "]}";
        return;
    }
    out += "{\"full\":[";
    for (size_t i = 0; i < e.full.size(); ++i) {
        if (i) out += ',';
        out += float_text(e.full[i]);
    }
    out += "]}";
}

void append_entries(std::string& out, const std::vector<LogitsEntry>& entries) {
    out += "[";
    for (size_t i = 0; i < entries.size(); ++i) {
        out += i ? ",\n" : "\n";
        append_entry(out, entries[i]);
    }
    out += "]";
}

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& what) {
    auto it = j.find(key);
    if (it == j.end()) throw_error("{}: key '{}' is missing; this is not a logits dump", what, key);
    return *it;
}

std::vector<int32_t> ids_field(const nlohmann::json& j, const char* key, const std::string& what) {
    const nlohmann::json& a = field(j, key, what);
    if (!a.is_array()) throw_error("{}: '{}' must be an array of token ids", what, key);
    std::vector<int32_t> ids;
    for (const auto& v : a) {
        if (!v.is_number_integer()) throw_error("{}: '{}' must contain only integer token ids", what, key);
        ids.push_back(v.get<int32_t>());
    }
    return ids;
}

LogitsEntry entry_from_json(const nlohmann::json& j, const std::string& what) {
    LogitsEntry e;
    if (!j.is_object()) throw_error("{}: a logits entry must be an object with 'full' or 'top'", what);
    if (auto it = j.find("full"); it != j.end() && it->is_array()) {
        for (const auto& v : *it) {
            if (!v.is_number()) throw_error("{}: 'full' must contain only numbers", what);
            e.full.push_back(v.get<float>());
        }
    } else if (auto t = j.find("top"); t != j.end() && t->is_array()) {
        for (const auto& pair : *t) {
            if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() || !pair[1].is_number())
                throw_error("{}: 'top' entries must be [id, logit] pairs", what);
            e.top.emplace_back(pair[0].get<int32_t>(), pair[1].get<float>());
        }
    } else {
        throw_error("{}: a logits entry must have a 'full' or 'top' array", what);
    }
    return e;
}

std::vector<LogitsEntry> entries_field(const nlohmann::json& j, const char* key, const std::string& what) {
    const nlohmann::json& a = field(j, key, what);
    if (!a.is_array()) throw_error("{}: '{}' must be an array of logits entries", what, key);
    std::vector<LogitsEntry> out;
    for (const auto& e : a) out.push_back(entry_from_json(e, what + ": " + key));
    return out;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string logits_dump_to_json_text(const LogitsDump& d) {
    std::string out = "{";
    out += "\"model\":" + nlohmann::json(d.model).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += ",\"n_vocab\":" + std::to_string(d.n_vocab);
    out += ",\"prompt_ids\":";
    append_ids(out, d.prompt_ids);
    out += ",\n\"prompt_logits\":";
    append_entries(out, d.prompt_logits);
    const std::string key = d.sampled ? "generated" : "greedy";
    out += ",\n\"" + key + "\":";
    append_ids(out, d.greedy);
    if (utf8::is_valid(d.greedy_bytes)) out += ",\n\"" + key + "_text\":" + nlohmann::json(d.greedy_bytes).dump();
    out += ",\n\"" + key + "_text_hex\":\"" + to_hex(d.greedy_bytes) + "\"";
    out += ",\n\"generated_logits\":";
    append_entries(out, d.generated_logits);
    out += "}\n";
    return out;
}

void write_logits_json(const std::filesystem::path& path, const LogitsDump& dump) {
    const std::string text = logits_dump_to_json_text(dump);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw_error("{}: cannot open for writing ({}); check --logits-out", path.string(), std::strerror(errno));
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.close();
    if (!f) throw_error("{}: writing the logits dump failed; check free space", path.string());
}

LogitsDump logits_dump_from_json(const nlohmann::json& j, const std::string& what) {
    if (!j.is_object()) throw_error("{}: a logits dump must be a JSON object", what);
    LogitsDump d;
    const nlohmann::json& model = field(j, "model", what);
    if (!model.is_string()) throw_error("{}: 'model' must be a string", what);
    d.model = model.get<std::string>();
    const nlohmann::json& nv = field(j, "n_vocab", what);
    if (!nv.is_number_integer()) throw_error("{}: 'n_vocab' must be an integer", what);
    d.n_vocab = nv.get<int64_t>();
    d.prompt_ids = ids_field(j, "prompt_ids", what);
    d.prompt_logits = entries_field(j, "prompt_logits", what);
    d.sampled = !j.contains("greedy") && j.contains("generated");
    const std::string key = d.sampled ? "generated" : "greedy";
    d.greedy = ids_field(j, key.c_str(), what);
    const std::string hex_key = key + "_text_hex";
    const nlohmann::json& hex = field(j, hex_key.c_str(), what);
    if (!hex.is_string() || hex.get<std::string>().size() % 2 != 0)
        throw_error("{}: '{}' must be a string of hex digit pairs", what, hex_key);
    const std::string h = hex.get<std::string>();
    for (size_t i = 0; i < h.size(); i += 2) {
        int hi = hex_digit(h[i]), lo = hex_digit(h[i + 1]);
        if (hi < 0 || lo < 0) throw_error("{}: '{}' has a non-hex character", what, hex_key);
        d.greedy_bytes.push_back(static_cast<char>(hi * 16 + lo));
    }
    if (j.contains("generated_logits")) d.generated_logits = entries_field(j, "generated_logits", what);
    return d;
}

}  // namespace qlm
