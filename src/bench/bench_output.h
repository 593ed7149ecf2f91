// The three forms `qlm bench` prints its samples in. JSON and CSV use llama-bench's field names and
// types (model_filename, model_type, model_size, model_n_params, n_batch, n_ubatch, n_threads,
// type_k, type_v, flash_attn, n_prompt, n_gen, n_depth, test_time, avg_ns, stddev_ns, avg_ts,
// stddev_ts, samples_ns, samples_ts, ...) so scripts and plots written for llama-bench read qlm's
// rows; qlm's own measurements (median, CPU-time rate, bytes per token, effective bandwidth,
// peak RSS, kernel set) follow them under their own names.
#pragma once

#include <string>
#include <vector>

#include "src/bench/model_bench.h"

namespace qlm::bench {

std::string bench_markdown(const std::vector<BenchSample>& samples);
// A JSON array, one object per sample (llama-bench -o json).
std::string bench_json(const std::vector<BenchSample>& samples);
// A header line and one line per sample, every value quoted, the arrays left out (llama-bench -o csv).
std::string bench_csv(const std::vector<BenchSample>& samples);

}  // namespace qlm::bench
