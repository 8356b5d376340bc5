#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace clove::base {

/// "2026-11-27T06:47:23.120Z"
std::string FormatTimeMs(int64_t unix_ms);
/// RFC 3339 (Z or ±hh:mm offset, optional fraction) or a decimal Unix-ms number. nullopt if neither.
std::optional<int64_t> ParseTimeMs(std::string_view text);

}  // namespace clove::base
