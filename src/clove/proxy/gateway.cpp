// The request life cycle of a proxied Messages call, in Pingora's words. Steps, in order:
//   1. Authenticate   - client key (x-api-key or Bearer) against the pinned snapshot; before any
//                       parsing so unauthenticated clients cost nothing.
//   2. ParseAndValidate - the whole body must be valid JSON (syntax, UTF-8, depth); read only
//                       `model` and `stream`.
//   3. Plan           - the first upstream whose globs serve the model; the model name mapped.
//   4. Connect / SendRequest / AwaitResponseHead - pooled connection, hand-built head + the
//                       client's bytes; a stale pooled connection that fails before any response
//                       byte is retried once on a fresh one.
//   5. Relay          - JSON: read whole, tap usage, one write. SSE: forward complete events as
//                       they arrive, tap usage from message_start / message_delta.
//   6. Finish         - the access-log line, the usage record (cost from the pinned snapshot's
//                       prices) and the metrics, always (RAII), like Pingora's logging phase.
// Failures: before any byte reached the client an Anthropic error response; after, an SSE error
// event and the end of the stream. A client that goes away closes the upstream connection.

#include "clove/proxy/gateway.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>

#include <array>
#include <charconv>
#include <cstring>
#include <memory>

#include "clove/api/errors.hpp"
#include "clove/api/messages_request.hpp"
#include "clove/api/usage.hpp"
#include "clove/base/log.hpp"
#include "clove/base/request_id.hpp"
#include "clove/http/response_head.hpp"
#include "clove/proxy/models.hpp"
#include "clove/sse/event_framer.hpp"
#include "clove/http/body_decoder.hpp"
#include "clove/upstream/connection.hpp"
#include "clove/upstream/response_parser.hpp"

namespace clove::proxy {

namespace asio = boost::asio;
using upstream::EqualsIgnoreCase;

namespace {

constexpr size_t kUpstreamReadChunk = 16 * 1024;
constexpr size_t kMaxResponseHead = 64 * 1024;
constexpr size_t kMaxSseEvent = 16u << 20;
constexpr size_t kMaxJsonResponse = 64u << 20;

/// Headers never forwarded in either direction (RFC 9110 §7.6.1 hop-by-hop, plus framing that
/// Clove sets itself).
bool IsHopByHop(std::string_view name) {
    static constexpr std::string_view kNames[] = {
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
        "upgrade", "content-length", "host", "expect", "proxy-authorization", "proxy-authenticate"};
    for (auto n : kNames) {
        if (EqualsIgnoreCase(name, n)) {
            return true;
        }
    }
    return false;
}

/// True when `name` is listed in a Connection header value.
bool ListedInConnection(std::string_view connection, std::string_view name) {
    size_t start = 0;
    while (start < connection.size()) {
        size_t comma = connection.find(',', start);
        if (comma == std::string_view::npos) {
            comma = connection.size();
        }
        auto item = connection.substr(start, comma - start);
        while (!item.empty() && item.front() == ' ') { item.remove_prefix(1); }
        while (!item.empty() && item.back() == ' ') { item.remove_suffix(1); }
        if (EqualsIgnoreCase(item, name)) {
            return true;
        }
        start = comma + 1;
    }
    return false;
}


std::string Hex(size_t n) {
    char buf[20];
    auto r = std::to_chars(buf, buf + sizeof buf, n, 16);
    return std::string(buf, r.ptr);
}

/// A growable byte buffer that, unlike std::string::resize, never zero-fills: the relay
/// overwrites every byte it uses, and zeroing 16 KiB per request showed in profiles.
class ByteBuffer {
public:
    char* data() { return data_.get(); }
    size_t size() const { return size_; }
    void resize(size_t n) {
        if (n <= size_) {
            return;
        }
        auto next = std::make_unique_for_overwrite<char[]>(n);
        if (size_ > 0) {
            std::memcpy(next.get(), data_.get(), size_);
        }
        data_ = std::move(next);
        size_ = n;
    }

private:
    std::unique_ptr<char[]> data_;
    size_t size_ = 0;
};

/// Everything the access log, the usage record and the metrics report about one request.
struct RequestRecord {
    std::string request_id;
    std::string method;
    std::string path;
    std::string key = "-";
    std::string key_id;
    std::string model;
    std::string upstream;
    std::string upstream_id;
    std::string credential_id;
    std::string upstream_model;
    bool record_usage = false;  ///< an authenticated proxied request: one usage row
    int64_t wall_start_ms = 0;
    int status = 0;
    bool stream = false;
    std::string outcome = "ok";
    double ttfb_ms = -1;
    api::Usage usage;
    std::chrono::steady_clock::time_point start;

