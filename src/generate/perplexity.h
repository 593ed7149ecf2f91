// Perplexity and KL divergence over a token stream, with llama.cpp's llama-perplexity method:
// the tokens (BOS + the whole text) are cut into n_chunk = n_tokens / n_ctx chunks of n_ctx
// tokens; each chunk starts from an empty context, its first token replaced by BOS (when the
// vocab adds BOS), and is evaluated in batches of n_batch. Only the second half is scored:
// the logits at positions first = n_ctx/2 .. n_ctx-2 predict tokens first+1 .. n_ctx-1.
//
//   ContextLogitsSource src(ctx);
//   PerplexityParams p{.n_ctx = 256, .n_batch = 256, .bos_id = tok->add_bos() ? tok->bos_id() : -1};
//   PerplexityResult r = compute_perplexity(src, [&] { ctx.seq_rm(0, 0); }, ids, p, on_chunk);
//   fmt::print("PPL = {:.4f} +/- {:.5f}\n", r.stats.ppl(), r.stats.ppl_error());
//
// KL divergence: a base run writes every scored position's log-probabilities to a file
// (KlBaseWriter); a second run (usually a quantized model) reads it back (KlBaseReader) and
// compares distributions position by position (KldStats).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "src/generate/generate.h"

namespace qlm {

// ---- scoring math ----

// Negative log-likelihood of `token` under softmax(logits), as llama.cpp computes it: max in
// float, sum of expf(l - max) in double, nll = max + log(sum) - logits[token] in double.
double token_nll(std::span<const float> logits, int32_t token);

// out[i] = log softmax(logits)[i] (same max / sum as token_nll), stored as float.
void log_softmax_row(std::span<const float> logits, std::span<float> out);

// Running sums of per-token negative log-likelihoods.
struct NllStats {
    double sum = 0.0;
    double sum2 = 0.0;
    int64_t count = 0;
    void add(double nll) { sum += nll; sum2 += nll * nll; ++count; }
    double mean() const { return count > 0 ? sum / static_cast<double>(count) : 0.0; }
    double ppl() const;  // exp(mean)
    // llama.cpp's "+/-": ppl * sqrt((E[nll^2] - E[nll]^2) / (count - 1)); 0 when that variance
    // is not positive or count < 2.
    double ppl_error() const;
};

// ---- the chunk loop ----

struct PerplexityParams {
    int64_t n_ctx = 0;       // tokens per chunk: even, >= 8
    int64_t n_batch = 0;     // tokens per eval() call (capped at n_ctx); >= 1
    int64_t max_chunks = -1; // -1: every whole chunk in the tokens
    int32_t bos_id = -1;     // first token of every chunk is replaced by this; -1: not replaced
};

// Throws qlm::Error for an odd or too small n_ctx, n_batch < 1, max_chunks == 0 or < -1.
void validate(const PerplexityParams& p);
// Chunks the tokens give: n_tokens / n_ctx, capped by max_chunks. Throws qlm::Error (saying how
// many tokens are needed) when n_tokens < 2 * n_ctx.
int64_t perplexity_chunks(int64_t n_tokens, const PerplexityParams& p);
// Whole chunks in n_tokens (capped by max_chunks) without the 2 * n_ctx rule, for tokens that
// come from a KL-divergence base file; throws qlm::Error when there is not one whole chunk.
int64_t whole_chunks(int64_t n_tokens, const PerplexityParams& p);
inline int64_t scored_per_chunk(int64_t n_ctx) { return n_ctx - 1 - n_ctx / 2; }

// For each of whole_chunks() chunks c: clear() (the context must be empty afterwards), evaluate its n_ctx tokens,
// then call on_row(c, j, logits, next_token) for j = n_ctx/2 .. n_ctx-2 (next_token = the
// chunk's token j+1), then on_chunk_done(c). Throws qlm::Error for a logits row whose size is
// not n_vocab or a source that does not return every position's logits.
using ScoredRowFn = std::function<void(int64_t chunk, int64_t pos, std::span<const float> logits, int32_t next)>;
void for_each_scored_row(LogitsSource& source, const std::function<void()>& clear, std::span<const int32_t> tokens,
                         const PerplexityParams& p, int64_t n_vocab, const ScoredRowFn& on_row,
                         const std::function<void(int64_t chunk)>& on_chunk_done);

struct PerplexityResult {
    NllStats stats;
    int64_t n_chunk = 0;
    std::vector<double> running_ppl;  // exp(mean nll) after each chunk ("[1]12.34,[2]...")
};

// The perplexity of `tokens`. on_chunk (optional) runs after each chunk with the running stats;
// on_row (optional) sees every scored row (e.g. to write a KL-divergence base file).
PerplexityResult compute_perplexity(LogitsSource& source, const std::function<void()>& clear,
                                    std::span<const int32_t> tokens, const PerplexityParams& p, int64_t n_vocab,
                                    const std::function<void(int64_t chunk, const NllStats&)>& on_chunk = {},
                                    const ScoredRowFn& on_row = {});

// ---- KL-divergence base file ----
//
// Layout (little-endian):
//   char[8]  magic "QLMKLDB\0"
//   uint32   version (1)
//   uint32   n_vocab
//   uint32   n_ctx
//   uint32   n_chunk
//   int32    bos_id the chunks were evaluated with (-1: first token not replaced)
//   uint32   reserved (0)
//   int32    tokens[n_chunk * n_ctx]  (the original tokens, BOS replacement not applied)
//   float32  log_probs[n_chunk][n_ctx - 1 - n_ctx/2][n_vocab]  (log-softmax of each scored row)
// The file size must be exactly the sum of these parts.
inline constexpr char kKlBaseMagic[8] = {'Q', 'L', 'M', 'K', 'L', 'D', 'B', '\0'};
inline constexpr uint32_t kKlBaseVersion = 1;
inline constexpr uint64_t kKlBaseHeaderBytes = 32;

struct KlBaseHeader {
    uint32_t n_vocab = 0;
    uint32_t n_ctx = 0;
    uint32_t n_chunk = 0;
    int32_t bos_id = -1;
};

class KlBaseWriter {
public:
    // Writes the header and the tokens (the first n_chunk * n_ctx of `tokens`).
    KlBaseWriter(const std::string& path, const KlBaseHeader& h, std::span<const int32_t> tokens);
    ~KlBaseWriter();
    KlBaseWriter(const KlBaseWriter&) = delete;
    KlBaseWriter& operator=(const KlBaseWriter&) = delete;
    // Appends the log-softmax of one scored row (rows in chunk/position order).
    void add_row(std::span<const float> logits);
    // Checks that every row was written and flushes; throws qlm::Error on a write failure.
    void finish();

private:
    std::string path_;
    std::FILE* f_ = nullptr;
    uint64_t rows_expected_ = 0, rows_written_ = 0;
    std::vector<float> row_;
};

class KlBaseReader {
public:
    // Reads and checks the header, the file size and the tokens (each must be < n_vocab).
    // Throws qlm::Error with one line naming the file and the problem.
    explicit KlBaseReader(const std::string& path);
    ~KlBaseReader();
    KlBaseReader(const KlBaseReader&) = delete;
    KlBaseReader& operator=(const KlBaseReader&) = delete;

