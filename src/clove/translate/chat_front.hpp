#pragma once

// The OpenAI-compatible front (`POST /v1/chat/completions`) served from an Anthropic-native
// upstream: request translation (B.5 of the OpenAI reference), response translation (B.6) and
// the streaming translation Anthropic SSE -> ChatCompletion chunks (B.8).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clove/translate/types.hpp"

namespace clove::translate {

/// What the response side must know about an OpenAI-front request.
struct FrontPlan {
    std::string client_model;  ///< `model` as the client sent it
    bool stream = false;
    bool include_usage = false;  ///< stream_options.include_usage
    bool reasoning_out = true;   ///< emit thinking as delta.reasoning_content / message.reasoning_content
};

/// OpenAI ChatCompletion request JSON -> Anthropic Messages request JSON (B.5). `model` in the
/// output is `upstream_model`. max_tokens = max_completion_tokens / max_tokens, else
/// `default_max_tokens`. Errors (invalid JSON, messages missing/empty, n>1, input_audio parts,
/// invalid tool arguments JSON, unknown role...) return TranslateError{400, clear message}.
/// Always sets "stream" in the output to the client's stream flag. `plan` is filled as far as
/// the request could be read.
///
/// Decisions beyond the mapping table:
/// - legacy `{role:"function", name, content}` becomes a tool_result answering the latest
///   unanswered legacy assistant `function_call` of that name (ids `call_legacy_<n>` are made up
///   for both); a function message with no such call is a 400.
/// - tool ids that Anthropic would reject (outside `^[A-Za-z0-9_-]+$`) are rewritten to
///   `toolu_x<hex>` consistently in tool_use and tool_result blocks.
/// - when thinking is on (reasoning_effort or a `thinking` extra field), `temperature` other
///   than 1, `top_p` below 0.95 and `top_k` are dropped (Anthropic rejects them with thinking).
/// - reasoning_effort is ignored when tool_choice forces a tool (Anthropic refuses thinking
///   then); an explicit `thinking` field is passed through unchanged.
/// - a trailing assistant message (prefill) loses its trailing whitespace, as Anthropic requires.
/// - `top_k` (an integer, extra body field) is passed through; `tool_choice` allowed_tools keeps
///   only the listed tools; custom tools and `file_id` parts are 400s.
std::optional<TranslateError> FromChatRequest(std::string_view openai_body, std::string_view upstream_model,
                                              int64_t default_max_tokens, std::string& anthropic_body,
                                              FrontPlan& plan);

/// A complete Anthropic Message JSON -> ChatCompletion JSON (`object:"chat.completion"`, id
/// "chatcmpl-"+msg id, created = `now_unix_s`, model = plan.client_model, choices[0].message
/// {role, content (text blocks joined; null if none), refusal:null, tool_calls (arguments =
/// compact JSON of input), reasoning_content (thinking, when plan.reasoning_out)}, finish_reason
/// (B.6), usage (B.6)). A body that is not a JSON object yields ChatErrorJson("api_error", ...).
std::string MessageToChatCompletion(std::string_view message_json, const FrontPlan& plan, int64_t now_unix_s);

/// Anthropic SSE events -> OpenAI chunk stream bytes (`data: {...}\n\n` ... `data: [DONE]\n\n`),
/// B.8. One instance per stream; not thread-safe. Malformed events are skipped.
class MessagesToChatStream {
public:
    MessagesToChatStream(FrontPlan plan, int64_t now_unix_s);

    /// One complete upstream event (name, data as given by sse::ForEachEvent). Appends client
    /// bytes to `out`. Nothing happens once done().
    void OnEvent(std::string_view name, std::string_view data, std::string& out);

    /// The upstream stream failed (connection lost...) after OnEvent calls: appends
    /// `data: {"error":{...}}\n\n` (unless already done) and ends the stream.
    void Fail(std::string_view type, std::string_view message, std::string& out);

    /// `[DONE]` (or an error) was emitted.
    bool done() const { return done_; }

private:
    void Start(std::string_view msg_id, std::string& out);
    void Chunk(std::string_view delta_json, std::string_view finish_json, std::string& out) const;
    void Finish(std::string_view reason, std::string& out);
    void Error(std::string_view type, std::string_view message, std::string& out);
    int ToolIndexOf(int64_t block_index) const;

    FrontPlan plan_;
    int64_t created_;
    std::string meta_;  // chunk JSON before `choices`: {"id":...,"object":...,"created":...,"model":...
    bool started_ = false;
    bool finished_ = false;  // the chunk with finish_reason was sent
    bool done_ = false;
    std::string stop_reason_;  // Anthropic stop_reason from message_delta
    int tool_count_ = 0;
    std::vector<std::pair<int64_t, int>> tool_blocks_;  // Anthropic block index -> tool_calls index
    int64_t input_tokens_ = 0;
    int64_t cache_read_ = 0;
    int64_t cache_creation_ = 0;
    int64_t output_tokens_ = 0;
    std::optional<int64_t> reasoning_tokens_;
};

/// OpenAI error body: {"error":{"message":M,"type":T,"param":null,"code":null}}. Invalid UTF-8
/// in the arguments is replaced by U+FFFD.
std::string ChatErrorJson(std::string_view type, std::string_view message);

/// An Anthropic error body (any bytes) -> OpenAI error body for the same status: `error.type` and
/// `error.message` are kept; when absent, the type follows the status and the message says
/// which status the upstream answered.
std::string AnthropicErrorToChat(int status, std::string_view anthropic_body);

}  // namespace clove::translate
