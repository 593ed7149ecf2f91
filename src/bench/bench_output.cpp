#include "src/bench/bench_output.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "src/model/memory_plan.h"

namespace qlm::bench {

namespace {
using Row = nlohmann::ordered_json;

// One sample as llama-bench's fields (same names, types and order), then qlm's.
Row sample_row(const BenchSample& s) {
    const bool prompt = s.test.kind == BenchTest::Kind::Prompt;
    const std::string kv(kv_type_name(s.options.kv_type));
    Row j;
    j["cpu_info"] = s.cpu_info;
    j["gpu_info"] = "";
    j["backends"] = "CPU";
    j["model_filename"] = s.model_path;
    j["model_type"] = s.model_type;
    j["model_size"] = s.model_bytes;
    j["model_n_params"] = s.n_params;
    j["n_batch"] = s.options.n_batch;
    j["n_ubatch"] = s.options.n_batch;
    j["n_threads"] = s.test.threads;
    j["type_k"] = kv;
    j["type_v"] = kv;
    j["flash_attn"] = s.options.flash_attn ? 1 : 0;
    j["n_prompt"] = prompt ? s.test.n_tokens : 0;
    j["n_gen"] = prompt ? 0 : s.test.n_tokens;
    j["n_depth"] = s.test.depth;
    j["test_time"] = s.test_time;
    j["avg_ns"] = static_cast<int64_t>(s.mean_ns + 0.5);
    j["stddev_ns"] = static_cast<int64_t>(s.stddev_ns + 0.5);
    j["avg_ts"] = s.mean;
    j["stddev_ts"] = s.stddev;
    j["samples_ns"] = s.samples_ns;
    j["samples_ts"] = s.tokens_per_second;
    // qlm's own measurements.
    j["model_name"] = s.model_name;
    j["model_types"] = s.types;
    j["kernel_set"] = s.kernel_set;
    j["median_ts"] = s.median;
    j["min_ts"] = s.min;
    j["max_ts"] = s.max;
    j["cpu_median_ts"] = s.cpu_median;
    j["cpu_samples_ts"] = s.cpu_tokens_per_second;
    j["bytes_per_token"] = prompt ? Row() : Row(s.bytes_per_token);
    j["bandwidth_gbs"] = prompt ? Row() : Row(s.bandwidth_gbs);
    j["peak_rss_bytes"] = s.peak_rss_bytes;
    j["peak_rss_scope"] = s.peak_rss_per_test ? "test" : "process";
    return j;
}

// A CSV field: strings as they are, numbers as JSON writes them, null as empty; always quoted.
std::string csv_field(const Row& v) {
    std::string text = v.is_string() ? v.get<std::string>() : v.is_null() ? std::string() : v.dump();
    std::string out = "\"";
    for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}
}  // namespace

std::string bench_markdown(const std::vector<BenchSample>& samples) {
    std::string out =
        "| model | size | params | types | threads | test | t/s (median) | min–max | t/s (CPU time) | eff. GB/s | peak RSS |\n"
        "|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|\n";
    for (const auto& s : samples) {
        out += fmt::format("| {} | {} | {:.2f} M | {} | {} | {} | {:.2f} | {:.2f}–{:.2f} | {:.2f} | {} | {} |\n",
                           s.model_name, format_bytes(s.model_bytes), static_cast<double>(s.n_params) / 1e6, s.types,
                           s.test.threads, test_name(s.test), s.median, s.min, s.max, s.cpu_median,
                           s.bandwidth_gbs > 0 ? fmt::format("{:.2f}", s.bandwidth_gbs) : std::string("-"),
                           s.peak_rss_bytes ? format_bytes(s.peak_rss_bytes) : std::string("-"));
    }
    return out;
}

std::string bench_json(const std::vector<BenchSample>& samples) {
    Row arr = Row::array();
    for (const auto& s : samples) arr.push_back(sample_row(s));
    return arr.dump(2) + "\n";
}

std::string bench_csv(const std::vector<BenchSample>& samples) {
    std::string out;
    for (size_t i = 0; i < samples.size(); ++i) {
        const Row row = sample_row(samples[i]);
        std::string header, line;
        for (const auto& [key, value] : row.items()) {
            if (value.is_array()) continue;
            if (!header.empty()) {
                header += ',';
                line += ',';
            }
            header += key;
            line += csv_field(value);
        }
        if (i == 0) out += header + "\n";
        out += line + "\n";
    }
    return out;
}

}  // namespace qlm::bench
