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

/// The access log: one `info access <json>` line per request, in the same format as every
/// other record, but buffered per thread and written in batches (one write(2) per event-loop
/// turn instead of one per request). Returns true when this line started a new batch: the
/// caller then schedules FlushAccess() on its own thread (e.g. asio::post), which runs after
/// the handlers already queued. A batch is also written when it reaches 32 KiB, before any
/// other record this thread logs, and when the thread exits. No-op below level info.
bool Access(std::string_view json);
/// Writes this thread's buffered access lines now.
void FlushAccess();

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;

}  // namespace clove::log
