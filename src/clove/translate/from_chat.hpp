#pragma once

// OpenAI Chat Completions stream (or completion) -> the Messages API's SSE stream, exact
// (docs/translation.md): message_start first, one content block at a time with sequential
// indices (thinking, text, tool_use), message_delta with the stop reason and cumulative usage,
// message_stop; `event: error` when the upstream fails mid-way. Stop sequences and prompt-based
// tool calls are emulated here. Events leave as soon as the upstream bytes that make them arrive.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "clove/api/usage.hpp"
#include "clove/config/config.hpp"
#include "clove/translate/stop_matcher.hpp"
#include "clove/translate/to_chat.hpp"

namespace clove::translate {

class ToolCallParser;

/// Estimates tokens of a text (the tokenizer module's; null = characters / 4).
using TextTokenCounter = int64_t (*)(std::string_view);

/// One per response; not thread-safe.
class ChatToMessages {
public:
    ChatToMessages(const ChatPlan& plan, const config::OpenAIOptions& opt, std::string message_id,
                   TextTokenCounter count = nullptr);
    ~ChatToMessages();

    /// One upstream SSE event's `data` (`[DONE]` included). Appends client SSE bytes to `out`.
    void OnData(std::string_view data, std::string& out);
    /// A whole non-streaming ChatCompletion (an upstream that ignored `stream: true`).
    void OnCompletion(std::string_view json, std::string& out);
    /// The upstream body ended cleanly (EOF / end of chunked body): closes the message, or sends
    /// an error event when the upstream never finished it.
    void OnEnd(std::string& out);
    /// The upstream failed (connection lost, idle timeout): an error event, unless already done.
    void Fail(std::string_view type, std::string_view message, std::string& out);

    bool done() const { return done_; }            ///< message_stop or error sent: read no more
    bool complete() const { return complete_; }    ///< ended with message_stop
    bool stopped_early() const { return stopped_early_; }  ///< a stop sequence cut the upstream short
    /// Usage as reported to the client so far (Anthropic fields).
    const api::Usage& usage() const { return usage_; }
    /// Error type/message when the stream ended with an error event.
    const std::string& error_type() const { return error_type_; }

private:
    enum class Block { kNone, kText, kThinking, kTool };
    struct Tool {
        std::string key;  // upstream index (or id)
        std::string upstream_id;
        int index = -1;   // Anthropic block index (-1 while pending)
        bool pending = false;  // started while another call was streaming: sent whole later
        std::string name;
        std::string args;      // pending only
    };

    void Start(std::string& out);
    void Reasoning(std::string_view text, std::string& out);
    void Content(std::string_view text, std::string& out);
    void ThinkTags(std::string_view text, std::string& out);   // inline <think>...</think>
    void AnswerText(std::string_view text, std::string& out);  // through tool parsing
    void EmitText(std::string_view text, std::string& out);   // through the stop matcher
    void OpenText(std::string& out);
    void TextDelta(std::string_view text, std::string& out);
    void ToolFragment(const std::string& key, std::string_view id, std::string_view name, std::string_view args,
                      std::string& out);
    void WholeTool(std::string_view name, std::string_view input_json, std::string& out);
    void CloseBlock(std::string& out);
    void Delta(int index, std::string_view type, std::string_view field, std::string_view value, std::string& out);
    void StartTool(Tool& tool, std::string& out);
    void FlushText(std::string& out);
    void FlushThink(std::string& out);  // what the <think> detection holds, at the end of the content
    void Finish(std::string& out);
    void Event(std::string_view name, std::string_view data, std::string& out);

    /// Inline reasoning (`<think>` at the start of the content, from backends without a
    /// reasoning parser): not yet known, inside the tag, or off (plain content).
    enum class Think { kStart, kInside, kOff };

    ChatPlan plan_;
    config::OpenAIOptions opt_;
    std::string id_;
    TextTokenCounter count_;
    StopMatcher stops_;
    Think think_;
    bool think_lead_ = false;  // inside, nothing emitted yet: leading line breaks dropped
    std::string think_buf_;
    std::unique_ptr<ToolCallParser> tool_parser_;

    bool started_ = false;
    bool done_ = false;
    bool complete_ = false;
    bool stopped_early_ = false;
    bool saw_done_ = false;
    bool refused_ = false;  // the upstream sent `refusal` text
    Block open_ = Block::kNone;
    int next_index_ = 0;
    int tool_count_ = 0;
    std::vector<Tool> tools_;
    std::string finish_reason_;
    std::optional<std::string> matched_stop_;
    bool have_upstream_usage_ = false;
    api::Usage usage_;
    std::string emitted_text_;  // for an output estimate when the upstream reports no usage
    std::string error_type_;
    std::string scratch_;
};

/// An OpenAI `usage` object in Anthropic terms: input = prompt - cached - cache writes,
/// cache_read = prompt_tokens_details.cached_tokens (DeepSeek: prompt_cache_hit_tokens),
/// cache_creation = cache_write_tokens, output = completion_tokens. Only the fields present are
/// set; false when it carries no counts.
bool ReadChatUsage(const boost::json::object& usage, api::Usage& out);

/// Maps an OpenAI-compatible error response (status, body) to the Anthropic status and
/// error type; the message is the upstream's `error.message` (or its text).
struct MappedError {
    int status = 500;
    std::string type;
    std::string message;
};
MappedError MapChatError(int status, std::string_view body);

}  // namespace clove::translate
