#pragma once

#include <cstring>
#include <string>
#include <string_view>

namespace clove::http {

/// Standard reason phrase for a status ("OK", "Not Found", ...); "Unknown" when not listed.
std::string_view ReasonPhrase(int status) noexcept;

/// Appends `name: value` CRLF with one resize (heads are built per request, field by field).
inline void AppendHeaderLine(std::string& out, std::string_view name, std::string_view value) {
    const size_t old = out.size();
    out.resize(old + name.size() + value.size() + 4);
    char* p = out.data() + old;
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = ':';
    *p++ = ' ';
    if (!value.empty()) {
        std::memcpy(p, value.data(), value.size());
        p += value.size();
    }
    *p++ = '\r';
    *p = '\n';
}

/// Writes an HTTP/1.1 response head by hand into a reused string: one allocation-free append per
/// field once the string has grown, and no serializer (measured ~40 % cheaper than Beast's
/// http::async_write for small answers, see docs/architecture.md).
class HeadBuilder {
public:
    explicit HeadBuilder(std::string& out) : out_(out) { out_.clear(); }

    void Status(int status);
    void Header(std::string_view name, std::string_view value);
    void Header(std::string_view name, uint64_t value);
    /// Appends the blank line that ends the head.
    void End() { out_ += "\r\n"; }

private:
    std::string& out_;
};

}  // namespace clove::http
