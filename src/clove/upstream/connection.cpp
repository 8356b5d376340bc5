#include "clove/upstream/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <optional>

#include "clove/base/clock.hpp"
#include "clove/base/log.hpp"
#include "clove/upstream/tls.hpp"

namespace clove::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;

/// The deadline of a plain connection's reads and writes: one timer, re-armed lazily. An
/// operation only stores its deadline; the pending timer wait, when it fires, closes the socket
/// if that deadline passed or waits again for a later one. A keep-alive connection serving many
/// requests therefore arms its timer about once per timeout period instead of twice per request
/// (tcp_stream's timer per operation showed in profiles). Shared with the timer's handler, which
/// may run after the connection is gone (`socket` is then null).
struct Deadline {
    asio::steady_timer timer;
    tcp::socket* socket = nullptr;
    Clock::time_point deadline = Clock::time_point::max();  ///< max: no operation pending
    Clock::time_point armed_at = Clock::time_point::max();  ///< when the pending wait fires
    bool timed_out = false;
    explicit Deadline(asio::io_context& ioc) : timer(ioc) {}
};

void ArmDeadline(const std::shared_ptr<Deadline>& d, Clock::time_point at);

void OnDeadlineTimer(const std::shared_ptr<Deadline>& d, boost::system::error_code ec) {
    if (ec || !d->socket) {
        return;  // re-armed (a newer wait is pending) or the connection is closing
    }
    d->armed_at = Clock::time_point::max();
    if (d->deadline == Clock::time_point::max()) {
        return;  // no operation pending: the next one arms again
    }
    if (Clock::now() >= d->deadline) {
        d->timed_out = true;
        boost::system::error_code ignored;
        d->socket->close(ignored);  // the pending operation fails; it reports a timeout
        return;
    }
    ArmDeadline(d, d->deadline);
}

void ArmDeadline(const std::shared_ptr<Deadline>& d, Clock::time_point at) {
    d->armed_at = at;
    d->timer.expires_at(at);  // cancels an earlier wait, whose handler then does nothing
    d->timer.async_wait([d](boost::system::error_code ec) { OnDeadlineTimer(d, ec); });
}

/// Starts an operation with `timeout` (a socket read or write, or a whole TLS operation).
void BeginOperation(const std::shared_ptr<Deadline>& d, std::chrono::milliseconds timeout) {
    d->timed_out = false;
    d->deadline = base::CoarseSteadyNow() + timeout;  // checked by the timer: a tick early at most
    if (d->armed_at > d->deadline) {
        ArmDeadline(d, d->deadline);  // nothing pending, or it would fire too late
    }
}

/// Ends the operation: a timeout that closed the socket becomes beast::error::timeout.
boost::system::error_code EndOperation(const std::shared_ptr<Deadline>& d, boost::system::error_code ec) {
    d->deadline = Clock::time_point::max();
    if (ec && d->timed_out) {
        return beast::error::timeout;
    }
    return ec;
}
}  // namespace

struct Connection::Impl {
    asio::io_context& ioc;
    SharedTlsContext& tls_ctx;
    Peer peer;
    std::optional<beast::tcp_stream> plain;  ///< the TCP connection (TLS runs over its socket)
    std::unique_ptr<TlsStream> tls;
    std::shared_ptr<Deadline> deadline;  ///< once connected (and for the TLS handshake)

    beast::tcp_stream& lowest() { return *plain; }
};

Connection::Connection(asio::io_context& ioc, SharedTlsContext& tls, const Peer& peer)
    : impl_(std::make_unique<Impl>(Impl{ioc, tls, peer, std::nullopt, nullptr, nullptr})), peer_key_(peer.key) {}

Connection::~Connection() {
    Close();
}

