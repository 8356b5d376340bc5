#include "clove/http/head_scanner.hpp"

#include <cstring>

namespace clove::http {

bool IsTokenChar(unsigned char c) noexcept {
    if (c >= '0' && c <= '9') { return true; }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') { return true; }
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

HeadScanner::State HeadScanner::Scan(std::string_view w) noexcept {
    const char* d = w.data();
    while (pos_ < w.size()) {
        // Find the end of the current line.
        const void* lf_ptr = std::memchr(d + pos_, '\n', w.size() - pos_);
        if (!lf_ptr) {
            // Check the partial line early for bytes no head may contain, so a bad request is
            // refused without waiting for more.
            for (size_t i = pos_; i < w.size(); ++i) {
                unsigned char c = static_cast<unsigned char>(d[i]);
                if (c == '\r' && i + 1 < w.size()) {
                    return Bad("bare CR in the request head");
                }
                if (c == 0) {
                    return Bad("NUL byte in the request head");
                }
            }
            return State::kNeedMore;
        }
        size_t lf = static_cast<size_t>(static_cast<const char*>(lf_ptr) - d);
        if (lf == pos_ || d[lf - 1] != '\r') {
            return Bad("request head line ends with a bare LF (CRLF required)");
        }
        std::string_view line(d + pos_, lf - 1 - pos_);
        size_t next = lf + 1;
        if (line.empty()) {
            if (!seen_request_line_) {
                leading_ = next;
                pos_ = next;
                if (leading_ > 8) {
                    return Bad("too many empty lines before the request line");
                }
                continue;
            }
            head_size_ = next;
            pos_ = next;
            return State::kComplete;
        }
        for (unsigned char c : line) {
            if (c == '\r') {
                return Bad("bare CR in the request head");
            }
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return Bad("control character in the request head");
            }
        }
        if (!seen_request_line_) {
            seen_request_line_ = true;
            if (line.front() == ' ' || line.front() == '\t') {
                return Bad("request line starts with whitespace");
            }
        } else {
            if (line.front() == ' ' || line.front() == '\t') {
                return Bad("obsolete line folding in a header");
            }
            size_t colon = line.find(':');
            if (colon == std::string_view::npos || colon == 0) {
                return Bad("header line without a field name and colon");
            }
            for (size_t i = 0; i < colon; ++i) {
                if (!IsTokenChar(static_cast<unsigned char>(line[i]))) {
                    return Bad("invalid character in a header name (whitespace before the colon?)");
                }
            }
        }
        pos_ = next;
    }
    return State::kNeedMore;
}

}  // namespace clove::http
