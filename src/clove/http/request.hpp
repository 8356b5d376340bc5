#pragma once

#include <ostream>  // boost::core::string_view (via Beast) needs it complete

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstdint>
#include <cstring>
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

namespace detail {

/// The eight bytes of `w` with ASCII capitals lower-cased and every other byte unchanged (SWAR:
/// per byte, 0x20 is added where 'A' <= b <= 'Z'; no carry crosses a byte).
constexpr uint64_t LowerAscii8(uint64_t w) noexcept {
    constexpr uint64_t k7f = 0x7f7f7f7f7f7f7f7fULL;
    constexpr uint64_t k80 = 0x8080808080808080ULL;
    const uint64_t low7 = w & k7f;
    const uint64_t ge_a = low7 + 0x3f3f3f3f3f3f3f3fULL;  // bit 7 set where low7 >= 'A' (0x41)
    const uint64_t gt_z = low7 + 0x2525252525252525ULL;  // bit 7 set where low7 > 'Z' (0x5a)
    const uint64_t upper = ge_a & ~gt_z & ~w & k80;       // ... and the byte itself is ASCII
    return w | (upper >> 2);
}

inline uint64_t Load8(const char* p) noexcept {
    uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
}

inline bool IEqualsAscii8(const char* a, const char* b) noexcept {
    const uint64_t x = Load8(a);
    const uint64_t y = Load8(b);
    return x == y || LowerAscii8(x) == LowerAscii8(y);
}

}  // namespace detail

/// IEqualsAscii for two strings of the same size `n`. Eight bytes at a time (callgrind: byte by
/// byte cost ~80 instructions a call on header names).
inline bool IEqualsAsciiSameSize(const char* a, const char* b, size_t n) noexcept {
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            if (!detail::IEqualsAscii8(a + i, b + i)) {
                return false;
            }
        }
        return detail::IEqualsAscii8(a + n - 8, b + n - 8);  // the last 8 (may overlap)
    }
    for (size_t i = 0; i < n; ++i) {
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

/// ASCII case-insensitive equality (header names and tokens; no locale). The size check is
/// always inlined: a header lookup compares a name with every field (~80 calls per proxied
/// request), and most differ in size.
[[gnu::always_inline]] inline bool IEqualsAscii(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && IEqualsAsciiSameSize(a.data(), b.data(), a.size());
}

/// Whether the comma-separated token list `list` (a Connection header value) contains `token`.
bool HasToken(std::string_view list, std::string_view token) noexcept;

}  // namespace clove::http
