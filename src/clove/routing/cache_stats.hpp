#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace clove::routing {

/// Prompt-cache efficiency: how much of the prompt input was read from the cache, per client
/// key, per credential and per Claude Code session (x-claude-code-session-id). In memory since
/// the process started; sessions are bounded (the least recently seen are dropped). Thread-safe.
class CacheStats {
public:
    struct Row {
        std::string id;
        int64_t requests = 0;
        int64_t input_tokens = 0;           ///< uncached input
        int64_t cache_read_tokens = 0;
        int64_t cache_creation_tokens = 0;
        int64_t last_seen_ms = 0;
        std::string credential_id;  ///< sessions: the credential that served the last request
        /// cache_read / (input + cache_read + cache_creation); 0 without input.
        double ReadShare() const {
            const int64_t all = input_tokens + cache_read_tokens + cache_creation_tokens;
            return all > 0 ? static_cast<double>(cache_read_tokens) / static_cast<double>(all) : 0.0;
        }
    };

    explicit CacheStats(size_t max_sessions = 2000) : max_sessions_(max_sessions) {}

    void Record(std::string_view key_id, std::string_view credential_id, std::string_view session, int64_t input,
                int64_t cache_read, int64_t cache_creation, int64_t now_wall_ms);

    std::vector<Row> Keys() const;
    std::vector<Row> Credentials() const;
    /// Most recently seen first.
    std::vector<Row> Sessions() const;

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using Map = std::unordered_map<std::string, Row, Hash, std::equal_to<>>;
    static void Add(Map& m, std::string_view id, int64_t input, int64_t read, int64_t creation, int64_t now);
    mutable std::mutex mu_;
    size_t max_sessions_;
    Map keys_, credentials_, sessions_;
};

}  // namespace clove::routing
