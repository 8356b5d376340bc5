#include "clove/base/time.hpp"

#include <fmt/format.h>

#include <charconv>
#include <ctime>

namespace clove::base {

std::string FormatTimeMs(int64_t unix_ms) {
    time_t secs = static_cast<time_t>(unix_ms / 1000);
    int ms = static_cast<int>(unix_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        --secs;
    }
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}


std::optional<int64_t> ParseTimeMs(std::string_view t) {
    if (t.empty()) {
        return std::nullopt;
    }
    if (t.find_first_not_of("0123456789") == std::string_view::npos) {
        int64_t v = 0;
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (ec != std::errc() || p != t.data() + t.size()) {
            return std::nullopt;
        }
        return v;
    }
    auto num = [&](size_t pos, size_t len, int& out) -> bool {
        if (pos + len > t.size()) {
            return false;
        }
        auto [p, ec] = std::from_chars(t.data() + pos, t.data() + pos + len, out);
        return ec == std::errc() && p == t.data() + pos + len;
    };
    std::tm tm{};
    int y, mo, d, h, mi, s;
    if (t.size() < 20 || !num(0, 4, y) || t[4] != '-' || !num(5, 2, mo) || t[7] != '-' || !num(8, 2, d) ||
        (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || !num(11, 2, h) || t[13] != ':' || !num(14, 2, mi) ||
        t[16] != ':' || !num(17, 2, s)) {
        return std::nullopt;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970 || y > 9999) {
        return std::nullopt;
    }
    size_t pos = 19;
    int ms = 0;
    if (pos < t.size() && t[pos] == '.') {
        ++pos;
        int digits = 0;
        while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
            if (digits < 3) {
                ms = ms * 10 + (t[pos] - '0');
            }
            ++digits;
            ++pos;
        }
        if (digits == 0) {
            return std::nullopt;
        }
        for (int i = digits; i < 3; ++i) {
            ms *= 10;
        }
    }
    int offset_min = 0;
    if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
        ++pos;
    } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
        int oh, om;
        if (!num(pos + 1, 2, oh) || pos + 3 >= t.size() || t[pos + 3] != ':' || !num(pos + 4, 2, om)) {
            return std::nullopt;
        }
        offset_min = (oh * 60 + om) * (t[pos] == '-' ? -1 : 1);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != t.size()) {
        return std::nullopt;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    int64_t secs = timegm(&tm);
    return (secs - int64_t{offset_min} * 60) * 1000 + ms;
}

}  // namespace clove::base
