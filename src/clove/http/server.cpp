#include "clove/http/server.hpp"

#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/verb.hpp>

#include <array>
#include <atomic>
#include <cctype>
#include <cstring>
#include <cerrno>
#include <list>
#include <optional>
#include <thread>

#include "clove/base/block_pool.hpp"
#include "clove/base/log.hpp"
#include "clove/base/request_id.hpp"
#include "clove/http/body_decoder.hpp"
#include "clove/http/head_scanner.hpp"
#include "clove/http/response_head.hpp"

namespace clove::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
/// Read size for request heads and bodies: large enough that a typical request arrives in one
/// recv, small enough that thousands of idle connections stay cheap (released between requests).
constexpr size_t kReadChunk = 16 * 1024;

std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

/// Framing rules Beast 1.81 does not enforce (docs/architecture.md, "Request framing").
/// Returns a reason when the request must be refused with 400 and a close.
const char* CheckFraming(const Request& req) {
    if (req.version() != 11 && req.version() != 10) {
        return "unsupported HTTP version";
    }
    size_t hosts = 0;
    size_t tes = 0;
    size_t cls = 0;
    std::string_view te;
    for (const auto& f : req) {
        const auto name = f.name_string();
        if (IEqualsAscii(name, "host")) {
            ++hosts;
        } else if (IEqualsAscii(name, "transfer-encoding")) {
            ++tes;
            te = f.value();
        } else if (IEqualsAscii(name, "content-length")) {
            ++cls;
        }
    }
    if (req.version() == 11 && hosts != 1) {
        return hosts == 0 ? "missing Host header" : "more than one Host header";
    }
    if (hosts > 1) {
        return "more than one Host header";
    }
    if (hosts == 1) {
        // RFC 9112 §3.2: a Host that is not a valid uri-host[:port] gets 400.
        for (unsigned char c : req["host"]) {
            bool ok = std::isalnum(c) || std::strchr("-._~!$&'()*+,;=%[]:", c) != nullptr;
            if (!ok || c == 0) {
                return "invalid Host header";
            }
        }
    }
    auto target = req.target();
    if (target.empty()) {
        return "empty request target";
    }
    if (target.front() != '/') {
        bool absolute = target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0;
        bool asterisk = target == "*" && req.method() == bhttp::verb::options;
        if (!absolute && !asterisk) {
            return "invalid request target";
        }
        if (absolute) {
            auto rest = target.substr(target.find("://") + 3);
            auto authority = rest.substr(0, rest.find('/'));
            if (authority.empty() || (authority.front() == '[' && authority.find(']') == std::string_view::npos)) {
                return "invalid request target";
            }
            for (unsigned char c : authority) {
                if (!(std::isalnum(c) || std::strchr("-._~!$&'()*+,;=%[]:", c) != nullptr) || c == 0) {
                    return "invalid request target";
                }
            }
        }
    }
    if (cls > 1) {
        return "more than one Content-Length header";
    }
    if (tes > 0) {
        if (req.version() == 10) {
            return "Transfer-Encoding is not allowed in HTTP/1.0";
        }
        if (tes > 1 || !IEqualsAscii(Trim(te), "chunked")) {
            return "unsupported Transfer-Encoding (only a single \"chunked\" is accepted)";
        }
        if (cls > 0) {
            return "Content-Length together with Transfer-Encoding";
        }
    }
    return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Exchange

struct Exchange::Watch {
    bool active = true;
    bool gone = false;
    std::function<void()> on_gone;
};

Exchange::Exchange(Request& req, ClientStream& stream, std::chrono::milliseconds write_timeout,
                   bool draining)
    : request(req), stream_(stream), write_timeout_(write_timeout), draining_(draining) {}

Exchange::~Exchange() {
    StopWatching();
}

asio::awaitable<bool> Exchange::Write(std::span<const asio::const_buffer> buffers) {
    stream_.expires_after(write_timeout_);
    auto [ec, n] = co_await asio::async_write(stream_.socket(), buffers, kTuple);
    stream_.expires_never();  // the handler may now wait on its upstream for minutes
    bytes_written_ += n;
    if (ec) {
        close_ = true;
        co_return false;
    }
    co_return true;
}

void Exchange::AppendConnectionHeader(std::string& head) const {
    if (close_after_response()) {
        head += "connection: close\r\n";
    }
}

void Exchange::WatchClient(std::function<void()> on_gone) {
    StopWatching();
    on_gone_ = std::move(on_gone);
    watch_since_ = std::chrono::steady_clock::now();
    watch_wanted_ = true;
}

void Exchange::ArmWatchIfDue(std::chrono::steady_clock::time_point cutoff) {
    if (watch_wanted_ && watch_since_ <= cutoff) {
        ArmWatch();
    }
}

void Exchange::ArmWatch() {
    watch_wanted_ = false;
    watch_ = std::make_shared<Watch>();
    watch_->on_gone = std::move(on_gone_);
    auto w = watch_;
    auto* sock = &stream_.socket();
    sock->async_wait(tcp::socket::wait_read, [w, sock](boost::system::error_code ec) {
        if (!w->active) {
            return;  // the exchange is over (and the socket may be gone)
        }
        bool gone = false;
        if (ec) {
            gone = ec != asio::error::operation_aborted;
        } else {
            char c;
            ssize_t n = ::recv(sock->native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
            gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
            // n > 0: the client pipelined its next request; stop watching, it is still there.
        }
        w->active = false;
        if (gone) {
            w->gone = true;
            if (w->on_gone) {
                w->on_gone();
            }
        }
    });
}

void Exchange::StopWatching() {
    watch_wanted_ = false;
    on_gone_ = nullptr;
    if (watch_ && watch_->active) {
        watch_->active = false;
        boost::system::error_code ignored;
        stream_.socket().cancel(ignored);
    }
}

bool Exchange::client_gone() const {
    return watch_ && watch_->gone;
}

// ---------------------------------------------------------------------------------------------
// Worker and sessions

struct SessionEntry {
    ClientStream* stream = nullptr;
    bool idle = true;
    Exchange* exchange = nullptr;  ///< the request being handled, for the watch sweep
};

struct Server::Worker {
    asio::io_context ioc{1};
    std::optional<tcp::acceptor> acceptor;
    std::unique_ptr<Handler> handler;
    std::list<SessionEntry*> sessions;
    std::atomic<int> session_count{0};
    bool draining = false;
    base::RequestIdGenerator ids;
    std::thread thread;

    void BeginDrain() {
        draining = true;
        if (acceptor) {
            boost::system::error_code ignored;
            acceptor->close(ignored);
        }
        if (handler) {
            handler->OnDrain();
        }
        for (auto* s : sessions) {
            if (s->idle) {
                s->stream->cancel();
            }
        }
    }
};

namespace {

/// Registers a session with its worker for drain; unregisters on scope exit.
class SessionRegistration {
public:
    SessionRegistration(std::list<SessionEntry*>& list, std::atomic<int>& count, SessionEntry* e)
        : list_(list), count_(count) {
        it_ = list_.insert(list_.end(), e);
        count_.fetch_add(1, std::memory_order_relaxed);
    }
    ~SessionRegistration() {
        list_.erase(it_);
        count_.fetch_sub(1, std::memory_order_relaxed);
    }
    SessionRegistration(const SessionRegistration&) = delete;
    SessionRegistration& operator=(const SessionRegistration&) = delete;

private:
    std::list<SessionEntry*>& list_;
    std::atomic<int>& count_;
    std::list<SessionEntry*>::iterator it_;
};

asio::awaitable<void> LingerClose(ClientStream& stream);

/// Writes a gateway-made error answer (Anthropic JSON), then closes the connection lingering.
asio::awaitable<void> WriteEarlyError(ClientStream& stream, std::chrono::milliseconds timeout,
                                      int status, std::string_view message, std::string_view request_id) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string body = R"({"type":"error","error":{"type":")";
    switch (status) {
        case 413: body += "request_too_large"; break;
        case 500: body += "api_error"; break;
        default: body += "invalid_request_error"; break;
    }
    body += R"(","message":")";
    for (unsigned char c : message) {
        if (c == '"' || c == '\\') {
            body += '\\';
            body += static_cast<char>(c);
        } else if (c < 0x20) {
            body += "\\u00";
            body += kHex[c >> 4];
            body += kHex[c & 0xF];
        } else {
            body += static_cast<char>(c);
        }
    }
    body += R"("},"request_id":")";
    body += request_id;
    body += "\"}";
    std::string head;
    HeadBuilder h(head);
    h.Status(status);
    h.Header("content-type", "application/json");
    h.Header("content-length", static_cast<uint64_t>(body.size()));
    h.Header("request-id", request_id);
    h.Header("x-clove-request-id", request_id);
    h.Header("connection", "close");
    h.End();
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(body)};
    stream.expires_after(timeout);
    co_await asio::async_write(stream.socket(), bufs, kTuple);
    co_await LingerClose(stream);
}

