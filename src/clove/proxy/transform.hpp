#pragma once

// Response transforms for the translated paths (docs/translation.md). The native path
// (Anthropic front, Anthropic upstream) never uses one: it forwards bytes.
//
//   Anthropic front <- OpenAI upstream   : ChatToMessages (+ MessageCollector for stream:false)
//   OpenAI front    <- Anthropic upstream: MessagesToChatStream / MessageToChatCompletion
//   OpenAI front    <- OpenAI upstream   : pass-through with a usage tap

#include <memory>
#include <string>
#include <string_view>

#include "clove/api/usage.hpp"
#include "clove/translate/chat_front.hpp"
#include "clove/translate/from_chat.hpp"
#include "clove/translate/to_chat.hpp"

namespace clove::proxy {

/// Turns an upstream response body into the client's. One per response; not thread-safe.
class ResponseTransform {
public:
    virtual ~ResponseTransform() = default;
    /// One complete upstream SSE event (its `event:` name, "" when absent, and its data).
    virtual void OnEvent(std::string_view name, std::string_view data, std::string& out) = 0;
    /// A whole non-SSE success body.
    virtual void OnBody(std::string_view body, std::string& out) = 0;
    /// The upstream body ended (clean EOF / end of chunks).
    virtual void OnEnd(std::string& out) = 0;
    /// The upstream failed mid-way (connection lost, idle timeout, framing).
    virtual void OnFailure(std::string_view message, std::string& out) = 0;
    /// The client's answer is complete (or ended with an error): read no more.
    virtual bool done() const = 0;
    /// Ended properly (not with an error).
    virtual bool complete() const = 0;
    /// Stop reading and close the upstream connection (an emulated stop sequence matched).
    virtual bool abort_upstream() const { return false; }
    virtual api::Usage usage() const = 0;
    /// Client stream (SSE, bytes as they come) or one JSON body (`out` holds it at the end;
    /// final_status() is its status).
    virtual bool client_stream() const = 0;
    virtual int final_status() const { return 200; }
};

/// Anthropic front, OpenAI upstream.
std::unique_ptr<ResponseTransform> MakeMessagesFromChat(const translate::ChatPlan& plan,
                                                        const config::OpenAIOptions& opt, std::string message_id,
                                                        translate::TextTokenCounter count);
/// OpenAI front, Anthropic upstream.
std::unique_ptr<ResponseTransform> MakeChatFromMessages(const translate::FrontPlan& plan, int64_t now_unix_s);
/// OpenAI front, OpenAI upstream (bytes unchanged).
std::unique_ptr<ResponseTransform> MakeChatPassthrough(bool client_stream);

}  // namespace clove::proxy
