#include "clove/http/request.hpp"

#include "clove/http/head_scanner.hpp"

#include <cstring>

namespace clove::http {

namespace {

std::string_view TrimOws(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) { s.remove_prefix(1); }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) { s.remove_suffix(1); }
    return s;
}

}  // namespace

bool HasToken(std::string_view list, std::string_view token) noexcept {
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        if (comma == std::string_view::npos) {
            comma = list.size();
        }
        if (IEqualsAscii(TrimOws(list.substr(start, comma - start)), token)) {
            return true;
        }
        start = comma + 1;
    }
    return false;
}

const char* Request::Parse(std::string_view head) {
    head_.assign(head.data(), head.size());
    fields_.clear();
    body_.clear();
    const std::string_view h = head_;

    // request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3)
    size_t eol = h.find("\r\n");
    if (eol == std::string_view::npos) {
        return "request line without CRLF";
    }
    const std::string_view line = h.substr(0, eol);
    const size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) {
        return "bad method";
    }
    method_ = line.substr(0, sp1);
    for (unsigned char c : method_) {
        if (!IsTokenChar(c)) {
            return "bad method";
        }
    }
    const size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
        return "bad target";
    }
    target_ = line.substr(sp1 + 1, sp2 - sp1 - 1);
    for (unsigned char c : target_) {
        if (c <= 0x20 || c == 0x7f) {
            return "bad target";
        }
    }
    const std::string_view ver = line.substr(sp2 + 1);
    if (ver.size() != 8 || ver.substr(0, 5) != "HTTP/" || ver[5] < '0' || ver[5] > '9' || ver[6] != '.' ||
        ver[7] < '0' || ver[7] > '9') {
        return "bad version";
    }
    version_ = static_cast<unsigned>((ver[5] - '0') * 10 + (ver[7] - '0'));
    verb_ = boost::beast::http::string_to_verb(method_);

    // field-line = field-name ":" OWS field-value OWS CRLF; HeadScanner already refused bare
    // CR/LF, control characters, obs-fold and names that are not tokens.
    size_t pos = eol + 2;
    bool close = false;
    bool keep = false;
    while (pos < h.size()) {
        eol = h.find("\r\n", pos);
        if (eol == std::string_view::npos) {
            return "header line without CRLF";
        }
        if (eol == pos) {
            break;  // the empty line that ends the head
        }
        const std::string_view fl = h.substr(pos, eol - pos);
        const size_t colon = fl.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            return "bad field";
        }
        const std::string_view name = fl.substr(0, colon);
        const std::string_view value = TrimOws(fl.substr(colon + 1));
        fields_.emplace_back(name, value);
        if (IEqualsAscii(name, "connection")) {  // several Connection lines form one list
            close = close || HasToken(value, "close");
            keep = keep || HasToken(value, "keep-alive");
        }
        pos = eol + 2;
    }
    keep_alive_ = version_ >= 11 ? !close : keep && !close;
    return nullptr;
}

void Request::ReleaseLarge() {
    if (head_.capacity() > 8 * 1024) {
        std::string().swap(head_);
        fields_.clear();
        fields_.shrink_to_fit();
    }
    if (body_.capacity() > 16 * 1024) {
        std::string().swap(body_);
    }
}

std::string_view Request::operator[](std::string_view name) const {
    for (const auto& f : fields_) {
        if (IEqualsAscii(f.name_string(), name)) {
            return f.value();
        }
    }
    return {};
}

size_t Request::count(std::string_view name) const {
    size_t n = 0;
    for (const auto& f : fields_) {
        n += IEqualsAscii(f.name_string(), name) ? 1 : 0;
    }
    return n;
}

}  // namespace clove::http
