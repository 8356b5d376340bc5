#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace clove::routing {

/// Affinity for prompt caching: a key (hash of a request's cacheable prefix, or of a Claude Code
/// session id) -> the credential that served it, for `ttl` after the last hit. Shared by every
/// worker; sharded mutexes; bounded (expired entries are swept when a shard fills up).
class StickyTable {
public:
    explicit StickyTable(size_t max_entries = 1 << 16) : per_shard_(std::max<size_t>(max_entries / kShards, 16)) {}

    /// The credential remembered for `key`, refreshing its TTL; nullopt when none or expired.
    std::optional<std::string> Lookup(uint64_t key, int64_t now_ms, int64_t ttl_ms);
    void Remember(uint64_t key, const std::string& credential_id, int64_t now_ms, int64_t ttl_ms);
    size_t size() const;

private:
    static constexpr size_t kShards = 16;
    struct Entry {
        std::string credential_id;
        int64_t expires_ms = 0;
    };
    struct Shard {
        mutable std::mutex mu;
        std::unordered_map<uint64_t, Entry> map;
    };
    Shard& ShardOf(uint64_t key) { return shards_[(key >> 59) % kShards]; }
    size_t per_shard_;
    std::array<Shard, kShards> shards_;
};

}  // namespace clove::routing
