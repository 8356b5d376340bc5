#pragma once

// The runtime configuration as it lives in the database (upstreams, credentials, client keys,
// prices, settings): plain values that storage loads and proxy turns into a Snapshot.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clove/config/config.hpp"

namespace clove::config {

/// Limits of a client key, enforced by routing. nullopt = unlimited.
struct Limits {
    std::optional<int64_t> rpm;
    std::optional<int64_t> tpm;         ///< input + output tokens per minute
    std::optional<int64_t> input_tpm;
    std::optional<int64_t> output_tpm;
    std::optional<int64_t> concurrency;
    std::optional<double> daily_budget_usd;    ///< UTC day
    std::optional<double> monthly_budget_usd;  ///< UTC month
    std::optional<double> budget_usd;          ///< over `budget_period`
    std::string budget_period = "total";  ///< total | daily | monthly

    bool any() const {
        return rpm || tpm || input_tpm || output_tpm || concurrency || daily_budget_usd || monthly_budget_usd ||
               budget_usd;
    }
};

struct CredentialSpec {
    std::string id;
    std::string secret;  ///< plaintext, in memory only: never logged or returned.
    bool enabled = true;
    std::string state = "valid";  ///< valid | invalid | cooling_down
    std::optional<std::string> last_error;
    std::optional<int64_t> cooldown_until_ms;  ///< Unix ms
};

struct UpstreamSpec {
    std::string id;
    UpstreamConfig config;  ///< `api_key` unused: credentials carry the keys.
    int priority = 0;
    int weight = 1;
    bool enabled = true;
    int64_t credential_concurrency = 0;  ///< per-credential in-flight cap; 0 = none
    std::vector<CredentialSpec> credentials;
};

struct ClientKeySpec {
    std::string id;
    std::string name;
    std::string hash_hex;  ///< SHA-256 of the key, lower-case hex
    bool enabled = true;
    std::optional<int64_t> expires_at_ms;  ///< Unix ms
    std::vector<std::string> allowed_models;
    Limits limits;
};

/// USD per million tokens for models matching `model` (a glob).
struct PriceSpec {
    std::string model;
    double input = 0;
    double output = 0;
    double cache_write_5m = 0;
    double cache_write_1h = 0;
    double cache_read = 0;
};

struct Settings {
    std::string log_level = "info";
    std::optional<std::string> outbound_proxy;
    uint32_t connect_timeout_ms = 10'000;
    uint32_t first_byte_timeout_ms = 600'000;
    uint32_t stream_idle_timeout_ms = 300'000;
    int usage_retention_days = 90;
    Limits default_limits;

    // Routing and failover (docs/routing.md).
    int max_attempts = 3;                       ///< upstream attempts per request, the first included
    uint32_t failover_deadline_ms = 60'000;     ///< no new attempt after this long
    uint32_t cooldown_fallback_ms = 60'000;     ///< a 429 that says nothing about its reset
    int failure_threshold = 3;                  ///< consecutive failures that start a cooldown
    uint32_t failure_cooldown_ms = 30'000;
    uint32_t sticky_ttl_ms = 300'000;           ///< prompt-cache and session affinity
    uint32_t first_byte_keepalive_ms = 5'000;   ///< SSE comment while waiting for the first byte
    uint32_t keepalive_interval_ms = 15'000;    ///< SSE comment when a stream is silent
    /// When every credential is rate-limited or at its cap: wait this long at most for one to
    /// recover before answering 429. 0 = answer at once (no queueing).
    uint32_t queue_timeout_ms = 0;
};

struct RuntimeState {
    std::vector<UpstreamSpec> upstreams;
    std::vector<ClientKeySpec> client_keys;
    std::vector<PriceSpec> prices;  ///< operator overrides; built-ins are added by the price table
    Settings settings;
};

}  // namespace clove::config

namespace clove::config {
/// The runtime state a bootstrap config describes (ids are placeholders; seeding assigns real
/// ones): used by --check-config and by tests.
RuntimeState FromConfig(const Config& c);
}  // namespace clove::config
