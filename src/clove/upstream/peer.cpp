#include "clove/upstream/peer.hpp"

#include <charconv>

namespace clove::upstream {

std::optional<Peer> ParseBaseUrl(const std::string& url) {
    Peer p;
    std::string_view rest;
    if (url.rfind("https://", 0) == 0) {
        p.tls = true;
        p.port = 443;
        rest = std::string_view(url).substr(8);
    } else if (url.rfind("http://", 0) == 0) {
        p.tls = false;
        p.port = 80;
        rest = std::string_view(url).substr(7);
    } else {
        return std::nullopt;
    }
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (authority.empty() || authority.find('@') != std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view host = authority;
    std::string_view port;
    if (authority.front() == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') {
                return std::nullopt;
            }
            port = authority.substr(close + 2);
        }
    } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty()) {
        return std::nullopt;
    }
    bool explicit_port = false;
    if (!port.empty()) {
        unsigned v = 0;
        auto r = std::from_chars(port.data(), port.data() + port.size(), v);
        if (r.ec != std::errc{} || r.ptr != port.data() + port.size() || v == 0 || v > 65535) {
            return std::nullopt;
        }
        explicit_port = v != (p.tls ? 443u : 80u);
        p.port = static_cast<uint16_t>(v);
    }
    p.host.assign(host);
    p.host_header = authority.front() == '[' ? "[" + p.host + "]" : p.host;
    if (explicit_port) {
        p.host_header += ":" + std::to_string(p.port);
    }
    while (!path.empty() && path.back() == '/') {
        path.remove_suffix(1);
    }
    p.base_path.assign(path);
    p.key = (p.tls ? "https://" : "http://") + p.host + ":" + std::to_string(p.port);
    return p;
}

bool SetProxy(Peer& peer, const std::string& proxy_url) {
    if (proxy_url.empty()) {
        peer.proxy_host.clear();
        peer.proxy_port = 0;
        return true;
    }
    auto p = ParseBaseUrl(proxy_url);
    if (!p || p->tls || !p->base_path.empty()) {
        return false;
    }
    peer.proxy_host = p->host;
    peer.proxy_port = p->port;
    peer.key += " via " + p->host + ":" + std::to_string(p->port);
    return true;
}

}  // namespace clove::upstream
