#include "clove/proxy/snapshot.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <stdexcept>

#include "clove/base/glob.hpp"

namespace clove::proxy {

KeyDigest DigestKey(std::string_view key) {
    KeyDigest d{};
    SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), d.data());
    return d;
}

std::shared_ptr<const Snapshot> Snapshot::Build(const config::Config& config) {
    auto s = std::make_shared<Snapshot>();
    for (const auto& u : config.upstreams) {
        auto peer = upstream::ParseBaseUrl(u.base_url);
        if (!peer) {
            throw std::runtime_error("upstream \"" + u.name + "\": base_url \"" + u.base_url + "\" is not a valid URL");
        }
        UpstreamRuntime rt{u, *peer, {}};
        if (u.auth == config::UpstreamAuth::kKey) {
            rt.auth_header = "x-api-key: " + u.api_key + "\r\n";
        }
        s->upstreams.push_back(std::move(rt));
    }
    for (const auto& k : config.client_keys) {
        s->client_keys.emplace(DigestKey(k.key), k.name);
    }
    return s;
}

const UpstreamRuntime* Snapshot::Route(std::string_view model) const {
    for (const auto& u : upstreams) {
        if (u.config.model_map.count(std::string(model)) > 0) {
            return &u;
        }
        for (const auto& glob : u.config.models) {
            if (base::GlobMatch(glob, model)) {
                return &u;
            }
        }
    }
    return nullptr;
}

std::optional<std::string_view> Snapshot::Authenticate(std::string_view presented) const {
    KeyDigest d = DigestKey(presented);
    auto it = client_keys.find(d);
    if (it == client_keys.end()) {
        return std::nullopt;
    }
    // The map lookup compares digests, not keys; confirm in constant time all the same.
    if (CRYPTO_memcmp(it->first.data(), d.data(), d.size()) != 0) {
        return std::nullopt;
    }
    return std::string_view(it->second);
}

}  // namespace clove::proxy
