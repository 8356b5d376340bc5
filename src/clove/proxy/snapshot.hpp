#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "clove/http/request.hpp"

#include "clove/config/config.hpp"
#include "clove/config/runtime.hpp"
#include "clove/routing/credential_state.hpp"
#include "clove/upstream/peer.hpp"
#include "clove/usage/pricing.hpp"

namespace clove::proxy {

struct CredentialRuntime {
    std::string id;
    std::string auth_header;  ///< "x-api-key: ...\r\n" or "authorization: Bearer ...\r\n" (secret: never logged)
    std::shared_ptr<routing::CredentialHealth> health;  ///< live state, shared across snapshots
    /// The key itself, out of auth_header.
    std::string_view key() const {
        std::string_view h = auth_header;
        h.remove_suffix(h.size() >= 2 ? 2 : 0);
        h.remove_prefix(std::min(h.size(), h.find(' ') + 1));
        if (h.starts_with("Bearer ")) {
            h.remove_prefix(7);
        }
        return h;
    }
};

/// An upstream ready for the hot path: config plus its parsed peer and usable credentials.
struct UpstreamRuntime {
    std::string id;
    config::UpstreamConfig config;
    upstream::Peer peer;
    int priority = 0;
    int weight = 1;
    int64_t credential_concurrency = 0;  ///< 0 = no cap
    bool native = true;                  ///< speaks the Messages API (forwarded untouched)
    std::shared_ptr<routing::UpstreamLoad> load;
    std::vector<CredentialRuntime> credentials;  ///< enabled ones with a key; empty for passthrough
    /// kind = openai: the Chat Completions path on the peer (base path + /v1/chat/completions,
    /// or + /chat/completions after a version segment, or the base path itself when it names it).
    std::string chat_path;
    bool passthrough() const { return config.auth == config::UpstreamAuth::kPassthrough; }
    /// Whether `model` is one of this upstream's (a model_map key or a `models` glob match).
    bool Serves(std::string_view model) const;
};

struct ClientKeyRuntime {
    std::string id;
    std::string name;
    std::optional<int64_t> expires_at_ms;
    std::vector<std::string> allowed_models;
    config::Limits limits;

    bool Expired(int64_t now_ms) const { return expires_at_ms && now_ms >= *expires_at_ms; }
    bool AllowsModel(std::string_view model) const;
};

using KeyDigest = std::array<unsigned char, 32>;

struct KeyDigestHash {
    size_t operator()(const KeyDigest& d) const noexcept {
        size_t h;
        static_assert(sizeof h <= sizeof d);
        std::memcpy(&h, d.data(), sizeof h);
        return h;
    }
};

/// The outcome of routing a model.
struct RouteResult {
    const UpstreamRuntime* upstream = nullptr;
    /// When no upstream can serve: why ("no upstream serves model X", "... has no usable
    /// credential", "... needs a client key").
    std::string reason;
    int status = 404;
};

/// The immutable runtime view of the configuration that requests read. Built once, shared as
/// `shared_ptr<const Snapshot>`; a request pins one for its whole life.
struct Snapshot {
    std::vector<UpstreamRuntime> upstreams;  ///< enabled ones, by priority (desc), then name
    /// SHA-256(client key) -> key. Only enabled keys.
    std::unordered_map<KeyDigest, ClientKeyRuntime, KeyDigestHash> client_keys;
    /// Whether any client key exists (enabled or not). None at all = passthrough-only mode, where
    /// clients send their own provider key; once keys exist, every request needs an enabled one.
    bool client_keys_configured = false;
    std::shared_ptr<const usage::PriceTable> prices;
    config::Settings settings;
    routing::Policy policy;  ///< from settings
    /// id -> name of every upstream and client key (for logs and usage lists), enabled or not.
    std::unordered_map<std::string, std::string> names;
    /// Credential counts by state, for metrics.
    size_t credentials_valid = 0, credentials_invalid = 0, credentials_disabled = 0, credentials_cooling = 0;

    /// Builds from the runtime state. Throws std::runtime_error for an unusable base_url.
    /// Credential health comes from `health` (live state that outlives snapshots; seeded from the
    /// stored state the first time a credential is seen); nullptr gives fresh, private state.
    static std::shared_ptr<const Snapshot> Build(const config::RuntimeState& state,
                                                 routing::HealthTable* health = nullptr);
    /// Builds from a bootstrap config (tests, --check-config).
    static std::shared_ptr<const Snapshot> Build(const config::Config& config);

    /// The first upstream (priority order) serving `model` that can take the request. Without
    /// client keys only passthrough upstreams are eligible, so Clove is never an open relay.
    RouteResult Route(std::string_view model) const;

    /// The client key `presented` is, or nullptr. Constant time in the key's content.
    const ClientKeyRuntime* Authenticate(std::string_view presented) const;
};

KeyDigest DigestKey(std::string_view key);
/// Parses a 64-hex-digit SHA-256 (as stored in the database). False when malformed.
bool DigestFromHex(std::string_view hex, KeyDigest& out);
/// The key a request presents: `x-api-key`, else an `Authorization: Bearer` token; "" if none.
std::string_view PresentedKey(const http::Request& req);

/// Publishes snapshots atomically: readers Load() once per request, writers Store() a new one.
class SnapshotStore {
public:
    explicit SnapshotStore(std::shared_ptr<const Snapshot> initial) : current_(std::move(initial)) {}
    std::shared_ptr<const Snapshot> Load() const { return current_.load(std::memory_order_acquire); }
    void Store(std::shared_ptr<const Snapshot> next) { current_.store(std::move(next), std::memory_order_release); }

private:
    std::atomic<std::shared_ptr<const Snapshot>> current_;
};

}  // namespace clove::proxy
