#include "clove/upstream/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "clove/base/log.hpp"
#include "clove/base/shared_library.hpp"

namespace clove::upstream {

namespace asio = boost::asio;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kRecord = 16 * 1024;          ///< TLS's largest record payload
constexpr size_t kCipherBuffer = 17 * 1024;    ///< a record with its overhead (the BIO pair's own size)

// Every OpenSSL function Clove calls. The headers give the exact signatures; the functions come
// from libssl.so.3 (and libcrypto.so.3, which it loads) at the first TLS upstream.
#define CLOVE_OPENSSL_FUNCTIONS(X)                                                                  \
    X(TLS_client_method)                                                                            \
    X(SSL_CTX_new) X(SSL_CTX_free) X(SSL_CTX_set_options) X(SSL_CTX_set_default_verify_paths)       \
    X(SSL_CTX_set_verify) X(SSL_CTX_ctrl)                                                           \
    X(SSL_new) X(SSL_free) X(SSL_ctrl) X(SSL_set1_host) X(SSL_set_bio) X(SSL_set_connect_state)     \
    X(SSL_do_handshake) X(SSL_read) X(SSL_write) X(SSL_get_error) X(SSL_has_pending)                \
    X(SSL_get_verify_result)                                                                        \
    X(BIO_new_bio_pair) X(BIO_free) X(BIO_nread0) X(BIO_nread) X(BIO_nwrite0) X(BIO_nwrite)         \
    X(BIO_ctrl_pending) X(BIO_ctrl_get_write_guarantee)                                             \
    X(ERR_get_error) X(ERR_clear_error) X(ERR_error_string_n) X(X509_verify_cert_error_string)

struct LibSsl {
#define CLOVE_DECLARE(name) decltype(&::name) name = nullptr;
    CLOVE_OPENSSL_FUNCTIONS(CLOVE_DECLARE)
#undef CLOVE_DECLARE
    std::string error;  ///< why loading failed; empty when every function resolved
};

const LibSsl& Ssl() {
    static const LibSsl lib = [] {
        LibSsl l;
        base::SharedLibrary so("libssl.so.3", "libssl3");  // libcrypto.so.3 comes with it
#define CLOVE_LOAD(name) so.Resolve(l.name, #name);
        CLOVE_OPENSSL_FUNCTIONS(CLOVE_LOAD)
#undef CLOVE_LOAD
        l.error = so.error();
        return l;
    }();
    return lib;
}

// Boost's error_category has a public non-virtual destructor; these live as function statics.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class TlsCategoryImpl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "tls"; }
    std::string message(int ev) const override {
        switch (ev) {
            case static_cast<int>(TlsErrc::kLibraryUnavailable):
                return "TLS is unavailable: libssl.so.3 could not be loaded";
            case static_cast<int>(TlsErrc::kProtocol):
                return "TLS protocol error";
            default:
                break;
        }
        const LibSsl& l = Ssl();
        if (!l.error.empty()) {
            return "TLS error " + std::to_string(ev);
        }
        char buf[256];
        l.ERR_error_string_n(static_cast<unsigned long>(static_cast<unsigned>(ev)), buf, sizeof buf);
        return buf;
    }
};

class TlsVerifyCategoryImpl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "tls-verify"; }
    std::string message(int ev) const override {
        const LibSsl& l = Ssl();
        if (!l.error.empty()) {
            return "certificate verification failed (" + std::to_string(ev) + ")";
        }
        return std::string("certificate verification failed: ") + l.X509_verify_cert_error_string(ev);
    }
};

#pragma GCC diagnostic pop

/// The error OpenSSL queued for the failed call, or kProtocol when it queued none.
boost::system::error_code LastError(const LibSsl& l) {
    unsigned long e = l.ERR_get_error();
    // the first error is the root cause; drain the rest so they do not leak into a later call
    while (l.ERR_get_error() != 0) {
    }
    const int v = static_cast<int>(static_cast<unsigned>(e));
    if (v == 0 || v == static_cast<int>(TlsErrc::kLibraryUnavailable) || v == static_cast<int>(TlsErrc::kProtocol)) {
        return TlsErrc::kProtocol;
    }
    return {v, TlsCategory()};
}

}  // namespace

const boost::system::error_category& TlsCategory() {
    static const TlsCategoryImpl c;
    return c;
}

const boost::system::error_category& TlsVerifyCategory() {
    static const TlsVerifyCategoryImpl c;
    return c;
}

boost::system::error_code make_error_code(TlsErrc e) {
    return {static_cast<int>(e), TlsCategory()};
}

