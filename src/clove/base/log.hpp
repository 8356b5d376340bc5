#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace clove::log {

/// Configures the process logger: stderr, one line per record, UTC timestamps.
/// Call once at startup before any worker starts. `level` is one of
/// trace|debug|info|warn|error|off; returns false when it is not.
bool Init(std::string_view level);

/// Parses a level name; returns false for an unknown name.
bool ParseLevel(std::string_view name, spdlog::level::level_enum& out);

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;

}  // namespace clove::log
