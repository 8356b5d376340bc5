#include "clove/proxy/snapshot.hpp"

#include <sodium.h>

#include <algorithm>
#include <stdexcept>

#include "clove/base/glob.hpp"
#include "clove/upstream/response_parser.hpp"

namespace clove::proxy {

KeyDigest DigestKey(std::string_view key) {
    // libsodium's SHA-256: no context allocation or algorithm lookup per call (OpenSSL 3's EVP
    // has both), and OpenSSL is not initialised until a TLS upstream needs it.
    KeyDigest d{};
    crypto_hash_sha256(d.data(), reinterpret_cast<const unsigned char*>(key.data()), key.size());
    return d;
}

bool DigestFromHex(std::string_view hex, KeyDigest& out) {
    if (hex.size() != 64) {
        return false;
    }
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (size_t i = 0; i < 32; ++i) {
        int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    return true;
}

std::string_view PresentedKey(const http::Request& req) {
    auto key = req["x-api-key"];
    if (!key.empty()) {
        return key;
    }
    auto auth = req[boost::beast::http::field::authorization];
    if (auth.size() > 7 && upstream::EqualsIgnoreCase(auth.substr(0, 7), "bearer ")) {
        auto token = auth.substr(7);
        while (!token.empty() && token.front() == ' ') {
            token.remove_prefix(1);
        }
        return token;
    }
    return {};
}

bool ClientKeyRuntime::AllowsModel(std::string_view model) const {
    if (allowed_models.empty()) {
        return true;
    }
    return std::any_of(allowed_models.begin(), allowed_models.end(),
                       [&](const std::string& g) { return base::GlobMatch(g, model); });
}

std::shared_ptr<const Snapshot> Snapshot::Build(const config::RuntimeState& state, routing::HealthTable* health) {
    std::unique_ptr<routing::HealthTable> own;
    if (!health) {
        own = std::make_unique<routing::HealthTable>(base::SystemClock::Get());
        health = own.get();
    }
    auto s = std::make_shared<Snapshot>();
    s->settings = state.settings;
    s->policy.fallback_cooldown_ms = state.settings.cooldown_fallback_ms;
    s->policy.failure_threshold = std::max(1, state.settings.failure_threshold);
    s->policy.failure_cooldown_ms = state.settings.failure_cooldown_ms;
    for (const auto& u : state.upstreams) {
        s->names.emplace(u.id, u.config.name);
        for (const auto& c : u.credentials) {
            if (!c.enabled) {
                ++s->credentials_disabled;
            } else if (c.state == "invalid") {
                ++s->credentials_invalid;
            } else if (c.state == "cooling_down") {
                ++s->credentials_cooling;
            } else {
                ++s->credentials_valid;
            }
        }
        if (!u.enabled) {
            continue;
        }
        auto peer = upstream::ParseBaseUrl(u.config.base_url);
        if (!peer) {
            throw std::runtime_error("upstream \"" + u.config.name + "\": base_url \"" + u.config.base_url +
                                     "\" is not a valid URL");
        }
        std::string proxy = state.settings.outbound_proxy.value_or("");
        if (u.config.proxy_url) {
            proxy = *u.config.proxy_url == "direct" ? std::string() : *u.config.proxy_url;
        }
        if (!upstream::SetProxy(*peer, proxy)) {
            throw std::runtime_error("upstream \"" + u.config.name + "\": the outbound proxy is not a valid proxy URL");
        }
        UpstreamRuntime rt{u.id, u.config, *peer, u.priority, std::max(1, u.weight), u.credential_concurrency,
                           true, nullptr, {}, {}};
        rt.load = health->Load(u.id);
        const bool openai = u.config.kind == config::UpstreamKind::kOpenAI;
        rt.native = !openai;
        if (openai) {
            rt.chat_path = upstream::ChatCompletionsPath(rt.peer.base_path);
        }
        if (u.config.auth == config::UpstreamAuth::kKey) {
            for (const auto& c : u.credentials) {
                if (!c.enabled || c.secret.empty()) {
                    continue;
                }
                health->Seed(c.id, c.state, c.last_error, c.cooldown_until_ms);
                rt.credentials.push_back({c.id, (openai ? "authorization: Bearer " : "x-api-key: ") + c.secret + "\r\n",
                                          health->Get(c.id)});
            }
        }
        s->upstreams.push_back(std::move(rt));
    }
    std::stable_sort(s->upstreams.begin(), s->upstreams.end(),
                     [](const UpstreamRuntime& a, const UpstreamRuntime& b) { return a.priority > b.priority; });
    s->client_keys_configured = !state.client_keys.empty();
    for (const auto& k : state.client_keys) {
        s->names.emplace(k.id, k.name);
        KeyDigest d;
        if (!k.enabled || !DigestFromHex(k.hash_hex, d)) {
            continue;
        }
        s->client_keys.emplace(d, ClientKeyRuntime{k.id, k.name, k.expires_at_ms, k.allowed_models, k.limits});
    }
    s->prices = std::make_shared<usage::PriceTable>(state.prices);
    return s;
}

std::shared_ptr<const Snapshot> Snapshot::Build(const config::Config& config) {
    return Build(config::FromConfig(config));
}

bool UpstreamRuntime::Serves(std::string_view model) const {
    if (!config.model_map.empty() && config.model_map.count(std::string(model)) > 0) {
        return true;
    }
    return std::any_of(config.models.begin(), config.models.end(),
                       [&](const std::string& g) { return base::GlobMatch(g, model); });
}

RouteResult Snapshot::Route(std::string_view model) const {
    RouteResult r;
    const UpstreamRuntime* matched = nullptr;
    for (const auto& u : upstreams) {
        if (!u.Serves(model)) {
            continue;
        }
        if (!matched) {
            matched = &u;
        }
        if (u.passthrough()) {
            r.upstream = &u;
            return r;
        }
        if (!client_keys_configured) {
            continue;  // an operator key is never used for clients without a client key
        }
        if (std::any_of(u.credentials.begin(), u.credentials.end(), [](const CredentialRuntime& c) {
                return c.health->health() != routing::Health::kInvalid;
            })) {
            r.upstream = &u;
            return r;
        }
    }
    if (!matched) {
        r.reason = "no upstream serves model \"" + std::string(model) + "\"";
        r.status = 404;
    } else if (!client_keys_configured) {
        r.reason = "upstream \"" + matched->config.name +
                   "\" uses an operator key, which needs a client key; no client key is configured";
        r.status = 503;
    } else {
        r.reason = "upstream \"" + matched->config.name + "\" has no usable credential";
        r.status = 503;
    }
    return r;
}

namespace {

/// The SHA-256 digests of the client keys this worker thread authenticated lately. Computing
/// the digest was ~5 % of a proxied request's instructions (callgrind); a key is looked up here by a 128-bit SipHash
/// under a per-process random key, so the cache holds no plaintext key and nobody can make two
/// keys collide. Only keys that authenticated are added, so a hit tells a timing observer nothing
/// the 200 does not. The digest is a pure function of the key: entries never go stale (a revoked
/// key's digest is simply absent from the snapshot's map).
class DigestCache {
public:
    KeyDigest Digest(std::string_view key, bool& cached_out, std::array<unsigned char, 16>& mac_out) {
        Mac(key, mac_out);
        Entry& e = entries_[mac_out[0] % kEntries];
        cached_out = e.used && sodium_memcmp(e.mac.data(), mac_out.data(), mac_out.size()) == 0;
        return cached_out ? e.digest : DigestKey(key);
    }
    void Remember(const std::array<unsigned char, 16>& mac, const KeyDigest& digest) {
        Entry& e = entries_[mac[0] % kEntries];
        e.used = true;
        e.mac = mac;
        e.digest = digest;
    }

private:
    static void Mac(std::string_view key, std::array<unsigned char, 16>& out) {
        static const std::array<unsigned char, crypto_shorthash_siphashx24_KEYBYTES> secret = [] {
            std::array<unsigned char, crypto_shorthash_siphashx24_KEYBYTES> k{};
            if (sodium_init() < 0) {
                throw std::runtime_error("libsodium cannot initialise");
            }
            randombytes_buf(k.data(), k.size());
            return k;
        }();
        crypto_shorthash_siphashx24(out.data(), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                                    secret.data());
    }
    static constexpr size_t kEntries = 8;
    struct Entry {
        bool used = false;
        std::array<unsigned char, 16> mac{};
        KeyDigest digest{};
    };
    std::array<Entry, kEntries> entries_{};
};

}  // namespace

const ClientKeyRuntime* Snapshot::Authenticate(std::string_view presented) const {
    thread_local DigestCache cache;
    bool cached = false;
    std::array<unsigned char, 16> mac;
    KeyDigest d = cache.Digest(presented, cached, mac);
    auto it = client_keys.find(d);
    if (it == client_keys.end()) {
        return nullptr;
    }
    // The map lookup compares digests, not keys; confirm in constant time all the same.
    if (sodium_memcmp(it->first.data(), d.data(), d.size()) != 0) {
        return nullptr;
    }
    if (!cached) {
        cache.Remember(mac, d);
    }
    return &it->second;
}

}  // namespace clove::proxy
