#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>

#include "clove/proxy/snapshot.hpp"
#include "clove/routing/credential_state.hpp"
#include "clove/upstream/connection.hpp"

namespace clove::proxy {

/// Periodic health probes (upstream field `health_check`: "models" or "message"): every
/// `health_check_interval_ms`, each enabled credential of the upstream is probed one after the
/// other; a 401/402/403 marks it invalid, a success makes an invalid one valid again, a 429
/// starts a cooldown and 5xx/connection errors count as failures. Runs on its own thread and
/// io_context, reading the current snapshot; never touches the workers.
class HealthChecker {
public:
    HealthChecker(const SnapshotStore& store, routing::HealthTable& health, upstream::SharedTlsContext& tls);
    ~HealthChecker();
    void Start();
    void Stop();

private:
    boost::asio::awaitable<void> Loop();
    boost::asio::awaitable<void> CheckUpstream(std::shared_ptr<const Snapshot> snap, size_t index);

    const SnapshotStore& store_;
    routing::HealthTable& health_;
    upstream::SharedTlsContext& tls_;
    boost::asio::io_context ioc_;
    std::thread thread_;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> next_due_;
    std::unordered_map<std::string, bool> running_;
};

/// The model a "message" probe asks for: the first model glob without wildcards, else the first
/// model_map target, else a small current model.
std::string ProbeModel(const config::UpstreamConfig& u);

}  // namespace clove::proxy
