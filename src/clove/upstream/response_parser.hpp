#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clove/http/request.hpp"

namespace clove::upstream {

/// An upstream response head. Header views point into `raw` (a copy of the head bytes), so the
/// read buffer can be reused at once.
struct ResponseHead {
    int status = 0;
    std::string raw;
    std::vector<std::pair<std::string_view, std::string_view>> headers;  ///< names as received
    std::optional<uint64_t> content_length;
    bool chunked = false;
    bool keep_alive = true;
    bool event_stream = false;  ///< content-type text/event-stream
    std::string_view content_type;

    /// First value of a header (case-insensitive name), "" when absent.
    std::string_view Get(std::string_view name) const;
};

enum class ParseStatus { kNeedMore, kComplete, kBad };

/// Parses an HTTP/1.x response head at the start of `window`. On kComplete, `head_size` is the
/// number of bytes the head used. 1xx interim responses are reported like any other status; the
/// caller skips them. `error` explains kBad. Pure function, any thread.
ParseStatus ParseResponseHead(std::string_view window, size_t max_size, ResponseHead& out,
                              size_t& head_size, std::string& error);

/// Case-insensitive ASCII comparison.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) noexcept {
    return http::IEqualsAscii(a, b);
}

}  // namespace clove::upstream
