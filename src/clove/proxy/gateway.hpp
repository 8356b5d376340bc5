#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>

#include "clove/http/server.hpp"
#include "clove/proxy/snapshot.hpp"
#include "clove/upstream/connection.hpp"

namespace clove::proxy {

/// Creates the per-worker request handler: routing of the front endpoints and the native proxy
/// life cycle (docs/architecture.md). `store` must outlive every handler.
std::unique_ptr<http::Handler> MakeGateway(boost::asio::io_context& ioc, const SnapshotStore& store,
                                           upstream::SharedTlsContext& tls);

}  // namespace clove::proxy
