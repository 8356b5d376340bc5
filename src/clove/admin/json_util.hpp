#pragma once

#include "clove/base/time.hpp"

// Small helpers of the admin API: its error type, RFC 3339 times, and strict readers of JSON
// request fields that report the field's path.

#include <boost/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace clove::admin {

/// An error answered to the admin client: status, Anthropic error type, message, field path.
struct ApiError {
    int status = 400;
    std::string type = "invalid_request_error";
    std::string message;
    std::string field;
};

[[noreturn]] inline void Invalid(std::string field, std::string message) {
    std::string m = field.empty() ? message : field + ": " + message;
    throw ApiError{400, "invalid_request_error", std::move(m), std::move(field)};
}
[[noreturn]] inline void NotFound(std::string message) {
    throw ApiError{404, "not_found_error", std::move(message), {}};
}
[[noreturn]] inline void Conflict(std::string field, std::string message) {
    throw ApiError{409, "invalid_request_error", std::move(message), std::move(field)};
}

/// "2026-11-27T06:47:23.120Z"
inline std::string FormatTime(int64_t unix_ms) { return base::FormatTimeMs(unix_ms); }
boost::json::value TimeOrNull(const std::optional<int64_t>& unix_ms);
/// RFC 3339 (Z or ±hh:mm offset, optional fraction) or a decimal Unix-ms number. nullopt if neither.
inline std::optional<int64_t> ParseTime(std::string_view text) { return base::ParseTimeMs(text); }

/// Parses a request body as a JSON object (400 on anything else).
boost::json::object ParseObject(std::string_view body);

/// Reads fields of one JSON object strictly: wrong types and unknown fields are 400s naming
/// the field's path (`prefix` + name).
class Fields {
public:
    Fields(const boost::json::object& obj, std::string prefix = "") : obj_(obj), prefix_(std::move(prefix)) {}

    void RejectUnknown(std::initializer_list<std::string_view> known) const;
    bool Has(std::string_view name) const { return obj_.contains(name); }
    bool IsNull(std::string_view name) const;
    std::string Path(std::string_view name) const { return prefix_ + std::string(name); }

    std::optional<std::string> String(std::string_view name) const;
    std::optional<bool> Bool(std::string_view name) const;
    std::optional<int64_t> Int(std::string_view name, int64_t lo, int64_t hi) const;
    std::optional<double> Number(std::string_view name, double lo, double hi) const;
    std::optional<std::vector<std::string>> Strings(std::string_view name) const;
    const boost::json::value* Get(std::string_view name) const { return obj_.if_contains(name); }

private:
    const boost::json::object& obj_;
    std::string prefix_;
};

/// True when `s` is 1..max characters from `allowed` plus ASCII letters and digits.
bool IsName(std::string_view s, size_t max, std::string_view allowed);

/// A value safe to echo in messages: printable ASCII, at most 64 characters.
std::string Printable(std::string_view s);

}  // namespace clove::admin
