#include "src/generate/perplexity.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "src/util/checked_math.h"
#include "src/util/error.h"

namespace qlm {

// ---- scoring math ----

namespace {
float row_max(std::span<const float> logits) {
    float m = logits[0];
    for (float v : logits) m = std::max(m, v);
    return m;
}
double sum_exp(std::span<const float> logits, float max) {
    double s = 0.0;
    for (float v : logits) s += std::exp(v - max);  // expf, as llama.cpp
    return s;
}
int64_t argmax(std::span<const float> row) {
    int64_t best = 0;
    for (size_t i = 1; i < row.size(); ++i)
        if (row[i] > row[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
    return best;
}
}  // namespace

double token_nll(std::span<const float> logits, int32_t token) {
    if (logits.empty() || token < 0 || static_cast<size_t>(token) >= logits.size())
        throw_error("perplexity: token {} is outside the logits row of {} entries", token, logits.size());
    const float max = row_max(logits);
    const double lse = std::log(sum_exp(logits, max));
    return lse - static_cast<double>(logits[static_cast<size_t>(token)] - max);
}

void log_softmax_row(std::span<const float> logits, std::span<float> out) {
    if (logits.empty() || out.size() != logits.size())
        throw_error("log_softmax_row: output has {} entries for {} logits", out.size(), logits.size());
    const float max = row_max(logits);
    const double lse = std::log(sum_exp(logits, max));
    for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(static_cast<double>(logits[i] - max) - lse);
}

double NllStats::ppl() const { return std::exp(mean()); }

double NllStats::ppl_error() const {
    if (count < 2) return 0.0;
    const double n = static_cast<double>(count);
    const double mean = sum / n;
    const double var = sum2 / n - mean * mean;
    if (!(var > 0.0)) return 0.0;
    return std::sqrt(var / (n - 1.0)) * std::exp(mean);
}

// ---- the chunk loop ----

void validate(const PerplexityParams& p) {
    if (p.n_ctx < 8 || p.n_ctx % 2 != 0)
        throw_error("-c {}: perplexity needs an even context size of at least 8 (e.g. -c 256 or -c 512)", p.n_ctx);
    if (p.n_batch < 1) throw_error("-b {}: the batch size must be at least 1", p.n_batch);
    if (p.max_chunks == 0 || p.max_chunks < -1)
        throw_error("--chunks {}: give a number of chunks >= 1, or -1 for all", p.max_chunks);
}

int64_t perplexity_chunks(int64_t n_tokens, const PerplexityParams& p) {
    validate(p);
    if (n_tokens < 2 * p.n_ctx)
        throw_error("the text is {} tokens but perplexity with a context of {} needs at least {} tokens (2 x -c): "
                    "give a longer text{}",
                    n_tokens, p.n_ctx, 2 * p.n_ctx, p.n_ctx > 8 ? " or a smaller -c" : "");
    return whole_chunks(n_tokens, p);
}

int64_t whole_chunks(int64_t n_tokens, const PerplexityParams& p) {
    validate(p);
    if (n_tokens < p.n_ctx)
        throw_error("{} tokens do not fill one chunk of {} (-c): give more tokens{}", n_tokens, p.n_ctx,
                    p.n_ctx > 8 ? " or a smaller -c" : "");
    const int64_t n = n_tokens / p.n_ctx;
    return p.max_chunks < 0 ? n : std::min(n, p.max_chunks);
}

void for_each_scored_row(LogitsSource& source, const std::function<void()>& clear, std::span<const int32_t> tokens,
                         const PerplexityParams& p, int64_t n_vocab, const ScoredRowFn& on_row,
                         const std::function<void(int64_t chunk)>& on_chunk_done) {
    const int64_t n_chunk = whole_chunks(static_cast<int64_t>(tokens.size()), p);
    if (n_vocab < 1) throw_error("perplexity: vocabulary size {} is invalid", n_vocab);
    const int64_t n_ctx = p.n_ctx;
    const int64_t n_batch = std::min(p.n_batch, n_ctx);
    const int64_t first = n_ctx / 2;
    std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
    std::vector<float> logits;  // rows first .. n_ctx-2 of the current chunk
    const size_t nv = static_cast<size_t>(n_vocab);
    for (int64_t c = 0; c < n_chunk; ++c) {
        const int32_t* src = tokens.data() + c * n_ctx;
        std::copy(src, src + n_ctx, chunk.begin());
        if (p.bos_id >= 0) chunk[0] = p.bos_id;
        clear();
        if (source.n_past() != 0) throw_error("perplexity: the context is not empty at the start of chunk {}", c + 1);
        logits.assign(static_cast<size_t>(n_ctx - 1 - first) * nv, 0.0f);
        for (int64_t b = 0; b < n_ctx; b += n_batch) {
            const int64_t len = std::min(n_batch, n_ctx - b);
            source.eval(std::span<const int32_t>(chunk.data() + b, static_cast<size_t>(len)), /*all_logits=*/true);
            if (source.n_outputs() != len)
                throw_error("perplexity: the model returned {} logits rows for a batch of {} tokens", source.n_outputs(), len);
            for (int64_t i = 0; i < len; ++i) {
                const int64_t pos = b + i;
                if (pos < first || pos > n_ctx - 2) continue;
                std::span<const float> row = source.logits(i);
                if (static_cast<int64_t>(row.size()) != n_vocab)
                    throw_error("perplexity: a logits row has {} entries, the vocabulary {}", row.size(), n_vocab);
                for (float v : row)
                    if (!std::isfinite(v))
                        throw_error("perplexity: the model produced a non-finite logit in chunk {} at position {}", c + 1, pos);
                std::copy(row.begin(), row.end(), logits.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(pos - first) * nv));
            }
        }
        for (int64_t j = first; j <= n_ctx - 2; ++j) {
            std::span<const float> row(logits.data() + static_cast<size_t>(j - first) * nv, nv);
            on_row(c, j, row, src[j + 1]);
        }
        if (on_chunk_done) on_chunk_done(c);
    }
}

PerplexityResult compute_perplexity(LogitsSource& source, const std::function<void()>& clear,
                                    std::span<const int32_t> tokens, const PerplexityParams& p, int64_t n_vocab,
                                    const std::function<void(int64_t chunk, const NllStats&)>& on_chunk,
                                    const ScoredRowFn& on_row) {
    PerplexityResult r;
    r.n_chunk = perplexity_chunks(static_cast<int64_t>(tokens.size()), p);
    for_each_scored_row(
        source, clear, tokens, p, n_vocab,
        [&](int64_t c, int64_t pos, std::span<const float> row, int32_t next) {
            r.stats.add(token_nll(row, next));
            if (on_row) on_row(c, pos, row, next);
        },
        [&](int64_t c) {
            r.running_ppl.push_back(r.stats.ppl());
            if (on_chunk) on_chunk(c, r.stats);
        });
    return r;
}

// ---- KL-divergence base file ----

namespace {
void put_u32(std::vector<uint8_t>& b, uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t get_u32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
           static_cast<uint32_t>(p[3]) << 24;
}
std::optional<uint64_t> base_file_size(uint64_t n_vocab, uint64_t n_ctx, uint64_t n_chunk) {
    auto n_tok = checked_mul(n_ctx, n_chunk);
    auto rows = checked_mul(n_chunk, n_ctx - 1 - n_ctx / 2);
    if (!n_tok || !rows) return std::nullopt;
    auto floats = checked_mul(*rows, n_vocab);
    auto tok_bytes = checked_mul(*n_tok, 4);
    if (!floats || !tok_bytes) return std::nullopt;
    auto f_bytes = checked_mul(*floats, 4);
    if (!f_bytes) return std::nullopt;
    auto s = checked_add(kKlBaseHeaderBytes, *tok_bytes);
    if (!s) return std::nullopt;
    return checked_add(*s, *f_bytes);
}
}  // namespace

KlBaseWriter::KlBaseWriter(const std::string& path, const KlBaseHeader& h, std::span<const int32_t> tokens)
    : path_(path) {
    if (h.n_vocab < 1 || h.n_ctx < 8 || h.n_ctx % 2 != 0 || h.n_chunk < 1)
        throw_error("{}: invalid KL-divergence base header (n_vocab {}, n_ctx {}, n_chunk {})", path, h.n_vocab, h.n_ctx,
                    h.n_chunk);
    const uint64_t n_tok = static_cast<uint64_t>(h.n_ctx) * h.n_chunk;
    if (tokens.size() < n_tok) throw_error("{}: {} tokens given for {} chunks of {}", path, tokens.size(), h.n_chunk, h.n_ctx);
    rows_expected_ = static_cast<uint64_t>(h.n_chunk) * static_cast<uint64_t>(scored_per_chunk(h.n_ctx));
    row_.resize(h.n_vocab);
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_) throw_error("{}: cannot open for writing ({}): check the folder exists and is writable", path, std::strerror(errno));
    std::vector<uint8_t> b(kKlBaseMagic, kKlBaseMagic + 8);
    put_u32(b, kKlBaseVersion);
    put_u32(b, h.n_vocab);
    put_u32(b, h.n_ctx);
    put_u32(b, h.n_chunk);
    put_u32(b, static_cast<uint32_t>(h.bos_id));
    put_u32(b, 0);
    for (uint64_t i = 0; i < n_tok; ++i) put_u32(b, static_cast<uint32_t>(tokens[i]));
    if (std::fwrite(b.data(), 1, b.size(), f_) != b.size())
        throw_error("{}: write failed ({}): check the free disk space", path_, std::strerror(errno));
}

KlBaseWriter::~KlBaseWriter() {
    if (f_) std::fclose(f_);
}

void KlBaseWriter::add_row(std::span<const float> logits) {
    if (rows_written_ >= rows_expected_) throw_error("{}: more scored rows than the header announces", path_);
    log_softmax_row(logits, row_);
    static_assert(sizeof(float) == 4);
    if (std::fwrite(row_.data(), sizeof(float), row_.size(), f_) != row_.size())
        throw_error("{}: write failed ({}): check the free disk space", path_, std::strerror(errno));
    ++rows_written_;
}

void KlBaseWriter::finish() {
    if (rows_written_ != rows_expected_)
        throw_error("{}: {} of {} scored rows written", path_, rows_written_, rows_expected_);
    const bool ok = std::fflush(f_) == 0;
    const bool closed = std::fclose(f_) == 0;
    f_ = nullptr;
    if (!ok || !closed) throw_error("{}: write failed ({}): check the free disk space", path_, std::strerror(errno));
}

KlBaseReader::KlBaseReader(const std::string& path) : path_(path) {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) throw_error("{}: cannot read the KL-divergence base file ({}): give the file written by --kl-divergence-base", path, ec.message());
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_) throw_error("{}: cannot open ({})", path, std::strerror(errno));
    uint8_t hdr[kKlBaseHeaderBytes];
    if (size < kKlBaseHeaderBytes || std::fread(hdr, 1, sizeof hdr, f_) != sizeof hdr)
        throw_error("{}: {} bytes is too short for a KL-divergence base file (header is {} bytes)", path, size,
                    kKlBaseHeaderBytes);
    if (std::memcmp(hdr, kKlBaseMagic, 8) != 0)
        throw_error("{}: not a qlm KL-divergence base file (bad magic): write one with qlm perplexity --kl-divergence-base FILE", path);
    const uint32_t version = get_u32(hdr + 8);
    if (version != kKlBaseVersion)
        throw_error("{}: KL-divergence base file version {} is not supported (this qlm reads version {}): write it again", path,
                    version, kKlBaseVersion);
    h_.n_vocab = get_u32(hdr + 12);
    h_.n_ctx = get_u32(hdr + 16);
    h_.n_chunk = get_u32(hdr + 20);
    h_.bos_id = static_cast<int32_t>(get_u32(hdr + 24));
    if (get_u32(hdr + 28) != 0) throw_error("{}: reserved header field is not 0: the file is corrupt", path);
    if (h_.n_vocab < 1 || h_.n_vocab > (1u << 24))
        throw_error("{}: header n_vocab {} is out of range (1..16777216): the file is corrupt", path, h_.n_vocab);
    if (h_.n_ctx < 8 || h_.n_ctx % 2 != 0 || h_.n_ctx > (1u << 24))
        throw_error("{}: header n_ctx {} is invalid (even, 8..16777216): the file is corrupt", path, h_.n_ctx);
    if (h_.n_chunk < 1) throw_error("{}: header n_chunk is 0: the file is corrupt", path);
    if (h_.bos_id < -1 || (h_.bos_id >= 0 && static_cast<uint32_t>(h_.bos_id) >= h_.n_vocab))
        throw_error("{}: header bos_id {} is outside the vocabulary of {}: the file is corrupt", path, h_.bos_id, h_.n_vocab);
    const auto want = base_file_size(h_.n_vocab, h_.n_ctx, h_.n_chunk);
    if (!want || *want != size)
        throw_error("{}: the file is {} bytes but its header (n_vocab {}, n_ctx {}, n_chunk {}) needs {}: the file is "
                    "truncated or corrupt",
                    path, size, h_.n_vocab, h_.n_ctx, h_.n_chunk, want ? fmt::format("{}", *want) : std::string("more"));
    const size_t n_tok = static_cast<size_t>(h_.n_ctx) * h_.n_chunk;  // bounded by the file size check
    std::vector<uint8_t> raw(n_tok * 4);
    if (std::fread(raw.data(), 1, raw.size(), f_) != raw.size()) throw_error("{}: read failed while reading the tokens", path);
    tokens_.resize(n_tok);
    for (size_t i = 0; i < n_tok; ++i) {
        const uint32_t v = get_u32(raw.data() + 4 * i);
        if (v >= h_.n_vocab)
            throw_error("{}: token {} at index {} is outside the vocabulary of {}: the file is corrupt", path, v, i, h_.n_vocab);
        tokens_[i] = static_cast<int32_t>(v);
    }
    rows_total_ = static_cast<uint64_t>(h_.n_chunk) * static_cast<uint64_t>(scored_per_chunk(h_.n_ctx));
    row_.resize(h_.n_vocab);
}

