#include "clove/upstream/response_parser.hpp"

#include "clove/http/request.hpp"

#include <charconv>

namespace clove::upstream {

std::string_view ResponseHead::Get(std::string_view name) const {
    for (const auto& [k, v] : headers) {
        if (EqualsIgnoreCase(k, name)) {
            return v;
        }
    }
    return {};
}

namespace {

std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) { s.remove_prefix(1); }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) { s.remove_suffix(1); }
    return s;
}

bool ContainsTokenIgnoreCase(std::string_view list, std::string_view token) {
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        if (comma == std::string_view::npos) { comma = list.size(); }
        if (EqualsIgnoreCase(Trim(list.substr(start, comma - start)), token)) {
            return true;
        }
        start = comma + 1;
    }
    return false;
}

}  // namespace

ParseStatus ParseResponseHead(std::string_view w, size_t max_size, ResponseHead& out,
                              size_t& head_size, std::string& error) {
    size_t end = w.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (w.size() > max_size) {
            error = "upstream response head too large";
            return ParseStatus::kBad;
        }
        return ParseStatus::kNeedMore;
    }
    head_size = end + 4;
    out = ResponseHead{};
    out.raw.assign(w.substr(0, end + 2));
    std::string_view raw = out.raw;
    size_t eol = raw.find("\r\n");
    std::string_view status_line = raw.substr(0, eol);
    // HTTP/1.1 200 OK
    if (status_line.size() < 12 || status_line.rfind("HTTP/1.", 0) != 0 || status_line[8] != ' ') {
        error = "upstream sent an invalid status line";
        return ParseStatus::kBad;
    }
    bool http10 = status_line[7] == '0';
    int status = 0;
    auto r = std::from_chars(status_line.data() + 9, status_line.data() + 12, status);
    if (r.ec != std::errc{} || r.ptr != status_line.data() + 12 || status < 100 || status > 999) {
        error = "upstream sent an invalid status code";
        return ParseStatus::kBad;
    }
    out.status = status;
    out.keep_alive = !http10;
    size_t pos = eol + 2;
    bool has_te = false;
    // One allocation for the header list (a typical Anthropic head has ~20 lines).
    size_t lines = 0;
    for (size_t p = raw.find("\r\n", pos); p != std::string_view::npos; p = raw.find("\r\n", p + 2)) {
        ++lines;
    }
    out.headers.reserve(lines + 1);
    while (pos < raw.size()) {
        size_t le = raw.find("\r\n", pos);
        std::string_view line = raw.substr(pos, le - pos);
        pos = le + 2;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            error = "upstream sent a malformed header line";
            return ParseStatus::kBad;
        }
        std::string_view name = line.substr(0, colon);
        std::string_view value = Trim(line.substr(colon + 1));
        out.headers.emplace_back(name, value);
        // Only four names matter here; most fields differ from all of them in length.
        const size_t n = name.size();
        if (n != 14 && n != 17 && n != 10 && n != 12) {
            continue;
        }
        if (EqualsIgnoreCase(name, "content-length")) {
            uint64_t v = 0;
            auto cr = std::from_chars(value.data(), value.data() + value.size(), v);
            if (cr.ec != std::errc{} || cr.ptr != value.data() + value.size() ||
                (out.content_length && *out.content_length != v)) {
                error = "upstream sent an invalid Content-Length";
                return ParseStatus::kBad;
            }
            out.content_length = v;
        } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
            has_te = true;
            out.chunked = ContainsTokenIgnoreCase(value, "chunked");
        } else if (EqualsIgnoreCase(name, "connection")) {
            if (ContainsTokenIgnoreCase(value, "close")) {
                out.keep_alive = false;
            } else if (ContainsTokenIgnoreCase(value, "keep-alive")) {
                out.keep_alive = true;
            }
        } else if (EqualsIgnoreCase(name, "content-type")) {
            out.content_type = value;
            out.event_stream = value.size() >= 17 && EqualsIgnoreCase(value.substr(0, 17), "text/event-stream");
        }
    }
    if (has_te) {
        out.content_length.reset();  // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length
        if (!out.chunked) {
            out.keep_alive = false;  // read until close
        }
    }
    return ParseStatus::kComplete;
}

}  // namespace clove::upstream
