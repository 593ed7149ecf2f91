// libFuzzer target: arbitrary text through the tokenizers of the real vocabularies in
// $QLM_SHARED_DIR/models/vocab (and stories260K's). Input: byte 0 picks the vocabulary, byte 1 the
// options (add_bos, add_eos, parse_special, render_special), the rest is the text. The text is
// encoded and decoded, and its bytes are also read as token ids for decode/token_to_piece (ids
// outside the vocabulary must be a qlm::Error). Invariants checked: every encoded id is inside
// the vocabulary; decode(encode(text)) of SentencePiece/BPE vocabs never throws.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "src/gguf/gguf_file.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/error.h"

namespace {

using namespace qlm;

struct Vocab {
    std::string name;
    std::unique_ptr<gguf::GgufFile> file;
    std::unique_ptr<Tokenizer> tok;
};

std::vector<Vocab>& vocabs() {
    static std::vector<Vocab> v;
    return v;
}

void load_vocabs() {
    const char* env = std::getenv("QLM_SHARED_DIR");
    const std::filesystem::path shared = env && *env ? env : QLM_SHARED_DIR_DEFAULT;
    std::vector<std::filesystem::path> paths;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(shared / "models" / "vocab", ec))
        if (e.path().extension() == ".gguf") paths.push_back(e.path());
    paths.push_back(shared / "models" / "stories260K-F32.gguf");
    std::sort(paths.begin(), paths.end());  // byte 0 -> the same vocabulary on every machine
    for (const auto& p : paths) {
        if (!std::filesystem::exists(p)) continue;
        Vocab v;
        v.name = p.filename().string();
        try {
            v.file = gguf::GgufFile::open(p.string());
            v.tok = Tokenizer::from_gguf(*v.file);
        } catch (const Error& e) {  // e.g. bert-bge: a tokenizer model qlm does not read
            std::fprintf(stderr, "fuzz_tokenizer: skipping %s: %s\n", v.name.c_str(), e.what());
            continue;
        }
        vocabs().push_back(std::move(v));
    }
    if (vocabs().empty()) {
        std::fprintf(stderr, "fuzz_tokenizer: no vocabularies under %s/models/vocab (set QLM_SHARED_DIR)\n",
                     shared.c_str());
        std::exit(2);
    }
    std::fprintf(stderr, "fuzz_tokenizer: %zu vocabularies\n", vocabs().size());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    load_vocabs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const Vocab& v = vocabs()[data[0] % vocabs().size()];
    const Tokenizer& tok = *v.tok;
    const uint8_t flags = data[1];
    const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);

    EncodeOptions eo;
    eo.add_bos = flags & 1;
    eo.add_eos = flags & 2;
    eo.parse_special = flags & 4;
    const bool render_special = flags & 8;
    std::vector<int32_t> ids = tok.encode(text, eo);
    for (int32_t id : ids)
        if (id < 0 || id >= tok.n_vocab()) {
            std::fprintf(stderr, "%s: encode produced id %d outside the vocabulary of %lld\n", v.name.c_str(), id,
                         static_cast<long long>(tok.n_vocab()));
            std::abort();
        }
    (void)tok.decode(ids, render_special);
    Utf8Stream stream;
    for (int32_t id : ids) (void)stream.push(tok.token_to_piece(id, render_special));
    (void)stream.flush();

    // The text's bytes as little-endian int32 token ids (possibly out of range or negative).
    std::vector<int32_t> raw(text.size() / 4);
    if (!raw.empty()) std::memcpy(raw.data(), text.data(), raw.size() * 4);
    try {
        (void)tok.decode(raw, render_special);
    } catch (const Error&) {
    }
    for (int32_t id : raw) {
        try {
            (void)tok.token_to_piece(id, render_special);
        } catch (const Error&) {
        }
        (void)tok.is_end_of_generation(id);
    }
    return 0;
}
