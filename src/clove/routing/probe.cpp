#include "clove/routing/probe.hpp"

#include <boost/asio/buffer.hpp>

#include <array>
#include <cstring>

#include "clove/api/errors.hpp"
#include "clove/routing/classify.hpp"
#include "clove/upstream/response_parser.hpp"

namespace clove::routing {

namespace asio = boost::asio;

namespace {

/// The `error.message` of an Anthropic error body (first 100 printable characters), or "".
std::string ErrorMessage(std::string_view body) {
    std::string out;
    for (char c : api::ParseErrorBody(body).message) {
        if (out.size() >= 100) {
            break;
        }
        out += (c >= 0x20 && c < 0x7f) ? c : ' ';
    }
    return out;
}

}  // namespace

asio::awaitable<ProbeResult> Probe(asio::io_context& ioc, upstream::SharedTlsContext& tls, upstream::Peer peer,
                                   std::string key, std::chrono::milliseconds timeout, ProbeKind kind,
                                   std::string model, bool openai) {
    ProbeResult r;
    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [t0] { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(); };
    upstream::Connection conn(ioc, tls, peer);
    if (auto ec = co_await conn.Connect(timeout)) {
        r.latency_ms = elapsed();
        r.message = "cannot connect: " + ec.message();
        co_return r;
    }
    std::string req;
    // OpenAI-compatible APIs: GET <root>/models and POST <root>/chat/completions, Bearer key.
    const std::string chat_path = openai ? upstream::ChatCompletionsPath(peer.base_path) : std::string();
    if (kind == ProbeKind::kModels) {
        if (openai) {
            req = "GET " + chat_path.substr(0, chat_path.size() - std::strlen("chat/completions")) + "models HTTP/1.1\r\n";
        } else {
            req = "GET " + peer.base_path + "/v1/models?limit=1 HTTP/1.1\r\n";
        }
    } else {
        std::string body = "{\"model\":\"" + model +
                           "\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"ping\"}]}";
        req = "POST " + (openai ? chat_path : peer.base_path + "/v1/messages") +
              " HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: " + std::to_string(body.size()) + "\r\n";
        model = std::move(body);  // sent after the head
    }
    req += "host: " + peer.host_header;
    req += openai ? "\r\nauthorization: Bearer " : "\r\nx-api-key: ";
    req += key;
    if (!openai) {
        req += "\r\nanthropic-version: 2023-06-01";
    }
    req += "\r\naccept: application/json\r\nuser-agent: clove/" CLOVE_VERSION "\r\nconnection: close\r\n\r\n";
    if (kind == ProbeKind::kMessage) {
        req += model;
    }
    std::fill(key.begin(), key.end(), '\0');
    std::array<asio::const_buffer, 1> out{asio::buffer(req)};
    auto wec = co_await conn.Write(out, timeout);
    std::fill(req.begin(), req.end(), '\0');
    if (wec) {
        r.latency_ms = elapsed();
        r.message = "cannot send: " + wec.message();
        co_return r;
    }
    std::string buf(64 * 1024, '\0');
    size_t used = 0;
    upstream::ResponseHead head;
    size_t head_size = 0;
    bool have_head = false;
    for (;;) {
        auto [ec, n] = co_await conn.ReadSome(asio::buffer(buf.data() + used, buf.size() - used), timeout);
        used += n;
        if (!have_head) {
            std::string err;
            auto st = upstream::ParseResponseHead(std::string_view(buf.data(), used), buf.size(), head, head_size, err);
            if (st == upstream::ParseStatus::kBad) {
                r.latency_ms = elapsed();
                r.message = "invalid response: " + err;
                co_return r;
            }
            have_head = st == upstream::ParseStatus::kComplete;
        }
        if (have_head && head.content_length && used - head_size >= *head.content_length) {
            break;
        }
        if (ec || used == buf.size()) {
            break;
        }
    }
    r.latency_ms = elapsed();
    if (!have_head) {
        r.message = "no response (connection closed or timed out)";
        co_return r;
    }
    r.status = head.status;
    r.ok = head.status >= 200 && head.status < 300;
    if (auto ra = head.Get("retry-after"); !ra.empty()) {
        r.retry_after_ms = ParseRetryAfterMs(ra);
    }
    if (r.ok) {
        r.message = "ok";
    } else {
        r.message = "HTTP " + std::to_string(head.status);
        auto detail = ErrorMessage(std::string_view(buf.data() + head_size, used - head_size));
        if (!detail.empty()) {
            r.message += ": " + detail;
        }
    }
    co_return r;
}

std::optional<Event> EventFromProbe(const ProbeResult& r) {
    Event e;
    e.error = "health check: " + r.message;
    if (r.status == 0 || Judge(r.status) == Verdict::kNextUpstream) {
        e.kind = Event::Kind::kFailure;
        e.reset_after_ms = r.retry_after_ms;
        return e;
    }
    if (r.status == 429) {
        e.kind = Event::Kind::kRateLimited;
        e.reset_after_ms = r.retry_after_ms;
        return e;
    }
    if (r.status == 401 || r.status == 402 || r.status == 403) {
        e.kind = Event::Kind::kInvalid;
        return e;
    }
    if (r.ok) {
        e.kind = Event::Kind::kSuccess;
        e.error.clear();
        return e;
    }
    return std::nullopt;
}

}  // namespace clove::routing
