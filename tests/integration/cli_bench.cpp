// `qlm bench`: the table's structure (one row per model x threads x depth x test), llama-bench's
// field names in JSON and CSV, parseable positive speeds, the bytes-per-token formula of
// generation rows, default test sizes that fit a small context, and one-line errors. No timing
// thresholds: speed itself is measured by scripts/bench.sh, not by tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_support.h"

namespace qlm {
namespace {

using test::qlm_bin;
using test::run_command;

// stories260K: 5 layers, n_embd 64, 8 heads of 8, 4 KV heads, n_ff 172, vocab 512, F32 weights.
constexpr double kStoriesWeightBytes = 5.0 * (64 * 64 + 64 * 32 + 64 * 32 + 64 * 64 + 3 * 64 * 172) * 4 + 512 * 64 * 4;
double stories_kv_bytes(int64_t pos) { return 2.0 * 5 * static_cast<double>(pos + 1) * 32 * 2; }  // f16 cache

// Runs `qlm bench ARGS -o json` and returns its rows.
nlohmann::json bench_json_rows(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {qlm_bin().string(), "bench"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"-o", "json"});
    auto r = run_command(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_TRUE(j.is_array());
    return j;
}

TEST(CliBench, JsonUsesLlamaBenchFieldsOneRowPerTest) {
    const auto f32 = test::shared_file("models/stories260K-F32.gguf").string();
    const auto q8 = test::shared_file("models/stories260K-Q8_0-ffnF16.gguf").string();
    const auto j = bench_json_rows({"-m", f32 + "," + q8, "-p", "32", "-n", "8", "-t", "1,2", "-r", "3", "-d", "0,16"});
    ASSERT_EQ(j.size(), 2u * 2 * 2 * 2);  // models x threads x depths x {pp, tg}
    int pp = 0, tg = 0;
    for (const auto& row : j) {
        // llama-bench's names and types.
        EXPECT_EQ(row.at("backends"), "CPU");
        EXPECT_TRUE(row.at("cpu_info").is_string());
        EXPECT_TRUE(row.at("model_filename") == f32 || row.at("model_filename") == q8);
        EXPECT_EQ(row.at("model_n_params"), 292800);
        EXPECT_EQ(row.at("model_type").get<std::string>().rfind("llama 293K ", 0), 0u) << row.at("model_type");
        EXPECT_EQ(row.at("n_batch"), 512);
        EXPECT_EQ(row.at("n_ubatch"), 512);
        EXPECT_EQ(row.at("type_k"), "f16");
        EXPECT_EQ(row.at("type_v"), "f16");
        EXPECT_EQ(row.at("flash_attn"), 0);
        const int64_t depth = row.at("n_depth"), n_prompt = row.at("n_prompt"), n_gen = row.at("n_gen");
        EXPECT_TRUE(depth == 0 || depth == 16);
        EXPECT_TRUE(row.at("n_threads") == 1 || row.at("n_threads") == 2);
        const std::string time = row.at("test_time");
        EXPECT_EQ(time.size(), 20u) << time;  // 2026-11-24T10:00:00Z
        EXPECT_EQ(time.back(), 'Z');
        ASSERT_EQ(row.at("samples_ts").size(), 3u);
        ASSERT_EQ(row.at("samples_ns").size(), 3u);
        const int64_t n = n_prompt + n_gen;
        double sum_ts = 0, sum_ns = 0;
        for (size_t i = 0; i < 3; ++i) {
            const double ts = row.at("samples_ts")[i], ns = row.at("samples_ns")[i].get<int64_t>();
            EXPECT_GT(ns, 0);
            EXPECT_NEAR(ts, static_cast<double>(n) * 1e9 / ns, 1e-6 * ts);  // each sample: tokens / its time
            sum_ts += ts;
            sum_ns += ns;
        }
        EXPECT_NEAR(row.at("avg_ts").get<double>(), sum_ts / 3, 1e-9 * sum_ts);
        EXPECT_NEAR(row.at("avg_ns").get<double>(), sum_ns / 3, 1.0);
        EXPECT_GE(row.at("stddev_ts").get<double>(), 0);
        EXPECT_TRUE(row.at("stddev_ns").is_number_integer());
        // qlm's own fields beside them.
        const double med = row.at("median_ts"), lo = row.at("min_ts"), hi = row.at("max_ts");
        EXPECT_GT(lo, 0);
        EXPECT_LE(lo, med);
        EXPECT_LE(med, hi);
        EXPECT_GT(row.at("peak_rss_bytes").get<double>(), 0);
        EXPECT_TRUE(row.at("peak_rss_scope") == "test" || row.at("peak_rss_scope") == "process");
        EXPECT_GT(row.at("cpu_median_ts").get<double>(), 0);
        EXPECT_EQ(row.at("cpu_samples_ts").size(), 3u);
        const std::string isa = row.at("kernel_set");
        EXPECT_TRUE(isa == "scalar" || isa == "avx2" || isa == "avx512" || isa == "neon") << isa;
        if (row.at("model_filename") == f32) {
            EXPECT_EQ(row.at("model_size"), 292800 * 4);  // tensor bytes, F32
        }
        if (n_gen == 0) {
            ++pp;
            EXPECT_EQ(n_prompt, 32);
            EXPECT_TRUE(row.at("bytes_per_token").is_null());
            EXPECT_TRUE(row.at("bandwidth_gbs").is_null());
        } else {
            ++tg;
            EXPECT_EQ(n_prompt, 0);
            EXPECT_EQ(n_gen, 8);
            const double bpt = row.at("bytes_per_token");
            if (row.at("model_filename") == f32) {
                double kv = 0;
                for (int64_t i = 0; i < n_gen; ++i) kv += stories_kv_bytes(depth + i);
                EXPECT_DOUBLE_EQ(bpt, kStoriesWeightBytes + kv / static_cast<double>(n_gen));
            } else {
                EXPECT_GT(bpt, 0);
                EXPECT_LT(bpt, kStoriesWeightBytes);  // Q8_0 weights are smaller than F32
            }
            EXPECT_NEAR(row.at("bandwidth_gbs").get<double>(), bpt * med / 1e9, 1e-9 * bpt * med);
        }
    }
    EXPECT_EQ(pp, 8);
    EXPECT_EQ(tg, 8);
}

TEST(CliBench, CsvHasLlamaBenchHeaderAndOneQuotedLinePerTest) {
    const auto f32 = test::shared_file("models/stories260K-F32.gguf").string();
    auto r = run_command({qlm_bin().string(), "bench", "-m", f32, "-p", "16", "-n", "4", "-t", "1", "-r", "2", "-o", "csv"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream is(r.out);
    std::string line;
    std::vector<std::vector<std::string>> rows;
    while (std::getline(is, line)) {
        std::vector<std::string> cells;
        std::string cell;
        bool quoted = false;
        for (size_t i = 0; i < line.size(); ++i) {
            const char c = line[i];
            if (c == '"' && quoted && i + 1 < line.size() && line[i + 1] == '"') {
                cell += '"';
                ++i;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (c == ',' && !quoted) {
                cells.push_back(cell);
                cell.clear();
            } else {
                cell += c;
            }
        }
        cells.push_back(cell);
        rows.push_back(cells);
    }
    ASSERT_EQ(rows.size(), 3u) << r.out;  // header, pp16, tg4
    const auto& header = rows[0];
    auto column = [&](const std::string& name) {
        const auto it = std::find(header.begin(), header.end(), name);
        EXPECT_NE(it, header.end()) << name;
        return static_cast<size_t>(it - header.begin());
    };
    EXPECT_EQ(std::find(header.begin(), header.end(), "samples_ts"), header.end());  // arrays stay out, as in llama-bench
    for (size_t i = 1; i < 3; ++i) {
        ASSERT_EQ(rows[i].size(), header.size()) << i;
        EXPECT_EQ(rows[i][column("model_filename")], f32);
        EXPECT_EQ(rows[i][column("n_threads")], "1");
        EXPECT_GT(std::stod(rows[i][column("avg_ts")]), 0);
    }
    EXPECT_EQ(rows[1][column("n_prompt")], "16");
    EXPECT_EQ(rows[1][column("n_gen")], "0");
    EXPECT_EQ(rows[1][column("bytes_per_token")], "");
    EXPECT_EQ(rows[2][column("n_prompt")], "0");
    EXPECT_EQ(rows[2][column("n_gen")], "4");
    EXPECT_GT(std::stod(rows[2][column("bandwidth_gbs")]), 0);
}

// kjv-8M's context is 256 tokens: the default pp512 shrinks to what fits, tg128 fits as it is.
TEST(CliBench, DefaultTestsFitASmallContext) {
    const auto kjv = test::shared_file("models/kjv-8M-F32.gguf").string();
    auto j = bench_json_rows({"-m", kjv, "-t", "1", "-r", "1"});
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0].at("n_prompt"), 256);
    EXPECT_EQ(j[1].at("n_gen"), 128);
    // After 200 positions of depth both defaults get the 56 that are left.
    j = bench_json_rows({"-m", kjv, "-t", "1", "-r", "1", "-d", "200"});
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0].at("n_prompt"), 56);
    EXPECT_EQ(j[1].at("n_gen"), 56);
    EXPECT_EQ(j[1].at("n_depth"), 200);
    // A size given with -n is not shrunk: 200 + 100 does not fit, and that is an error.
    auto r = run_command({qlm_bin().string(), "bench", "-m", kjv, "-t", "1", "-r", "1", "-d", "200", "-p", "0", "-n", "100"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("context of 256"), std::string::npos) << r.err;
}

TEST(CliBench, MarkdownTableHasHeaderAndOneLinePerTest) {
    const auto f32 = test::shared_file("models/stories260K-F32.gguf").string();
    auto r = run_command({qlm_bin().string(), "bench", "-m", f32, "-p", "16", "-n", "4", "-t", "1", "-r", "3"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream is(r.out);
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(is, line)) lines.push_back(line);
    ASSERT_EQ(lines.size(), 4u) << r.out;  // header, separator, pp16, tg4
    EXPECT_EQ(lines[0].rfind("| model | size | params | types | threads | test | t/s (median) |", 0), 0u) << lines[0];
    for (size_t i = 2; i < 4; ++i) {
        EXPECT_EQ(std::count(lines[i].begin(), lines[i].end(), '|'), 12) << lines[i];
        EXPECT_NE(lines[i].find("| stories260K-F32 |"), std::string::npos) << lines[i];
    }
    EXPECT_NE(lines[2].find("| pp16 |"), std::string::npos);
    EXPECT_NE(lines[3].find("| tg4 |"), std::string::npos);
    // The median column parses as a positive number.
    auto cell = [](const std::string& l, int k) {
        size_t p = 0;
        for (int i = 0; i <= k; ++i) p = l.find('|', p) + 1;
        return std::stod(l.substr(p, l.find('|', p) - p));
    };
    EXPECT_GT(cell(lines[2], 6), 0);
    EXPECT_GT(cell(lines[3], 6), 0);
    EXPECT_GT(cell(lines[2], 8), 0);  // t/s from CPU time
    EXPECT_GT(cell(lines[3], 9), 0);  // eff. GB/s of the tg row
}

TEST(CliBench, KernelMicrobenchmarkListsEveryQuantFormat) {
    auto r = run_command({qlm_bin().string(), "bench", "--kernels", "-r", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* t : {"| q8_0 |", "| q4_0 |", "| q4_1 |", "| q5_0 |", "| q5_1 |", "| q2_K |", "| q3_K |",
                          "| q4_K |", "| q5_K |", "| q6_K |"})
        EXPECT_NE(r.out.find(t), std::string::npos) << t << "\n" << r.out;
}

TEST(CliBench, BadArgumentsAreOneLineErrors) {
    const auto f32 = test::shared_file("models/stories260K-F32.gguf").string();
    struct Case {
        std::vector<std::string> args;
        const char* needle;
    };
    for (const Case& c : std::vector<Case>{
             {{"-m", f32, "-t", "0"}, "-t"},
             {{"-m", f32, "-t", "1,x"}, "'x'"},
             {{"-m", f32, "-p", "2000", "-d", "100", "-r", "1"}, "context"},
             {{"-m", test::shared_file("models/kjv-8M-F32.gguf").string(), "-d", "256", "-r", "1"}, "-d"},
             {{"-m", f32, "-o", "xml"}, "-o"},
             {{"-m", f32, "-r", "0"}, "-r"},
             {{"-p", "8"}, "-m"},
             {{"-m", "/nonexistent/model.gguf"}, "model.gguf"},
         }) {
        std::vector<std::string> argv = {qlm_bin().string(), "bench"};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        auto r = run_command(argv);
        EXPECT_NE(r.exit_code, 0) << c.needle;
        EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
}

}  // namespace
}  // namespace qlm
