#pragma once

#include <string>

namespace clove {

/// Where a failure came from; decides the access-log outcome and who is blamed.
enum class ErrorSource {
    kDownstream,  ///< the client: bad request, disconnect. Answer 4xx or just close.
    kUpstream,    ///< the upstream: connect/read failure, timeout. May fail over (later issue).
    kInternal,    ///< a bug or resource exhaustion in Clove. Answer 500.
};

/// A failure as a value. `status` and `type` are what the client sees (Anthropic error type),
/// `message` is safe to show to the client (never contains a secret).
struct Error {
    int status = 500;
    std::string type = "api_error";
    std::string message;
    ErrorSource source = ErrorSource::kInternal;
};

}  // namespace clove