    void Log() const {
        auto dur = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        std::string line = R"({"request_id":)";
        api::AppendJsonString(line, request_id);
        line += R"(,"method":)";
        api::AppendJsonString(line, method);
        line += R"(,"path":)";
        api::AppendJsonString(line, path);
        line += R"(,"key":)";
        api::AppendJsonString(line, key);
        line += R"(,"model":)";
        api::AppendJsonString(line, model);
        line += R"(,"upstream":)";
        api::AppendJsonString(line, upstream);
        line += fmt::format(
            R"(,"status":{},"stream":{},"outcome":"{}","ttfb_ms":{:.2f},"duration_ms":{:.2f},"input_tokens":{},"output_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{}}})",
            status, stream ? "true" : "false", outcome, ttfb_ms, dur, usage.input_tokens, usage.output_tokens,
            usage.cache_creation_input_tokens, usage.cache_read_input_tokens);
        log::info("access {}", line);
    }
};

std::string_view RouteLabel(std::string_view path) {
    if (path == "/v1/messages" || path == "/v1/messages/count_tokens" || path == "/v1/models") {
        return path;
    }
    if (path.rfind("/v1/models/", 0) == 0) {
        return "/v1/models";
    }
    return "other";
}

/// The Finish phase: access-log line, usage record, metrics. Runs when the handler's frame ends,
/// on every path.
struct FinishGuard {
    RequestRecord& record;
    const std::shared_ptr<const Snapshot>& snap;
    GatewayContext& ctx;
    metrics::Cell* cell;

    ~FinishGuard() {
        record.Log();
        const auto& u = record.usage;
        auto tokens = [](int64_t v) { return v < 0 ? int64_t{0} : v; };
        usage::UsageRecord r;
        r.input_tokens = tokens(u.input_tokens);
        r.output_tokens = tokens(u.output_tokens);
        r.cache_creation_tokens = tokens(u.cache_creation_input_tokens);
        r.cache_creation_5m_tokens = tokens(u.cache_creation_5m_tokens);
        r.cache_creation_1h_tokens = tokens(u.cache_creation_1h_tokens);
        r.cache_read_tokens = tokens(u.cache_read_input_tokens);
        if (snap && snap->prices) {
            const config::PriceSpec* price = snap->prices->Find(record.model);
            if (!price && !record.upstream_model.empty()) {
                price = snap->prices->Find(record.upstream_model);
            }
            if (price) {
                r.cost_nanousd = usage::CostNanoUsd(r, *price);
            }
        }
        std::string error_type;
        if (record.outcome == "client_closed") {
            error_type = "client_closed";
        } else if (record.status >= 400) {
            error_type = std::string(api::ErrorTypeForStatus(record.status));
        } else if (record.outcome != "ok") {
            error_type = record.outcome;  // e.g. a stream that ended with an error event
        }
        const double duration_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - record.start).count();
        if (cell) {
            metrics::RequestSample m;
            m.route = RouteLabel(record.path);
            m.model = record.upstream.empty() ? std::string_view(record.model.empty() ? "" : "other")
                                              : std::string_view(record.model);
            m.upstream = record.upstream;
            m.status = record.status;
            m.error_type = error_type;
            m.ttfb_s = record.ttfb_ms < 0 ? -1 : record.ttfb_ms / 1000.0;
            m.duration_s = duration_ms / 1000.0;
            m.input_tokens = r.input_tokens;
            m.output_tokens = r.output_tokens;
            m.cache_creation_tokens = r.cache_creation_tokens;
            m.cache_read_tokens = r.cache_read_tokens;
            m.cost_nanousd = r.cost_nanousd;
            cell->Record(m);
        }
        if (record.record_usage && ctx.usage) {
            // The record dies with this frame: its strings move to the usage queue.
            r.request_id = std::move(record.request_id);
            r.ts_ms = record.wall_start_ms;
            r.key_id = std::move(record.key_id);
            r.upstream_id = std::move(record.upstream_id);
            r.credential_id = std::move(record.credential_id);
            r.upstream_model = record.upstream_model.empty() ? record.model : std::move(record.upstream_model);
            r.model = std::move(record.model);
            r.status = record.status;
            r.error_type = std::move(error_type);
            r.stream = record.stream;
            r.ttfb_ms = record.ttfb_ms;
            r.duration_ms = duration_ms;
            ctx.usage->Push(std::move(r));
        }
    }
};

