#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace clove::upstream {

/// Where an upstream lives, parsed from its `base_url`. Two peers with the same `key` can share
/// pooled connections (scheme + host + port; TLS always verifies, so no other setting varies).
struct Peer {
    bool tls = true;
    std::string host;         ///< without brackets for IPv6
    uint16_t port = 443;
    std::string host_header;  ///< `host` or `host:port` when the port is not the default
    std::string base_path;    ///< "" or "/prefix" without a trailing slash
    std::string key;
    /// Outbound proxy, empty host = direct: an HTTP CONNECT tunnel or a SOCKS5 connection
    /// (the upstream's host name is resolved by the proxy).
    enum class ProxyKind { kNone, kHttp, kSocks5 };
    ProxyKind proxy_kind = ProxyKind::kNone;
    std::string proxy_host;
    uint16_t proxy_port = 0;
    std::string proxy_user;      ///< secret-ish: never logged
    std::string proxy_password;  ///< secret: never logged
};

/// Routes `peer` through `proxy_url`: `http://[user:pass@]host[:port]` (CONNECT, Basic auth) or
/// `socks5://` / `socks5h://[user:pass@]host[:port]` (RFC 1928/1929, default port 1080);
/// "" = direct. The pool key includes the proxy. False when the URL is none of those.
bool SetProxy(Peer& peer, const std::string& proxy_url);

/// `proxy_url` with its password replaced by "***" (for the admin API and logs).
std::string MaskProxyUrl(const std::string& proxy_url);

/// Whether `proxy_url` is a proxy URL SetProxy accepts ("" is not).
bool ValidProxyUrl(const std::string& proxy_url);

/// The Chat Completions path of an OpenAI-compatible API under `base_path`: the base path itself
/// when it ends with `/chat/completions`; base + `/chat/completions` when its last segment is a
/// version (`/v1`, `/api/v1`, `/v1beta`, `/openai/v3`); else base + `/v1/chat/completions`.
std::string ChatCompletionsPath(const std::string& base_path);

/// Parses `http(s)://host[:port][/path]`. Returns nullopt when the URL is not of that form.
std::optional<Peer> ParseBaseUrl(const std::string& url);

}  // namespace clove::upstream
