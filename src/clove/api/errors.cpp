#include "clove/api/errors.hpp"

#include <array>
#include <cstring>

#include <simdjson.h>

namespace clove::api {

std::string_view ErrorTypeForStatus(int status) noexcept {
    switch (status) {
        case 400: return "invalid_request_error";
        case 401: return "authentication_error";
        case 402: return "billing_error";
        case 403: return "permission_error";
        case 404: return "not_found_error";
        case 409: return "conflict_error";
        case 413: return "request_too_large";
        case 429: return "rate_limit_error";
        case 504: return "timeout_error";
        case 529: return "overloaded_error";
        default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

namespace {

/// Bytes a JSON string literal must escape: controls, the quote and the backslash.
constexpr std::array<bool, 256> MakeNeedsEscape() {
    std::array<bool, 256> t{};
    for (int c = 0; c < 0x20; ++c) {
        t[static_cast<size_t>(c)] = true;
    }
    t['"'] = true;
    t['\\'] = true;
    return t;
}
constexpr std::array<bool, 256> kNeedsEscape = MakeNeedsEscape();

}  // namespace

char* WriteJsonString(char* out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    *out++ = '"';
    // Runs of bytes that need no escape are copied at once (ids, names and paths are one run).
    const char* p = s.data();
    const char* const end = p + s.size();
    while (p < end) {
        const char* run = p;
        while (p < end && !kNeedsEscape[static_cast<unsigned char>(*p)]) {
            ++p;
        }
        std::memcpy(out, run, static_cast<size_t>(p - run));
        out += p - run;
        if (p == end) {
            break;
        }
        const auto c = static_cast<unsigned char>(*p++);
        *out++ = '\\';
        switch (c) {
            case '"': *out++ = '"'; break;
            case '\\': *out++ = '\\'; break;
            case '\n': *out++ = 'n'; break;
            case '\r': *out++ = 'r'; break;
            case '\t': *out++ = 't'; break;
            default: {
                const char esc[5] = {'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
                std::memcpy(out, esc, sizeof esc);
                out += sizeof esc;
            }
        }
    }
    *out++ = '"';
    return out;
}

void AppendJsonString(std::string& out, std::string_view s) {
    const size_t at = out.size();
    out.resize(at + JsonStringMaxSize(s.size()));
    char* const end = WriteJsonString(out.data() + at, s);
    out.resize(static_cast<size_t>(end - out.data()));
}

std::string ErrorJson(std::string_view type, std::string_view message, std::string_view request_id) {
    std::string out;
    out.reserve(96 + message.size());
    out += R"({"type":"error","error":{"type":)";
    AppendJsonString(out, type);
    out += R"(,"message":)";
    AppendJsonString(out, message);
    out += R"(},"request_id":)";
    if (request_id.empty()) {
        out += "null";
    } else {
        AppendJsonString(out, request_id);
    }
    out += '}';
    return out;
}

std::string ErrorEvent(std::string_view type, std::string_view message, std::string_view request_id) {
    std::string out = "event: error\ndata: ";
    out += ErrorJson(type, message, request_id);
    out += "\n\n";
    return out;
}

ErrorBody ParseErrorBody(std::string_view body) {
    ErrorBody out;
    const auto open = body.find('{');
    const auto close = body.rfind('}');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
        return out;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body.data() + open, close - open + 1, true).get(doc)) {
        return out;
    }
    std::string_view v;
    if (!doc["error"]["type"].get_string().get(v)) {
        out.type.assign(v);
    }
    if (!doc["error"]["message"].get_string().get(v)) {
        out.message.assign(v);
    }
    return out;
}

}  // namespace clove::api
