#pragma once

#include "clove/quota/limiter.hpp"
#include "clove/routing/cache_stats.hpp"
#include "clove/routing/credential_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "clove/auth/secrets.hpp"
#include "clove/http/server.hpp"
#include "clove/metrics/metrics.hpp"
#include "clove/proxy/snapshot.hpp"
#include "clove/storage/db.hpp"
#include "clove/upstream/connection.hpp"
#include "clove/usage/writer.hpp"

namespace clove::admin {

/// Admin keys (SHA-256 digests, never plaintext) and the per-address limit on failed attempts.
class AdminAuth {
public:
    static constexpr int kMaxFailures = 10;
    static constexpr std::chrono::seconds kWindow{60};

    /// A key from ADMIN_API_KEYS (for the whole life of the process). `prefix` is for display.
    void Add(const proxy::KeyDigest& digest, std::string prefix = {});
    /// Replaces the keys stored in the database (created through the API, or generated at first
    /// start): reloaded at start and after every admin change.
    void SetStored(const std::vector<proxy::KeyDigest>& digests);
    /// True when `presented` is an admin key (digest lookup, constant-time confirm).
    bool Check(std::string_view presented) const;
    /// True when ADMIN_API_KEYS gave keys (then the key generated at first start is not honoured).
    bool HasEnvKeys() const;
    /// Display prefixes and digests of the ADMIN_API_KEYS keys, in the order given.
    std::vector<std::pair<std::string, proxy::KeyDigest>> EnvKeys() const;

    /// Seconds until `address` may try again, or 0 when it is not blocked.
    int BlockedFor(const std::string& address);
    void Failure(const std::string& address);

private:
    mutable std::shared_mutex keys_mutex_;
    std::vector<std::pair<std::string, proxy::KeyDigest>> env_;
    std::unordered_set<proxy::KeyDigest, proxy::KeyDigestHash> env_set_;
    std::unordered_set<proxy::KeyDigest, proxy::KeyDigestHash> stored_;
    struct Attempts {
        std::chrono::steady_clock::time_point window_start;
        int failures = 0;
    };
    std::mutex attempts_mutex_;
    std::unordered_map<std::string, Attempts> attempts_;
};

/// Where the process listens (shown read-only by the admin API: changing it needs a restart).
struct ServerInfo {
    std::string host;
    uint16_t port = 0;
    uint32_t workers = 0;
    std::string data_dir;
    std::string config_source;
};

/// What the admin API and the snapshot rebuilder share. Owned by app::Main.
struct Services {
    storage::Database& db;
    const auth::SecretBox& box;
    proxy::SnapshotStore& snapshots;
    usage::UsageWriter& usage;
    metrics::Registry& metrics;
    boost::asio::thread_pool& blocking;
    std::atomic<int64_t>& in_flight;
    AdminAuth auth;
    int64_t started_at_ms = 0;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    std::mutex rebuild_mutex;
    routing::HealthTable* health = nullptr;  ///< live credential state (set by the app)
    quota::Limiter* limiter = nullptr;       ///< client key counters (set by the app)
    routing::CacheStats* cache_stats = nullptr;  ///< prompt-cache efficiency (set by the app)
    ServerInfo server{};                         ///< listen address etc. (set by the app)
    std::string config_version{};                ///< last published (guarded by rebuild_mutex)

    /// Loads the stored admin keys into `auth` (the first-start key only without ADMIN_API_KEYS).
    /// Blocking.
    void ReloadAdminKeys();
    /// Several replicas on one database: when the stored `config_version` differs from the one
    /// this process last published, reload the admin keys and the runtime state (another replica
    /// changed them). Returns true when it reloaded. Blocking; throws storage errors.
    bool RefreshIfChanged();
    /// Loads the runtime state in one transaction with a new `config_version` (so other replicas
    /// reload), builds a snapshot and publishes it. Blocking.
    /// Throws storage::DbError / std::runtime_error.
    void Rebuild();
};

/// The `/admin/api/*` and `/metrics` endpoints (docs/admin-api.md). One per process; Handle is
/// called from every worker. Database work runs on the blocking pool.
class AdminApi {
public:
    explicit AdminApi(Services& services) : s_(services) {}

    boost::asio::awaitable<void> Handle(http::Exchange& ex, boost::asio::io_context& ioc,
                                        upstream::SharedTlsContext& tls);

private:
    Services& s_;
};

}  // namespace clove::admin