/// Counts the request in the process-wide in-flight gauge for its lifetime.
struct InFlight {
    std::atomic<int64_t>* counter;
    explicit InFlight(std::atomic<int64_t>* c) : counter(c) {
        if (counter) {
            counter->fetch_add(1, std::memory_order_relaxed);
        }
    }
    ~InFlight() {
        if (counter) {
            counter->fetch_sub(1, std::memory_order_relaxed);
        }
    }
};

class Gateway final : public http::Handler {
public:
    Gateway(asio::io_context& ioc, GatewayContext& ctx)
        : ctx_(ctx),
          store_(ctx.store),
          cell_(ctx.metrics ? &ctx.metrics->NewCell() : nullptr),
          pool_(ioc, ctx.tls, std::chrono::seconds(30), 256) {}

    asio::awaitable<void> Handle(http::Exchange& ex) override;
    void OnDrain() override { pool_.Clear(); }

private:
    enum class Endpoint { kMessages, kCountTokens };

    asio::awaitable<void> Respond(http::Exchange& ex, RequestRecord& rec, int status,
                                  std::string_view content_type, std::string body, bool head_only = false);
    asio::awaitable<void> RespondError(http::Exchange& ex, RequestRecord& rec, int status,
                                       std::string_view message);
    asio::awaitable<void> Proxy(http::Exchange& ex, RequestRecord& rec, Endpoint endpoint,
                                std::shared_ptr<const Snapshot> snap);
    asio::awaitable<void> Models(http::Exchange& ex, RequestRecord& rec, std::shared_ptr<const Snapshot> snap);

    /// The client key `presented` names (or passthrough). Answers 401 itself and returns false.
    asio::awaitable<bool> Authenticate(http::Exchange& ex, RequestRecord& rec, const Snapshot& snap,
                                       const ClientKeyRuntime** key_out = nullptr);

    GatewayContext& ctx_;
    const SnapshotStore& store_;
    metrics::Cell* cell_;
    upstream::Pool pool_;
    size_t credential_rr_ = 0;
    base::RequestIdGenerator ids_;
};

asio::awaitable<void> Gateway::Respond(http::Exchange& ex, RequestRecord& rec, int status,
                                       std::string_view content_type, std::string body, bool head_only) {
    std::string head;
    http::HeadBuilder h(head);
    h.Status(status);
    if (!content_type.empty()) {
        h.Header("content-type", content_type);
    }
    h.Header("content-length", static_cast<uint64_t>(body.size()));
    h.Header("request-id", rec.request_id);
    h.Header("x-clove-request-id", rec.request_id);
    ex.AppendConnectionHeader(head);
    h.End();
    rec.status = status;
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(body.data(), head_only ? 0 : body.size())};
    co_await ex.Write(bufs);
}