void CloseStream(ClientStream& stream) {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
}

/// Closes after an early error while the client may still be sending (RFC 9112 §9.6): stop
/// sending, then read and discard for a bounded time so the kernel does not answer the client's
/// remaining bytes with a reset that would destroy the error response before it is read.
asio::awaitable<void> LingerClose(ClientStream& stream) {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.expires_after(std::chrono::seconds(2));
    std::array<char, 16384> sink;
    uint64_t total = 0;
    while (total < (64ull << 20)) {
        auto [ec, n] = co_await stream.socket().async_read_some(asio::buffer(sink), kTuple);
        if (ec) {
            break;
        }
        total += n;
    }
    stream.socket().close(ignored);
}

asio::awaitable<void> RunSession(Server::Worker& w, const ServerOptions& opts, tcp::socket sock);

}  // namespace

// RunSession needs Server::Worker, which is private to Server: a friend-free trick is to keep
// the definition here, in the same file, where the nested type is complete.
namespace {

asio::awaitable<void> RunSession(Server::Worker& w, const ServerOptions& opts, tcp::socket sock) {
    ClientStream stream(std::move(sock));
    SessionEntry entry{&stream, true};
    SessionRegistration reg(w.sessions, w.session_count, &entry);
    // Bounded: a request head or chunk header can never grow it past the header limit plus one
    // read (Beast 1.81 does not bound chunk header lines itself).
    beast::basic_flat_buffer<base::IoBlockAllocator<char>> buf(opts.max_header_bytes + kReadChunk);
    std::string path;
    Request req;  // reused across keep-alive requests
    bool first = true;

    for (;;) {
        // ---- 1. request head: strict line checks, then Beast parses it --------------------
        entry.idle = buf.size() == 0;
        if (w.draining && entry.idle) {
            break;
        }
        stream.expires_after(first || !entry.idle ? opts.header_timeout : opts.idle_timeout);
        HeadScanner scanner;
        auto window = [&] {
            return std::string_view(static_cast<const char*>(buf.data().data()), buf.size());
        };
        HeadScanner::State st = buf.size() ? scanner.Scan(window()) : HeadScanner::State::kNeedMore;
        bool got_bytes = buf.size() > 0;
        std::string request_id;
        while (st == HeadScanner::State::kNeedMore) {
            if (buf.size() >= opts.max_header_bytes) {
                break;
            }
            size_t want = std::min(kReadChunk, buf.max_size() - buf.size());
            auto [ec, n] = co_await stream.socket().async_read_some(buf.prepare(want), kTuple);
            if (ec) {
                // Timeout (the stream's timer already closed the socket, as nginx does for
                // client_header_timeout), EOF, reset or drain cancel: nothing to answer.
                CloseStream(stream);
                co_return;
            }
            buf.commit(n);
            if (!got_bytes) {
                got_bytes = true;
                entry.idle = false;
                stream.expires_after(opts.header_timeout);
            }
            st = scanner.Scan(window());
        }
        entry.idle = false;
        if (st == HeadScanner::State::kNeedMore || scanner.head_size() > opts.max_header_bytes) {
            request_id = w.ids.Next();  // only an early error needs one
            co_await WriteEarlyError(stream, opts.write_timeout, 431,
                                     "request header fields too large", request_id);
            break;
        }
        if (st == HeadScanner::State::kBad) {
            request_id = w.ids.Next();  // only an early error needs one
            co_await WriteEarlyError(stream, opts.write_timeout, 400, scanner.reason(), request_id);
            break;
        }
        buf.consume(scanner.leading_blank_bytes());
        const size_t head_len = scanner.head_size() - scanner.leading_blank_bytes();

        if (const char* bad = req.Parse(std::string_view(static_cast<const char*>(buf.data().data()), head_len))) {
            request_id = w.ids.Next();  // only an early error needs one
            co_await WriteEarlyError(stream, opts.write_timeout, 400, std::string("malformed request head: ") + bad,
                                     request_id);
            break;
        }
        buf.consume(head_len);
        if (const char* why = CheckFraming(req)) {
            request_id = w.ids.Next();  // only an early error needs one
            co_await WriteEarlyError(stream, opts.write_timeout, 400, why, request_id);
            break;
        }
        // CheckFraming left at most one Transfer-Encoding (exactly "chunked") and at most one
        // Content-Length, never both.
        const bool chunked = !req["transfer-encoding"].empty();
        std::optional<uint64_t> content_length;
        if (const auto cl = req["content-length"]; !cl.empty() || req.count("content-length") > 0) {
            uint64_t v = 0;
            bool ok = !cl.empty() && cl.size() <= 19;
            for (char c : cl) {
                ok = ok && c >= '0' && c <= '9';
                v = v * 10 + static_cast<uint64_t>(c - '0');
            }
            if (!ok) {
                request_id = w.ids.Next();  // only an early error needs one
                co_await WriteEarlyError(stream, opts.write_timeout, 400, "malformed request head: bad Content-Length",
                                         request_id);
                break;
            }
            content_length = v;
        }
        if (content_length && *content_length > opts.max_body_bytes) {
            request_id = w.ids.Next();  // only an early error needs one
            co_await WriteEarlyError(stream, opts.write_timeout, 413,
                                     fmt::format("request body exceeds the {} byte limit", opts.max_body_bytes),
                                     request_id);
            break;
        }
        // ---- 2. request body: our own strict decoder (CRLF only, chunk lines <= 4 KiB, no
        //         trailers), idle timeout between reads, the size limit on decoded bytes ----------
        std::string& body = req.body();
        BodyDecoder decoder;
        if (chunked) {
            decoder.Start(BodyDecoder::Mode::kChunked, 0, /*reject_trailers=*/true);
        } else {
            decoder.Start(BodyDecoder::Mode::kLength, content_length.value_or(0));
            body.reserve(static_cast<size_t>(content_length.value_or(0)));
        }
        if (!decoder.done()) {
            auto expect = req["expect"];
            if (IEqualsAscii(Trim(expect), "100-continue") && buf.size() == 0) {
                static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
                stream.expires_after(opts.write_timeout);
                auto [ec, n] = co_await asio::async_write(stream.socket(), asio::buffer(kContinue), kTuple);
                if (ec) {
                    break;
                }
            }
        }
        int body_error = 0;
        std::string body_error_msg;
        size_t payload_end = 0;
        for (;;) {
            if (buf.size() > 0) {
                size_t raw_begin = body.size();
                auto data = buf.data();
                if (body.capacity() < body.size() + data.size()) {
                    // Grow by doubling, but never past what the size limit can need (the decoded
                    // payload plus one read): a 32 MiB + 1 chunked body must not reserve 64 MiB.
                    size_t cap_limit = static_cast<size_t>(opts.max_body_bytes) + 2 * kReadChunk;
                    body.reserve(std::min(std::max(body.capacity() * 2, body.size() + data.size()),
                                          std::max(cap_limit, body.size() + data.size())));
                }
                body.append(static_cast<const char*>(data.data()), data.size());
                buf.consume(buf.size());
                payload_end = decoder.Decode(body.data(), payload_end, raw_begin, body.size());
                if (decoder.excess() > 0) {
                    // Bytes after the body: the next pipelined request; hand them back.
                    size_t e = decoder.excess();
                    auto dst = buf.prepare(e);
                    std::memcpy(dst.data(), body.data() + body.size() - e, e);
                    buf.commit(e);
                }
                body.resize(payload_end);
            }
            if (decoder.failed()) {
                body_error = 400;
                body_error_msg = "malformed chunked request body (CRLF line ends, chunk lines up to 4 KiB, no trailers)";
                break;
            }
            if (payload_end > opts.max_body_bytes) {
                body_error = 413;
                body_error_msg = fmt::format("request body exceeds the {} byte limit", opts.max_body_bytes);
                break;
            }
            if (decoder.done()) {
                break;
            }
            stream.expires_after(opts.body_timeout);
            size_t want = std::min(kReadChunk, buf.max_size() - buf.size());
            auto [ec, n] = co_await stream.socket().async_read_some(buf.prepare(want), kTuple);
            if (ec) {
                body_error = -1;  // client went away or body timeout (the socket is closed)
                break;
            }
            buf.commit(n);
        }
        if (body_error == -1) {
            break;
        }
        if (body_error != 0) {
            request_id = w.ids.Next();  // only an early error needs one
            co_await WriteEarlyError(stream, opts.write_timeout, body_error, body_error_msg, request_id);
            break;
        }
        stream.expires_never();
        first = false;
        if (buf.size() == 0) {
            buf.shrink_to_fit();  // idle and streaming connections keep no read buffer
        }

        // ---- 3. the handler ---------------------------------------------------------------
        std::string_view query;
        SplitTarget(req.target(), path, query);
        Exchange ex(req, stream, opts.write_timeout, w.draining);
        ex.path = path;
        ex.query = query;
        ex.start = std::chrono::steady_clock::now();
        bool failed = false;
        entry.exchange = &ex;
        try {
            co_await w.handler->Handle(ex);
        } catch (const std::exception& e) {
            log::error("handler failed for {} {}: {}", std::string(req.method_string()), path, e.what());
            failed = true;
        }
        entry.exchange = nullptr;
        ex.StopWatching();
        if (failed) {
            if (!ex.response_started()) {
                request_id = w.ids.Next();  // only an early error needs one
                co_await WriteEarlyError(stream, opts.write_timeout, 500, "internal error in the gateway",
                                         request_id);
            }
            break;
        }
        if (ex.close_after_response() || w.draining) {
            break;
        }
        req.ReleaseLarge();
    }
    CloseStream(stream);
}

/// Every 100 ms: closes client connections whose read or write deadline passed (ClientStream),
/// and arms the client watch of exchanges waiting on something else for 100 ms or more
/// (Exchange::WatchClient).
asio::awaitable<void> WatchSweep(Server::Worker& w) {
    asio::steady_timer timer(w.ioc);
    for (;;) {
        timer.expires_after(std::chrono::milliseconds(100));
        auto [ec] = co_await timer.async_wait(kTuple);
        if (ec || (w.draining && w.sessions.empty())) {
            co_return;
        }
        const auto now = std::chrono::steady_clock::now();
        const auto cutoff = now - std::chrono::milliseconds(100);
        for (auto* s : w.sessions) {
            if (s->stream->deadline() <= now) {
                // Timed out in a read or write: close, as nginx does for client_header_timeout;
                // the pending operation fails and the session ends.
                boost::system::error_code ignored;
                s->stream->socket().close(ignored);
                s->stream->expires_never();
            }
            if (s->exchange) {
                s->exchange->ArmWatchIfDue(cutoff);
            }
        }
    }
}

asio::awaitable<void> AcceptLoop(Server::Worker& w, const ServerOptions& opts) {
    for (;;) {
        auto [ec, sock] = co_await w.acceptor->async_accept(kTuple);
        if (ec) {
            if (w.draining || !w.acceptor->is_open()) {
                co_return;
            }
            if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
                log::warn("accept failed ({}); pausing 50 ms", ec.message());
                asio::steady_timer t(w.ioc, std::chrono::milliseconds(50));
                co_await t.async_wait(kTuple);
            }
            continue;
        }
        boost::system::error_code ignored;
        sock.set_option(tcp::no_delay(true), ignored);
        asio::co_spawn(w.ioc, RunSession(w, opts, std::move(sock)), [](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::error("session ended with an exception: {}", ex.what());
                }
            }
        });
    }
}

