#include "clove/usage/pricing.hpp"

#include <atomic>
#include <cmath>
#include <string>

#include "clove/base/glob.hpp"

namespace clove::usage {

namespace {

config::PriceSpec P(const char* model, double in, double out) {
    return {model, in, out, in * 1.25, in * 2.0, in * 0.1};
}

int LiteralChars(std::string_view pattern) {
    int n = 0;
    for (char c : pattern) {
        n += (c != '*' && c != '?') ? 1 : 0;
    }
    return n;
}

int Wildcards(std::string_view pattern) { return static_cast<int>(pattern.size()) - LiteralChars(pattern); }

}  // namespace

const std::vector<config::PriceSpec>& BuiltinPrices() {
    // Anthropic list prices per million tokens (standard context). Cache write 5 min = 1.25x
    // input, 1 h = 2x input, cache read = 0.1x input.
    static const std::vector<config::PriceSpec> kPrices = {
        P("claude-opus-4-8*", 5, 25),      P("claude-opus-4-6*", 5, 25),   P("claude-opus-4-5*", 5, 25),
        P("claude-opus-4-1*", 15, 75),     P("claude-opus-4-0*", 15, 75),  P("claude-opus-4-2025*", 15, 75),
        P("claude-opus-*", 5, 25),         P("claude-sonnet-*", 3, 15),    P("claude-haiku-4-5*", 1, 5),
        P("claude-haiku-*", 1, 5),         P("claude-3-7-sonnet*", 3, 15), P("claude-3-5-sonnet*", 3, 15),
        P("claude-3-5-haiku*", 0.8, 4),    P("claude-3-haiku*", 0.25, 1.25), P("claude-3-opus*", 15, 75),
    };
    return kPrices;
}

void DeriveCachePrices(config::PriceSpec& p) {
    if (p.cache_write_5m < 0) {
        p.cache_write_5m = p.input * 1.25;
    }
    if (p.cache_write_1h < 0) {
        p.cache_write_1h = p.input * 2.0;
    }
    if (p.cache_read < 0) {
        p.cache_read = p.input * 0.1;
    }
}

PriceTable::PriceTable(const std::vector<config::PriceSpec>& overrides) {
    static std::atomic<uint64_t> next_serial{1};
    serial_ = next_serial.fetch_add(1, std::memory_order_relaxed);
    for (const auto& b : BuiltinPrices()) {
        entries_.push_back({b, false});
    }
    for (const auto& o : overrides) {
        bool replaced = false;
        for (auto& e : entries_) {
            if (e.price.model == o.model) {
                e = {o, true};
                replaced = true;
            }
        }
        if (!replaced) {
            entries_.push_back({o, true});
        }
    }
}

const config::PriceSpec* PriceTable::Find(std::string_view model) const {
    struct Memo {
        uint64_t serial = 0;
        std::string model;
        const config::PriceSpec* price = nullptr;
    };
    constexpr size_t kSlots = 8;
    thread_local Memo memo[kSlots];
    thread_local size_t next = 0;
    for (const auto& m : memo) {
        if (m.serial == serial_ && m.model == model) {
            return m.price;
        }
    }
    if (model.size() > 128) {
        return Search(model);  // not worth keeping
    }
    Memo& m = memo[next];
    next = (next + 1) % kSlots;
    m.serial = serial_;
    m.model.assign(model);
    m.price = Search(model);
    return m.price;
}

const config::PriceSpec* PriceTable::Search(std::string_view model) const {
    const Entry* best = nullptr;
    for (const auto& e : entries_) {
        if (!base::GlobMatch(e.price.model, model)) {
            continue;
        }
        if (!best) {
            best = &e;
            continue;
        }
        int l = LiteralChars(e.price.model), bl = LiteralChars(best->price.model);
        if (l > bl || (l == bl && Wildcards(e.price.model) < Wildcards(best->price.model)) ||
            (l == bl && Wildcards(e.price.model) == Wildcards(best->price.model) && e.custom && !best->custom)) {
            best = &e;
        }
    }
    return best ? &best->price : nullptr;
}

int64_t CostNanoUsd(const UsageCounts& r, const config::PriceSpec& p) {
    int64_t w5 = r.cache_creation_5m_tokens;
    int64_t w1 = r.cache_creation_1h_tokens;
    if (w5 + w1 < r.cache_creation_tokens) {
        w5 += r.cache_creation_tokens - w5 - w1;  // no TTL split reported: 5-minute writes
    }
    // USD per million tokens = 1000 nano-USD per token.
    double nano = 1000.0 * (static_cast<double>(r.input_tokens) * p.input + static_cast<double>(r.output_tokens) * p.output +
                            static_cast<double>(w5) * p.cache_write_5m + static_cast<double>(w1) * p.cache_write_1h +
                            static_cast<double>(r.cache_read_tokens) * p.cache_read);
    return static_cast<int64_t>(std::llround(nano));
}

}  // namespace clove::usage
