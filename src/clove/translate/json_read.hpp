#pragma once

// Lenient readers of optional JSON members, shared by the translation code.

#include <boost/json/value.hpp>

#include <cstdint>
#include <string_view>

namespace clove::translate {

/// The string `v` holds, or "" (null pointer, missing member, other type).
inline std::string_view StrOf(const boost::json::value* v) {
    return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

/// The number `v` holds as an integer, or -1 (null pointer, missing member, other type).
inline int64_t IntOf(const boost::json::value* v) {
    if (!v) return -1;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
    if (v->is_double()) return static_cast<int64_t>(v->as_double());
    return -1;
}

}  // namespace clove::translate
