// `qlm bench`: the table's structure (one row per model x threads x depth x test), parseable
// positive speeds, the bytes-per-token formula of generation rows, and one-line errors. No
// timing thresholds: speed itself is measured by scripts/bench.sh, not by tests.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "common/test_support.h"

namespace qlm {
namespace {

using test::qlm_bin;
using test::run_command;

// stories260K: 5 layers, n_embd 64, 8 heads of 8, 4 KV heads, n_ff 172, vocab 512, F32 weights.
constexpr double kStoriesWeightBytes = 5.0 * (64 * 64 + 64 * 32 + 64 * 32 + 64 * 64 + 3 * 64 * 172) * 4 + 512 * 64 * 4;
double stories_kv_bytes(int64_t pos) { return 2.0 * 5 * static_cast<double>(pos + 1) * 32 * 2; }  // f16 cache

TEST(CliBench, JsonHasOneRowPerTestWithPositiveSpeeds) {
    const auto f32 = test::shared_file("models/stories260K-F32.gguf").string();
    const auto q8 = test::shared_file("models/stories260K-Q8_0-ffnF16.gguf").string();
    auto r = run_command({qlm_bin().string(), "bench", "-m", f32 + "," + q8, "-p", "32", "-n", "8", "-t", "1,2",
                          "-r", "2", "-d", "0,16", "-o", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), 2u * 2 * 2 * 2);  // models x threads x depths x {pp, tg}
    int pp = 0, tg = 0;
    for (const auto& row : j) {
        const std::string kind = row.at("kind");
        const int64_t depth = row.at("depth"), n = row.at("n_tokens");
        EXPECT_TRUE(depth == 0 || depth == 16);
        EXPECT_TRUE(row.at("threads") == 1 || row.at("threads") == 2);
        ASSERT_EQ(row.at("samples_ts").size(), 2u);
        const double med = row.at("median_ts"), lo = row.at("min_ts"), hi = row.at("max_ts");
        EXPECT_GT(lo, 0);
        EXPECT_LE(lo, med);
        EXPECT_LE(med, hi);
        EXPECT_GT(row.at("peak_rss_bytes").get<double>(), 0);
        EXPECT_TRUE(row.at("peak_rss_scope") == "test" || row.at("peak_rss_scope") == "process");
        EXPECT_GT(row.at("cpu_median_ts").get<double>(), 0);
        EXPECT_EQ(row.at("cpu_samples_ts").size(), 2u);
        EXPECT_GT(row.at("model_bytes").get<double>(), 0);
        EXPECT_EQ(row.at("n_params"), 292800);
        const std::string name = row.at("test");
        if (kind == "pp") {
            ++pp;
            EXPECT_EQ(n, 32);
            EXPECT_EQ(name, depth ? "pp32 @ d16" : "pp32");
            EXPECT_FALSE(row.contains("bytes_per_token"));
        } else {
            ++tg;
            ASSERT_EQ(kind, "tg");
            EXPECT_EQ(n, 8);
            EXPECT_EQ(name, depth ? "tg8 @ d16" : "tg8");
            const double bpt = row.at("bytes_per_token");
            if (row.at("model_path") == f32) {
                double kv = 0;
                for (int64_t i = 0; i < n; ++i) kv += stories_kv_bytes(depth + i);
                EXPECT_DOUBLE_EQ(bpt, kStoriesWeightBytes + kv / static_cast<double>(n));
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
