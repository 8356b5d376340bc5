#include "clove/routing/sticky.hpp"

namespace clove::routing {

std::optional<std::string> StickyTable::Lookup(uint64_t key, int64_t now_ms, int64_t ttl_ms) {
    auto& s = ShardOf(key);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) {
        return std::nullopt;
    }
    if (now_ms >= it->second.expires_ms) {
        s.map.erase(it);
        return std::nullopt;
    }
    it->second.expires_ms = now_ms + ttl_ms;
    return it->second.credential_id;
}

void StickyTable::Remember(uint64_t key, const std::string& credential_id, int64_t now_ms, int64_t ttl_ms) {
    auto& s = ShardOf(key);
    std::lock_guard lock(s.mu);
    if (s.map.size() >= per_shard_ && !s.map.count(key)) {
        std::erase_if(s.map, [now_ms](const auto& kv) { return now_ms >= kv.second.expires_ms; });
        if (s.map.size() >= per_shard_) {
            s.map.erase(s.map.begin());  // full of live entries: drop one
        }
    }
    auto& e = s.map[key];
    e.credential_id = credential_id;
    e.expires_ms = now_ms + ttl_ms;
}

size_t StickyTable::size() const {
    size_t n = 0;
    for (const auto& s : shards_) {
        std::lock_guard lock(s.mu);
        n += s.map.size();
    }
    return n;
}

}  // namespace clove::routing
