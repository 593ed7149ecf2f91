// scripts/get-model.sh: copies from the mirror, verifies sha256, is idempotent, deletes a bad file.
#include <gtest/gtest.h>

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

TEST(GetModel, CopiesFromTheMirrorAndVerifies) {
    auto mirror = test::shared_file("models/stories260K-F32.gguf").parent_path();
    auto dest = test::temp_dir("get-model");
    auto r = get_model(mirror, dest, "stories260K");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(test::read_bytes(dest / "stories260K.gguf"), test::read_bytes(mirror / "stories260K-F32.gguf"));
    // idempotent: a second run keeps the verified file
    auto again = get_model(mirror, dest, "stories260K");
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_NE(again.err.find("already present"), std::string::npos) << again.err;
}

TEST(GetModel, BadFileIsDeletedAndUnknownNamesFail) {
    auto mirror = test::temp_dir("get-model-bad-mirror");
    std::string junk = "not the model";
    test::write_bytes(mirror / "stories260K-F32.gguf", std::vector<uint8_t>(junk.begin(), junk.end()));
    auto dest = test::temp_dir("get-model-bad");
    auto r = get_model(mirror, dest, "stories260K");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("sha256 mismatch"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dest / "stories260K.gguf"));
    EXPECT_FALSE(fs::exists(dest / "stories260K.gguf.part"));

    auto u = get_model(mirror, dest, "no-such-model");
    EXPECT_NE(u.exit_code, 0);
    EXPECT_NE(u.err.find("not in the catalog"), std::string::npos) << u.err;
}

TEST(GetModel, EntriesWithoutSha256NeedNoVerify) {
    auto dest = test::temp_dir("get-model-noverify");
    auto r = get_model(dest, dest, "tinyllama-1.1b-chat-q8_0");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("--no-verify"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace qlm
