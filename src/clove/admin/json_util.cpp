#include "clove/admin/json_util.hpp"

#include <fmt/format.h>

#include <charconv>
#include <ctime>

namespace clove::admin {

namespace json = boost::json;

json::value TimeOrNull(const std::optional<int64_t>& unix_ms) {
    return unix_ms ? json::value(FormatTime(*unix_ms)) : json::value(nullptr);
}



json::object ParseObject(std::string_view body) {
    if (body.empty()) {
        Invalid("", "the request body must be a JSON object");
    }
    boost::system::error_code ec;
    json::parse_options opt;
    opt.max_depth = 32;
    auto v = json::parse(body, ec, {}, opt);
    if (ec) {
        Invalid("", "the request body is not valid JSON: " + ec.message());
    }
    if (!v.is_object()) {
        Invalid("", "the request body must be a JSON object");
    }
    return std::move(v.as_object());
}

bool Fields::IsNull(std::string_view name) const {
    auto* v = obj_.if_contains(name);
    return v && v->is_null();
}

void Fields::RejectUnknown(std::initializer_list<std::string_view> known) const {
    for (const auto& [k, v] : obj_) {
        bool ok = false;
        for (auto n : known) {
            ok = ok || k == n;
        }
        if (!ok) {
            Invalid(Path(Printable(k)), "unknown field");
        }
    }
}

std::optional<std::string> Fields::String(std::string_view name) const {
    auto* v = obj_.if_contains(name);
    if (!v) {
        return std::nullopt;
    }
    if (!v->is_string()) {
        Invalid(Path(name), "must be a string");
    }
    return std::string(v->as_string());
}

std::optional<bool> Fields::Bool(std::string_view name) const {
    auto* v = obj_.if_contains(name);
    if (!v) {
        return std::nullopt;
    }
    if (!v->is_bool()) {
        Invalid(Path(name), "must be true or false");
    }
    return v->as_bool();
}

std::optional<int64_t> Fields::Int(std::string_view name, int64_t lo, int64_t hi) const {
    auto* v = obj_.if_contains(name);
    if (!v) {
        return std::nullopt;
    }
    int64_t x;
    if (v->is_int64()) {
        x = v->as_int64();
    } else if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
        x = static_cast<int64_t>(v->as_uint64());
    } else if (v->is_double() && v->as_double() == static_cast<double>(static_cast<int64_t>(v->as_double()))) {
        x = static_cast<int64_t>(v->as_double());
    } else {
        Invalid(Path(name), "must be an integer");
    }
    if (x < lo || x > hi) {
        Invalid(Path(name), fmt::format("must be between {} and {}", lo, hi));
    }
    return x;
}

std::optional<double> Fields::Number(std::string_view name, double lo, double hi) const {
    auto* v = obj_.if_contains(name);
    if (!v) {
        return std::nullopt;
    }
    if (!v->is_number()) {
        Invalid(Path(name), "must be a number");
    }
    double x = v->to_number<double>();
    if (!(x >= lo && x <= hi)) {
        Invalid(Path(name), fmt::format("must be between {} and {}", lo, hi));
    }
    return x;
}

std::optional<std::vector<std::string>> Fields::Strings(std::string_view name) const {
    auto* v = obj_.if_contains(name);
    if (!v) {
        return std::nullopt;
    }
    if (!v->is_array()) {
        Invalid(Path(name), "must be an array of strings");
    }
    std::vector<std::string> out;
    size_t i = 0;
    for (const auto& e : v->as_array()) {
        std::string p = fmt::format("{}[{}]", Path(name), i++);
        if (!e.is_string() || e.as_string().empty()) {
            Invalid(p, "must be a non-empty string");
        }
        if (e.as_string().size() > 200) {
            Invalid(p, "must be at most 200 characters");
        }
        out.emplace_back(e.as_string());
    }
    if (out.size() > 200) {
        Invalid(Path(name), "at most 200 entries");
    }
    return out;
}

bool IsName(std::string_view s, size_t max, std::string_view allowed) {
    if (s.empty() || s.size() > max) {
        return false;
    }
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  allowed.find(c) != std::string_view::npos;
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::string Printable(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (out.size() >= 64) {
            out += "...";
            break;
        }
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return out;
}

}  // namespace clove::admin
