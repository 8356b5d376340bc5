#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "clove/config/runtime.hpp"
#include "clove/usage/record.hpp"

namespace clove::usage {

/// Built-in list prices of current Claude models (USD per million tokens; patterns are globs).
const std::vector<config::PriceSpec>& BuiltinPrices();

/// Prices by model pattern: built-ins overlaid with the operator's overrides. Immutable.
class PriceTable {
public:
    explicit PriceTable(const std::vector<config::PriceSpec>& overrides);
    PriceTable(const PriceTable&) = delete;  // Find's memo holds pointers into this table
    PriceTable& operator=(const PriceTable&) = delete;

    /// The most specific pattern matching `model` (most literal characters, then fewest
    /// wildcards), or nullptr. Remembers the last few answers per thread (every request asks,
    /// and matching runs every glob of the table).
    const config::PriceSpec* Find(std::string_view model) const;

    /// All patterns with whether each is an override.
    struct Entry {
        config::PriceSpec price;
        bool custom = false;
    };
    const std::vector<Entry>& entries() const { return entries_; }

private:
    const config::PriceSpec* Search(std::string_view model) const;

    std::vector<Entry> entries_;
    uint64_t serial_;  ///< unique per table, so a thread's memo never answers for another table
};

/// Cost of the tokens in `r` at `p`, in 1e-9 USD. Cache writes without a TTL split are priced
/// as 5-minute writes.
int64_t CostNanoUsd(const UsageCounts& r, const config::PriceSpec& p);

/// Fills the derived cache prices (1.25x, 2x, 0.1x input) that are <0 in `p`.
void DeriveCachePrices(config::PriceSpec& p);

}  // namespace clove::usage