asio::awaitable<void> Gateway::RespondError(http::Exchange& ex, RequestRecord& rec, int status,
                                            std::string_view message) {
    if (rec.outcome == "ok") {
        rec.outcome = "gateway_error";
    }
    co_await Respond(ex, rec, status, "application/json",
                     api::ErrorJson(api::ErrorTypeForStatus(status), message, rec.request_id));
}

asio::awaitable<void> Gateway::Handle(http::Exchange& ex) {
    auto snap = store_.Load();
    InFlight in_flight(ctx_.in_flight);
    RequestRecord rec;
    rec.request_id = ids_.Next();
    rec.method = std::string(ex.request.method_string());
    rec.path = std::string(ex.path);
    rec.start = ex.start;
    rec.wall_start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() -
                        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ex.start)
                            .count();
    FinishGuard finish{rec, snap, ctx_, cell_};
    const auto method = ex.request.method();
    using boost::beast::http::verb;
    const std::string_view path = ex.path;

    if (path == "/" || path.empty()) {
        if (method == verb::get || method == verb::head) {
            co_await Respond(ex, rec, 200, "application/json",
                             R"({"service":"clove","status":"ok","docs":"POST /v1/messages"})", method == verb::head);
        } else {
            co_await RespondError(ex, rec, 405, "method not allowed on /");
        }
        co_return;
    }
    if (path == "/health") {
        co_await Respond(ex, rec, 200, "application/json", R"({"status":"ok"})", method == verb::head);
        co_return;
    }
    if (path == "/v1/messages" || path == "/v1/messages/count_tokens") {
        if (method != verb::post) {
            co_await RespondError(ex, rec, 405, fmt::format("method {} is not allowed on {}; use POST",
                                                            std::string(ex.request.method_string()), path));
            co_return;
        }
        co_await Proxy(ex, rec, path == "/v1/messages" ? Endpoint::kMessages : Endpoint::kCountTokens, snap);
        co_return;
    }
    if (path == "/v1/models" || path.rfind("/v1/models/", 0) == 0) {
        if (method != verb::get && method != verb::head) {
            co_await RespondError(ex, rec, 405, "method not allowed; use GET");
            co_return;
        }
        co_await Models(ex, rec, snap);
        co_return;
    }
    co_await RespondError(ex, rec, 404, fmt::format("not found: {} {}", std::string(ex.request.method_string()), path));
}

asio::awaitable<bool> Gateway::Authenticate(http::Exchange& ex, RequestRecord& rec, const Snapshot& snap,
                                            const ClientKeyRuntime** key_out) {
    std::string_view presented = PresentedKey(ex.request);
    if (presented.empty()) {
        co_await RespondError(ex, rec, 401, "missing API key: send it in x-api-key or Authorization: Bearer");
        co_return false;
    }
    if (!snap.client_keys_configured) {
        rec.key = "passthrough";  // the client's own key goes to a passthrough upstream
        co_return true;
    }
    const ClientKeyRuntime* who = snap.Authenticate(presented);
    if (!who) {
        co_await RespondError(ex, rec, 401, "invalid API key");
        co_return false;
    }
    rec.key = who->name;
    rec.key_id = who->id;
    if (key_out) {
        *key_out = who;
    }
    if (who->Expired(rec.wall_start_ms)) {
        co_await RespondError(ex, rec, 401, "API key expired");
        co_return false;
    }
    co_return true;
}

asio::awaitable<void> Gateway::Models(http::Exchange& ex, RequestRecord& rec, std::shared_ptr<const Snapshot> snap) {
    if (!co_await Authenticate(ex, rec, *snap)) {
        co_return;
    }
    auto models = ListModels(*snap);
    if (ex.path == "/v1/models") {
        std::string err;
        auto page = ModelsPageJson(models, ex.query, err);
        if (!page) {
            co_await RespondError(ex, rec, 400, err);
            co_return;
        }
        co_await Respond(ex, rec, 200, "application/json", std::move(*page));
        co_return;
    }
    std::string_view id = ex.path.substr(std::strlen("/v1/models/"));
    for (const auto& m : models) {
        if (m.id == id) {
            co_await Respond(ex, rec, 200, "application/json", ModelJson(m));
            co_return;
        }
    }
    if (snap->Route(id).upstream) {
        co_await Respond(ex, rec, 200, "application/json", ModelJson({std::string(id), std::string(id), "2025-01-01T00:00:00Z"}));
        co_return;
    }
    co_await RespondError(ex, rec, 404, fmt::format("model: {} not found", id));
}