namespace {

std::string Base64(std::string_view in) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (i < in.size()) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        if (i + 1 < in.size()) {
            v |= static_cast<unsigned char>(in[i + 1]) << 8;
        }
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

/// SOCKS5 (RFC 1928) CONNECT to the peer through the proxy on a connected stream, with
/// username/password authentication (RFC 1929) when the proxy URL carries them. The host name is
/// sent as is (the proxy resolves it) unless it is an IP literal.
asio::awaitable<boost::system::error_code> OpenSocks5(beast::tcp_stream& s, const Peer& peer) {
    const bool with_auth = !peer.proxy_user.empty();
    std::string hello = with_auth ? std::string("\x05\x02\x00\x02", 4) : std::string("\x05\x01\x00", 3);
    auto [hec, hn] = co_await asio::async_write(s, asio::buffer(hello), kTuple);
    if (hec) {
        co_return hec;
    }
    unsigned char choice[2];
    auto [cec, cn] = co_await asio::async_read(s, asio::buffer(choice), kTuple);
    if (cec) {
        co_return cec;
    }
    if (choice[0] != 5 || (choice[1] != 0 && !(with_auth && choice[1] == 2))) {
        co_return asio::error::connection_refused;  // 0xFF: no acceptable method
    }
    if (choice[1] == 2) {
        std::string auth;
        auth += '\x01';
        auth += static_cast<char>(peer.proxy_user.size());
        auth += peer.proxy_user;
        auth += static_cast<char>(peer.proxy_password.size());
        auth += peer.proxy_password;
        auto [aec, an] = co_await asio::async_write(s, asio::buffer(auth), kTuple);
        std::fill(auth.begin(), auth.end(), '\0');
        if (aec) {
            co_return aec;
        }
        unsigned char status[2];
        auto [sec, sn] = co_await asio::async_read(s, asio::buffer(status), kTuple);
        if (sec) {
            co_return sec;
        }
        if (status[1] != 0) {
            co_return asio::error::access_denied;
        }
    }
    std::string req("\x05\x01\x00", 3);
    boost::system::error_code aec;
    auto addr = asio::ip::make_address(peer.host, aec);
    if (!aec && addr.is_v4()) {
        req += '\x01';
        auto b = addr.to_v4().to_bytes();
        req.append(reinterpret_cast<const char*>(b.data()), b.size());
    } else if (!aec && addr.is_v6()) {
        req += '\x04';
        auto b = addr.to_v6().to_bytes();
        req.append(reinterpret_cast<const char*>(b.data()), b.size());
    } else {
        if (peer.host.size() > 255) {
            co_return asio::error::invalid_argument;
        }
        req += '\x03';
        req += static_cast<char>(peer.host.size());
        req += peer.host;
    }
    req += static_cast<char>(peer.port >> 8);
    req += static_cast<char>(peer.port & 0xff);
    auto [wec, wn] = co_await asio::async_write(s, asio::buffer(req), kTuple);
    if (wec) {
        co_return wec;
    }
    unsigned char reply[4];
    auto [rec, rn] = co_await asio::async_read(s, asio::buffer(reply), kTuple);
    if (rec) {
        co_return rec;
    }
    if (reply[0] != 5 || reply[1] != 0) {
        co_return asio::error::connection_refused;
    }
    size_t rest = 2;  // port
    if (reply[3] == 1) {
        rest += 4;
    } else if (reply[3] == 4) {
        rest += 16;
    } else if (reply[3] == 3) {
        unsigned char len;
        auto [lec, ln] = co_await asio::async_read(s, asio::buffer(&len, 1), kTuple);
        if (lec) {
            co_return lec;
        }
        rest += len;
    } else {
        co_return asio::error::connection_refused;
    }
    unsigned char skip[262];
    auto [kec, kn] = co_await asio::async_read(s, asio::buffer(skip, rest), kTuple);
    co_return kec;
}

/// Opens a CONNECT tunnel through an HTTP proxy on a connected stream: sends the request and
/// reads the proxy's answer head (bounded), which must be 2xx. Nothing after the head is read.
asio::awaitable<boost::system::error_code> OpenTunnel(beast::tcp_stream& s, const Peer& peer) {
    std::string authority = peer.host;
    if (authority.find(':') != std::string::npos) {
        authority = "[" + authority + "]";  // IPv6 literal
    }
    authority += ":" + std::to_string(peer.port);
    std::string req = "CONNECT " + authority + " HTTP/1.1\r\nhost: " + authority + "\r\n";
    if (!peer.proxy_user.empty()) {
        req += "proxy-authorization: Basic " + Base64(peer.proxy_user + ":" + peer.proxy_password) + "\r\n";
    }
    req += "\r\n";
    auto [wec, wn] = co_await asio::async_write(s, asio::buffer(req), kTuple);
    if (wec) {
        co_return wec;
    }
    // Read byte-wise until the blank line: the tunnel's first bytes belong to the TLS handshake.
    std::string head;
    char c;
    while (head.size() < 8192) {
        auto [rec, n] = co_await s.async_read_some(asio::buffer(&c, 1), kTuple);
        if (rec) {
            co_return rec;
        }
        head += c;
        if (head.size() >= 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0) {
            break;
        }
    }
    // "HTTP/1.x 200 ..." (any 2xx)
    if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0 || head[9] != '2') {
        co_return asio::error::connection_refused;
    }
    co_return boost::system::error_code{};
}

}  // namespace

