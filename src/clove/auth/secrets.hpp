#pragma once

// Secrets at rest and key material: upstream credentials are sealed with libsodium's
// XChaCha20-Poly1305 (the row id as associated data, so ciphertexts cannot be swapped between
// rows); client and admin keys are stored as SHA-256 hashes; generated keys carry 256 bits of
// randomness in base62.

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace clove::auth {

/// The 32-byte master key for sealing credentials. Never stored in the database.
class SecretBox {
public:
    /// From `CLOVE_SECRET_KEY` (64 hex characters) when `env_value` is set, else from
    /// `<data_dir>/secret.key`, created with mode 0600 on first use. Throws std::runtime_error.
    static SecretBox Load(const std::optional<std::string>& env_value, const std::string& data_dir);
    static SecretBox FromBytes(const std::array<unsigned char, 32>& key) { return SecretBox(key); }

    SecretBox(const SecretBox&) = default;
    ~SecretBox();

    /// base64(nonce || ciphertext || tag), bound to `associated` (the credential id).
    std::string Seal(std::string_view plaintext, std::string_view associated) const;
    /// The plaintext, or nullopt when the ciphertext was tampered with or belongs to another row.
    std::optional<std::string> Open(std::string_view sealed, std::string_view associated) const;
    /// A keyed hash (BLAKE2b) of a secret, hex: finds duplicates without storing plaintext.
    std::string Fingerprint(std::string_view secret) const;

private:
    explicit SecretBox(const std::array<unsigned char, 32>& key) : key_(key) {}
    std::array<unsigned char, 32> key_;
};

/// Calls sodium_init once; throws when libsodium cannot initialise.
void InitCrypto();

/// `<prefix>` + 43 base62 characters from the CSPRNG (256 bits).
std::string GenerateKey(std::string_view prefix);
/// A random id such as `up_5f3k9a2b1c0d` (12 base62 characters after the prefix).
std::string GenerateId(std::string_view prefix);

/// Lower-case hex SHA-256 of `key`.
std::string Sha256Hex(std::string_view key);
/// A display hint that reveals at most 8 characters: `sk-a…9xQz` (shorter keys show less).
std::string Hint(std::string_view secret);
/// The first 12 characters of a key (what lists show), or fewer for short keys.
std::string DisplayPrefix(std::string_view key);

}  // namespace clove::auth
