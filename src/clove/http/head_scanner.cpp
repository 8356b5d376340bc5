#include "clove/http/head_scanner.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace clove::http {

namespace {

// Byte classes, one table lookup per byte of a head (this runs on every request).
constexpr uint8_t kToken = 1;    // RFC 9110 tchar
constexpr uint8_t kBadByte = 2;  // not allowed inside a head line: CTLs but HTAB, DEL, CR

constexpr std::array<uint8_t, 256> MakeClasses() {
    std::array<uint8_t, 256> t{};
    for (int c = 0; c < 256; ++c) {
        const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool token = alnum;
        for (char x : std::string_view("!#$%&'*+-.^_`|~")) {
            token = token || c == static_cast<unsigned char>(x);
        }
        t[static_cast<size_t>(c)] = static_cast<uint8_t>((token ? kToken : 0) |
                                                         (((c < 0x20 && c != '\t') || c == 0x7f) ? kBadByte : 0));
    }
    return t;
}

constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

inline uint8_t ClassOf(char c) noexcept { return kClasses[static_cast<unsigned char>(c)]; }

/// True when one of the eight bytes of `x` is below 0x20 or is 0x7f (DEL). Exact (SWAR "has a
/// byte less than n" for n <= 128, and "has a zero byte" of x ^ 0x7f..): a borrow only starts at
/// a byte that is itself reported.
constexpr bool MayHoldControl8(uint64_t x) noexcept {
    constexpr uint64_t k01 = 0x0101010101010101ULL;
    constexpr uint64_t k80 = 0x8080808080808080ULL;
    const uint64_t below_20 = (x - k01 * 0x20) & ~x & k80;
    const uint64_t y = x ^ (k01 * 0x7f);
    const uint64_t del = (y - k01) & ~y & k80;
    return (below_20 | del) != 0;
}

}  // namespace

bool IsTokenChar(unsigned char c) noexcept { return (kClasses[c] & kToken) != 0; }

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
        // Eight bytes at a time while no byte is a control or DEL (a head is a few hundred bytes
        // of text); a block with one, or the tail, is checked byte by byte (HTAB is allowed).
        size_t i = 0;
        for (; i + 8 <= line.size(); i += 8) {
            uint64_t x;
            std::memcpy(&x, line.data() + i, sizeof x);
            if (MayHoldControl8(x)) {
                break;
            }
        }
        for (; i < line.size(); ++i) {
            const char c = line[i];
            if (ClassOf(c) & kBadByte) {
                return Bad(c == '\r' ? "bare CR in the request head" : "control character in the request head");
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
            size_t name_end = 0;
            while (name_end < line.size() && (ClassOf(line[name_end]) & kToken)) {
                ++name_end;
            }
            if (name_end == 0 || name_end == line.size() || line[name_end] != ':') {
                size_t colon = line.find(':');
                if (colon == std::string_view::npos || colon == 0) {
                    return Bad("header line without a field name and colon");
                }
                return Bad("invalid character in a header name (whitespace before the colon?)");
            }
        }
        pos_ = next;
    }
    return State::kNeedMore;
}

}  // namespace clove::http
