#include "clove/routing/cache_stats.hpp"

#include <algorithm>

namespace clove::routing {

void CacheStats::Add(Map& m, std::string_view id, int64_t input, int64_t read, int64_t creation, int64_t now) {
    auto it = m.find(id);  // no allocation when the row exists
    if (it == m.end()) {
        it = m.emplace(std::string(id), Row{}).first;
        it->second.id = std::string(id);
    }
    auto& r = it->second;
    ++r.requests;
    r.input_tokens += input;
    r.cache_read_tokens += read;
    r.cache_creation_tokens += creation;
    r.last_seen_ms = now;
}

void CacheStats::Record(std::string_view key_id, std::string_view credential_id, std::string_view session,
                        int64_t input, int64_t cache_read, int64_t cache_creation, int64_t now) {
    std::lock_guard lock(mu_);
    if (!key_id.empty()) {
        Add(keys_, key_id, input, cache_read, cache_creation, now);
    }
    if (!credential_id.empty()) {
        Add(credentials_, credential_id, input, cache_read, cache_creation, now);
    }
    if (!session.empty()) {
        if (sessions_.size() >= max_sessions_ && sessions_.find(session) == sessions_.end()) {
            auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
                return a.second.last_seen_ms < b.second.last_seen_ms;
            });
            sessions_.erase(oldest);
        }
        Add(sessions_, session, input, cache_read, cache_creation, now);
        sessions_.find(session)->second.credential_id.assign(credential_id);
    }
}

namespace {
template <class M>
std::vector<CacheStats::Row> Sorted(const M& m) {
    std::vector<CacheStats::Row> out;
    out.reserve(m.size());
    for (const auto& [k, v] : m) {
        out.push_back(v);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.last_seen_ms > b.last_seen_ms; });
    return out;
}
}  // namespace

std::vector<CacheStats::Row> CacheStats::Keys() const {
    std::lock_guard lock(mu_);
    return Sorted(keys_);
}

std::vector<CacheStats::Row> CacheStats::Credentials() const {
    std::lock_guard lock(mu_);
    return Sorted(credentials_);
}

std::vector<CacheStats::Row> CacheStats::Sessions() const {
    std::lock_guard lock(mu_);
    return Sorted(sessions_);
}

}  // namespace clove::routing
