#pragma once

#include <string>
#include <string_view>

namespace clove::api {

/// The Anthropic `error.type` for an HTTP status made by Clove (A.11 of the API reference):
/// 400 invalid_request_error, 401 authentication_error, 402 billing_error, 403 permission_error,
/// 404 not_found_error, 409 conflict_error, 413 request_too_large, 429 rate_limit_error,
/// 504 timeout_error, 529 overloaded_error, other 4xx invalid_request_error, other 5xx api_error.
std::string_view ErrorTypeForStatus(int status) noexcept;

/// `{"type":"error","error":{"type":...,"message":...},"request_id":...}`, one line.
std::string ErrorJson(std::string_view type, std::string_view message, std::string_view request_id);

/// An SSE `error` event frame (`event: error\ndata: {...}\n\n`) for a stream already started.
std::string ErrorEvent(std::string_view type, std::string_view message, std::string_view request_id);

/// `error.type` and `error.message` of an Anthropic error body (empty when absent). Tolerates
/// bytes around the JSON object (a chunk-size line, a trailing CRLF). For error paths only.
struct ErrorBody {
    std::string type;
    std::string message;
};
ErrorBody ParseErrorBody(std::string_view body);

/// Appends `s` to `out` as a JSON string literal (quotes included), escaping as RFC 8259 needs.
void AppendJsonString(std::string& out, std::string_view s);

/// The most bytes WriteJsonString writes for `n` input bytes (every byte as \u00XX, two quotes).
constexpr size_t JsonStringMaxSize(size_t n) { return 2 + 6 * n; }

/// Writes `s` at `out` as AppendJsonString does; `out` must have JsonStringMaxSize(s.size())
/// bytes. Returns the end of what it wrote.
char* WriteJsonString(char* out, std::string_view s);

}  // namespace clove::api
