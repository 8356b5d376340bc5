#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "clove/base/clock.hpp"
#include "clove/http/request.hpp"

namespace clove::http {

/// Limits and timeouts of the downstream (client) side. See docs/configuration.md.
struct ServerOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 5201;
    uint32_t workers = 1;
    uint64_t max_body_bytes = 32ull << 20;
    uint32_t max_header_bytes = 64u << 10;
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds body_timeout{30'000};
    std::chrono::milliseconds idle_timeout{75'000};
    std::chrono::milliseconds write_timeout{60'000};
    std::chrono::milliseconds drain_timeout{30'000};
};

/// A client connection: its socket and one deadline. The worker's 100 ms sweep closes a socket
/// whose deadline passed (as Beast's tcp_stream does on expiry), so an operation costs no timer
/// of its own; a deadline is set only around an operation (reads of a request, a response write)
/// and is "never" while the handler waits on something else. Timeouts are late by < 100 ms.
class ClientStream {
public:
    explicit ClientStream(boost::asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
    boost::asio::ip::tcp::socket& socket() { return socket_; }
    void expires_after(std::chrono::milliseconds d) { deadline_ = base::CoarseSteadyNow() + d; }
    void expires_never() { deadline_ = std::chrono::steady_clock::time_point::max(); }
    std::chrono::steady_clock::time_point deadline() const { return deadline_; }
    /// Cancels pending operations (drain of idle connections).
    void cancel() {
        boost::system::error_code ignored;
        socket_.cancel(ignored);
    }

private:
    boost::asio::ip::tcp::socket socket_;
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
};

/// One request/response exchange on a client connection, handed to the Handler. Lives in the
/// session coroutine's frame for the duration of Handle(). One worker thread only.
class Exchange {
public:
    Request& request;
    std::string_view path;   ///< target without the query, duplicate slashes and `/v1/v1` collapsed
    std::string_view query;  ///< after '?', without it; "" when absent
    std::chrono::steady_clock::time_point start;

    Exchange(Request& req, ClientStream& stream, std::chrono::milliseconds write_timeout,
             bool draining);
    ~Exchange();
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;

    /// Writes all buffers to the client with the write timeout. Returns false when the client is
    /// gone (the session then closes). Bytes are counted for `response_started()`.
    boost::asio::awaitable<bool> Write(std::span<const boost::asio::const_buffer> buffers);

    /// True once any response byte was written: from then on errors must be in-band.
    bool response_started() const { return bytes_written_ > 0; }
    uint64_t bytes_written() const { return bytes_written_; }

    /// Ask the session to close the connection after this response (adds nothing to the head;
    /// callers add `connection: close` through AppendConnectionHeader).
    void CloseAfterResponse() { close_ = true; }
    bool close_after_response() const { return close_ || !request.keep_alive() || draining_; }
    /// Appends `connection: close` when the connection will close after this response.
    void AppendConnectionHeader(std::string& head) const;

    /// Starts watching the client socket for EOF/reset while the handler waits on something else.
    /// `on_gone` runs (on this worker) at most once when the client is seen gone. The socket wait
    /// is armed by the worker's 100 ms sweep once the exchange has been watching that long: a
    /// request answered sooner (most of them) never pays for the wait, its epoll change and its
    /// cancellation; a slow one notices a departed client within ~200 ms.
    void WatchClient(std::function<void()> on_gone);
    /// The sweep's half of WatchClient: arms the socket wait if watching started before `cutoff`.
    void ArmWatchIfDue(std::chrono::steady_clock::time_point cutoff);
    /// Stops the watch; must be called before the exchange ends if WatchClient was called.
    void StopWatching();
    bool client_gone() const;

    ClientStream& stream() { return stream_; }

private:
    struct Watch;
    void ArmWatch();
    ClientStream& stream_;
    std::function<void()> on_gone_;  ///< set by WatchClient until armed
    std::chrono::steady_clock::time_point watch_since_{};
    bool watch_wanted_ = false;
    std::chrono::milliseconds write_timeout_;
    uint64_t bytes_written_ = 0;
    bool close_ = false;
    bool draining_ = false;
    std::shared_ptr<Watch> watch_;
};

/// Handles requests of one worker. Created once per worker thread; Handle() runs on that thread.
class Handler {
public:
    virtual ~Handler() = default;
    /// Produces the whole response through `ex`. Must not throw for expected failures; an escaped
    /// exception becomes a 500 when nothing was written yet, else the connection is closed.
    virtual boost::asio::awaitable<void> Handle(Exchange& ex) = 0;
    /// Called when the worker starts draining (SIGTERM).
    virtual void OnDrain() {}
};

using HandlerFactory = std::function<std::unique_ptr<Handler>(boost::asio::io_context&)>;

/// The HTTP/1.1 server: one io_context and SO_REUSEPORT listener per worker thread.
class Server {
public:
    Server(ServerOptions options, HandlerFactory factory);
    ~Server();

    /// Binds every worker's listener (throws std::system_error on failure) and returns the port.
    uint16_t Bind();
    /// Runs the workers on their threads and blocks until SIGTERM/SIGINT and drain complete.
    /// Returns the process exit code (0 after a clean drain).
    int Run(std::chrono::steady_clock::time_point started);

    struct Worker;  ///< implementation detail (server.cpp): one thread, io_context and listener

private:
    ServerOptions options_;
    HandlerFactory factory_;
    std::vector<std::unique_ptr<Worker>> workers_;
};

/// Normalizes a request target's path: drops the query, collapses duplicate slashes and a
/// doubled `/v1/v1` prefix (clients given a base URL ending in /v1 produce it).
void SplitTarget(std::string_view target, std::string& path_out, std::string_view& query_out);

}  // namespace clove::http
