#include "clove/auth/secrets.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>


#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace clove::auth {

namespace {

bool HexDecode(std::string_view hex, std::array<unsigned char, 32>& out) {
    if (hex.size() != 64) {
        return false;
    }
    size_t len = 0;
    return sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, nullptr) == 0 && len == 32;
}

std::string HexEncode(const unsigned char* p, size_t n) {
    std::string s(n * 2 + 1, '\0');
    sodium_bin2hex(s.data(), s.size(), p, n);
    s.pop_back();
    return s;
}

constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

std::string RandomBase62(size_t n) {
    std::string s;
    s.reserve(n);
    while (s.size() < n) {
        unsigned char b[64];
        randombytes_buf(b, sizeof b);
        for (unsigned char c : b) {
            if (c < 248 && s.size() < n) {  // 248 = 4 * 62: no modulo bias
                s += kBase62[c % 62];
            }
        }
    }
    return s;
}

}  // namespace

void InitCrypto() {
    static std::once_flag once;
    static bool ok = false;
    std::call_once(once, [] { ok = sodium_init() >= 0; });
    if (!ok) {
        throw std::runtime_error("libsodium failed to initialise");
    }
}

SecretBox::~SecretBox() { sodium_memzero(key_.data(), key_.size()); }

SecretBox SecretBox::Load(const std::optional<std::string>& env_value, const std::string& data_dir) {
    InitCrypto();
    std::array<unsigned char, 32> key{};
    if (env_value && !env_value->empty()) {
        if (!HexDecode(*env_value, key)) {
            throw std::runtime_error("CLOVE_SECRET_KEY must be 64 hex characters (32 bytes)");
        }
        return SecretBox(key);
    }
    const std::string path = data_dir + "/secret.key";
    std::ifstream in(path);
    if (in) {
        std::string hex;
        std::getline(in, hex);
        while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) {
            hex.pop_back();
        }
        if (!HexDecode(hex, key)) {
            throw std::runtime_error(path + ": not a 64-hex-character key");
        }
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
            ::chmod(path.c_str(), 0600);
        }
        return SecretBox(key);
    }
    randombytes_buf(key.data(), key.size());
    std::string hex = HexEncode(key.data(), key.size()) + "\n";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        throw std::runtime_error(path + ": cannot create: " + std::strerror(errno));
    }
    bool ok = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) && ::fsync(fd) == 0;
    ::close(fd);
    sodium_memzero(hex.data(), hex.size());
    if (!ok) {
        ::unlink(path.c_str());
        throw std::runtime_error(path + ": cannot write the secret key");
    }
    return SecretBox(key);
}

std::string SecretBox::Seal(std::string_view plaintext, std::string_view associated) const {
    constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    std::vector<unsigned char> buf(kNonce + plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    randombytes_buf(buf.data(), kNonce);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        buf.data() + kNonce, &clen, reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
        reinterpret_cast<const unsigned char*>(associated.data()), associated.size(), nullptr, buf.data(),
        key_.data());
    const size_t total = kNonce + clen;
    std::string out(sodium_base64_encoded_len(total, sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), buf.data(), total, sodium_base64_VARIANT_ORIGINAL);
    out.pop_back();  // the terminating NUL
    return out;
}

std::optional<std::string> SecretBox::Open(std::string_view sealed, std::string_view associated) const {
    constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    std::vector<unsigned char> bin(sealed.size());
    size_t len = 0;
    if (sodium_base642bin(bin.data(), bin.size(), sealed.data(), sealed.size(), nullptr, &len, nullptr,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len < kNonce + crypto_aead_xchacha20poly1305_ietf_ABYTES) {
        return std::nullopt;
    }
    std::string plain(len - kNonce - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &plen, nullptr,
                                                   bin.data() + kNonce, len - kNonce,
                                                   reinterpret_cast<const unsigned char*>(associated.data()),
                                                   associated.size(), bin.data(), key_.data()) != 0) {
        return std::nullopt;
    }
    plain.resize(plen);
    return plain;
}

std::string SecretBox::Fingerprint(std::string_view secret) const {
    unsigned char out[32];
    crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                       key_.data(), key_.size());
    return HexEncode(out, sizeof out);
}

std::string GenerateKey(std::string_view prefix) {
    InitCrypto();
    return std::string(prefix) + RandomBase62(43);
}

std::string GenerateId(std::string_view prefix) {
    InitCrypto();
    return std::string(prefix) + RandomBase62(12);
}

std::string Sha256Hex(std::string_view key) {
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(key.data()), key.size());
    return HexEncode(d, sizeof d);
}

std::string Hint(std::string_view secret) {
    if (secret.size() >= 16) {
        return std::string(secret.substr(0, 4)) + "\xE2\x80\xA6" + std::string(secret.substr(secret.size() - 4));
    }
    if (secret.size() >= 8) {
        return "\xE2\x80\xA6" + std::string(secret.substr(secret.size() - 2));
    }
    return "\xE2\x80\xA6";
}

std::string DisplayPrefix(std::string_view key) {
    // At most a third of a short key is shown, never more than 12 characters.
    size_t n = std::min<size_t>(12, key.size() / 3);
    return std::string(key.substr(0, n));
}

}  // namespace clove::auth
