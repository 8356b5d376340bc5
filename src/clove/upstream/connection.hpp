#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "clove/upstream/peer.hpp"
#include "clove/upstream/tls.hpp"

namespace clove::upstream {

/// One HTTP/1.1 connection to an upstream, plain TCP or TLS (peer and host-name verification,
/// SNI). Every operation takes a timeout; on expiry the socket is closed and the operation fails
/// with `boost::beast::error::timeout`. One worker thread only.
class Connection {
public:
    Connection(boost::asio::io_context& ioc, SharedTlsContext& tls, const Peer& peer);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Resolves, connects (TCP_NODELAY) and, for TLS, handshakes.
    boost::asio::awaitable<boost::system::error_code> Connect(std::chrono::milliseconds timeout);
    boost::asio::awaitable<boost::system::error_code> Write(
        std::span<const boost::asio::const_buffer> buffers, std::chrono::milliseconds timeout);
    boost::asio::awaitable<std::pair<boost::system::error_code, size_t>> ReadSome(
        boost::asio::mutable_buffer buffer, std::chrono::milliseconds timeout);
    /// Waits until a ReadSome would find data (or an error/EOF), for at most `timeout`. Returns
    /// `boost::beast::error::timeout` when the time ran out; unlike ReadSome, the connection stays
    /// usable (nothing was read, so a keepalive can be sent and the wait resumed).
    boost::asio::awaitable<boost::system::error_code> WaitReadable(std::chrono::milliseconds timeout);
    /// Closes the socket at once; pending operations complete with an error. Safe to call from a
    /// completion handler on the same worker (client-disconnect cancellation).
    void Close();

    bool is_open() const;
    const std::string& peer_key() const { return peer_key_; }
    bool reused() const { return uses_ > 0; }
    void MarkUsed() { ++uses_; }
    std::chrono::steady_clock::time_point idle_since;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string peer_key_;
    unsigned uses_ = 0;
};

/// Keep-alive connections of one worker, keyed by peer. Bounded per peer; connections idle
/// longer than `idle_timeout` are dropped when met. One worker thread only.
class Pool {
public:
    Pool(boost::asio::io_context& ioc, SharedTlsContext& tls, std::chrono::milliseconds idle_timeout,
         size_t max_idle_per_peer);

    /// A pooled connection to `peer` (reused() is true) or a new, unconnected one.
    std::unique_ptr<Connection> Acquire(const Peer& peer);
    /// Returns a connection whose last response was read completely and that may be reused.
    void Release(std::unique_ptr<Connection> conn);
    /// Closes every idle connection (drain).
    void Clear();

private:
    boost::asio::io_context& ioc_;
    SharedTlsContext& tls_;
    std::chrono::milliseconds idle_timeout_;
    size_t max_idle_per_peer_;
    std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
};

}  // namespace clove::upstream
