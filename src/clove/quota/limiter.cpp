#include "clove/quota/limiter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace clove::quota {

struct KeyState {
    std::mutex mu;
    int64_t minute = -1;  // steady ms / 60000 of the window
    WindowView window;
    int64_t in_flight = 0;
    int64_t reserved = 0;
    int64_t day_start = 0, month_start = 0;  // wall ms of the periods the sums below belong to
    int64_t spent_day = 0, spent_month = 0, spent_total = 0;
};

namespace {

constexpr int64_t kMinute = 60'000;

void Roll(KeyState& s, int64_t now_steady, int64_t now_wall) {
    const int64_t minute = now_steady / kMinute;
    if (minute != s.minute) {
        s.minute = minute;
        s.window = WindowView{};
    }
    s.window.reset_wall_ms = now_wall + ((minute + 1) * kMinute - now_steady);
    const int64_t day = Limiter::DayStartMs(now_wall);
    if (day != s.day_start) {
        s.day_start = day;
        s.spent_day = 0;
    }
    const int64_t month = Limiter::MonthStartMs(now_wall);
    if (month != s.month_start) {
        s.month_start = month;
        s.spent_month = 0;
    }
}

std::string Usd(int64_t nano) { return fmt::format("${:.4f}", static_cast<double>(nano) / 1e9); }

int64_t Nano(double usd) { return static_cast<int64_t>(usd * 1e9 + 0.5); }

}  // namespace

int64_t Limiter::DayStartMs(int64_t wall_ms) {
    return wall_ms - ((wall_ms % 86'400'000) + 86'400'000) % 86'400'000;
}

int64_t Limiter::MonthStartMs(int64_t wall_ms) {
    // Pure arithmetic (civil_from_days / days_from_civil, H. Hinnant): this runs several times
    // per request, where gmtime_r + timegm showed in profiles.
    int64_t days = wall_ms / 86'400'000;
    if (wall_ms % 86'400'000 < 0) {
        --days;
    }
    const int64_t z = days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) {
        ++y;
    }
    // Back to days for the first of that month.
    const int64_t yy = m <= 2 ? y - 1 : y;
    const int64_t era2 = (yy >= 0 ? yy : yy - 399) / 400;
    const int64_t yoe2 = yy - era2 * 400;
    const int64_t doy2 = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;  // day 1 of the month
    const int64_t doe2 = yoe2 * 365 + yoe2 / 4 - yoe2 / 100 + doy2;
    return (era2 * 146097 + doe2 - 719468) * 86'400'000;
}

std::shared_ptr<KeyState> Limiter::State(const std::string& key_id) {
    std::lock_guard lock(mu_);
    auto& p = keys_[key_id];
    if (!p) {
        p = std::make_shared<KeyState>();
    }
    return p;
}

void Limiter::SeedSpend(const std::string& key_id, int64_t day, int64_t month, int64_t total) {
    auto s = State(key_id);
    std::lock_guard lock(s->mu);
    const int64_t wall = clock_.WallMs();
    s->day_start = DayStartMs(wall);
    s->month_start = MonthStartMs(wall);
    s->spent_day = day;
    s->spent_month = month;
    s->spent_total = total;
}

Limiter::Spend Limiter::SpendOf(const std::string& key_id) {
    auto s = State(key_id);
    std::lock_guard lock(s->mu);
    Roll(*s, clock_.SteadyMs(), clock_.WallMs());
    return {s->spent_day, s->spent_month, s->spent_total, s->reserved};
}

