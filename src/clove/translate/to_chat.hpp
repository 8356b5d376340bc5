#pragma once

// Anthropic Messages request -> OpenAI Chat Completions request, for upstreams of kind "openai"
// (docs/translation.md). Everything the response side needs is returned in a ChatPlan.

#include <boost/json/array.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clove/config/config.hpp"
#include "clove/translate/types.hpp"

namespace clove::translate {

/// What translating the answer back needs to know about the request.
struct ChatPlan {
    std::string client_model;                 ///< echoed in message_start
    bool client_stream = false;               ///< the client asked for SSE (the upstream always streams)
    std::vector<std::string> stop_sequences;  ///< all of them: enforced by the gateway
    bool tool_emulation = false;              ///< tools rendered into the prompt; parse calls from text
    boost::json::array tools;                 ///< the request's tools (tool emulation only)
    bool thinking = false;                    ///< the client asked for thinking
    int64_t input_estimate = 0;               ///< local token estimate of the prompt (set by the caller)
};

/// Translates `anthropic_body` (already validated as JSON with a model) into `out`, the body for
/// `POST {chat path}` of an OpenAI-compatible upstream: always a stream. `upstream_model` is the
/// mapped model name. Fills `plan`. A request the upstream cannot serve (images to a text-only
/// backend, server tools, tools without native or emulated support) is a TranslateError.
/// `for_count`: a count_tokens body (no max_tokens) whose messages go to a tokenizer endpoint.
std::optional<TranslateError> ToChatRequest(std::string_view anthropic_body, std::string_view upstream_model,
                                            const config::OpenAIOptions& opt, std::string& out, ChatPlan& plan,
                                            bool for_count = false);

/// Tool ids: an upstream id usable as an Anthropic tool_use id (^[A-Za-z0-9_-]{1,}$) is kept;
/// any other is encoded reversibly as `toolu_x<hex>`, so no state is kept between turns.
std::string ClientToolId(std::string_view upstream_id);
/// The inverse: the id to send upstream for a client's tool_use / tool_result id.
std::string UpstreamToolId(std::string_view client_id);

}  // namespace clove::translate
