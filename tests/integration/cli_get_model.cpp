// scripts/get-model.sh: copies from the mirror, verifies sha256, is idempotent, deletes a bad file;
// the shipped default model needs no network (scripts/setup.sh's first generation included), and
// a mirror-only model says so.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/test_support.h"

namespace qlm {
namespace {

namespace fs = std::filesystem;

test::CommandResult get_model(const fs::path& mirror, const fs::path& dest, const std::string& name,
                              const std::string& extra = "") {
    std::vector<std::string> argv{"/usr/bin/env", "QLM_MODEL_MIRROR=" + mirror.string(), "QLM_MODELS_DIR=" + dest.string(),
                                  (test::source_dir() / "scripts" / "get-model.sh").string()};
    if (!extra.empty()) argv.push_back(extra);
    argv.push_back(name);
    return test::run_command(argv, "", 120);
}

// stories260K-Q8_0: a catalog entry that is not shipped, so the mirror is its first source.
TEST(GetModel, CopiesFromTheMirrorAndVerifies) {
    auto mirror = test::shared_file("models/stories260K-Q8_0.gguf").parent_path();
    auto dest = test::temp_dir("get-model");
    auto r = get_model(mirror, dest, "stories260K-Q8_0");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("copying " + (mirror / "stories260K-Q8_0.gguf").string()), std::string::npos) << r.err;
    EXPECT_EQ(test::read_bytes(dest / "stories260K-Q8_0.gguf"), test::read_bytes(mirror / "stories260K-Q8_0.gguf"));
    // idempotent: a second run keeps the verified file
    auto again = get_model(mirror, dest, "stories260K-Q8_0");
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_NE(again.err.find("already present"), std::string::npos) << again.err;
}

TEST(GetModel, BadFileIsDeletedAndUnknownNamesFail) {
    auto mirror = test::temp_dir("get-model-bad-mirror");
    std::string junk = "not the model";
    test::write_bytes(mirror / "stories260K-Q8_0.gguf", std::vector<uint8_t>(junk.begin(), junk.end()));
    auto dest = test::temp_dir("get-model-bad");
    auto r = get_model(mirror, dest, "stories260K-Q8_0");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("sha256 mismatch"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dest / "stories260K-Q8_0.gguf"));
    EXPECT_FALSE(fs::exists(dest / "stories260K-Q8_0.gguf.part"));

    auto u = get_model(mirror, dest, "no-such-model");
    EXPECT_NE(u.exit_code, 0);
    EXPECT_NE(u.err.find("not in the catalog"), std::string::npos) << u.err;
}

// A PATH whose curl cannot connect (as on a machine that reaches no model host) and an empty
// mirror: the environment of a first setup without network access.
std::vector<std::string> offline_env(const fs::path& dir) {
    const fs::path bin = dir / "bin";
    fs::create_directories(bin);
    const std::string fake = "#!/bin/sh\necho 'curl: (7) Failed to connect' >&2\nexit 7\n";
    test::write_bytes(bin / "curl", std::vector<uint8_t>(fake.begin(), fake.end()));
    chmod((bin / "curl").c_str(), 0755);
    fs::create_directories(dir / "empty-mirror");
    const char* path = std::getenv("PATH");
    return {"/usr/bin/env", "-u", "QLM_MODELS_DIR", "PATH=" + bin.string() + ":" + (path ? path : "/usr/bin:/bin"),
            "QLM_MODEL_MIRROR=" + (dir / "empty-mirror").string()};
}

TEST(GetModel, ShippedDefaultModelNeedsNoNetwork) {
    const fs::path shipped = test::source_dir() / "models" / "stories260K.gguf";
    ASSERT_TRUE(fs::exists(shipped)) << shipped;
    EXPECT_EQ(test::read_bytes(shipped), test::read_bytes(test::shared_file("models/stories260K-F32.gguf")));
    const auto dir = test::temp_dir("get-model-offline");

    // setup.sh's model step and first generation, offline.
    auto argv = offline_env(dir);
    argv.insert(argv.end(), {"QLM_BIN=" + test::qlm_bin().string(), (test::source_dir() / "scripts" / "setup.sh").string(),
                             "--run-only"});
    auto s = test::run_command(argv, "", 300);
    ASSERT_EQ(s.exit_code, 0) << s.err;
    EXPECT_NE(s.out.find("Once upon a time, there was a little girl named Lily."), std::string::npos) << s.out;
    EXPECT_NE(s.err.find("already present, sha256 ok"), std::string::npos) << s.err;
    EXPECT_EQ(s.err.find("download"), std::string::npos) << s.err;

    // get-model into another folder copies the shipped file, still offline.
    argv = offline_env(dir);
    argv.insert(argv.end(), {"QLM_MODELS_DIR=" + (dir / "models").string(),
                             (test::source_dir() / "scripts" / "get-model.sh").string(), "stories260K"});
    auto g = test::run_command(argv, "", 120);
    ASSERT_EQ(g.exit_code, 0) << g.err;
    EXPECT_NE(g.err.find("copying " + shipped.string()), std::string::npos) << g.err;
    EXPECT_EQ(test::read_bytes(dir / "models" / "stories260K.gguf"), test::read_bytes(shipped));
}

TEST(GetModel, MirrorOnlyModelSaysSo) {
    const auto dir = test::temp_dir("get-model-mirror-only");
    auto argv = offline_env(dir);
    argv.insert(argv.end(), {"QLM_MODELS_DIR=" + (dir / "models").string(),
                             (test::source_dir() / "scripts" / "get-model.sh").string(), "kjv-8M"});
    auto r = test::run_command(argv, "", 120);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("get-model: error: kjv-8M is mirror-only (no public download)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("has no kjv-8M-F32.gguf"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("curl"), std::string::npos) << r.err;  // no download was tried
    // Without any mirror: the same line, naming the variable to set.
    auto u = test::run_command({"/usr/bin/env", "-u", "QLM_MODEL_MIRROR", "QLM_MODELS_DIR=" + (dir / "models").string(),
                                (test::source_dir() / "scripts" / "get-model.sh").string(), "kjv-8M"},
                               "", 120);
    EXPECT_EQ(u.exit_code, 1);
    EXPECT_NE(u.err.find("kjv-8M is mirror-only (no public download): set QLM_MODEL_MIRROR"), std::string::npos) << u.err;
    // --list names each model's source.
    auto l = test::run_command({(test::source_dir() / "scripts" / "get-model.sh").string(), "--list"});
    ASSERT_EQ(l.exit_code, 0) << l.err;
    EXPECT_NE(l.out.find("mirror-only"), std::string::npos) << l.out;
}

TEST(GetModel, EntriesWithoutSha256NeedNoVerify) {
    auto dest = test::temp_dir("get-model-noverify");
    auto r = get_model(dest, dest, "tinyllama-1.1b-chat-q8_0");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("--no-verify"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace qlm