asio::awaitable<void> Gateway::Proxy(http::Exchange& ex, RequestRecord& rec, Endpoint endpoint,
                                     std::shared_ptr<const Snapshot> snap) {
    const auto& req = ex.request;

    // ---- 1. Authenticate ---------------------------------------------------------------------
    const ClientKeyRuntime* client_key = nullptr;
    if (!co_await Authenticate(ex, rec, *snap, &client_key)) {
        co_return;
    }
    rec.record_usage = true;

    // ---- 2. ParseAndValidate -------------------------------------------------------------------
    const std::string& body = req.body();
    api::MessagesRequestView view;
    if (auto err = api::ParseMessagesRequest(body, view)) {
        co_await RespondError(ex, rec, 400, err->message);
        co_return;
    }
    rec.model = view.model;
    rec.stream = endpoint == Endpoint::kMessages && view.stream;
    {
        if (client_key && !client_key->AllowsModel(view.model)) {
            co_await RespondError(ex, rec, 403,
                                  fmt::format("this API key may not use model \"{}\"", view.model));
            co_return;
        }
    }

    // ---- 3. Plan -------------------------------------------------------------------------------
    RouteResult route = snap->Route(view.model);
    const UpstreamRuntime* up = route.upstream;
    if (!up) {
        co_await RespondError(ex, rec, route.status, route.reason);
        co_return;
    }
    rec.upstream = up->config.name;
    rec.upstream_id = up->id;
    std::string mapped_body;
    std::string_view send_body = body;
    rec.upstream_model = view.model;
    if (auto it = up->config.model_map.find(view.model); it != up->config.model_map.end()) {
        mapped_body = api::SpliceModel(body, it->second);
        send_body = mapped_body;
        rec.upstream_model = it->second;
    }
    const bool passthrough = up->passthrough();
    std::string_view auth_header;
    if (!passthrough) {
        const auto& cred = up->credentials[credential_rr_++ % up->credentials.size()];
        auth_header = cred.auth_header;
        rec.credential_id = cred.id;
    }

    // ---- 4a. The upstream request head, built once (retries reuse it) ---------------------------
    std::string head;
    head.reserve(512 + req.target().size());
    head += req.method_string();
    head += ' ';
    head += up->peer.base_path;
    head += ex.path;
    if (!ex.query.empty()) {
        head += '?';
        head += ex.query;
    }
    head += " HTTP/1.1\r\nhost: ";
    head += up->peer.host_header;
    head += "\r\n";
    const std::string_view connection_hdr = req[boost::beast::http::field::connection];
    for (const auto& f : req) {
        auto name = f.name_string();
        if (IsHopByHop(name) || EqualsIgnoreCase(name, "accept-encoding")) {
            continue;
        }
        if (!passthrough && (EqualsIgnoreCase(name, "x-api-key") || EqualsIgnoreCase(name, "authorization"))) {
            continue;
        }
        if (!connection_hdr.empty() && ListedInConnection(connection_hdr, name)) {
            continue;
        }
        head += name;
        head += ": ";
        head += f.value();
        head += "\r\n";
    }
    head += auth_header;
    head += "content-length: ";
    head += std::to_string(send_body.size());
    head += "\r\n\r\n";

    // Client disconnect closes whatever upstream connection is current.
    upstream::Connection* current = nullptr;
    ex.WatchClient([&current] {
        if (current) {
            current->Close();
        }
    });
    struct StopWatch {
        http::Exchange& ex;
        ~StopWatch() { ex.StopWatching(); }
    } stop_watch{ex};

    const auto& ucfg = up->config;
    const auto first_byte_timeout = std::chrono::milliseconds(ucfg.first_byte_timeout_ms);
    const auto idle_timeout = std::chrono::milliseconds(ucfg.stream_idle_timeout_ms);

    // ---- 4b. Connect, send, await the response head ---------------------------------------------
    std::unique_ptr<upstream::Connection> conn;
    ByteBuffer buf;
    upstream::ResponseHead resp;
    size_t buffered = 0;  // bytes in buf
    size_t head_size = 0;
    for (int attempt = 0;; ++attempt) {
        conn = pool_.Acquire(up->peer);
        current = conn.get();
        const bool reused = conn->reused();
        if (!reused) {
            auto ec = co_await conn->Connect(std::chrono::milliseconds(ucfg.connect_timeout_ms));
            if (ec) {
                if (ex.client_gone()) {
                    rec.outcome = "client_closed";
                    rec.status = 499;
                    co_return;
                }
                rec.outcome = "upstream_failed";
                bool timeout = ec == boost::beast::error::timeout;
                // Named, not inline: GCC 12 destroys a ?: temporary inside a co_await
                // full-expression twice (double free, seen with a refused proxy tunnel).
                std::string reason = "connect timed out";
                if (!timeout) {
                    reason = ec.message();
                }
                const std::string message = fmt::format("upstream \"{}\" is unreachable: {}", ucfg.name, reason);
                co_await RespondError(ex, rec, timeout ? 504 : 502, message);
                co_return;
            }
        }
        std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(send_body.data(), send_body.size())};
        auto wec = co_await conn->Write(out, first_byte_timeout);
        bool failed_early = static_cast<bool>(wec);
        boost::system::error_code rec_ec = wec;
        buffered = 0;
        if (!failed_early) {
            buf.resize(kUpstreamReadChunk);
            for (;;) {
                if (buffered == buf.size()) {
                    buf.resize(buf.size() * 2);
                }
                auto [ec, n] = co_await conn->ReadSome(asio::buffer(buf.data() + buffered, buf.size() - buffered),
                                                       first_byte_timeout);
                if (ec) {
                    failed_early = true;
                    rec_ec = ec;
                    break;
                }
                if (rec.ttfb_ms < 0) {
                    rec.ttfb_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ex.start).count();
                }
                buffered += n;
                std::string perr;
                auto st = upstream::ParseResponseHead(std::string_view(buf.data(), buffered), kMaxResponseHead, resp,
                                                      head_size, perr);
                if (st == upstream::ParseStatus::kBad) {
                    rec.outcome = "upstream_failed";
                    co_await RespondError(ex, rec, 502, fmt::format("upstream \"{}\" sent an invalid response: {}", ucfg.name, perr));
                    co_return;
                }
                if (st == upstream::ParseStatus::kComplete) {
                    if (resp.status >= 100 && resp.status < 200) {
                        // Interim response (100 Continue): drop it and read the real one.
                        std::memmove(buf.data(), buf.data() + head_size, buffered - head_size);
                        buffered -= head_size;
                        continue;
                    }
                    break;
                }
            }
        }
        if (!failed_early) {
            break;
        }
        if (ex.client_gone()) {
            rec.outcome = "client_closed";
            rec.status = 499;
            co_return;
        }
        if (reused && buffered == 0 && attempt == 0 && rec_ec != boost::beast::error::timeout) {
            continue;  // stale keep-alive connection: once more on a fresh one
        }
        rec.outcome = "upstream_failed";
        if (rec_ec == boost::beast::error::timeout) {
            co_await RespondError(ex, rec, 504, fmt::format("upstream \"{}\" did not answer within {} s", ucfg.name,
                                                            ucfg.first_byte_timeout_ms / 1000.0));
        } else {
            co_await RespondError(ex, rec, 502, fmt::format("upstream \"{}\" closed the connection before answering ({})",
                                                            ucfg.name, rec_ec.message()));
        }
        co_return;
    }

    // ---- 5. Relay ------------------------------------------------------------------------------
    rec.status = resp.status;
    if (resp.status >= 400) {
        rec.outcome = "upstream_error_status";
    }
    http::BodyDecoder decoder;
    if (resp.status == 204 || resp.status == 304) {
        decoder.Start(http::BodyDecoder::Mode::kLength, 0);
    } else if (resp.chunked) {
        decoder.Start(http::BodyDecoder::Mode::kChunked);
    } else if (resp.content_length) {
        decoder.Start(http::BodyDecoder::Mode::kLength, *resp.content_length);
    } else {
        decoder.Start(http::BodyDecoder::Mode::kUntilClose);
    }
    // Body bytes that came with the head go to the front of the buffer.
    std::memmove(buf.data(), buf.data() + head_size, buffered - head_size);
    size_t raw_end = buffered - head_size;
    size_t payload_end = 0;

    const bool sse = resp.event_stream;
    // The client head is per request: it lives across co_awaits (an SSE head leaves with the
    // first event, possibly several reads later), while other requests of this worker run.
    std::string chead;
    chead.reserve(1024);
    {
        http::HeadBuilder h(chead);
        h.Status(resp.status);
        const std::string_view resp_connection = resp.Get("connection");
        for (const auto& [name, value] : resp.headers) {
            if (IsHopByHop(name) || (!resp_connection.empty() && ListedInConnection(resp_connection, name))) {
                continue;
            }
            h.Header(name, value);
        }
        h.Header("x-clove-request-id", rec.request_id);
    }


    if (!sse) {
        // JSON (or any non-stream body): read it whole, tap usage, write head + body at once.
        std::string failure;
        for (;;) {
            payload_end = decoder.Decode(buf.data(), payload_end, payload_end, raw_end);
            raw_end = payload_end;
            if (decoder.done() || decoder.failed()) {
                break;
            }
            if (payload_end >= kMaxJsonResponse) {
                failure = "upstream response too large";
                break;
            }
            if (raw_end == buf.size()) {
                buf.resize(buf.size() * 2);
            }
            auto [ec, n] = co_await conn->ReadSome(asio::buffer(buf.data() + raw_end, buf.size() - raw_end), idle_timeout);
            raw_end += n;
            if (ec) {
                if (ec == asio::error::eof) {
                    decoder.Decode(buf.data(), payload_end, payload_end, raw_end);
                    decoder.OnEof();
                    if (decoder.done()) {
                        break;
                    }
                }
                failure = ec == boost::beast::error::timeout ? "timed out reading the response" : "connection lost mid-response";
                break;
            }
        }
        if (decoder.failed() && failure.empty()) {
            failure = "malformed response framing";
        }
        if (ex.client_gone()) {
            rec.outcome = "client_closed";
            rec.status = 499;
            co_return;
        }
        if (!failure.empty()) {
            rec.outcome = "upstream_failed";
            co_await RespondError(ex, rec, 502, fmt::format("upstream \"{}\": {}", ucfg.name, failure));
            co_return;
        }
        if (resp.status >= 200 && resp.status < 300 && endpoint == Endpoint::kMessages) {
            api::ReadMessageUsage(std::string_view(buf.data(), payload_end), rec.usage);
        }
        chead += "content-length: ";
        chead += std::to_string(payload_end);
        chead += "\r\n";
        ex.AppendConnectionHeader(chead);
        chead += "\r\n";
        if (decoder.done() && decoder.excess() == 0 && resp.keep_alive) {
            current = nullptr;
            pool_.Release(std::move(conn));
        }
        std::array<asio::const_buffer, 2> out{asio::buffer(chead), asio::buffer(buf.data(), payload_end)};
        if (!co_await ex.Write(out)) {
            rec.outcome = "client_closed";
            rec.status = 499;
        }
        co_return;
    }

    // SSE: forward complete events as they arrive, re-framed as chunks.
    chead += "transfer-encoding: chunked\r\n";
    ex.AppendConnectionHeader(chead);
    chead += "\r\n";
    bool head_sent = false;
    sse::EventFramer framer;
    api::StreamUsageTap tap;
    std::string scratch;
    std::string failure;
    for (;;) {
        payload_end = decoder.Decode(buf.data(), payload_end, payload_end, raw_end);
        raw_end = payload_end;
        size_t fwd = framer.Scan(std::string_view(buf.data(), payload_end));
        if (fwd > 0) {
            sse::ForEachEvent(std::string_view(buf.data(), fwd), scratch,
                              [&tap](const sse::EventView& ev) { tap.OnEvent(ev.name, ev.data); });
            std::string size_line = Hex(fwd);
            size_line += "\r\n";
            std::array<asio::const_buffer, 4> out{
                asio::buffer(chead.data(), head_sent ? 0 : chead.size()), asio::buffer(size_line),
                asio::buffer(buf.data(), fwd), asio::buffer("\r\n", 2)};
            head_sent = true;
            if (!co_await ex.Write(out)) {
                rec.outcome = "client_closed";
                rec.status = 499;
                rec.usage = tap.usage();
                co_return;  // closing `conn` (destructor) cancels the upstream request
            }
            std::memmove(buf.data(), buf.data() + fwd, payload_end - fwd);
            framer.Consume(fwd);
            payload_end -= fwd;
            raw_end = payload_end;
        }
        if (decoder.done()) {
            break;
        }
        if (decoder.failed()) {
            failure = "malformed stream framing";
            break;
        }
        if (payload_end >= kMaxSseEvent) {
            failure = "stream event too large";
            break;
        }
        if (raw_end == buf.size()) {
            buf.resize(buf.size() * 2);
        }
        auto [ec, n] = co_await conn->ReadSome(asio::buffer(buf.data() + raw_end, buf.size() - raw_end), idle_timeout);
        raw_end += n;
        if (ec) {
            if (ex.client_gone()) {
                rec.outcome = "client_closed";
                rec.status = 499;
                rec.usage = tap.usage();
                co_return;
            }
            if (ec == asio::error::eof) {
                decoder.OnEof();
                if (decoder.done() && decoder.mode() == http::BodyDecoder::Mode::kUntilClose) {
                    continue;  // forward what the final read brought, then finish
                }
            }
            failure = ec == boost::beast::error::timeout
                          ? fmt::format("stream idle for more than {} s", ucfg.stream_idle_timeout_ms / 1000.0)
                          : "upstream connection lost mid-stream";
            break;
        }
    }
    rec.usage = tap.usage();
    const bool complete = failure.empty() && (tap.saw_message_stop() || tap.saw_error() || resp.status >= 300);
    if (!complete && failure.empty()) {
        failure = "stream ended without message_stop";
    }
    if (!complete && !head_sent) {
        // Nothing reached the client yet: a plain error response is still possible.
        rec.outcome = "upstream_failed";
        co_await RespondError(ex, rec, 502, fmt::format("upstream \"{}\": {}", ucfg.name, failure));
        co_return;
    }
    std::string tail;
    if (!complete) {
        rec.outcome = "upstream_failed";
        auto ev = api::ErrorEvent("api_error", fmt::format("upstream \"{}\": {}", ucfg.name, failure), rec.request_id);
        tail = Hex(ev.size()) + "\r\n" + ev + "\r\n";
    }
    tail += "0\r\n\r\n";
    std::array<asio::const_buffer, 2> out{asio::buffer(chead.data(), head_sent ? 0 : chead.size()), asio::buffer(tail)};
    if (complete && decoder.done() && decoder.excess() == 0 && resp.keep_alive) {
        current = nullptr;
        pool_.Release(std::move(conn));
    }
    if (!co_await ex.Write(out)) {
        rec.outcome = "client_closed";
        rec.status = 499;
    }
}

}  // namespace

std::unique_ptr<http::Handler> MakeGateway(asio::io_context& ioc, GatewayContext& ctx) {
    return std::make_unique<Gateway>(ioc, ctx);
}

}  // namespace clove::proxy
