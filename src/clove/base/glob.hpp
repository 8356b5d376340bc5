#pragma once

#include <string_view>

namespace clove::base {

/// Matches `text` against a shell-style glob: `*` matches any run of characters (including none),
/// `?` matches one character; every other character matches itself (case-sensitive).
/// Linear in practice (greedy with one backtrack point). Any thread.
bool GlobMatch(std::string_view pattern, std::string_view text) noexcept;

/// True when `pattern` contains no glob metacharacters, i.e. names exactly one string.
bool IsLiteralGlob(std::string_view pattern) noexcept;

}  // namespace clove::base
