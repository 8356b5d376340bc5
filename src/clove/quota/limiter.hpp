#pragma once

// Per-client-key limits, checked before any upstream call (STYLE: "choose, then admit"):
// requests per minute, tokens per minute (total, input, output), concurrent requests, and
// budgets in USD per UTC day, per UTC month and over a key's lifetime.
//
// Windows for rpm/tpm are fixed minutes of the steady clock (a wall-clock jump neither unblocks
// nor locks out anybody). Budgets reserve a request's worst-case cost before it is forwarded and
// settle the real cost after, so parallel requests cannot overspend: admitted requests always fit
// `spent + reserved <= budget`. Counters are local to this process (exact under concurrency: one
// mutex per key); the spend is recomputed from the usage rows at start.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "clove/base/clock.hpp"
#include "clove/config/runtime.hpp"

namespace clove::quota {

/// Why a request was refused.
struct Refusal {
    int status = 429;              ///< 429 rate_limit_error, or 402 billing_error for budgets
    std::string limit;             ///< rpm | tpm | input_tpm | output_tpm | concurrency | daily_budget_usd | ...
    std::string message;
    int64_t retry_after_ms = 1000;
};

/// Counters of one key inside the current minute, for the anthropic-ratelimit-* headers.
struct WindowView {
    int64_t requests = 0;
    int64_t tokens = 0;
    int64_t input_tokens = 0;
    int64_t output_tokens = 0;
    int64_t reset_wall_ms = 0;  ///< when the minute ends
};

class Limiter;

/// An admitted request: holds its concurrency slot and budget reservation until Settle (or
/// destruction, which settles with zero usage).
class Ticket {
public:
    Ticket() = default;
    Ticket(Ticket&& o) noexcept { *this = std::move(o); }
    Ticket& operator=(Ticket&& o) noexcept;
    ~Ticket() { Settle(0, 0, 0); }
    /// Releases the slot, replaces the reservation with the real cost and counts the tokens in
    /// the current window. Idempotent.
    void Settle(int64_t input_tokens, int64_t output_tokens, int64_t cost_nanousd);
    bool active() const { return state_ != nullptr; }
    const WindowView& window() const { return window_; }

private:
    friend class Limiter;
    struct KeyState* state_ = nullptr;
    std::shared_ptr<struct KeyState> keep_;
    const base::Clock* clock_ = nullptr;
    int64_t reserved_ = 0;
    WindowView window_;
};

class Limiter {
public:
    explicit Limiter(const base::Clock& clock) : clock_(clock) {}

    /// Checks every limit of `limits` for `key_id` and, when all pass, takes the request:
    /// counts it, takes a concurrency slot and reserves `reserve_nanousd`.
    std::optional<Refusal> Admit(const std::string& key_id, const config::Limits& limits, int64_t reserve_nanousd,
                                 Ticket& out);

    /// The spend recorded before this process started (from the usage rows), per period.
    void SeedSpend(const std::string& key_id, int64_t day_nanousd, int64_t month_nanousd, int64_t total_nanousd);

    /// Start of the current UTC day and month (Unix ms), for seeding.
    static int64_t DayStartMs(int64_t wall_ms);
    static int64_t MonthStartMs(int64_t wall_ms);

    /// Current spend of a key (admin API): {day, month, total} in nano-USD, reservations excluded.
    struct Spend {
        int64_t day = 0, month = 0, total = 0, reserved = 0;
    };
    Spend SpendOf(const std::string& key_id);

private:
    std::shared_ptr<KeyState> State(const std::string& key_id);
    const base::Clock& clock_;
    std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<KeyState>> keys_;
};

/// Worst-case cost of a request before it runs: `max_tokens` of output plus an input estimate
/// from the body size (one token per 3 bytes, an over-estimate for text), each input token priced
/// at the highest input-side rate (1 h cache writes).
int64_t ReserveNanoUsd(const config::PriceSpec* price, size_t body_bytes, int64_t max_tokens);

}  // namespace clove::quota
