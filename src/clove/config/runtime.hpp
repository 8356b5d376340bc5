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
    std::optional<int64_t> tpm;
    std::optional<int64_t> concurrency;
    std::optional<double> budget_usd;
    std::string budget_period = "total";  ///< total | daily | monthly
};

struct CredentialSpec {
    std::string id;
    std::string secret;  ///< plaintext, in memory only: never logged or returned.
    bool enabled = true;
    std::string state = "valid";  ///< valid | invalid | cooling_down
};

struct UpstreamSpec {
    std::string id;
    UpstreamConfig config;  ///< `api_key` unused: credentials carry the keys.
    int priority = 0;
    int weight = 1;
    bool enabled = true;
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
