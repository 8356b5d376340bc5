#include "clove/webui/static_files.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/field.hpp>

#include <array>

#include <fmt/format.h>

namespace clove::webui {

namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool ContainsNoCase(std::string_view hay, std::string_view needle) {
    if (needle.size() > hay.size()) return false;
    for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
        std::size_t j = 0;
        while (j < needle.size() && Lower(hay[i + j]) == needle[j]) ++j;
        if (j == needle.size()) return true;
    }
    return false;
}

std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// The last path segment has a dot: a file name (a missing asset is a 404, never index.html).
bool LooksLikeFile(std::string_view path) {
    auto slash = path.rfind('/');
    std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
    return last.find('.') != std::string_view::npos;
}

// The UI loads only its own scripts and styles and talks only to this origin. Inline styles are
// allowed (Radix positions popovers and Recharts sizes charts with style attributes); inline
// scripts are not.
constexpr std::string_view kHtmlSecurity =
    "content-security-policy: default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'\r\n"
    "x-frame-options: DENY\r\n"
    "referrer-policy: no-referrer\r\n";

}  // namespace

bool IsApiPath(std::string_view path) {
    return path == "/v1" || StartsWith(path, "/v1/") || path == "/admin/api" || StartsWith(path, "/admin/api/") ||
           path == "/metrics" || path == "/health";
}

const Asset* Resolve(std::string_view path, std::string_view accept) {
    if (IsApiPath(path)) return nullptr;
    if (path.empty() || path == "/" || path == "/index.html") return &Index();
    if (const Asset* a = Find(path)) return a;
    // A client-side route (/keys, /upstreams/up_…): the browser asks for HTML.
    if (!LooksLikeFile(path) && ContainsNoCase(accept, "text/html")) return &Index();
    return nullptr;
}

bool EtagMatches(std::string_view header, std::string_view etag) {
    header = Trim(header);
    if (header == "*") return true;
    while (!header.empty()) {
        auto comma = header.find(',');
        std::string_view tag = Trim(header.substr(0, comma));
        if (StartsWith(tag, "W/")) tag.remove_prefix(2);  // weak comparison (RFC 9110 13.1.2)
        if (tag == etag) return true;
        if (comma == std::string_view::npos) break;
        header.remove_prefix(comma + 1);
    }
    return false;
}

bool AcceptsGzip(std::string_view header) {
    while (!header.empty()) {
        auto comma = header.find(',');
        std::string_view item = Trim(header.substr(0, comma));
        auto semi = item.find(';');
        std::string_view coding = Trim(item.substr(0, semi));
        bool is_gzip = coding.size() == 4 && ContainsNoCase(coding, "gzip");
        bool is_any = coding == "*";
        if (is_gzip || is_any) {
            bool zero = false;
            if (semi != std::string_view::npos) {
                std::string_view params = item.substr(semi + 1);
                auto q = params.find("q=");
                if (q != std::string_view::npos) {
                    std::string_view v = Trim(params.substr(q + 2));
                    zero = v == "0" || StartsWith(v, "0.000") || v == "0." || v == "0.0" || v == "0.00";
                }
            }
            if (is_gzip) return !zero;
            if (!zero) return true;
        }
        if (comma == std::string_view::npos) break;
        header.remove_prefix(comma + 1);
    }
    return false;
}

std::string ResponseHead(const Asset& a, bool use_gzip, bool not_modified, std::size_t body_size) {
    std::string etag(a.etag);
    if (use_gzip) {
        etag.insert(etag.size() - 1, "-gz");
    }
    std::string head;
    head.reserve(640);
    head += not_modified ? "HTTP/1.1 304 Not Modified\r\n" : "HTTP/1.1 200 OK\r\n";
    head += "content-type: ";
    head += a.content_type;
    head += "\r\n";
    if (!not_modified) {
        head += fmt::format("content-length: {}\r\n", body_size);
    }
    head += "etag: " + etag + "\r\n";
    head += a.immutable ? "cache-control: public, max-age=31536000, immutable\r\n" : "cache-control: no-cache\r\n";
    if (!a.gzip.empty()) {
        head += "vary: accept-encoding\r\n";
    }
    if (use_gzip) {
        head += "content-encoding: gzip\r\n";
    }
    head += "x-content-type-options: nosniff\r\n";
    if (StartsWith(a.content_type, "text/html")) {
        head += kHtmlSecurity;
    }
    return head;
}

boost::asio::awaitable<bool> Serve(http::Exchange& ex) {
    namespace bh = boost::beast::http;
    const auto method = ex.request.method();
    if (method != bh::verb::get && method != bh::verb::head) {
        co_return false;
    }
    const Asset* a = Resolve(ex.path, ex.request[bh::field::accept]);
    if (!a) {
        co_return false;
    }
    const bool gzip = !a->gzip.empty() && AcceptsGzip(ex.request[bh::field::accept_encoding]);
    const std::string_view body = gzip ? a->gzip : a->raw;
    std::string etag(a->etag);
    if (gzip) etag.insert(etag.size() - 1, "-gz");
    auto inm = ex.request[bh::field::if_none_match];
    const bool not_modified = !inm.empty() && (EtagMatches(inm, etag) || EtagMatches(inm, a->etag));
    std::string head = ResponseHead(*a, gzip, not_modified, body.size());
    ex.AppendConnectionHeader(head);
    head += "\r\n";
    const bool with_body = !not_modified && method == bh::verb::get;
    std::array<boost::asio::const_buffer, 2> bufs{boost::asio::buffer(head), boost::asio::buffer(body.data(), body.size())};
    co_await ex.Write(std::span<const boost::asio::const_buffer>(bufs.data(), with_body ? 2 : 1));
    co_return true;
}

}  // namespace clove::webui
