// The real qlm binary on malformed GGUF files (malformed_gguf.h): `qlm info FILE` and
// `qlm run -m FILE -n 1 -p hi` (and `qlm quantize` for the vulnerability classes) never die by a
// signal, never hang, never print a sanitizer report (asan preset), and refuse structural defects
// with exit 1 and exactly one stderr line that names the file and the problem.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "malformed_gguf.h"

namespace qlm::test {
namespace {

constexpr int kTimeoutS = 60;  // generous for the asan build; a hang is killed and fails

size_t count_lines(const std::string& s) {
    size_t n = 0;
    for (char c : s) n += c == '\n';
    if (!s.empty() && s.back() != '\n') ++n;
    return n;
}

void check(const std::string& what, Expect expect, const std::vector<std::string>& args, const std::string& path,
           const std::string& mention) {
    std::vector<std::string> argv{qlm_bin().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandResult r = run_command(argv, "", kTimeoutS);
    SCOPED_TRACE("qlm " + what + "\nexit " + std::to_string(r.exit_code) + "\nstderr: " + r.err);
    ASSERT_NE(r.exit_code, 137) << "killed: timed out after " << kTimeoutS << " s, or by SIGKILL";
    ASSERT_LT(r.exit_code, 128) << "died by signal " << r.exit_code - 128;
    EXPECT_EQ(r.err.find("Sanitizer"), std::string::npos);
    EXPECT_EQ(r.err.find("runtime error:"), std::string::npos);
    EXPECT_EQ(r.err.find("terminate called"), std::string::npos);
    if (expect == Expect::Loads || (expect == Expect::Either && r.exit_code == 0)) {
        EXPECT_EQ(r.exit_code, 0);
        return;
    }
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(count_lines(r.err), 1u);
    EXPECT_EQ(r.err.rfind("qlm: error: ", 0), 0u);
    // A bit flip may also make a valid file whose values clash with the flags (say, a context
    // length below -c 16); structural refusals always name the file.
    if (expect == Expect::Refused) {
        EXPECT_NE(r.err.find(path), std::string::npos) << "the message does not name the file";
    }
    if (!mention.empty()) {
        EXPECT_NE(r.err.find(mention), std::string::npos) << "the message does not mention '" << mention << "'";
    }
}

std::vector<MalformedCase> all_cases() {
    std::vector<MalformedCase> c = vulnerability_cases();
    for (auto& t : truncation_cases()) c.push_back(std::move(t));
    for (auto& f : bit_flip_cases(shared_dir(), 24)) c.push_back(std::move(f));
    return c;
}

std::string test_name(const std::string& s) {
    std::string r;
    for (char ch : s) r += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    return r;
}

class MalformedGguf : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedGguf, CliRefusesCleanly) {
    const MalformedCase& c = GetParam();
    const auto dir = temp_dir("malformed-" + test_name(c.name));
    const std::string path = (dir / (c.name + ".gguf")).string();
    write_bytes(path, c.bytes);
    check("info " + path, c.info, {"info", path}, path, c.mention);
    check("run -m " + path, c.run, {"run", "-m", path, "-n", "1", "-p", "hi", "-c", "16", "-t", "1"}, path, c.mention);
    if (c.cve) {
        const std::string out = (dir / "out.gguf").string();
        check("quantize " + path, c.quantize, {"quantize", path, out, "q8_0", "-t", "1"}, path, c.mention);
    }
}

INSTANTIATE_TEST_SUITE_P(Corpus, MalformedGguf, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<MalformedCase>& i) { return test_name(i.param.name); });

TEST(MalformedGgufCorpus, CoversEveryVulnerabilityClassAndEveryHeaderField) {
    std::vector<std::string> names;
    for (const auto& c : vulnerability_cases()) names.push_back(c.name);
    for (const char* cls : {"CVE-2024-21802", "CVE-2024-21825", "CVE-2024-21836", "CVE-2024-23496", "CVE-2024-23605",
                            "CVE-2025-53630", "CVE-2026-27940", "CVE-2026-33298", "CVE-2026-7482", "empty_key",
                            "zero_dimension", "alignment", "block_count", "tokens_wrong_element_type",
                            "token_id_out_of_range", "byte_token"}) {
        bool found = false;
        for (const auto& n : names) found = found || n.find(cls) != std::string::npos;
        EXPECT_TRUE(found) << "no case for " << cls;
    }
    const auto trunc = truncation_cases();
    for (uint64_t p = 0; p < 24; ++p) {  // every byte of the 24-byte header
        bool found = false;
        for (const auto& t : trunc) found = found || t.bytes.size() == p;
        EXPECT_TRUE(found) << "no truncation at " << p;
    }
    EXPECT_GT(trunc.size(), 100u);
}

}  // namespace
}  // namespace qlm::test
