#pragma once

// One health probe of a credential: `GET /v1/models?limit=1` (spends nothing) or a 1-token
// `POST /v1/messages`, over a fresh connection through the upstream's proxy. Used by the admin
// API's credential test and by the periodic health checker.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <optional>
#include <string>

#include "clove/routing/credential_state.hpp"
#include "clove/upstream/connection.hpp"
#include "clove/upstream/peer.hpp"

namespace clove::routing {

enum class ProbeKind { kModels, kMessage };

struct ProbeResult {
    bool ok = false;
    int status = 0;  ///< 0 when no response came
    double latency_ms = 0;
    std::string message;  ///< "ok", "HTTP 401: invalid x-api-key", "cannot connect: ..."
    std::optional<int64_t> retry_after_ms;
};

/// `peer` already carries the proxy. `model` is used by kMessage. `openai`: the upstream speaks
/// Chat Completions (Bearer key, /models and /chat/completions). Never throws.
boost::asio::awaitable<ProbeResult> Probe(boost::asio::io_context& ioc, upstream::SharedTlsContext& tls,
                                          upstream::Peer peer, std::string key, std::chrono::milliseconds timeout,
                                          ProbeKind kind, std::string model, bool openai = false);

/// The credential event a probe result means (nullopt: nothing learned, e.g. a 400 from the
/// probe's own request).
std::optional<Event> EventFromProbe(const ProbeResult& r);

}  // namespace clove::routing