KlBaseReader::~KlBaseReader() {
    if (f_) std::fclose(f_);
}

std::span<const float> KlBaseReader::next_row() {
    if (rows_read_ >= rows_total_) throw_error("{}: read past the last of {} log-prob rows", path_, rows_total_);
    if (std::fread(row_.data(), sizeof(float), row_.size(), f_) != row_.size())
        throw_error("{}: read failed at log-prob row {}: the file is truncated", path_, rows_read_);
    double s = 0.0;
    for (float v : row_) {
        if (std::isnan(v) || v > 1e-3f)
            throw_error("{}: log-prob row {} holds {} (log-probs are <= 0): the file is corrupt", path_, rows_read_, v);
        s += std::exp(static_cast<double>(v));
    }
    if (std::fabs(s - 1.0) > 1e-3)
        throw_error("{}: log-prob row {} has probabilities summing to {:.6f}, not 1: the file is corrupt", path_, rows_read_, s);
    ++rows_read_;
    return row_;
}

// ---- KL divergence ----

void KldStats::add(std::span<const float> base, std::span<const float> logits, int32_t next) {
    if (base.size() != logits.size() || next < 0 || static_cast<size_t>(next) >= logits.size())
        throw_error("KL divergence: base row of {} entries, logits of {}, token {}", base.size(), logits.size(), next);
    std::vector<float> q(logits.size());
    log_softmax_row(logits, q);
    const size_t t = static_cast<size_t>(next);
    const double nll_q = -static_cast<double>(q[t]);
    const double nll_b = -static_cast<double>(base[t]);
    nll.add(nll_q);
    nll_base.add(nll_b);
    sum_nll_nll_base += nll_q * nll_b;
    double kld = 0.0;
    for (size_t i = 0; i < q.size(); ++i) {
        const double pb = std::exp(static_cast<double>(base[i]));
        if (pb > 0.0) kld += pb * (static_cast<double>(base[i]) - static_cast<double>(q[i]));
    }
    sum_kld += kld;
    sum_kld2 += kld * kld;
    if (argmax(q) == argmax(base)) ++n_same_top;
    const double p_diff = std::exp(-nll_q) - std::exp(-nll_b);
    sum_p_diff += p_diff;
    sum_p_diff2 += p_diff * p_diff;
    sum_p_diff4 += p_diff * p_diff * p_diff * p_diff;
    kld_values.push_back(static_cast<float>(kld));
    p_diff_values.push_back(static_cast<float>(p_diff));
    ++count;
}

MeanUnc mean_and_uncertainty(double sum, double sum2, int64_t count) {
    if (count < 1) return {};
    const double n = static_cast<double>(count);
    const double f = sum / n;
    double df = sum2 / n - f * f;
    df = df > 0 && count > 10 ? std::sqrt(df / (n - 1)) : 0.0;
    return {f, df};
}

double covariance_of_means(double suma, double sumb, double sumab, int64_t count) {
    if (count < 10) return 0.0;
    const double n = static_cast<double>(count);
    return (sumab / n - (suma / n) * (sumb / n)) / (n - 1);
}

}  // namespace qlm
