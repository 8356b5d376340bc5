#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>

#include <atomic>

#include "clove/http/server.hpp"
#include "clove/metrics/metrics.hpp"
#include "clove/base/clock.hpp"
#include "clove/proxy/snapshot.hpp"
#include "clove/quota/limiter.hpp"
#include "clove/routing/cache_stats.hpp"
#include "clove/routing/credential_state.hpp"
#include "clove/routing/sticky.hpp"
#include "clove/upstream/connection.hpp"
#include "clove/usage/writer.hpp"

namespace clove::proxy {

/// What every worker's gateway shares. All members must outlive the handlers. `usage` and
/// `metrics` may be null (tests, --check-config).
struct GatewayContext {
    const SnapshotStore& store;
    upstream::SharedTlsContext& tls;
    usage::UsageWriter* usage = nullptr;
    metrics::Registry* metrics = nullptr;
    std::atomic<int64_t>* in_flight = nullptr;
    routing::HealthTable* health = nullptr;  ///< live credential state (null: not recorded)
    routing::StickyTable* sticky = nullptr;  ///< prompt-cache / session affinity (null: off)
    quota::Limiter* limiter = nullptr;       ///< client key limits (null: not enforced)
    routing::CacheStats* cache_stats = nullptr;  ///< prompt-cache efficiency (null: not kept)
    const base::Clock* clock = nullptr;      ///< null: the system clock
};

/// Creates the per-worker request handler: routing of the front endpoints and the native proxy
/// life cycle (docs/architecture.md).
std::unique_ptr<http::Handler> MakeGateway(boost::asio::io_context& ioc, GatewayContext& ctx);

}  // namespace clove::proxy
