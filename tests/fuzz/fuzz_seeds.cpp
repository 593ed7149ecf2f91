// fuzz_seeds OUTDIR: writes small hand-made seed inputs for the fuzz targets (scripts/fuzz.sh
// adds copies of the real files under $QLM_SHARED_DIR at run time):
//   OUTDIR/gguf/    tiny complete models (SentencePiece vocab, 1-2 layers), a vocab-only file
//   OUTDIR/text/    tokenizer inputs: byte 0 = vocabulary, byte 1 = options, then text
//   OUTDIR/templates/ chat templates: a family's published template, 0x00, a conversation
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "src/tokenizer/byte_map.h"
#include "src/chat/chat_template.h"
#include "src/util/error.h"
#include "tests/common/split_gguf.h"
#include "tests/common/tiny_gguf.h"

namespace fs = std::filesystem;

static void put(const fs::path& p, const std::vector<uint8_t>& b) {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz_seeds OUTDIR\n");
        return 2;
    }
    const fs::path out = argv[1];
    fs::create_directories(out / "gguf");
    fs::create_directories(out / "text");
    try {
        qlm::test::TinyModel m;
        put(out / "gguf" / "tiny-1layer.gguf", m.writer().to_bytes());
        m.n_layer = 2;
        m.n_head_kv = 2;
        put(out / "gguf" / "tiny-2layer-mha.gguf", m.writer().to_bytes());
        qlm::test::TinyModel moe;
        moe.n_expert = 4;
        put(out / "gguf" / "tiny-mixtral-4experts.gguf", moe.writer().to_bytes());
        // A model split into three parts, concatenated (fuzz_gguf cuts them apart at the magic).
        put(out / "gguf" / "tiny-split-3parts.gguf", [&] {
            const std::vector<uint8_t> whole = qlm::test::TinyModel{}.writer().to_bytes();
            const auto src = qlm::gguf::GgufFile::parse(whole, "tiny.gguf");
            std::vector<uint8_t> joined;
            for (const auto& part : qlm::test::split_writers(*src, 3)) {
                const auto b = part.to_bytes();
                joined.insert(joined.end(), b.begin(), b.end());
            }
            return joined;
        }());
        put(out / "gguf" / "tiny-alignment-64.gguf", [&] {
            qlm::gguf::GgufWriter a = qlm::test::TinyModel{}.writer();
            a.set_u32("general.alignment", 64);
            return a.to_bytes();
        }());
        // A vocab-only byte-level BPE file: the 256 byte characters, a few merges, special tokens.
        qlm::gguf::GgufWriter b;
        b.set_string("general.architecture", "gpt2");
        b.set_string("tokenizer.ggml.model", "gpt2");
        b.set_string("tokenizer.ggml.pre", "qwen2");
        std::vector<std::string> toks;
        for (int c = 0; c < 256; ++c) toks.push_back(qlm::byte_map::byte_to_utf8(static_cast<uint8_t>(c)));
        for (const char* t : {"he", "ll", "hell", "hello", "\xC4\xA0w", "<|endoftext|>", "<|im_start|>", "<|im_end|>"})
            toks.push_back(t);
        std::vector<int64_t> types(toks.size(), 1);
        types[toks.size() - 3] = types[toks.size() - 2] = types[toks.size() - 1] = 3;
        b.set_string_array("tokenizer.ggml.tokens", toks);
        b.set_int_array("tokenizer.ggml.token_type", qlm::gguf::ValueType::INT32, types);
        b.set_string_array("tokenizer.ggml.merges", {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w"});
        b.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(toks.size() - 3));
        put(out / "gguf" / "tiny-bpe-vocab.gguf", b.to_bytes());
    } catch (const qlm::Error& e) {
        std::fprintf(stderr, "fuzz_seeds: %s\n", e.what());
        return 1;
    }
    const std::vector<std::string> texts = {"Hello world", " <s> hi </s>", "<|endoftext|>x\n\n\t  y",
                                            "\xE2\x96\x81\xC3\xA9\xF0\x9F\x98\x80", "3333 + 4444 = 7777!",
                                            "\xff\xfe\x80 broken utf8"};
    int k = 0;
    for (int vocab = 0; vocab < 12; ++vocab)
        for (const auto& t : texts) {
            std::vector<uint8_t> b = {static_cast<uint8_t>(vocab), static_cast<uint8_t>(k % 16)};
            b.insert(b.end(), t.begin(), t.end());
            put(out / "text" / ("seed-" + std::to_string(k++)), b);
        }
    // Chat templates: each family's published template, then a conversation.
    fs::create_directories(out / "templates");
    const std::string convo = std::string("\0\x01You are terse.\x01Hi \xF0\x9F\x98\x80\x01Hello.\x01Bye", 35);
    for (int f = 0; f < static_cast<int>(qlm::chat::Family::Jinja); ++f) {
        const auto family = static_cast<qlm::chat::Family>(f);
        std::string src(qlm::chat::canonical_source(family));
        src += convo;
        put(out / "templates" / (std::string(qlm::chat::family_name(family)) + ".jinja"),
            std::vector<uint8_t>(src.begin(), src.end()));
    }
    return 0;
}
