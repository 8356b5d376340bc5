#pragma once

#include <ostream>  // boost::core::string_view (via Beast) needs it complete

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clove::http {

/// One header field of a Request: views into the request's own copy of its head.
class HeaderField {
public:
    HeaderField(std::string_view name, std::string_view value) : name_(name), value_(value) {}
    std::string_view name_string() const { return name_; }
    std::string_view value() const { return value_; }

private:
    std::string_view name_;
    std::string_view value_;
};

/// A parsed HTTP/1.x request: the head bytes (owned), the request line's parts and the header
/// fields as views into them, in arrival order, plus the decoded body. Our own parser instead of
/// Beast's request_parser: the head was already checked line by line by HeadScanner, so parsing
/// is splitting at known-good boundaries, and fields are a flat vector (Beast's basic_fields
/// allocates per field into an rbtree; both showed in profiles). One object per connection,
/// reused across keep-alive requests. Names compare ASCII case-insensitively.
class Request {
public:
    Request() = default;
    Request(const Request&) = delete;  // fields are views into head_
    Request& operator=(const Request&) = delete;

    /// Parses `head` (request line + fields + the final empty line, as HeadScanner accepted it,
    /// leading blank lines already removed). Returns nullptr, or why the head is malformed.
    const char* Parse(std::string_view head);

    boost::beast::http::verb method() const { return verb_; }
    std::string_view method_string() const { return method_; }
    std::string_view target() const { return target_; }
    /// 10 or 11.
    unsigned version() const { return version_; }
    /// HTTP/1.1 unless `connection: close`; HTTP/1.0 only with `connection: keep-alive`.
    bool keep_alive() const { return keep_alive_; }

    /// The first field named `name` (case-insensitive), "" when absent.
    std::string_view operator[](std::string_view name) const;
    std::string_view operator[](boost::beast::http::field f) const {
        return (*this)[boost::beast::http::to_string(f)];
    }
    size_t count(std::string_view name) const;

    using const_iterator = std::vector<HeaderField>::const_iterator;
    const_iterator begin() const { return fields_.begin(); }
    const_iterator end() const { return fields_.end(); }

    /// Between keep-alive requests: give back a large head or body buffer (idle connections
    /// stay small); a typical one is kept for the next request.
    void ReleaseLarge();

    std::string& body() { return body_; }
    const std::string& body() const { return body_; }

private:
    std::string head_;
    std::vector<HeaderField> fields_;
    std::string_view method_;
    std::string_view target_;
    boost::beast::http::verb verb_ = boost::beast::http::verb::unknown;
    unsigned version_ = 11;
    bool keep_alive_ = true;
    std::string body_;
};

/// ASCII case-insensitive equality (header names and tokens; no locale). Inline: header
/// filtering compares every field name with a dozen names, and most differ in length.
inline bool IEqualsAscii(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        unsigned char x = static_cast<unsigned char>(a[i]);
        unsigned char y = static_cast<unsigned char>(b[i]);
        if (static_cast<unsigned>(x - 'A') < 26u) { x = static_cast<unsigned char>(x + 32); }
        if (static_cast<unsigned>(y - 'A') < 26u) { y = static_cast<unsigned char>(y + 32); }
        if (x != y) {
            return false;
        }
    }
    return true;
}

/// Whether the comma-separated token list `list` (a Connection header value) contains `token`.
bool HasToken(std::string_view list, std::string_view token) noexcept;

}  // namespace clove::http
