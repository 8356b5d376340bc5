#include "clove/config/runtime.hpp"

#include <sodium.h>

#include <cstdio>

namespace clove::config {

namespace {
std::string Sha256HexOf(std::string_view s) {
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(s.data()), s.size());
    std::string hex(crypto_hash_sha256_BYTES * 2, '0');
    static const char* kDigits = "0123456789abcdef";
    for (size_t i = 0; i < crypto_hash_sha256_BYTES; ++i) {
        hex[2 * i] = kDigits[d[i] >> 4];
        hex[2 * i + 1] = kDigits[d[i] & 15];
    }
    return hex;
}
}  // namespace

RuntimeState FromConfig(const Config& c) {
    RuntimeState st;
    int n = 0;
    for (const auto& u : c.upstreams) {
        UpstreamSpec spec;
        spec.id = "cfg-upstream-" + std::to_string(n++);
        spec.config = u;
        spec.config.api_key.clear();
        spec.config.api_keys.clear();
        spec.priority = u.priority;
        spec.weight = u.weight;
        spec.credential_concurrency = u.credential_concurrency;
        if (u.auth == UpstreamAuth::kKey) {
            int k = 0;
            if (!u.api_key.empty()) {
                spec.credentials.push_back({spec.id + "-key", u.api_key, true, "valid", std::nullopt, std::nullopt});
            }
            for (const auto& extra : u.api_keys) {
                spec.credentials.push_back(
                    {spec.id + "-key" + std::to_string(++k), extra, true, "valid", std::nullopt, std::nullopt});
            }
        }
        st.upstreams.push_back(std::move(spec));
    }
    n = 0;
    for (const auto& k : c.client_keys) {
        ClientKeySpec spec;
        spec.id = "cfg-key-" + std::to_string(n++);
        spec.name = k.name;
        spec.hash_hex = Sha256HexOf(k.key);
        st.client_keys.push_back(std::move(spec));
    }
    return st;
}

}  // namespace clove::config
