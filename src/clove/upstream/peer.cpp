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

namespace {

std::string PercentDecode(std::string_view in) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size()) {
            unsigned v = 0;
            auto r = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
            if (r.ec == std::errc{} && r.ptr == in.data() + i + 3) {
                out += static_cast<char>(v);
                i += 2;
                continue;
            }
        }
        out += in[i];
    }
    return out;
}

}  // namespace

bool SetProxy(Peer& peer, const std::string& proxy_url) {
    peer.proxy_kind = Peer::ProxyKind::kNone;
    peer.proxy_host.clear();
    peer.proxy_port = 0;
    peer.proxy_user.clear();
    peer.proxy_password.clear();
    if (proxy_url.empty()) {
        return true;
    }
    std::string_view url = proxy_url;
    Peer::ProxyKind kind;
    std::string_view rest;
    uint16_t default_port;
    if (url.rfind("http://", 0) == 0) {
        kind = Peer::ProxyKind::kHttp;
        rest = url.substr(7);
        default_port = 80;
    } else if (url.rfind("socks5://", 0) == 0 || url.rfind("socks5h://", 0) == 0) {
        kind = Peer::ProxyKind::kSocks5;
        rest = url.substr(url.find("://") + 3);
        default_port = 1080;
    } else {
        return false;
    }
    std::string user, password;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        auto info = rest.substr(0, at);
        rest = rest.substr(at + 1);
        auto colon = info.find(':');
        user = PercentDecode(info.substr(0, colon));
        if (colon != std::string_view::npos) {
            password = PercentDecode(info.substr(colon + 1));
        }
        if (user.empty() || user.size() > 255 || password.size() > 255) {
            return false;
        }
    }
    while (!rest.empty() && rest.back() == '/') {
        rest.remove_suffix(1);
    }
    // Reuse the base-URL parser for host and port; the default port differs for SOCKS.
    const bool has_port = rest.find(']') != std::string_view::npos
                              ? rest.substr(rest.find(']')).find(':') != std::string_view::npos
                              : rest.find(':') != std::string_view::npos;
    auto p = ParseBaseUrl("http://" + std::string(rest));
    if (!p || !p->base_path.empty()) {
        return false;
    }
    peer.proxy_kind = kind;
    peer.proxy_host = p->host;
    peer.proxy_port = has_port ? p->port : default_port;
    peer.proxy_user = std::move(user);
    peer.proxy_password = std::move(password);
    // Pooled tunnels are keyed by the whole proxy identity; a changed password must not reuse a
    // tunnel opened with the old one (a hash of it, never the password itself).
    peer.key += std::string(kind == Peer::ProxyKind::kHttp ? " via http " : " via socks5 ") + peer.proxy_host + ":" +
                std::to_string(peer.proxy_port) +
                (peer.proxy_user.empty()
                     ? ""
                     : " as " + peer.proxy_user + "#" +
                           std::to_string(std::hash<std::string>{}(peer.proxy_user + '\0' + peer.proxy_password) & 0xffffff));
    return true;
}

std::string MaskProxyUrl(const std::string& proxy_url) {
    auto scheme = proxy_url.find("://");
    auto at = proxy_url.rfind('@');
    if (scheme == std::string::npos || at == std::string::npos || at < scheme) {
        return proxy_url;
    }
    auto colon = proxy_url.find(':', scheme + 3);
    if (colon == std::string::npos || colon > at) {
        return proxy_url;
    }
    return proxy_url.substr(0, colon + 1) + "***" + proxy_url.substr(at);
}

bool ValidProxyUrl(const std::string& proxy_url) {
    Peer probe;
    return !proxy_url.empty() && SetProxy(probe, proxy_url);
}

std::string ChatCompletionsPath(const std::string& base_path) {
    std::string_view b = base_path;
    while (!b.empty() && b.back() == '/') {
        b.remove_suffix(1);
    }
    if (b.ends_with("/chat/completions")) {
        return std::string(b);
    }
    std::string_view last = b.substr(b.rfind('/') + 1);
    const bool version = last.size() >= 2 && (last[0] == 'v' || last[0] == 'V') && last[1] >= '0' && last[1] <= '9';
    return std::string(b) + (version ? "/chat/completions" : "/v1/chat/completions");
}

}  // namespace clove::upstream
