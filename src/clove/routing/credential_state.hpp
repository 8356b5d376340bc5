#pragma once

// Credential health: a pure state machine (Next) plus the live, shared object the hot path reads
// with atomics (CredentialHealth), and the table that keeps those objects across snapshot
// rebuilds and persists state changes (HealthTable).
//
// States: valid; cooling down until a time (the upstream said when, or the operator's fallback
// after a 429 without reset headers, or after N consecutive failures); invalid with a reason
// (401/402/403) until an operator re-enables or tests it. "disabled" is the operator's flag and
// lives in the snapshot, not here.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "clove/base/clock.hpp"

namespace clove::routing {

enum class Health : uint8_t { kValid = 0, kCoolingDown = 1, kInvalid = 2 };

/// Why a credential cools down; decides how the planner treats it.
enum class Cause : uint8_t {
    kNone = 0,
    kRateLimited = 1,  ///< 429, or rate-limit headers saying 0 remaining: skip until the reset
    kFailures = 2,     ///< consecutive 5xx/529/connect errors: a last resort until the cooldown ends
};

/// The knobs of the state machine (runtime settings; defaults in config::Settings).
struct Policy {
    int64_t fallback_cooldown_ms = 60'000;  ///< 429 without retry-after / reset headers
    int failure_threshold = 3;              ///< consecutive failures that start a cooldown
    int64_t failure_cooldown_ms = 30'000;
    /// A credential whose rate-limit headers show less than this share left is used last.
    double pressure_fraction = 0.05;
};

/// What one upstream attempt told us about its credential.
struct Event {
    enum class Kind : uint8_t {
        kSuccess,         ///< 2xx (or a client error: the credential worked)
        kRateLimited,     ///< 429
        kFailure,         ///< 5xx, 529, connect error, timeout before the head
        kInvalid,         ///< 401, 402, 403: revoked, billing, permission
    };
    Kind kind = Kind::kSuccess;
    /// When the upstream says the limit resets, relative to now (retry-after or the earliest
    /// anthropic-ratelimit-*-reset).
    std::optional<int64_t> reset_after_ms;
    /// Success: the smallest remaining/limit share in the rate-limit headers, and when that
    /// family resets (relative). Below Policy::pressure_fraction => used last until the reset.
    std::optional<double> remaining_fraction;
    std::optional<int64_t> remaining_reset_after_ms;
    std::string error;  ///< last error text (never contains a secret)
};

/// The state as a plain value. Times are steady ms; `until_wall_ms` is for display and storage.
struct Status {
    Health health = Health::kValid;
    Cause cause = Cause::kNone;
    int64_t until_ms = 0;
    int64_t until_wall_ms = 0;
    int consecutive_failures = 0;
    int64_t pressured_until_ms = 0;  ///< low remaining quota: prefer others until then
    std::string last_error;
};

/// The pure transition: (state, event, now) -> state. `now_wall_ms` only feeds `until_wall_ms`.
Status Next(const Status& s, const Event& e, int64_t now_ms, int64_t now_wall_ms, const Policy& p);
/// The same transition applied in place (the hot path: no copy of the state's strings).
void Apply(Status& s, const Event& e, int64_t now_ms, int64_t now_wall_ms, const Policy& p);

/// A cooldown that has run out is valid again (recovery needs no event).
Health EffectiveHealth(const Status& s, int64_t now_ms);

/// "valid" | "cooling_down" | "invalid" as stored and shown by the admin API.
std::string_view HealthName(Health h);

/// What is persisted when the state changes.
struct Persisted {
    std::string state;  ///< valid | cooling_down | invalid
    std::optional<std::string> last_error;
    std::optional<int64_t> cooldown_until_wall_ms;
};

/// The live state of one credential, shared by every worker. The planner reads atomics only;
/// transitions take a per-credential mutex.
class CredentialHealth {
public:
    /// For the planner: usable now (valid, or a cooldown that has run out).
    bool Available(int64_t now_ms) const {
        auto h = static_cast<Health>(health_.load(std::memory_order_relaxed));
        if (h == Health::kValid) {
            return true;
        }
        return h == Health::kCoolingDown && now_ms >= until_ms_.load(std::memory_order_relaxed);
    }
    Health health() const { return static_cast<Health>(health_.load(std::memory_order_relaxed)); }
    Cause cause() const { return static_cast<Cause>(cause_.load(std::memory_order_relaxed)); }
    int64_t until_ms() const { return until_ms_.load(std::memory_order_relaxed); }
    int64_t until_wall_ms() const { return until_wall_ms_.load(std::memory_order_relaxed); }
    bool Pressured(int64_t now_ms) const { return now_ms < pressured_until_ms_.load(std::memory_order_relaxed); }

