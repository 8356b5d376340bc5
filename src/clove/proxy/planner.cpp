#include "clove/proxy/planner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "clove/base/time.hpp"

namespace clove::proxy {

namespace {

struct Usable {
    const CredentialRuntime* c;
    bool pressured;
    uint64_t seq;
};

struct Ranked {
    const UpstreamRuntime* u;
    int tier_native;
    int priority;
    double load;   // in-flight per unit of weight
    double draw;   // weighted random key (smaller wins): Exp(1) / weight
};

}  // namespace

Plan PlanCandidates(const Snapshot& snap, const PlanRequest& req, routing::StickyTable* sticky, std::mt19937_64& rng) {
    Plan plan;
    // Scratch lists reused by this thread's later plans (planning never nests).
    thread_local std::vector<Ranked> ups;
    ups.clear();
    size_t n_creds = 0;
    for (const auto& u : snap.upstreams) {
        n_creds += u.credentials.size() + 1;
    }
    plan.candidates.reserve(n_creds);
    const UpstreamRuntime* first_match = nullptr;
    for (const auto& u : snap.upstreams) {
        if (!u.Serves(req.model)) {
            continue;
        }
        if (!first_match) {
            first_match = &u;
        }
        if (!u.passthrough() && !snap.client_keys_configured) {
            continue;  // an operator key is never used for clients without a client key
        }
        std::exponential_distribution<double> exp(1.0);
        const double w = static_cast<double>(std::max(1, u.weight));
        const double inflight = static_cast<double>(u.load ? u.load->in_flight.load(std::memory_order_relaxed) : 0);
        ups.push_back({&u, u.native ? 0 : 1, u.priority, inflight / w, exp(rng) / w});
    }
    if (ups.empty()) {
        if (!first_match) {
            plan.status = 404;
            plan.message = fmt::format("no upstream serves model \"{}\"", req.model);
        } else {
            plan.status = 503;
            plan.message = fmt::format(
                "upstream \"{}\" uses an operator key, which needs a client key; no client key is configured",
                first_match->config.name);
        }
        return plan;
    }
    std::sort(ups.begin(), ups.end(), [](const Ranked& a, const Ranked& b) {
        if (a.tier_native != b.tier_native) return a.tier_native < b.tier_native;
        if (a.priority != b.priority) return a.priority > b.priority;
        if (a.load != b.load) return a.load < b.load;
        return a.draw < b.draw;
    });


    std::vector<Candidate> last_resort;
    size_t total = 0, rate_limited = 0, busy = 0, unusable = 0;
    int64_t earliest_reset_ms = -1;
    int64_t earliest_reset_wall = 0;
    for (const auto& r : ups) {
        const UpstreamRuntime& u = *r.u;
        if (u.passthrough()) {
            plan.candidates.push_back({&u, nullptr, false});
            continue;
        }
        thread_local std::vector<Usable> usable;
        usable.clear();
        for (const auto& c : u.credentials) {
            ++total;
            const auto& h = *c.health;
            const auto health = h.health();
            if (health == routing::Health::kInvalid) {
                ++unusable;
                continue;
            }
            if (!h.Available(req.now_ms)) {
                if (h.cause() == routing::Cause::kFailures) {
                    last_resort.push_back({&u, &c, true});
                    continue;
                }
                ++rate_limited;
                if (earliest_reset_ms < 0 || h.until_ms() < earliest_reset_ms) {
                    earliest_reset_ms = h.until_ms();
                    earliest_reset_wall = h.until_wall_ms();
                }
                continue;
            }
            if (u.credential_concurrency > 0 &&
                h.in_flight.load(std::memory_order_relaxed) >= u.credential_concurrency) {
                ++busy;
                continue;
            }
            usable.push_back({&c, h.Pressured(req.now_ms), h.last_used_seq.load(std::memory_order_relaxed)});
        }
        std::sort(usable.begin(), usable.end(), [](const Usable& a, const Usable& b) {
            if (a.pressured != b.pressured) return !a.pressured;
            return a.seq < b.seq;
        });
        for (const auto& x : usable) {
            plan.candidates.push_back({&u, x.c, false});
        }
    }
    for (size_t i = 0; sticky && i < req.sticky_keys.size() && !plan.sticky_hit; ++i) {
        auto id = sticky->Lookup(req.sticky_keys[i], req.now_ms, snap.settings.sticky_ttl_ms);
        if (!id) {
            continue;
        }
        plan.sticky_credential = *id;
        auto it = std::find_if(plan.candidates.begin(), plan.candidates.end(), [&](const Candidate& c) {
            return c.credential && c.credential->id == *id;
        });
        if (it != plan.candidates.end()) {
            std::rotate(plan.candidates.begin(), it, it + 1);
            plan.sticky_hit = true;
        }
    }
    plan.candidates.insert(plan.candidates.end(), last_resort.begin(), last_resort.end());
    if (!plan.candidates.empty()) {
        return plan;
    }
    if (rate_limited > 0) {
        plan.status = 429;
        const int64_t left = std::max<int64_t>(earliest_reset_ms - req.now_ms, 1);
        plan.retry_after_ms = left;
        plan.message = fmt::format("all {} credentials for model \"{}\" are rate-limited until {}", rate_limited + busy,
                                   req.model, base::FormatTimeMs(earliest_reset_wall));
        if (unusable > 0) {
            plan.message += fmt::format(" ({} more invalid)", unusable);
        }
    } else if (busy > 0) {
        plan.status = 429;
        plan.retry_after_ms = 1000;
        plan.message = fmt::format("all {} credentials for model \"{}\" are at their concurrency limit", busy, req.model);
    } else if (total == 0) {
        plan.status = 503;
        plan.message = fmt::format("upstream \"{}\" has no usable credential", ups.front().u->config.name);
    } else {
        plan.status = 503;
        plan.message = fmt::format("all credentials for model \"{}\" are invalid or disabled", req.model);
    }
    return plan;
}

}  // namespace clove::proxy