asio::awaitable<boost::system::error_code> Connection::Connect(std::chrono::milliseconds timeout) {
    auto& im = *impl_;
    const bool via_proxy = !im.peer.proxy_host.empty();
    tcp::resolver resolver(im.ioc);
    const std::string& host = via_proxy ? im.peer.proxy_host : im.peer.host;
    const std::string port = std::to_string(via_proxy ? im.peer.proxy_port : im.peer.port);
    auto [rec, results] = co_await resolver.async_resolve(host, port, kTuple);
    if (rec) {
        co_return rec;
    }
    im.plain.emplace(im.ioc);
    auto& low = im.lowest();
    low.expires_after(timeout);
    auto [cec, ep] = co_await low.async_connect(results, kTuple);
    if (cec) {
        co_return cec;
    }
    boost::system::error_code ignored;
    low.socket().set_option(tcp::no_delay(true), ignored);
    if (via_proxy) {
        // The connect deadline covers the proxy handshake too.
        boost::system::error_code pec;
        if (im.peer.proxy_kind == Peer::ProxyKind::kSocks5) {
            pec = co_await OpenSocks5(low, im.peer);
        } else {
            pec = co_await OpenTunnel(low, im.peer);
        }
        if (pec) {
            co_return pec;
        }
    }
    low.expires_never();
    // From here on, reads and writes (TLS's too) go to the socket itself under the lazy deadline.
    im.deadline = std::make_shared<Deadline>(im.ioc);
    im.deadline->socket = &low.socket();
    if (im.peer.tls) {
        im.tls = std::make_unique<TlsStream>(low.socket());
        SSL_CTX* ctx = im.tls_ctx.Get();
        BeginOperation(im.deadline, timeout);
        auto hec = co_await im.tls->Handshake(ctx, im.peer.host);
        if (auto ec = EndOperation(im.deadline, hec)) {
            co_return ec;
        }
    }
    co_return boost::system::error_code{};
}

asio::awaitable<boost::system::error_code> Connection::Write(std::span<const asio::const_buffer> buffers,
                                                             std::chrono::milliseconds timeout) {
    auto& im = *impl_;
    boost::system::error_code ec;
    if (im.tls) {
        BeginOperation(im.deadline, timeout);
        ec = EndOperation(im.deadline, co_await im.tls->Write(buffers));
    } else if (im.deadline) {
        BeginOperation(im.deadline, timeout);
        auto [e, n] = co_await asio::async_write(im.plain->socket(), buffers, kTuple);
        ec = EndOperation(im.deadline, e);
    } else {
        ec = asio::error::not_connected;
    }
    co_return ec;
}

