#pragma once

#include <optional>
#include <vector>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace clove::translate {

/// Folds a Messages API event stream into the non-streaming Message JSON (for a client that
/// asked for `stream: false` while the upstream streamed). Text, thinking (with its signature),
/// tool_use input (accumulated JSON parsed at the block's end), stop reason and usage.
/// One per response; not thread-safe.
class MessageCollector {
public:
    void OnEvent(std::string_view name, std::string_view data);

    bool complete() const { return complete_; }
    /// An `error` event ended the stream: its type and message.
    bool failed() const { return !error_type_.empty(); }
    const std::string& error_type() const { return error_type_; }
    const std::string& error_message() const { return error_message_; }

    /// The Message JSON (valid once complete()).
    std::string Json() const;

private:
    boost::json::object message_;
    std::vector<std::string> partial_json_;
    bool complete_ = false;
    std::string error_type_;
    std::string error_message_;
};

}  // namespace clove::translate
