// qlm run -m MODEL -p PROMPT: load a model, feed the prompt, stream generated text to stdout.
// Flags follow llama.cpp's llama-cli / llama-completion. stderr gets a load summary and timings.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "src/generate/generate.h"
#include "src/generate/logits_json.h"
#include "src/generate/model_adapters.h"
#include "src/model/hf_config.h"
#include "src/model/memory_plan.h"
#include "src/model/model.h"
#include "src/sampling/sampler.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/cpu_info.h"
#include "src/util/error.h"
#include "tools/qlm/command.h"
#include "tools/qlm/model_files.h"
#include "tools/qlm/prompt_input.h"
#include "tools/qlm/text_util.h"

namespace qlm::cli {
namespace {

struct RunOptions {
    std::string model;
    PromptSource prompt;
    std::string ids;
    int64_t n_predict = -1;
    int64_t n_ctx = 0;
    int64_t n_batch = 512;
    int n_threads = 0;
    int64_t seed = -1;
    SamplingParams sampling;
    std::vector<std::string> stops;
    bool ignore_eos = false;
    std::string kv_type = "f16";
    bool flash_attn = false;
    std::string logits_out;
    bool no_bos = false;
    bool special = false;
    bool no_display_prompt = false;
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<int32_t> parse_ids(const std::string& text, int64_t n_vocab) {
    std::vector<int32_t> ids;
    std::string s = text;
    for (char& c : s)
        if (c == ',' || c == '[' || c == ']') c = ' ';
    std::istringstream in(s);
    std::string word;
    while (in >> word) {
        size_t used = 0;
        long long v = 0;
        try {
            v = std::stoll(word, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != word.size()) throw_error("--ids: '{}' is not a token id (give integers, e.g. --ids \"1 403 407\")", word);
        if (v < 0 || v >= n_vocab)
            throw_error("--ids: token id {} is outside the vocabulary (0..{})", v, n_vocab - 1);
        ids.push_back(static_cast<int32_t>(v));
    }
    if (ids.empty()) throw_error("--ids: no token ids given (e.g. --ids \"1 403 407\")");
    return ids;
}

std::string type_summary(const TensorStats& ts) {
    std::string out;
    for (const auto& [name, c] : ts.by_type) out += fmt::format("{}{} x{}", out.empty() ? "" : ", ", name, c.tensors);
    return out;
}

void emit(std::string_view s) {
    if (s.empty()) return;
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
}

int run(const RunOptions& o) {
    // --- validate flags before touching the model ---
    if (o.n_predict < -1) throw_error("-n {}: use a number of tokens >= 0, or -1 to generate until end of text", o.n_predict);
    if (o.n_ctx < 0) throw_error("-c {}: the context size cannot be negative (0 = the model's)", o.n_ctx);
    if (o.n_batch < 1) throw_error("-b {}: the batch size must be at least 1", o.n_batch);
    if (o.n_threads < 0) throw_error("-t {}: the thread count cannot be negative (0 = all cores)", o.n_threads);
    if (o.seed < -1 || o.seed > static_cast<int64_t>(UINT32_MAX))
        throw_error("-s {}: the seed must be -1 (random) or 0..{}", o.seed, UINT32_MAX);
    SamplingParams sp = o.sampling;
    sp.seed = o.seed == -1 ? SamplingParams::kRandomSeed : static_cast<uint64_t>(o.seed);
    validate(sp);
    if (o.n_predict > INT32_MAX) throw_error("-n {}: too large (at most {}; -1 = until end of text)", o.n_predict, INT32_MAX);
    GenerateOptions go;
    go.n_predict = static_cast<int32_t>(o.n_predict);
    go.ignore_eos = o.ignore_eos;
    go.stop = o.stops;
    go.on_text = [](std::string_view t) { emit(t); };
    validate(go);
    std::string text;
    if (o.ids.empty()) text = read_prompt(o.prompt, /*allow_empty=*/false);
    else if (o.prompt.has_text || !o.prompt.file.empty()) throw_error("give either a text prompt or --ids, not both");

    // --- load ---
    auto t_load = Clock::now();
    auto file = open_model_file(o.model);
    check_architecture(*file);
    check_tensor_types(*file);
    auto model = Model::load(file);
    const Hparams& hp = model->hparams();
    const int64_t n_ctx = o.n_ctx == 0 ? hp.n_ctx_train : o.n_ctx;
    if (n_ctx > hp.n_ctx_train)
        throw_error("-c {} is larger than the model's context length {}: use -c {} or less", o.n_ctx, hp.n_ctx_train,
                    hp.n_ctx_train);
    const KvType kv = *kv_type_from_name(o.kv_type);
    const ModelShape shape = shape_from_hparams(hp);
    const TensorStats ts = tensor_stats(*file);
    const MemoryPlan plan = plan_memory(shape, ts.n_bytes, {.n_ctx = n_ctx, .n_batch = o.n_batch, .kv_type = kv});
    if (auto avail = available_memory_bytes()) {
        const uint64_t need = plan.kv_bytes + plan.scratch_bytes;
        if (need > *avail) {
            // The largest context that fits (the need grows with n_ctx).
            auto need_for = [&](int64_t n) {
                MemoryPlan p = plan_memory(shape, 0, {.n_ctx = n, .n_batch = o.n_batch, .kv_type = kv});
                return p.kv_bytes + p.scratch_bytes;
            };
            int64_t lo = 0, hi = n_ctx;  // need_for(lo) fits (or lo == 0), need_for(hi) does not
            while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                (need_for(mid) <= *avail ? lo : hi) = mid;
            }
            const uint64_t fit = static_cast<uint64_t>(lo);
            const uint64_t suggest = fit >= 512 ? fit / 256 * 256 : fit;
            throw_error("a context of {} tokens needs {} bytes ({}) of KV cache and scratch, but only {} bytes ({}) are "
                        "available: use a smaller context{}{}",
                        n_ctx, need, format_bytes(need), *avail, format_bytes(*avail),
                        suggest > 0 ? fmt::format(", e.g. -c {}", suggest) : std::string(),
                        kv == KvType::F32                                 ? ", or --kv-type f16"
                        : kv == KvType::F16 && hp.head_dim % 32 == 0 ? ", or --kv-type q8_0"
                                                                      : "");
        }
    }
    auto tok = Tokenizer::from_gguf(*file);
    if (tok->n_vocab() != hp.n_vocab)
        throw_error("{}: the tokenizer has {} tokens but the model's vocabulary is {}: the file is inconsistent",
                    o.model, tok->n_vocab(), hp.n_vocab);
    const int threads = o.n_threads > 0 ? o.n_threads : physical_cores();

    std::vector<int32_t> prompt_ids;
    if (!o.ids.empty()) {
        prompt_ids = parse_ids(o.ids, hp.n_vocab);
    } else {
        EncodeOptions eo;
        eo.add_bos = tok->add_bos() && !o.no_bos;
        eo.parse_special = o.special;
        prompt_ids = tok->encode(text, eo);
        if (prompt_ids.empty()) throw_error("the prompt encodes to no tokens: give some text");
    }
    if (static_cast<int64_t>(prompt_ids.size()) >= n_ctx)
        throw_error("the prompt is {} tokens but the context holds {}: use -c {} or a shorter prompt",
                    prompt_ids.size(), n_ctx, std::min<int64_t>(hp.n_ctx_train, static_cast<int64_t>(prompt_ids.size()) + 256));

    InferenceContext ctx(*model, {.n_ctx = n_ctx, .n_batch = o.n_batch, .n_threads = threads, .kv_type = kv, .flash_attn = o.flash_attn});
    Sampler sampler(sp);
    const double load_s = seconds_since(t_load);
    fmt::print(stderr,
               "qlm: model '{}' ({}, {} params, {}, file {}) loaded in {:.2f} s | n_ctx {} (trained {}), n_batch {}, "
               "threads {}, kv {} ({}){} | sampling: temp {:.2f}, top_k {}, top_p {:.2f}, min_p {:.2f}, repeat_penalty "
               "{:.2f}, seed {}\n",
               hp.name.empty() ? o.model : hp.name, hp.arch, format_count(ts.n_params), type_summary(ts),
               format_bytes(file->file_size()), load_s, n_ctx, hp.n_ctx_train, plan.n_batch, threads, o.kv_type,
               format_bytes(plan.kv_bytes), o.flash_attn ? ", flash attention" : "", sp.temperature, sp.top_k, sp.top_p, sp.min_p, sp.repeat_penalty,
               sampler.seed());

    if (!o.no_display_prompt && o.ids.empty()) emit(text);

    // --- generate (prefill + sampling loop) ---
    LogitsDump dump;
    if (!o.logits_out.empty()) {
        go.on_prompt_logits = [&](int64_t, std::span<const float> l) { dump.prompt_logits.push_back(make_logits_entry(l)); };
        go.on_generated_logits = [&](int64_t, std::span<const float> l) {
            dump.generated_logits.push_back(make_logits_entry(l));
        };
    }
    ContextLogitsSource source(ctx);
    TokenizerDecoder decoder(*tok);
    GenerateResult r = generate(source, decoder, sampler, prompt_ids, go);
    // End the text's line before the timings when both streams go to the same place.
    if (!r.text.empty() && r.text.back() != '\n') {
        struct stat so {}, se {};
        if (isatty(STDOUT_FILENO)) emit("\n");
        else if (fstat(STDOUT_FILENO, &so) == 0 && fstat(STDERR_FILENO, &se) == 0 && so.st_dev == se.st_dev &&
                 so.st_ino == se.st_ino)
            std::fputc('\n', stderr);
    }

    if (!o.logits_out.empty()) {
        dump.model = std::filesystem::path(o.model).filename().string();
        dump.n_vocab = hp.n_vocab;
        dump.prompt_ids = prompt_ids;
        dump.greedy = r.tokens;
        for (int32_t id : r.tokens) dump.greedy_bytes += tok->token_to_piece(id);
        write_logits_json(o.logits_out, dump);
    }

    const GenerateTimings& t = r.timings;
    fmt::print(stderr,
               "qlm: prompt: {} tokens in {:.2f} s ({:.1f} tokens/s) | generation: {} tokens in {:.2f} s ({:.1f} "
               "tokens/s) | stopped by {}\n",
               t.prompt_tokens, t.prompt_seconds, t.prompt_tokens_per_second(), t.generated_tokens,
               t.generation_seconds, t.generation_tokens_per_second(), to_string(r.stop_reason));
    return 0;
}
Action setup_run(CLI::App& app) {
    auto o = std::make_shared<RunOptions>();
    SamplingParams& s = o->sampling;
    app.add_option("-m,--model", o->model, "GGUF model file")->required();
    app.add_option("-p,--prompt", o->prompt.text, "prompt text");
    app.add_option("-f,--file", o->prompt.file, "read the prompt from a file");
    app.add_option("--ids", o->ids, "feed these token ids instead of text, e.g. \"1 403 407\"");
    app.add_option("-n,--n-predict", o->n_predict, "tokens to generate (-1 = until end of text or context full)")->capture_default_str();
    app.add_option("-c,--ctx-size", o->n_ctx, "context size in tokens (0 = the model's)")->capture_default_str();
    app.add_option("-b,--batch-size", o->n_batch, "prompt tokens per forward batch")->capture_default_str();
    app.add_option("-t,--threads", o->n_threads, "threads (0 = one per physical core)")->capture_default_str();
    app.add_option("-s,--seed", o->seed, "RNG seed (-1 = random)")->capture_default_str();
    app.add_option("--temp", s.temperature, "temperature (0 = greedy)")->capture_default_str();
    app.add_option("--top-k", s.top_k, "top-k sampling (0 = off)")->capture_default_str();
    app.add_option("--top-p", s.top_p, "top-p sampling (1.0 = off)")->capture_default_str();
    app.add_option("--min-p", s.min_p, "min-p sampling (0.0 = off)")->capture_default_str();
    app.add_option("--repeat-penalty", s.repeat_penalty, "repetition penalty (1.0 = off)")->capture_default_str();
    app.add_option("--repeat-last-n", s.repeat_last_n, "tokens considered for penalties (0 = off, -1 = all)")->capture_default_str();
    app.add_option("--presence-penalty", s.presence_penalty, "presence penalty (0.0 = off)")->capture_default_str();
    app.add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty (0.0 = off)")->capture_default_str();
    app.add_option("--no-repeat-ngram", s.no_repeat_ngram, "ban repeating n-grams of this size (0 = off)")->capture_default_str();
    app.add_option("--stop", o->stops, "stop before this text (repeatable)")->allow_extra_args(false);
    app.add_flag("--ignore-eos", o->ignore_eos, "keep generating past end-of-text tokens");
    app.add_flag("--flash-attn,--fa", o->flash_attn, "online-softmax attention (also -fa): O(tile) scratch memory, f32 probabilities");
    app.add_option("--kv-type", o->kv_type, "KV cache element type (q8_0: about half of f16; head size a multiple of 32)")->check(CLI::IsMember({"f16", "f32", "q8_0"}))->capture_default_str();
    app.add_option("--logits-out", o->logits_out, "write prompt logits and generated ids as JSON (golden-file layout)");
    app.add_flag("--no-bos", o->no_bos, "do not add BOS even if the model asks for it");
    app.add_flag("--special", o->special, "parse special-token text such as <s> or <|im_start|> in the prompt");
    app.add_flag("--no-display-prompt", o->no_display_prompt, "print only the generated text, not the prompt");
    return [o, &app]() -> int {
        o->prompt.has_text = app.count("--prompt") > 0;
        return run(*o);
    };
}

const bool registered = register_command({"run", "Generate text from a prompt", 10, &setup_run});

}  // namespace
}  // namespace qlm::cli