asio::awaitable<std::pair<boost::system::error_code, size_t>> Connection::ReadSome(
    asio::mutable_buffer buffer, std::chrono::milliseconds timeout) {
    auto& im = *impl_;
    if (im.tls) {
        // A peer closing without close_notify reads as eof: the body decoder decides whether the
        // message was complete.
        BeginOperation(im.deadline, timeout);
        auto [e, n] = co_await im.tls->ReadSome(buffer);
        co_return std::pair{EndOperation(im.deadline, e), n};
    }
    if (!im.deadline) {
        co_return std::pair{boost::system::error_code(asio::error::not_connected), size_t{0}};
    }
    BeginOperation(im.deadline, timeout);
    auto [e, n] = co_await im.plain->socket().async_read_some(buffer, kTuple);
    co_return std::pair{EndOperation(im.deadline, e), n};
}

asio::awaitable<boost::system::error_code> Connection::WaitReadable(std::chrono::milliseconds timeout) {
    auto& im = *impl_;
    if (!im.plain) {
        co_return asio::error::not_connected;
    }
    if (im.tls && im.tls->HasBuffered()) {
        // Decrypted bytes, or records already pulled off the socket into the TLS layer, would
        // never wake a socket wait.
        co_return boost::system::error_code{};
    }
    auto& sock = im.lowest().socket();
    if (!sock.is_open()) {
        co_return asio::error::bad_descriptor;
    }
    // Bytes already waiting (the common case on a busy stream): no timer, no wait.
    boost::system::error_code aec;
    if (sock.available(aec) > 0 && !aec) {
        co_return boost::system::error_code{};
    }
    // A timer cancels the socket wait (never a read: a cancelled wait consumes nothing). The flag
    // keeps a timer that fired late from cancelling a later operation.
    auto fired = std::make_shared<bool>(false);
    auto done = std::make_shared<bool>(false);
    asio::steady_timer timer(im.ioc);
    timer.expires_after(timeout);
    timer.async_wait([&sock, fired, done](boost::system::error_code ec) {
        if (!ec && !*done) {
            *fired = true;
            boost::system::error_code ignored;
            sock.cancel(ignored);
        }
    });
    auto [ec] = co_await sock.async_wait(tcp::socket::wait_read, kTuple);
    *done = true;
    timer.cancel();
    if (*fired) {
        co_return beast::error::timeout;
    }
    co_return ec;
}

void Connection::Close() {
    if (!impl_) {
        return;
    }
    auto& im = *impl_;
    if (im.deadline) {
        // Its timer handler may still run and must not touch the socket. The Deadline itself
        // stays: an operation pending right now ends through it.
        im.deadline->socket = nullptr;
        im.deadline->timer.cancel();
    }
    if (im.plain) {
        auto& sock = im.lowest().socket();
        if (sock.is_open()) {
            boost::system::error_code ignored;
            sock.shutdown(tcp::socket::shutdown_both, ignored);
            sock.close(ignored);
        }
    }
}

bool Connection::is_open() const {
    auto& im = *impl_;
    if (!im.plain) {
        return false;
    }
    return im.lowest().socket().is_open();
}

Pool::Pool(asio::io_context& ioc, SharedTlsContext& tls, std::chrono::milliseconds idle_timeout,
           size_t max_idle_per_peer)
    : ioc_(ioc), tls_(tls), idle_timeout_(idle_timeout), max_idle_per_peer_(max_idle_per_peer) {}

std::unique_ptr<Connection> Pool::Acquire(const Peer& peer) {
    auto it = idle_.find(peer.key);
    if (it != idle_.end()) {
        auto& list = it->second;
        auto now = std::chrono::steady_clock::now();
        while (!list.empty()) {
            auto conn = std::move(list.back());
            list.pop_back();
            if (conn->is_open() && now - conn->idle_since < idle_timeout_) {
                return conn;
            }
        }
    }
    return std::make_unique<Connection>(ioc_, tls_, peer);
}

void Pool::Release(std::unique_ptr<Connection> conn) {
    if (!conn || !conn->is_open()) {
        return;
    }
    conn->MarkUsed();
    conn->idle_since = std::chrono::steady_clock::now();
    auto& list = idle_[conn->peer_key()];
    if (list.size() >= max_idle_per_peer_) {
        return;  // closes it
    }
    list.push_back(std::move(conn));
}

void Pool::Clear() {
    idle_.clear();
}

}  // namespace clove::upstream
