#include "clove/http/response_head.hpp"

#include <charconv>

namespace clove::http {

std::string_view ReasonPhrase(int status) noexcept {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 402: return "Payment Required";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 411: return "Length Required";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 499: return "Client Closed Request";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        case 529: return "Overloaded";
        default: return "Unknown";
    }
}

void HeadBuilder::Status(int status) {
    char buf[8];
    auto r = std::to_chars(buf, buf + sizeof buf, status);
    out_ += "HTTP/1.1 ";
    out_.append(buf, r.ptr);
    out_ += ' ';
    out_ += ReasonPhrase(status);
    out_ += "\r\n";
}

void HeadBuilder::Header(std::string_view name, std::string_view value) {
    AppendHeaderLine(out_, name, value);
}

void HeadBuilder::Header(std::string_view name, uint64_t value) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, value);
    Header(name, std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
}

}  // namespace clove::http