    const KlBaseHeader& header() const { return h_; }
    const std::vector<int32_t>& tokens() const { return tokens_; }
    // The next row of base log-probs (n_vocab floats, valid until the next call). Throws
    // qlm::Error for a NaN or +inf value, a row whose probabilities do not sum to ~1, or a
    // read past the last row.
    std::span<const float> next_row();

private:
    std::string path_;
    std::FILE* f_ = nullptr;
    KlBaseHeader h_;
    std::vector<int32_t> tokens_;
    std::vector<float> row_;
    uint64_t rows_total_ = 0, rows_read_ = 0;
};

// ---- KL divergence ----

struct KldStats {
    NllStats nll;       // the model under test (Q)
    NllStats nll_base;  // the base, from the file
    double sum_nll_nll_base = 0.0;
    double sum_kld = 0.0, sum_kld2 = 0.0;
    double sum_p_diff = 0.0, sum_p_diff2 = 0.0, sum_p_diff4 = 0.0;
    int64_t n_same_top = 0;
    int64_t count = 0;
    std::vector<float> kld_values;     // per scored position
    std::vector<float> p_diff_values;  // p(token) - p_base(token), per scored position

    // Adds one position: base log-probs (from the file), the model's logits, the next token.
    // Same top: the argmax (first maximum) of both log-prob rows.
    void add(std::span<const float> base_log_probs, std::span<const float> logits, int32_t next);
};

// llama.cpp's mean_and_uncertainty: mean of sum/count, uncertainty sqrt(var/(count-1)) when
// count > 10 and var > 0, else 0.
struct MeanUnc {
    double mean = 0.0, unc = 0.0;
};
MeanUnc mean_and_uncertainty(double sum, double sum2, int64_t count);
// Covariance of the means of a and b (llama.cpp's formula; 0 when count < 10).
double covariance_of_means(double suma, double sumb, double sumab, int64_t count);

}  // namespace qlm
