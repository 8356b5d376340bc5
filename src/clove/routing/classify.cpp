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
    // The families Anthropic reports; the scarcest one decides. One pass over the headers (this
    // runs on every response): anthropic-ratelimit-{family}-{limit|remaining|reset}.
    static constexpr std::string_view kPrefix = "anthropic-ratelimit-";
    static constexpr std::string_view kFamilies[] = {"requests", "tokens", "input-tokens", "output-tokens"};
    struct Family {
        std::optional<int64_t> limit, remaining;
        std::string_view reset;
    } fam[4];
    for (const auto& [name, value] : head.headers) {
        if (name.size() <= kPrefix.size() || (name[0] | 0x20) != 'a' ||
            !upstream::EqualsIgnoreCase(name.substr(0, kPrefix.size()), kPrefix)) {
            continue;
        }
        const auto rest = name.substr(kPrefix.size());
        for (size_t f = 0; f < 4; ++f) {
            const auto fn = kFamilies[f];
            if (rest.size() <= fn.size() + 1 || !upstream::EqualsIgnoreCase(rest.substr(0, fn.size()), fn) ||
                rest[fn.size()] != '-') {
                continue;
            }
            const auto field = rest.substr(fn.size() + 1);
            if (upstream::EqualsIgnoreCase(field, "limit")) {
                fam[f].limit = Int(value);
            } else if (upstream::EqualsIgnoreCase(field, "remaining")) {
                fam[f].remaining = Int(value);
            } else if (upstream::EqualsIgnoreCase(field, "reset")) {
                fam[f].reset = value;
            }
            break;
        }
    }
    // A reset time is parsed only where it is used: the scarcest family's and exhausted ones'.
    auto reset_after = [now_wall_ms](std::string_view reset) -> std::optional<int64_t> {
        if (auto r = base::ParseTimeMs(reset); r && *r > 1'000'000'000'000) {
            return std::max<int64_t>(*r - now_wall_ms, 0);
        }
        return std::nullopt;
    };
    std::optional<int64_t> exhausted_reset;
    std::string_view scarcest_reset;
    for (const auto& f : fam) {
        if (!f.remaining) {
            continue;
        }
        double fraction = 1.0;
        if (f.limit && *f.limit > 0) {
            fraction = static_cast<double>(*f.remaining) / static_cast<double>(*f.limit);
        } else if (*f.remaining > 0) {
            continue;
        } else {
            fraction = 0.0;
        }
        if (!e.remaining_fraction || fraction < *e.remaining_fraction) {
            e.remaining_fraction = fraction;
            scarcest_reset = f.reset;
        }
        if (*f.remaining <= 0) {
            if (auto after = reset_after(f.reset); after && (!exhausted_reset || *after > *exhausted_reset)) {
                exhausted_reset = after;
            }
        }
    }
    if (e.remaining_fraction) {
        e.remaining_reset_after_ms = reset_after(scarcest_reset);
    }
    if (e.kind == Event::Kind::kRateLimited && !e.reset_after_ms) {
        e.reset_after_ms = exhausted_reset ? exhausted_reset : e.remaining_reset_after_ms;
    }
    return e;
}

}  // namespace clove::routing
