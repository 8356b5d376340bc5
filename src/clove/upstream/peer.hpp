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
    /// Outbound HTTP proxy (CONNECT tunnel to host:port), empty = direct.
    std::string proxy_host;
    uint16_t proxy_port = 0;
};

/// Routes `peer` through the HTTP proxy `proxy_url` (`http://host[:port]`; "" = direct). The
/// pool key includes the proxy. Returns false when the URL is not of that form.
bool SetProxy(Peer& peer, const std::string& proxy_url);

/// Parses `http(s)://host[:port][/path]`. Returns nullopt when the URL is not of that form.
std::optional<Peer> ParseBaseUrl(const std::string& url);

}  // namespace clove::upstream
