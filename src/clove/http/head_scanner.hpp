#pragma once

#include <cstddef>
#include <string_view>

namespace clove::http {

/// RFC 9110 tchar: the bytes a header name or a method may consist of.
bool IsTokenChar(unsigned char c) noexcept;

/// Strict checks on a raw HTTP/1.1 request head, done before Beast parses it, for the framing
/// gaps Beast 1.81 leaves open (see docs/architecture.md): every line must end in CRLF (no bare
/// LF or CR), no obs-fold continuation lines, header names are tokens with the colon right after
/// them, values carry no control characters but HTAB. Incremental: call Scan after every read
/// with the whole window; lines already checked are not rescanned. One per request.
class HeadScanner {
public:
    enum class State {
        kNeedMore,  ///< no complete head yet: read more (subject to the header size limit)
        kComplete,  ///< head_size() bytes form the head, including the final CRLFCRLF
        kBad,       ///< reject with 400 and close; reason() says why
    };

    State Scan(std::string_view window) noexcept;
    size_t head_size() const noexcept { return head_size_; }
    const char* reason() const noexcept { return reason_; }
    /// Leading empty lines (CRLF) skipped before the request line (RFC 9112 §2.2 allows it).
    size_t leading_blank_bytes() const noexcept { return leading_; }

private:
    State Bad(const char* why) noexcept {
        reason_ = why;
        return State::kBad;
    }
    size_t pos_ = 0;          // start of the first line not yet checked
    size_t leading_ = 0;
    size_t head_size_ = 0;
    bool seen_request_line_ = false;
    const char* reason_ = "";
};

}  // namespace clove::http
