#include "clove/base/log.hpp"

#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/sink.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <mutex>
#include <string>

namespace clove::log {

namespace {

constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%eZ %l %v";
constexpr size_t kAccessBatchBytes = 32 * 1024;

void WriteAll(const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;  // stderr gone: nothing better to do with a log line
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
}

/// One thread's pending access lines. Flushed by its owner thread only.
struct AccessBuffer {
    std::string lines;
    int64_t stamp_second = -1;
    char stamp[24] = {};  // "YYYY-MM-DDTHH:MM:SS." for stamp_second

    AccessBuffer() { lines.reserve(kAccessBatchBytes + 1024); }
    ~AccessBuffer() { Flush(); }
    void Flush() {
        if (!lines.empty()) {
            WriteAll(lines.data(), lines.size());
            lines.clear();
        }
    }
};

thread_local AccessBuffer t_access;

/// stderr, one write(2) per record; a thread's buffered access lines go out before its other
/// records, so its own lines stay in order.
class StderrSink final : public spdlog::sinks::sink {
public:
    void log(const spdlog::details::log_msg& msg) override {
        t_access.Flush();
        spdlog::memory_buf_t out;
        {
            std::lock_guard lock(mu_);
            formatter_->format(msg, out);
        }
        WriteAll(out.data(), out.size());
    }
    void flush() override {}
    void set_pattern(const std::string& pattern) override {
        set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
    }
    void set_formatter(std::unique_ptr<spdlog::formatter> f) override {
        std::lock_guard lock(mu_);
        formatter_ = std::move(f);
    }

private:
    std::mutex mu_;
    std::unique_ptr<spdlog::formatter> formatter_ =
        std::make_unique<spdlog::pattern_formatter>(kPattern, spdlog::pattern_time_type::utc);
};

}  // namespace

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
    auto logger = std::make_shared<spdlog::logger>("clove", std::make_shared<StderrSink>());
    logger->set_pattern(kPattern, spdlog::pattern_time_type::utc);
    logger->set_level(lvl);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
    return true;
}

bool Access(std::string_view json) {
    if (!spdlog::default_logger_raw()->should_log(spdlog::level::info)) {
        return false;
    }
    AccessBuffer& b = t_access;
    const auto now = std::chrono::system_clock::now();
    const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    const int64_t sec = ms / 1000;
    if (sec != b.stamp_second) {
        std::time_t t = static_cast<std::time_t>(sec);
        std::tm tm{};
        gmtime_r(&t, &tm);
        std::strftime(b.stamp, sizeof b.stamp, "%Y-%m-%dT%H:%M:%S.", &tm);
        b.stamp_second = sec;
    }
    const bool started = b.lines.empty();
    const int milli = static_cast<int>(ms % 1000);
    b.lines += b.stamp;
    b.lines += static_cast<char>('0' + milli / 100);
    b.lines += static_cast<char>('0' + milli / 10 % 10);
    b.lines += static_cast<char>('0' + milli % 10);
    b.lines += "Z info access ";
    b.lines += json;
    b.lines += '\n';
    if (b.lines.size() >= kAccessBatchBytes) {
        b.Flush();
        return false;  // a flush may still be scheduled from this batch's first line
    }
    return started;
}

void FlushAccess() {
    t_access.Flush();
}

}  // namespace clove::log
