#include "clove/routing/credential_state.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "clove/base/time.hpp"

namespace clove::routing {

Status Next(const Status& s, const Event& e, int64_t now_ms, int64_t now_wall_ms, const Policy& p) {
    Status n = s;
    Apply(n, e, now_ms, now_wall_ms, p);
    return n;
}

void Apply(Status& n, const Event& e, int64_t now_ms, int64_t now_wall_ms, const Policy& p) {
    if (n.health == Health::kCoolingDown && now_ms >= n.until_ms) {
        n.health = Health::kValid;  // the cooldown ran out before this event
        n.cause = Cause::kNone;
    }
    auto cool = [&](Cause cause, int64_t for_ms) {
        for_ms = std::max<int64_t>(for_ms, 0);
        int64_t until = now_ms + for_ms;
        // Never shorten a cooldown the upstream announced (parallel requests report in any order).
        if (n.health == Health::kCoolingDown && n.until_ms > until) {
            return;
        }
        n.health = Health::kCoolingDown;
        n.cause = cause;
        n.until_ms = until;
        n.until_wall_ms = now_wall_ms + for_ms;
    };
    switch (e.kind) {
        case Event::Kind::kSuccess:
            if (n.health == Health::kInvalid) {
                break;  // a late success of a request sent before the 401 does not revive it
            }
            n.consecutive_failures = 0;
            if (n.health == Health::kCoolingDown && n.cause == Cause::kFailures) {
                n.health = Health::kValid;  // a probe of a failing credential got through
                n.cause = Cause::kNone;
            }
            if (e.remaining_fraction) {
                const int64_t reset = e.remaining_reset_after_ms.value_or(p.fallback_cooldown_ms);
                // Little or nothing left: used after every other credential until the reset.
                // Not a cooldown: Anthropic's limits refill continuously, so a credential at 0
                // may work again long before the full reset; a real 429 brings its retry-after.
                if (*e.remaining_fraction < p.pressure_fraction) {
                    n.pressured_until_ms = now_ms + std::max<int64_t>(reset, 0);
                } else {
                    n.pressured_until_ms = 0;
                }
            }
            break;
        case Event::Kind::kRateLimited:
            if (n.health == Health::kInvalid) {
                break;  // a late 429 of a request sent before the 401 does not revive it
            }
            // The upstream's word when it gave one; the operator's fallback otherwise. Never
            // exponential: a 429 says "not now", not "broken".
            cool(Cause::kRateLimited, e.reset_after_ms.value_or(p.fallback_cooldown_ms));
            if (!e.error.empty()) {
                n.last_error = e.error;
            }
            break;
        case Event::Kind::kFailure:
            if (n.health == Health::kInvalid) {
                break;
            }
            ++n.consecutive_failures;
            if (!e.error.empty()) {
                n.last_error = e.error;
            }
            if (e.reset_after_ms) {
                cool(Cause::kFailures, *e.reset_after_ms);  // 503/529 with retry-after
            } else if (n.consecutive_failures >= p.failure_threshold) {
                cool(Cause::kFailures, p.failure_cooldown_ms);
            }
            break;
        case Event::Kind::kInvalid:
            n.health = Health::kInvalid;
            n.cause = Cause::kNone;
            n.until_ms = 0;
            n.until_wall_ms = 0;
            n.last_error = e.error;
            break;
    }
}

Health EffectiveHealth(const Status& s, int64_t now_ms) {
    if (s.health == Health::kCoolingDown && now_ms >= s.until_ms) {
        return Health::kValid;
    }
    return s.health;
}

std::string_view HealthName(Health h) {
    switch (h) {
        case Health::kValid: return "valid";
        case Health::kCoolingDown: return "cooling_down";
        case Health::kInvalid: return "invalid";
    }
    return "valid";
}

Status CredentialHealth::Snapshot() const {
    std::lock_guard lock(mu_);
    return status_;
}

void CredentialHealth::Publish(const Status& s) {
    if (&s != &status_) {
        status_ = s;
    }
    until_ms_.store(s.until_ms, std::memory_order_relaxed);
    until_wall_ms_.store(s.until_wall_ms, std::memory_order_relaxed);
    pressured_until_ms_.store(s.pressured_until_ms, std::memory_order_relaxed);
    cause_.store(static_cast<uint8_t>(s.cause), std::memory_order_relaxed);
    health_.store(static_cast<uint8_t>(s.health), std::memory_order_release);
}

std::shared_ptr<CredentialHealth> HealthTable::Get(const std::string& id) {
    std::lock_guard lock(mu_);
    auto& p = creds_[id];
    if (!p) {
        p = std::make_shared<CredentialHealth>();
    }
    return p;
}

std::shared_ptr<CredentialHealth> HealthTable::Find(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = creds_.find(id);
    return it == creds_.end() ? nullptr : it->second;
}

std::shared_ptr<UpstreamLoad> HealthTable::Load(const std::string& upstream_id) {
    std::lock_guard lock(mu_);
    auto& p = loads_[upstream_id];
    if (!p) {
        p = std::make_shared<UpstreamLoad>();
    }
    return p;
}

void HealthTable::Seed(const std::string& id, std::string_view state, const std::optional<std::string>& last_error,
                       const std::optional<int64_t>& cooldown_until_wall_ms) {
    std::shared_ptr<CredentialHealth> h;
    {
        std::lock_guard lock(mu_);
        auto& p = creds_[id];
        if (p) {
            return;
        }
        p = std::make_shared<CredentialHealth>();
        h = p;
    }
    Status s;
    if (last_error) {
        s.last_error = *last_error;
    }
    if (state == "invalid") {
        s.health = Health::kInvalid;
    } else if (state == "cooling_down" && cooldown_until_wall_ms) {
        const int64_t left = *cooldown_until_wall_ms - clock_.WallMs();
        if (left > 0) {
            s.health = Health::kCoolingDown;
            s.cause = Cause::kRateLimited;
            s.until_ms = clock_.SteadyMs() + left;
            s.until_wall_ms = *cooldown_until_wall_ms;
        }
    }
    std::lock_guard lock(h->mu_);
    h->Publish(s);
}

void HealthTable::Reset(const std::string& id) {
    auto h = Get(id);
    std::lock_guard lock(h->mu_);
    h->Publish(Status{});
}

void HealthTable::MarkInvalid(const std::string& id, const std::string& reason) {
    auto h = Get(id);
    std::lock_guard lock(h->mu_);
    Status s;
    s.health = Health::kInvalid;
    s.last_error = reason;
    h->Publish(s);
}

void HealthTable::Revive(const std::string& id, CredentialHealth& h, const Policy& p) {
    bool was_invalid = false;
    {
        std::lock_guard lock(h.mu_);
        if (h.status_.health == Health::kInvalid) {
            was_invalid = true;
            h.Publish(Status{});
        }
    }
    if (was_invalid) {
        std::function<void(const std::string&, const Persisted&)> sink;
        {
            std::lock_guard lock(mu_);
            sink = sink_;
        }
        if (sink) {
            sink(id, Persisted{"valid", std::nullopt, std::nullopt});
        }
    }
    Record(id, h, Event{}, p);
}

void HealthTable::Forget(const std::string& id) {
    std::lock_guard lock(mu_);
    creds_.erase(id);
}

void HealthTable::SetSink(std::function<void(const std::string&, const Persisted&)> sink) {
    std::lock_guard lock(mu_);
    sink_ = std::move(sink);
}

void HealthTable::Record(const std::string& id, CredentialHealth& h, const Event& e, const Policy& p) {
    switch (e.kind) {
        case Event::Kind::kSuccess: h.successes.fetch_add(1, std::memory_order_relaxed); break;
        case Event::Kind::kRateLimited: h.rate_limited.fetch_add(1, std::memory_order_relaxed); break;
        default: h.failures.fetch_add(1, std::memory_order_relaxed); break;
    }
    const int64_t now = clock_.SteadyMs();
    Persisted out;
    {
        std::lock_guard lock(h.mu_);
        Status& st = h.status_;
        const Health before_health = EffectiveHealth(st, now);
        const Cause before_cause = st.cause;
        const int64_t before_until = st.until_wall_ms;
        Apply(st, e, now, clock_.WallMs(), p);
        h.Publish(st);
        const bool changed = before_health != st.health || before_cause != st.cause ||
                             (st.health == Health::kCoolingDown && st.until_wall_ms != before_until);
        if (!changed) {
            return;  // the common case: a success on a valid credential, nothing to store
        }
        out.state = std::string(HealthName(st.health));
        if (!st.last_error.empty()) {
            out.last_error = st.last_error;
        }
        if (st.health == Health::kCoolingDown) {
            out.cooldown_until_wall_ms = st.until_wall_ms;
        }
    }
    std::function<void(const std::string&, const Persisted&)> sink;
    {
        std::lock_guard lock(mu_);
        sink = sink_;
    }
    if (sink) {
        sink(id, out);
    }
}

std::optional<int64_t> ParseRetryAfterMs(std::string_view v) {
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    if (v.empty()) {
        return std::nullopt;
    }
    double secs = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
    if (ec == std::errc() && p == v.data() + v.size() && secs >= 0 && std::isfinite(secs)) {
        return static_cast<int64_t>(std::ceil(secs * 1000.0));
    }
    return std::nullopt;  // an HTTP-date: Anthropic sends seconds; the fallback applies
}

}  // namespace clove::routing