tcp::endpoint ResolveBind(const std::string& host, uint16_t port) {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
    if (ec) {
        asio::io_context ioc;
        tcp::resolver r(ioc);
        auto results = r.resolve(host, std::to_string(port));
        return *results.begin();
    }
    return {addr, port};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Server

Server::Server(ServerOptions options, HandlerFactory factory)
    : options_(std::move(options)), factory_(std::move(factory)) {}

Server::~Server() {
    for (auto& w : workers_) {
        if (w->thread.joinable()) {
            w->ioc.stop();
            w->thread.join();
        }
    }
}

uint16_t Server::Bind() {
    auto ep = ResolveBind(options_.host, options_.port);
    for (uint32_t i = 0; i < options_.workers; ++i) {
        auto w = std::make_unique<Worker>();
        w->handler = factory_(w->ioc);
        w->acceptor.emplace(w->ioc);
        w->acceptor->open(ep.protocol());
        w->acceptor->set_option(tcp::acceptor::reuse_address(true));
        using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
        w->acceptor->set_option(reuse_port(true));
        w->acceptor->bind(ep);
        w->acceptor->listen(4096);
        if (i == 0) {
            ep.port(w->acceptor->local_endpoint().port());
        }
        workers_.push_back(std::move(w));
    }
    return ep.port();
}

int Server::Run(std::chrono::steady_clock::time_point started) {
    asio::io_context sig_ioc(1);
    asio::signal_set signals(sig_ioc, SIGINT, SIGTERM);
    int signals_seen = 0;
    auto on_signal = [&](const boost::system::error_code& ec, int) {
        if (!ec) {
            ++signals_seen;
        }
    };
    signals.async_wait(on_signal);

    for (auto& w : workers_) {
        asio::co_spawn(w->ioc, AcceptLoop(*w, options_), asio::detached);
        asio::co_spawn(w->ioc, WatchSweep(*w), asio::detached);
        Worker* wp = w.get();
        wp->thread = std::thread([wp] { wp->ioc.run(); });
    }
    auto ep = workers_.front()->acceptor->local_endpoint();
    auto ready_us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - started).count();
    log::info("listening on http://{}:{} ({} workers, ready in {:.1f} ms)",
              ep.address().to_string(), ep.port(), workers_.size(), ready_us / 1000.0);

    while (signals_seen == 0) {
        sig_ioc.run_one();
    }
    signals.async_wait(on_signal);
    int in_flight = 0;
    for (auto& w : workers_) {
        in_flight += w->session_count.load();
    }
    log::info("shutting down: no new connections; waiting up to {} ms for {} open connections",
              options_.drain_timeout.count(), in_flight);
    for (auto& w : workers_) {
        Worker* wp = w.get();
        asio::post(wp->ioc, [wp] { wp->BeginDrain(); });
    }
    auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
    for (;;) {
        int open = 0;
        for (auto& w : workers_) {
            open += w->session_count.load();
        }
        if (open == 0) {
            log::info("drained; exiting");
            break;
        }
        if (signals_seen > 1) {
            log::warn("second signal: exiting with {} connections still open", open);
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            log::warn("drain deadline reached: closing {} connections still open", open);
            break;
        }
        sig_ioc.run_for(std::chrono::milliseconds(10));
    }
    for (auto& w : workers_) {
        w->ioc.stop();
    }
    for (auto& w : workers_) {
        if (w->thread.joinable()) {
            w->thread.join();
        }
    }
    return 0;
}

void SplitTarget(std::string_view target, std::string& path, std::string_view& query) {
    // Absolute form (RFC 9112 §3.2.2): route on its path; the authority was checked already.
    if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
        auto rest = target.substr(target.find("://") + 3);
        size_t slash = rest.find_first_of("/?");
        target = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    }
    size_t q = target.find('?');
    query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    std::string_view raw = target.substr(0, q);
    path.clear();
    for (char c : raw) {
        if (c == '/' && !path.empty() && path.back() == '/') {
            continue;
        }
        path += c;
    }
    while (path.rfind("/v1/v1/", 0) == 0 || path == "/v1/v1") {
        path.erase(0, 3);
    }
    if (path.size() > 1 && path.back() == '/') {
        path.pop_back();
    }
    if (path.empty()) {
        path = "/";
    }
}

}  // namespace clove::http
