#include "clove/auth/secrets.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

using namespace clove;

namespace {
std::string TempDir() {
    auto dir = std::filesystem::temp_directory_path() / ("clove-secrets-" + auth::GenerateId(""));
    std::filesystem::create_directories(dir);
    return dir.string();
}
}  // namespace

TEST(SecretBox, SealsAndOpensBoundToTheRowId) {
    auto box = auth::SecretBox::Load(std::nullopt, TempDir());
    auto sealed = box.Seal("sk-ant-canary-123456", "cred_a");
    EXPECT_EQ(sealed.find("canary"), std::string::npos);
    EXPECT_EQ(box.Open(sealed, "cred_a"), std::optional<std::string>("sk-ant-canary-123456"));
    EXPECT_FALSE(box.Open(sealed, "cred_b"));  // swapped between rows: refused
    auto tampered = sealed;
    tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(box.Open(tampered, "cred_a"));
    EXPECT_NE(box.Seal("x", "id"), box.Seal("x", "id"));  // random nonces
}

TEST(SecretBox, KeyFileIsCreatedPrivateAndReused) {
    auto dir = TempDir();
    auto a = auth::SecretBox::Load(std::nullopt, dir);
    struct stat st {};
    ASSERT_EQ(::stat((dir + "/secret.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto b = auth::SecretBox::Load(std::nullopt, dir);
    EXPECT_EQ(b.Open(a.Seal("secret", "id"), "id"), std::optional<std::string>("secret"));
    EXPECT_EQ(a.Fingerprint("k"), b.Fingerprint("k"));
}

TEST(SecretBox, EnvKeyMustBe64Hex) {
    EXPECT_THROW(auth::SecretBox::Load(std::string("abc"), TempDir()), std::runtime_error);
    auto box = auth::SecretBox::Load(std::string(64, 'a'), TempDir());
    EXPECT_EQ(box.Open(box.Seal("v", "i"), "i"), std::optional<std::string>("v"));
}

TEST(Keys, GeneratedKeysAreLongRandomAndPrefixed) {
    auto k1 = auth::GenerateKey("clv_");
    auto k2 = auth::GenerateKey("clv_");
    EXPECT_EQ(k1.size(), 47u);
    EXPECT_EQ(k1.rfind("clv_", 0), 0u);
    EXPECT_NE(k1, k2);
    EXPECT_EQ(auth::Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(auth::Hint("sk-ant-api03-abcdefgh9xQz"), "sk-a\xE2\x80\xA6" "9xQz");
    EXPECT_EQ(auth::Hint("short"), "\xE2\x80\xA6");
    EXPECT_EQ(auth::DisplayPrefix(k1), k1.substr(0, 12));
    EXPECT_EQ(auth::DisplayPrefix("ck-alice-123"), "ck-a");
}
