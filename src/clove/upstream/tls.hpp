#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>

// OpenSSL's types only; its functions are reached through the table in tls.cpp.
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace clove::upstream {

/// Errors of the TLS layer: OpenSSL's own error codes (ERR_get_error, messages from OpenSSL)
/// and the few below.
enum class TlsErrc {
    kLibraryUnavailable = 1,  ///< libssl.so.3 could not be loaded (the reason is logged once)
    kProtocol = 2,            ///< the TLS layer failed without an OpenSSL error code
};
const boost::system::error_category& TlsCategory();
/// Certificate verification failures: the X509_V_ERR_* value, message from OpenSSL.
const boost::system::error_category& TlsVerifyCategory();
boost::system::error_code make_error_code(TlsErrc e);

/// The TLS client context shared by all workers, created on first use. OpenSSL itself is loaded
/// then too (dlopen of libssl.so.3), not linked: a gateway whose upstreams are all plain HTTP
/// (local models, a TLS-terminating sidecar) maps none of libssl/libcrypto (~1.7 MB of resident
/// pages from their relocations alone), and loading the system CA bundle (~60 ms, ~1 MB) is paid
/// only by a gateway that needs it. Peer verification against the system store (or
/// SSL_CERT_FILE / SSL_CERT_DIR), TLS 1.2 at least. Thread-safe once made.
class SharedTlsContext {
public:
    SharedTlsContext() = default;
    ~SharedTlsContext();
    SharedTlsContext(const SharedTlsContext&) = delete;
    SharedTlsContext& operator=(const SharedTlsContext&) = delete;

    /// The context, or nullptr when OpenSSL is unavailable (logged once).
    SSL_CTX* Get();

private:
    std::once_flag once_;
    SSL_CTX* ctx_ = nullptr;
};

/// TLS client over a connected TCP socket the caller owns, through a memory BIO pair: OpenSSL
/// only encrypts and decrypts, every byte moves through the socket's own asynchronous reads and
/// writes (so the caller's deadline, which closes the socket, bounds every operation), and the
/// socket reads into and writes from the pair's 17 KiB buffers directly (no buffers of our own
/// per connection, no copy). One operation at a time, one worker thread.
class TlsStream {
public:
    explicit TlsStream(boost::asio::ip::tcp::socket& socket);
    ~TlsStream();
    TlsStream(const TlsStream&) = delete;
    TlsStream& operator=(const TlsStream&) = delete;

    /// Client handshake with SNI (DNS names only) and verification of `host` (a DNS name or an
    /// IP literal) against the peer's certificate.
    boost::asio::awaitable<boost::system::error_code> Handshake(SSL_CTX* ctx, const std::string& host);
    /// At least one byte of application data, or an error; eof for close_notify and for a peer
    /// that closed the socket without one (the caller's body framing decides whether the message
    /// was complete).
    boost::asio::awaitable<std::pair<boost::system::error_code, size_t>> ReadSome(boost::asio::mutable_buffer buffer);
    /// Writes every buffer (coalesced into records of up to 16 KiB).
    boost::asio::awaitable<boost::system::error_code> Write(std::span<const boost::asio::const_buffer> buffers);
    /// True when decrypted bytes or received records wait inside the TLS layer: a wait on the
    /// socket would not see them.
    bool HasBuffered() const;

private:
    enum class Op { kHandshake, kRead, kWrite };
    /// Runs `op` until it completes, moving ciphertext between the BIO pair and the socket.
    boost::asio::awaitable<std::pair<boost::system::error_code, int>> Run(Op op, void* data, int size);
    boost::asio::awaitable<boost::system::error_code> Flush();

    boost::asio::ip::tcp::socket& socket_;
    SSL* ssl_ = nullptr;
    BIO* network_ = nullptr;  ///< our end of the pair (sockets read into and write from its
                              ///< buffers directly); OpenSSL's end belongs to ssl_
};

}  // namespace clove::upstream

namespace boost::system {
template <>
struct is_error_code_enum<clove::upstream::TlsErrc> : std::true_type {};
}  // namespace boost::system