    /// Concurrency: false (nothing taken) when `cap` > 0 and already reached.
    bool TryAcquire(int64_t cap) {
        int64_t n = in_flight.fetch_add(1, std::memory_order_relaxed);
        if (cap > 0 && n >= cap) {
            in_flight.fetch_sub(1, std::memory_order_relaxed);
            return false;
        }
        return true;
    }
    void Release() { in_flight.fetch_sub(1, std::memory_order_relaxed); }

    Status Snapshot() const;

    std::atomic<int64_t> in_flight{0};
    std::atomic<uint64_t> last_used_seq{0};  ///< global sequence number of the last pick (LRU)
    std::atomic<int64_t> last_used_wall_ms{0};
    std::atomic<int64_t> requests{0}, successes{0}, failures{0}, rate_limited{0};

private:
    friend class HealthTable;
    void Publish(const Status& s);

    mutable std::mutex mu_;
    Status status_;
    std::atomic<uint8_t> health_{0};
    std::atomic<uint8_t> cause_{0};
    std::atomic<int64_t> until_ms_{0};
    std::atomic<int64_t> until_wall_ms_{0};
    std::atomic<int64_t> pressured_until_ms_{0};
};

/// In-flight requests of one upstream (for least-in-flight balancing), shared by every worker.
struct UpstreamLoad {
    std::atomic<int64_t> in_flight{0};
};

/// Every credential's live state by id. Survives snapshot rebuilds; a snapshot holds
/// shared_ptrs into it. Thread-safe.
class HealthTable {
public:
    explicit HealthTable(const base::Clock& clock) : clock_(clock) {}

    /// The live object for `id`, created valid when new.
    std::shared_ptr<CredentialHealth> Get(const std::string& id);
    std::shared_ptr<CredentialHealth> Find(const std::string& id) const;
    std::shared_ptr<UpstreamLoad> Load(const std::string& upstream_id);

    /// Creates `id` from its stored state (start-up, or a credential another replica changed)
    /// unless it already exists.
    void Seed(const std::string& id, std::string_view state, const std::optional<std::string>& last_error,
              const std::optional<int64_t>& cooldown_until_wall_ms);
    /// Back to valid (an operator re-enabled or tested it), without persisting (the caller did).
    void Reset(const std::string& id);
    /// Forces invalid (a failed test), without persisting (the caller did).
    void MarkInvalid(const std::string& id, const std::string& reason);
    /// A health probe succeeded: an invalid credential is valid again (persisted), a failing one
    /// leaves its cooldown.
    void Revive(const std::string& id, CredentialHealth& h, const Policy& p);
    /// Drops ids no longer in the database.
    void Forget(const std::string& id);

    /// Applies an attempt's outcome; persists through the sink when the state or cause changed.
    void Record(const std::string& id, CredentialHealth& h, const Event& e, const Policy& p);

    /// Called (from a worker, must not block) when a credential's state changed.
    void SetSink(std::function<void(const std::string& id, const Persisted&)> sink);

    /// A global sequence for least-recently-used ordering.
    uint64_t NextSeq() { return seq_.fetch_add(1, std::memory_order_relaxed) + 1; }

    const base::Clock& clock() const { return clock_; }

private:
    const base::Clock& clock_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<CredentialHealth>> creds_;
    std::unordered_map<std::string, std::shared_ptr<UpstreamLoad>> loads_;
    std::function<void(const std::string&, const Persisted&)> sink_;
    std::atomic<uint64_t> seq_{0};
};

/// Parses `retry-after` (delta seconds, possibly fractional) into milliseconds.
std::optional<int64_t> ParseRetryAfterMs(std::string_view value);

}  // namespace clove::routing
