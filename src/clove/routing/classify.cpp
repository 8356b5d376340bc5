#include "clove/routing/classify.hpp"

#include <charconv>
#include <string>

#include "clove/base/time.hpp"

namespace clove::routing {

Verdict Judge(int status) {
    if (status == 401 || status == 402 || status == 403 || status == 429) {
        return Verdict::kNextCredential;
    }
    if (status == 500 || status == 502 || status == 503 || status == 504 || status == 529) {
        return Verdict::kNextUpstream;
    }
    return Verdict::kRelay;
}

namespace {

std::optional<int64_t> Int(std::string_view v) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size()) {
        return std::nullopt;
    }
    return n;
}

}  // namespace

Event EventFromResponse(const upstream::ResponseHead& head, int64_t now_wall_ms) {
    Event e;
    const int status = head.status;
    if (status == 429) {
        e.kind = Event::Kind::kRateLimited;
    } else if (status == 401 || status == 402 || status == 403) {
        e.kind = Event::Kind::kInvalid;
    } else if (Judge(status) == Verdict::kNextUpstream) {
        e.kind = Event::Kind::kFailure;
    } else {
        e.kind = Event::Kind::kSuccess;
    }
    if (auto ra = head.Get("retry-after"); !ra.empty()) {
        e.reset_after_ms = ParseRetryAfterMs(ra);
    }
    // The families Anthropic reports; the scarcest one decides.
    static constexpr std::string_view kFamilies[] = {"requests", "tokens", "input-tokens", "output-tokens"};
    std::optional<int64_t> exhausted_reset;
    for (auto family : kFamilies) {
        std::string base = "anthropic-ratelimit-";
        base += family;
        auto limit = Int(head.Get(base + "-limit"));
        auto remaining = Int(head.Get(base + "-remaining"));
        std::optional<int64_t> reset_after;
        if (auto r = base::ParseTimeMs(head.Get(base + "-reset")); r && *r > 1'000'000'000'000) {
            reset_after = std::max<int64_t>(*r - now_wall_ms, 0);
        }
        if (!remaining) {
            continue;
        }
        double fraction = 1.0;
        if (limit && *limit > 0) {
            fraction = static_cast<double>(*remaining) / static_cast<double>(*limit);
        } else if (*remaining > 0) {
            continue;
        } else {
            fraction = 0.0;
        }
        if (!e.remaining_fraction || fraction < *e.remaining_fraction) {
            e.remaining_fraction = fraction;
            e.remaining_reset_after_ms = reset_after;
        }
        if (*remaining <= 0 && reset_after && (!exhausted_reset || *reset_after > *exhausted_reset)) {
            exhausted_reset = reset_after;
        }
    }
    if (e.kind == Event::Kind::kRateLimited && !e.reset_after_ms) {
        e.reset_after_ms = exhausted_reset ? exhausted_reset : e.remaining_reset_after_ms;
    }
    return e;
}

}  // namespace clove::routing
