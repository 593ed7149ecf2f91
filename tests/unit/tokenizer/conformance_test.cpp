// llama.cpp's tokenizer conformance data: every case of ../shared/models/vocab/*.inp must encode
// (no BOS, parse_special off) to exactly the ids on the matching line of the .out file.
#include <gtest/gtest.h>

#include <sstream>

#include "src/gguf/gguf_file.h"
#include "src/tokenizer/tokenizer.h"
#include "common/test_support.h"
#include "vocab_params.h"

namespace {

struct Case {
    std::string text;
    std::vector<int32_t> ids;
};

// As llama.cpp's test-tokenizer-0: cases separated by "\n__ggml_vocab_test__\n"; .out lines
// stripped, ids separated by single spaces.
std::vector<Case> read_cases(const std::string& vocab) {
    const auto inp = qlm::test::read_text(qlm::test::shared_file("models/vocab/" + vocab + ".inp"));
    const auto out = qlm::test::read_text(qlm::test::shared_file("models/vocab/" + vocab + ".out"));
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    for (size_t pos = 0; pos < inp.size();) {
        const size_t next = inp.find(sep, pos);
        if (next == std::string::npos) {
            texts.push_back(inp.substr(pos));
            break;
        }
        texts.push_back(inp.substr(pos, next - pos));
        pos = next + sep.size();
    }
    std::vector<std::vector<int32_t>> ids;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream nums(line);
        std::vector<int32_t> v;
        for (long x; nums >> x;) v.push_back(static_cast<int32_t>(x));
        ids.push_back(std::move(v));
    }
    EXPECT_EQ(texts.size(), ids.size()) << vocab;
    std::vector<Case> cases;
    for (size_t i = 0; i < texts.size() && i < ids.size(); ++i) cases.push_back({texts[i], ids[i]});
    return cases;
}

std::string show(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += std::to_string(id) + " ";
    return s;
}

std::string escaped(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else out += c;
    }
    return out;
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, EncodesEveryCaseLikeLlamaCpp) {
    const std::string vocab = "ggml-vocab-" + GetParam() + ".gguf";
    auto file = qlm::gguf::GgufFile::open(qlm::test::shared_file("models/vocab/" + vocab).string());
    auto tok = qlm::Tokenizer::from_gguf(*file);
    const auto cases = read_cases(vocab);
    ASSERT_EQ(cases.size(), 46u);
    int passed = 0;
    for (const Case& c : cases) {
        const auto got = tok->encode(c.text, {.add_bos = false, .add_eos = false, .parse_special = false});
        if (got == c.ids) {
            ++passed;
        } else {
            ADD_FAILURE() << vocab << ": '" << escaped(c.text) << "'\n  expected: " << show(c.ids)
                          << "\n  got:      " << show(got);
        }
    }
    std::printf("[ %s ] %d/%zu cases match\n", GetParam().c_str(), passed, cases.size());
}

// Byte-level BPE and SentencePiece with byte fallback lose nothing: decoding the expected ids
// gives the input back (SPM: its added space prefix dropped).
TEST_P(Conformance, DecodeOfExpectedIdsRoundTrips) {
    const std::string vocab = "ggml-vocab-" + GetParam() + ".gguf";
    auto file = qlm::gguf::GgufFile::open(qlm::test::shared_file("models/vocab/" + vocab).string());
    auto tok = qlm::Tokenizer::from_gguf(*file);
    for (const Case& c : read_cases(vocab)) {
        EXPECT_EQ(escaped(tok->decode(c.ids)), escaped(c.text)) << vocab << " ids " << show(c.ids);
        EXPECT_EQ(escaped(tok->decode(tok->encode(c.text, {}))), escaped(c.text)) << vocab;
    }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, Conformance, qlm::test::reference_vocabs(), qlm::test::vocab_param_name);

}  // namespace