// ---------------------------------------------------------------- context

SharedTlsContext::~SharedTlsContext() {
    if (ctx_) {
        Ssl().SSL_CTX_free(ctx_);
    }
}

SSL_CTX* SharedTlsContext::Get() {
    std::call_once(once_, [this] {
        const LibSsl& l = Ssl();
        if (!l.error.empty()) {
            log::error("TLS upstreams are unavailable: {}", l.error);
            return;
        }
        SSL_CTX* ctx = l.SSL_CTX_new(l.TLS_client_method());
        if (!ctx) {
            log::error("TLS upstreams are unavailable: SSL_CTX_new failed: {}", LastError(l).message());
            return;
        }
        l.SSL_CTX_set_options(ctx, SSL_OP_ALL | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
        l.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, nullptr);
        l.SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        if (l.SSL_CTX_set_default_verify_paths(ctx) != 1) {
            log::warn("TLS: the system CA store could not be loaded ({}); HTTPS upstreams will fail verification",
                      LastError(l).message());
        }
        ctx_ = ctx;
    });
    return ctx_;
}

// ---------------------------------------------------------------- stream

TlsStream::TlsStream(asio::ip::tcp::socket& socket) : socket_(socket) {}

TlsStream::~TlsStream() {
    if (ssl_ || network_) {
        const LibSsl& l = Ssl();
        if (ssl_) {
            l.SSL_free(ssl_);  // frees OpenSSL's end of the pair too
        }
        if (network_) {
            l.BIO_free(network_);
        }
    }
}

bool TlsStream::HasBuffered() const {
    if (!ssl_) {
        return false;
    }
    const LibSsl& l = Ssl();
    // processed or unprocessed record bytes inside SSL, or ciphertext handed to OpenSSL's end of
    // the pair and not yet read by it (the network end's write side)
    return l.SSL_has_pending(ssl_) == 1 || l.BIO_ctrl_get_write_guarantee(network_) < kCipherBuffer;
}

asio::awaitable<boost::system::error_code> TlsStream::Handshake(SSL_CTX* ctx, const std::string& host) {
    if (!ctx) {
        co_return TlsErrc::kLibraryUnavailable;
    }
    const LibSsl& l = Ssl();
    l.ERR_clear_error();
    ssl_ = l.SSL_new(ctx);
    BIO* inner = nullptr;
    if (!ssl_ || l.BIO_new_bio_pair(&inner, kCipherBuffer, &network_, kCipherBuffer) != 1) {
        co_return LastError(l);
    }
    l.SSL_set_bio(ssl_, inner, inner);
    l.SSL_ctrl(ssl_, SSL_CTRL_MODE, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS, nullptr);
    l.SSL_set_connect_state(ssl_);
    boost::system::error_code aec;
    asio::ip::make_address(host, aec);
    const bool is_ip = !aec;
    // SNI carries DNS names only (RFC 6066); SSL_set1_host checks an IP literal against IP SANs
    if (!is_ip &&
        l.SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str())) != 1) {
        co_return LastError(l);
    }
    if (l.SSL_set1_host(ssl_, host.c_str()) != 1) {
        co_return LastError(l);
    }
    auto [ec, r] = co_await Run(Op::kHandshake, nullptr, 0);
    if (ec) {
        const long verify = l.SSL_get_verify_result(ssl_);
        if (verify != X509_V_OK) {
            co_return boost::system::error_code(static_cast<int>(verify), TlsVerifyCategory());
        }
    }
    co_return ec;
}

asio::awaitable<std::pair<boost::system::error_code, size_t>> TlsStream::ReadSome(asio::mutable_buffer buffer) {
    if (!ssl_) {
        co_return std::pair{boost::system::error_code(asio::error::not_connected), size_t{0}};
    }
    if (buffer.size() == 0) {
        co_return std::pair{boost::system::error_code{}, size_t{0}};
    }
    const int size = static_cast<int>(std::min<size_t>(buffer.size(), std::numeric_limits<int>::max()));
    auto [ec, n] = co_await Run(Op::kRead, buffer.data(), size);
    co_return std::pair{ec, ec ? size_t{0} : static_cast<size_t>(n)};
}