std::optional<Refusal> Limiter::Admit(const std::string& key_id, const config::Limits& l, int64_t reserve,
                                      Ticket& out) {
    auto sp = State(key_id);
    KeyState& s = *sp;
    const int64_t now = clock_.SteadyMs();
    const int64_t wall = clock_.WallMs();
    std::lock_guard lock(s.mu);
    Roll(s, now, wall);
    const int64_t to_reset = std::max<int64_t>(s.window.reset_wall_ms - wall, 1);
    auto refuse = [&](std::string limit, std::string message, int64_t retry_ms, int status = 429) {
        return Refusal{status, std::move(limit), std::move(message), retry_ms};
    };
    if (l.concurrency && s.in_flight >= *l.concurrency) {
        return refuse("concurrency",
                      fmt::format("rate limit exceeded for this API key: concurrency ({} requests at once)", *l.concurrency),
                      1000);
    }
    if (l.rpm && s.window.requests >= *l.rpm) {
        return refuse("rpm", fmt::format("rate limit exceeded for this API key: rpm ({} requests per minute)", *l.rpm),
                      to_reset);
    }
    if (l.tpm && s.window.tokens >= *l.tpm) {
        return refuse("tpm", fmt::format("rate limit exceeded for this API key: tpm ({} tokens per minute)", *l.tpm),
                      to_reset);
    }
    if (l.input_tpm && s.window.input_tokens >= *l.input_tpm) {
        return refuse("input_tpm",
                      fmt::format("rate limit exceeded for this API key: input_tpm ({} input tokens per minute)", *l.input_tpm),
                      to_reset);
    }
    if (l.output_tpm && s.window.output_tokens >= *l.output_tpm) {
        return refuse(
            "output_tpm",
            fmt::format("rate limit exceeded for this API key: output_tpm ({} output tokens per minute)", *l.output_tpm),
            to_reset);
    }
    struct Budget {
        const char* name;
        std::optional<double> usd;
        int64_t spent;
        int64_t resets_at;  // wall ms, 0 = never
    };
    const int64_t next_day = s.day_start + 86'400'000;
    const int64_t next_month = MonthStartMs(s.month_start + 32LL * 86'400'000);
    std::optional<double> period_budget = l.budget_usd;
    int64_t period_spent = s.spent_total, period_reset = 0;
    if (l.budget_period == "daily") {
        period_spent = s.spent_day;
        period_reset = next_day;
    } else if (l.budget_period == "monthly") {
        period_spent = s.spent_month;
        period_reset = next_month;
    }
    const Budget budgets[] = {{"daily_budget_usd", l.daily_budget_usd, s.spent_day, next_day},
                              {"monthly_budget_usd", l.monthly_budget_usd, s.spent_month, next_month},
                              {"budget_usd", period_budget, period_spent, period_reset}};
    for (const auto& b : budgets) {
        if (!b.usd) {
            continue;
        }
        const int64_t cap = Nano(*b.usd);
        if (b.spent + s.reserved + reserve > cap) {
            std::string when = b.resets_at ? fmt::format("; it resets in {} s", (b.resets_at - wall + 999) / 1000)
                                           : std::string();
            std::string what = b.spent >= cap ? "exhausted" : "too low for this request";
            return refuse(b.name,
                          fmt::format("budget {} for this API key: {} ({} spent of {}, this request may cost up to {}){}",
                                      what, b.name, Usd(b.spent), Usd(cap), Usd(reserve), when),
                          b.resets_at ? b.resets_at - wall : 3'600'000, 402);
        }
    }
    ++s.window.requests;
    ++s.in_flight;
    s.reserved += reserve;
    out = Ticket{};
    out.state_ = &s;
    out.keep_ = std::move(sp);
    out.clock_ = &clock_;
    out.reserved_ = reserve;
    out.window_ = s.window;
    return std::nullopt;
}

Ticket& Ticket::operator=(Ticket&& o) noexcept {
    if (this != &o) {
        Settle(0, 0, 0);
        state_ = o.state_;
        keep_ = std::move(o.keep_);
        clock_ = o.clock_;
        reserved_ = o.reserved_;
        window_ = o.window_;
        o.state_ = nullptr;
    }
    return *this;
}

void Ticket::Settle(int64_t input_tokens, int64_t output_tokens, int64_t cost_nanousd) {
    if (!state_) {
        return;
    }
    KeyState& s = *state_;
    {
        std::lock_guard lock(s.mu);
        Roll(s, clock_->SteadyMs(), clock_->WallMs());
        --s.in_flight;
        s.reserved -= reserved_;
        s.spent_day += cost_nanousd;
        s.spent_month += cost_nanousd;
        s.spent_total += cost_nanousd;
        s.window.input_tokens += input_tokens;
        s.window.output_tokens += output_tokens;
        s.window.tokens += input_tokens + output_tokens;
    }
    state_ = nullptr;
    keep_.reset();
}

int64_t ReserveNanoUsd(const config::PriceSpec* price, size_t body_bytes, int64_t max_tokens) {
    if (!price) {
        return 0;
    }
    const double input_rate = std::max({price->input, price->cache_write_5m, price->cache_write_1h});
    const double input_tokens = static_cast<double>(body_bytes) / 3.0 + 1;
    // USD per million tokens -> nano-USD per token = rate * 1000.
    return static_cast<int64_t>(input_tokens * input_rate * 1000.0 +
                                static_cast<double>(std::max<int64_t>(max_tokens, 0)) * price->output * 1000.0 + 0.5);
}

}  // namespace clove::quota
