#pragma once

#include <cstdint>
#include <string_view>

#include "clove/routing/credential_state.hpp"
#include "clove/upstream/response_parser.hpp"

namespace clove::routing {

/// How the proxy treats an upstream answer before any byte reached the client.
enum class Verdict : uint8_t {
    kRelay,         ///< success or the client's own fault (400/404/413/...): relay as it is
    kNextCredential,///< 401/402/403/429: this credential is the problem; try another
    kNextUpstream,  ///< 5xx/529: this upstream is the problem; skip its other credentials
};

Verdict Judge(int status);

/// The credential event an upstream response head means. Reads `retry-after` and the
/// `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
/// headers (RFC 3339 reset times, relative to `now_wall_ms`).
Event EventFromResponse(const upstream::ResponseHead& head, int64_t now_wall_ms);

}  // namespace clove::routing