asio::awaitable<boost::system::error_code> TlsStream::Write(std::span<const asio::const_buffer> buffers) {
    if (!ssl_) {
        co_return asio::error::not_connected;
    }
    // Small buffers (a request head, a short body) are gathered into one record; a large one is
    // handed to OpenSSL as it is, a record at a time.
    std::vector<char> gather;
    size_t i = 0;
    size_t offset = 0;
    while (i < buffers.size()) {
        const char* data = static_cast<const char*>(buffers[i].data()) + offset;
        size_t len = buffers[i].size() - offset;
        if (len == 0) {
            ++i;
            offset = 0;
            continue;
        }
        if (len < kRecord && i + 1 < buffers.size()) {
            gather.clear();
            while (i < buffers.size() && gather.size() < kRecord) {
                const char* d = static_cast<const char*>(buffers[i].data()) + offset;
                const size_t take = std::min(buffers[i].size() - offset, kRecord - gather.size());
                gather.insert(gather.end(), d, d + take);
                offset += take;
                if (offset == buffers[i].size()) {
                    ++i;
                    offset = 0;
                }
            }
            data = gather.data();
            len = gather.size();
            size_t done = 0;
            while (done < len) {
                auto [ec, n] = co_await Run(Op::kWrite, const_cast<char*>(data + done), static_cast<int>(len - done));
                if (ec) {
                    co_return ec;
                }
                done += static_cast<size_t>(n);
            }
            continue;
        }
        const int chunk = static_cast<int>(std::min(len, kRecord));
        auto [ec, n] = co_await Run(Op::kWrite, const_cast<char*>(data), chunk);
        if (ec) {
            co_return ec;
        }
        offset += static_cast<size_t>(n);
        if (offset == buffers[i].size()) {
            ++i;
            offset = 0;
        }
    }
    co_return co_await Flush();
}

asio::awaitable<boost::system::error_code> TlsStream::Flush() {
    const LibSsl& l = Ssl();
    while (l.BIO_ctrl_pending(network_) > 0) {
        // Straight from the pair's buffer (no copy): OpenSSL does not run while this write is
        // pending, one operation at a time.
        char* data = nullptr;
        const int n = l.BIO_nread0(network_, &data);
        if (n <= 0 || !data) {
            co_return TlsErrc::kProtocol;
        }
        auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(data, static_cast<size_t>(n)), kTuple);
        if (ec) {
            co_return ec;
        }
        l.BIO_nread(network_, &data, n);  // consumed
    }
    co_return boost::system::error_code{};
}

asio::awaitable<std::pair<boost::system::error_code, int>> TlsStream::Run(Op op, void* data, int size) {
    const LibSsl& l = Ssl();
    for (;;) {
        l.ERR_clear_error();
        int r = 0;
        switch (op) {
            case Op::kHandshake:
                r = l.SSL_do_handshake(ssl_);
                break;
            case Op::kRead:
                r = l.SSL_read(ssl_, data, size);
                break;
            case Op::kWrite:
                r = l.SSL_write(ssl_, data, size);
                break;
        }
        const int err = r > 0 ? SSL_ERROR_NONE : l.SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL) {
            co_return std::pair{LastError(l), 0};
        }
        if (err == SSL_ERROR_ZERO_RETURN) {
            co_return std::pair{boost::system::error_code(asio::error::eof), 0};
        }
        // What OpenSSL produced leaves now, except after a completed write: Write sends its
        // records when the pair is full (WANT_WRITE) and at its end, so a request is one send.
        if (l.BIO_ctrl_pending(network_) > 0 && (op != Op::kWrite || err != SSL_ERROR_NONE)) {
            if (auto fec = co_await Flush()) {
                co_return std::pair{fec, 0};
            }
        }
        if (err == SSL_ERROR_NONE) {
            co_return std::pair{boost::system::error_code{}, r};
        }
        if (err == SSL_ERROR_WANT_WRITE) {
            continue;  // flushed above
        }
        if (err != SSL_ERROR_WANT_READ) {
            co_return std::pair{boost::system::error_code(TlsErrc::kProtocol), 0};
        }
        // Straight into the pair's buffer (no copy), committed once the read completed.
        char* space = nullptr;
        const int room = l.BIO_nwrite0(network_, &space);
        if (room <= 0 || !space) {
            co_return std::pair{boost::system::error_code(TlsErrc::kProtocol), 0};  // cannot happen: OpenSSL reads its end
        }
        auto [rec, n] = co_await socket_.async_read_some(asio::buffer(space, static_cast<size_t>(room)), kTuple);
        if (rec) {
            co_return std::pair{rec, 0};  // eof without close_notify included (see ReadSome)
        }
        if (l.BIO_nwrite(network_, &space, static_cast<int>(n)) != static_cast<int>(n)) {
            co_return std::pair{boost::system::error_code(TlsErrc::kProtocol), 0};
        }
    }
}

}  // namespace clove::upstream
