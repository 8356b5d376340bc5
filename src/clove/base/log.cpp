#include "clove/base/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace clove::log {

bool ParseLevel(std::string_view name, spdlog::level::level_enum& out) {
    if (name == "trace") { out = spdlog::level::trace; }
    else if (name == "debug") { out = spdlog::level::debug; }
    else if (name == "info") { out = spdlog::level::info; }
    else if (name == "warn" || name == "warning") { out = spdlog::level::warn; }
    else if (name == "error") { out = spdlog::level::err; }
    else if (name == "off") { out = spdlog::level::off; }
    else { return false; }
    return true;
}

bool Init(std::string_view level) {
    spdlog::level::level_enum lvl{};
    if (!ParseLevel(level, lvl)) {
        return false;
    }
    // stderr_sink_mt: one locked fwrite per record; access lines are written once per request,
    // never per chunk, so contention stays negligible.
    auto logger = spdlog::stderr_logger_mt("clove");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    logger->set_level(lvl);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
    return true;
}

}  // namespace clove::log
