#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace clove::api {

/// Token counts of one response, as the Anthropic API reports them. -1 = not reported.
struct Usage {
    int64_t input_tokens = -1;
    int64_t output_tokens = -1;
    int64_t cache_creation_input_tokens = -1;
    int64_t cache_read_input_tokens = -1;
    int64_t cache_creation_5m_tokens = -1;
    int64_t cache_creation_1h_tokens = -1;
};

/// Reads usage from a relayed stream without rebuilding events: `message_start` gives the
/// initial counts, each `message_delta` overwrites the fields it carries (they are cumulative).
/// Also records whether the stream ended properly. One per stream; not thread-safe.
class StreamUsageTap {
public:
    /// Feed one complete event (name and data as framed by sse::ForEachEvent).
    void OnEvent(std::string_view name, std::string_view data);

    const Usage& usage() const { return usage_; }
    bool saw_message_start() const { return saw_start_; }
    bool saw_message_stop() const { return saw_stop_; }
    bool saw_error() const { return saw_error_; }

private:
    Usage usage_;
    bool saw_start_ = false;
    bool saw_stop_ = false;
    bool saw_error_ = false;
};

/// Reads `usage` from a complete non-streaming Message JSON. Returns false when absent/invalid.
bool ReadMessageUsage(std::string_view json, Usage& out);

}  // namespace clove::api
