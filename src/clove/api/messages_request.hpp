#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <cstdint>

namespace clove::api {

/// What the proxy needs from a Messages (or count_tokens) request body; nothing more is parsed
/// on the hot path.
struct MessagesRequestView {
    std::string model;
    bool stream = false;
    int64_t max_tokens = 0;  ///< 0 when absent (count_tokens)
    /// Prompt-cache affinity: one hash per cache_control breakpoint, shortest prefix first, of
    /// model + tools + system + the messages up to the one holding the breakpoint. Empty when the
    /// body has no cache_control (only computed for bodies up to 1 MiB).
    std::vector<uint64_t> cache_prefix_hashes;
};

/// A client-facing validation failure (always 400 invalid_request_error).
struct RequestError {
    std::string message;
};

/// Maximum JSON nesting accepted (tool input schemas can be deep; depth 129 is rejected).
inline constexpr size_t kMaxJsonDepth = 128;

/// Validates the whole body as JSON (syntax, UTF-8, nesting depth) and reads `model` and
/// `stream`. `require_model` is true for every Messages endpoint. The body may be large (32 MiB);
/// bodies above a few MiB are parsed with a temporary parser so a worker does not keep the
/// memory. Any thread (uses a thread-local parser).
std::optional<RequestError> ParseMessagesRequest(std::string_view body, MessagesRequestView& out);

/// Returns `body` with the top-level `model` value replaced by `new_model`, every other byte
/// unchanged. `body` must already have passed ParseMessagesRequest.
std::string SpliceModel(std::string_view body, std::string_view new_model);

}  // namespace clove::api
