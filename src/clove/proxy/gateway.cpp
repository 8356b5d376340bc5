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

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <random>
#include <iterator>
#include <memory>

#include "clove/api/errors.hpp"
#include "clove/api/messages_request.hpp"
#include "clove/api/usage.hpp"
#include "clove/base/block_pool.hpp"
#include "clove/base/log.hpp"
#include "clove/base/request_id.hpp"
#include "clove/http/response_head.hpp"
#include "clove/proxy/models.hpp"
#include "clove/proxy/planner.hpp"
#include "clove/proxy/transform.hpp"
#include "clove/tokenizer/estimate.hpp"
#include "clove/translate/chat_front.hpp"
#include "clove/translate/from_chat.hpp"
#include "clove/translate/to_chat.hpp"
#include "clove/quota/limiter.hpp"
#include "clove/routing/classify.hpp"
#include "clove/base/time.hpp"
#include "clove/sse/event_framer.hpp"
#include "clove/http/body_decoder.hpp"
#include "clove/upstream/connection.hpp"
#include "clove/upstream/response_parser.hpp"

namespace clove::proxy {

namespace asio = boost::asio;
using upstream::EqualsIgnoreCase;
using namespace std::string_view_literals;

namespace {

constexpr size_t kUpstreamReadChunk = 16 * 1024;
constexpr size_t kMaxResponseHead = 64 * 1024;
constexpr size_t kMaxSseEvent = 16u << 20;
constexpr size_t kMaxJsonResponse = 64u << 20;
/// max_tokens for an OpenAI-front request that names none (the Messages API requires one).
constexpr int64_t kDefaultChatMaxTokens = 8192;

/// Headers never forwarded in either direction (RFC 9110 §7.6.1 hop-by-hop, plus framing that
/// Clove sets itself). By length first: every request and response header passes here.
bool IsHopByHop(std::string_view name) {
    switch (name.size()) {
        case 2: return EqualsIgnoreCase(name, "te");
        case 4: return EqualsIgnoreCase(name, "host");
        case 6: return EqualsIgnoreCase(name, "expect");
        case 7: return EqualsIgnoreCase(name, "trailer") || EqualsIgnoreCase(name, "upgrade");
        case 10: return EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "keep-alive");
        case 14: return EqualsIgnoreCase(name, "content-length");
        case 16: return EqualsIgnoreCase(name, "proxy-connection");
        case 17: return EqualsIgnoreCase(name, "transfer-encoding");
        case 18: return EqualsIgnoreCase(name, "proxy-authenticate");
        case 19: return EqualsIgnoreCase(name, "proxy-authorization");
        default: return false;
    }
}

std::string Hex(size_t n) {
    char buf[20];
    auto r = std::to_chars(buf, buf + sizeof buf, n, 16);
    return std::string(buf, r.ptr);
}

/// A growable byte buffer that, unlike std::string::resize, never zero-fills: the relay
/// overwrites every byte it uses, and zeroing 16 KiB per request showed in profiles. A 16 KiB
/// buffer comes from the worker's block cache (base/block_pool.hpp).
class ByteBuffer {
public:
    ByteBuffer() = default;
    ByteBuffer(const ByteBuffer&) = delete;
    ByteBuffer& operator=(const ByteBuffer&) = delete;
    ~ByteBuffer() { Free(); }
    char* data() { return data_; }
    size_t size() const { return size_; }
    void resize(size_t n) {
        if (n <= size_) {
            return;
        }
        char* next = static_cast<char*>(n == base::kIoBlockSize ? base::AcquireIoBlock() : ::operator new(n));
        if (size_ > 0) {
            std::memcpy(next, data_, size_);
        }
        Free();
        data_ = next;
        size_ = n;
    }

private:
    void Free() noexcept {
        if (size_ == base::kIoBlockSize) {
            base::ReleaseIoBlock(data_);
        } else if (data_) {
            ::operator delete(data_);
        }
        data_ = nullptr;
        size_ = 0;
    }
    char* data_ = nullptr;
    size_t size_ = 0;
};

/// Appends `prefix` and `v`.
void AppendIntField(std::string& out, std::string_view prefix, int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out += prefix;
    out.append(buf, r.ptr);
}

/// Writers for the access line, which is formatted through a pointer into a buffer sized for the
/// worst case: ~25 string appends per request cost ~2k instructions (callgrind), as much as
/// parsing the request's JSON.
template <size_t N>
char* Put(char* p, const char (&literal)[N]) {
    std::memcpy(p, literal, N - 1);
    return p + N - 1;
}
char* Put(char* p, std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
}
constexpr size_t kIntChars = 20;  // "-9223372036854775808"
char* PutInt(char* p, int64_t v) {
    return std::to_chars(p, p + kIntChars, v).ptr;
}
/// Milliseconds with two decimals ("12.34", "-1.00"), rounded half away from zero (what fmt's
/// "{:.2f}" writes but for exact binary ties, which a log ignores); null for NaN, infinities and
/// values beyond 1e15 ms, which JSON numbers of this form cannot carry.
constexpr size_t kMsChars = 20;  // sign, 16 digits (1e15 - 0.001 rounds up to 1e15), point, 2 decimals
char* PutMs(char* p, double v) {
    if (!(v > -1e15 && v < 1e15)) {
        return Put(p, "null");
    }
    int64_t c = std::llround(v * 100);
    if (c < 0) {
        *p++ = '-';
        c = -c;
    }
    p = PutInt(p, c / 100);
    *p++ = '.';
    *p++ = static_cast<char>('0' + c % 100 / 10);
    *p++ = static_cast<char>('0' + c % 10);
    return p;
}

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
    std::string session;  ///< x-claude-code-session-id, for cache-efficiency stats
    bool openai_front = false;  ///< /v1/chat/completions: errors in the OpenAI shape
    bool record_usage = false;  ///< an authenticated proxied request: one usage row
    int64_t wall_start_ms = 0;
    int status = 0;
    bool stream = false;
    std::string outcome = "ok";
    double ttfb_ms = -1;
    int attempts = 0;
    double queued_ms = 0;  ///< time spent waiting in the queue for a credential
    api::Usage usage;
    std::chrono::steady_clock::time_point start;
    quota::Ticket ticket;                   ///< the key's limits: slot and budget reservation
    const config::Limits* limits = nullptr; ///< the key's limits when it has any (pinned snapshot)

    /// Appends the access line (`dur` ms since `start`); true when the caller must schedule
    /// log::FlushAccess().
    bool Log(double dur) const {
        // The literals below take 241 bytes; 320 leaves room for a field added without updating this.
        constexpr size_t kLiteralBytes = 320;
        using api::JsonStringMaxSize;
        const size_t bound = kLiteralBytes + 7 * kIntChars + 3 * kMsChars + outcome.size() +
                             JsonStringMaxSize(request_id.size()) + JsonStringMaxSize(method.size()) +
                             JsonStringMaxSize(path.size()) + JsonStringMaxSize(key.size()) +
                             JsonStringMaxSize(model.size()) + JsonStringMaxSize(upstream.size());
        thread_local std::string line;  // the worker's line buffer: grows to the largest line, stays
        if (line.size() < bound) {
            line.resize(bound);
        }
        char* const begin = line.data();
        char* p = begin;
        p = api::WriteJsonString(Put(p, R"({"request_id":)"), request_id);
        p = api::WriteJsonString(Put(p, R"(,"method":)"), method);
        p = api::WriteJsonString(Put(p, R"(,"path":)"), path);
        p = api::WriteJsonString(Put(p, R"(,"key":)"), key);
        p = api::WriteJsonString(Put(p, R"(,"model":)"), model);
        p = api::WriteJsonString(Put(p, R"(,"upstream":)"), upstream);
        p = PutInt(Put(p, R"(,"status":)"), status);
        p = Put(p, stream ? R"(,"stream":true,"outcome":")"sv : R"(,"stream":false,"outcome":")"sv);
        p = Put(p, outcome);
        p = PutInt(Put(p, R"(","attempts":)"), attempts);
        p = PutMs(Put(p, R"(,"queued_ms":)"), queued_ms);
        p = PutMs(Put(p, R"(,"ttfb_ms":)"), ttfb_ms);
        p = PutMs(Put(p, R"(,"duration_ms":)"), dur);
        p = PutInt(Put(p, R"(,"input_tokens":)"), usage.input_tokens);
        p = PutInt(Put(p, R"(,"output_tokens":)"), usage.output_tokens);
        p = PutInt(Put(p, R"(,"cache_creation_input_tokens":)"), usage.cache_creation_input_tokens);
        p = PutInt(Put(p, R"(,"cache_read_input_tokens":)"), usage.cache_read_input_tokens);
        *p++ = '}';
        return log::Access(std::string_view(begin, static_cast<size_t>(p - begin)));
    }
};

std::string_view RouteLabel(std::string_view path) {
    if (path == "/v1/messages" || path == "/v1/messages/count_tokens" || path == "/v1/models" ||
        path == "/v1/chat/completions") {
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
    asio::io_context* ioc;  ///< where the batched access lines are flushed

    ~FinishGuard() {
        const double duration_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - record.start).count();
        if (record.Log(duration_ms) && ioc) {
            asio::post(*ioc, [] { log::FlushAccess(); });
        }
        const auto& u = record.usage;
        auto tokens = [](int64_t v) { return v < 0 ? int64_t{0} : v; };
        usage::UsageRecordView r;
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
        record.ticket.Settle(r.input_tokens + r.cache_creation_tokens, r.output_tokens, r.cost_nanousd);
        if (ctx.cache_stats && record.status >= 200 && record.status < 300 &&
            (r.input_tokens | r.cache_read_tokens | r.cache_creation_tokens) != 0) {
            ctx.cache_stats->Record(record.key_id, record.credential_id, record.session, r.input_tokens,
                                    r.cache_read_tokens, r.cache_creation_tokens, record.wall_start_ms);
        }
        std::string_view error_type;
        if (record.outcome == "client_closed") {
            error_type = "client_closed";
        } else if (record.status >= 400) {
            error_type = api::ErrorTypeForStatus(record.status);
        } else if (record.outcome != "ok") {
            error_type = record.outcome;  // e.g. a stream that ended with an error event
        }
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
            // The texts are copied into the usage queue's buffer: nothing allocated here is
            // freed by the writer thread.
            r.request_id = record.request_id;
            r.ts_ms = record.wall_start_ms;
            r.key_id = record.key_id;
            r.upstream_id = record.upstream_id;
            r.credential_id = record.credential_id;
            r.upstream_model = record.upstream_model.empty() ? record.model : record.upstream_model;
            r.model = record.model;
            r.status = record.status;
            r.error_type = error_type;
            r.stream = record.stream;
            r.ttfb_ms = record.ttfb_ms;
            r.duration_ms = duration_ms;
            ctx.usage->Push(r);
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


/// A chosen credential's concurrency slot and its upstream's in-flight count, released when the
/// request (or the failed attempt) ends.
struct Slot {
    routing::CredentialHealth* cred = nullptr;
    routing::UpstreamLoad* load = nullptr;
    Slot() = default;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    Slot(Slot&& o) noexcept : cred(std::exchange(o.cred, nullptr)), load(std::exchange(o.load, nullptr)) {}
    Slot& operator=(Slot&& o) noexcept {
        if (this != &o) {
            Release();
            cred = std::exchange(o.cred, nullptr);
            load = std::exchange(o.load, nullptr);
        }
        return *this;
    }
    ~Slot() { Release(); }
    void Release() {
        if (cred) {
            cred->Release();
            cred = nullptr;
        }
        if (load) {
            load->in_flight.fetch_sub(1, std::memory_order_relaxed);
            load = nullptr;
        }
    }
};

/// Frames a response body the way its head says (RFC 9112 §6.3).
void StartDecoder(http::BodyDecoder& decoder, const upstream::ResponseHead& resp) {
    if (resp.status == 204 || resp.status == 304) {
        decoder.Start(http::BodyDecoder::Mode::kLength, 0);
    } else if (resp.chunked) {
        decoder.Start(http::BodyDecoder::Mode::kChunked);
    } else if (resp.content_length) {
        decoder.Start(http::BodyDecoder::Mode::kLength, *resp.content_length);
    } else {
        decoder.Start(http::BodyDecoder::Mode::kUntilClose);
    }
}

enum class AttemptResult { kHead, kConnectFailed, kLost, kBadResponse };

/// What one read of a response body brought: more to handle, the client gone, or the end of
/// the upstream's body with an error (the reason in `failure`).
enum class ReadStep { kMore, kClientGone, kFailed };

/// What the client gets when no attempt produced a response to relay.
struct FailedAttempt {
    int status = 502;
    std::optional<upstream::ResponseHead> response;  ///< an upstream error answer, relayed as it is
    std::string body;                                ///< its decoded body
    std::string message;                             ///< Clove's own message otherwise
    std::string extra_headers;
    bool chat_body = false;  ///< `body` is an OpenAI-shaped error (an OpenAI-kind upstream's)
};

/// The `error.message` of an Anthropic error body, else the start of the body (for last_error).
std::string ErrorMessageOf(std::string_view body) {
    std::string out = api::ParseErrorBody(body).message;
    if (!out.empty()) {
        return out.substr(0, 300);
    }
    for (char c : body.substr(0, 200)) {
        out += (c >= 0x20 && c < 0x7f) ? c : ' ';
    }
    return out;
}

/// Bit per anthropic-ratelimit-* family the key's own limits replace.
enum : unsigned { kFamRequests = 1, kFamTokens = 2, kFamInput = 4, kFamOutput = 8 };

unsigned OwnRateLimitFamilies(const config::Limits& l) {
    return (l.rpm ? kFamRequests : 0u) | (l.tpm ? kFamTokens : 0u) | (l.input_tpm ? kFamInput : 0u) |
           (l.output_tpm ? kFamOutput : 0u);
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

bool ReplacedRateLimitHeader(std::string_view name, unsigned fams) {
    return ((fams & kFamRequests) && StartsWithIgnoreCase(name, "anthropic-ratelimit-requests-")) ||
           ((fams & kFamTokens) && StartsWithIgnoreCase(name, "anthropic-ratelimit-tokens-")) ||
           ((fams & kFamInput) && StartsWithIgnoreCase(name, "anthropic-ratelimit-input-tokens-")) ||
           ((fams & kFamOutput) && StartsWithIgnoreCase(name, "anthropic-ratelimit-output-tokens-"));
}

void AppendKeyRateLimitHeaders(std::string& head, const config::Limits& l, const quota::WindowView& w) {
    const std::string reset = base::FormatTimeMs(w.reset_wall_ms);
    auto family = [&](std::string_view name, const std::optional<int64_t>& limit, int64_t used) {
        if (!limit) {
            return;
        }
        head += fmt::format("anthropic-ratelimit-{0}-limit: {1}\r\nanthropic-ratelimit-{0}-remaining: {2}\r\n"
                            "anthropic-ratelimit-{0}-reset: {3}\r\n",
                            name, *limit, std::max<int64_t>(0, *limit - used), reset);
    };
    family("requests", l.rpm, w.requests);
    family("tokens", l.tpm, w.tokens);
    family("input-tokens", l.input_tpm, w.input_tokens);
    family("output-tokens", l.output_tpm, w.output_tokens);
}

class Gateway final : public http::Handler {
public:
    Gateway(asio::io_context& ioc, GatewayContext& ctx)
        : ioc_(ioc),
          ctx_(ctx),
          store_(ctx.store),
          cell_(ctx.metrics ? &ctx.metrics->NewCell() : nullptr),
          pool_(ioc, ctx.tls, std::chrono::seconds(30), 256) {}

    asio::awaitable<void> Handle(http::Exchange& ex) override;
    void OnDrain() override { pool_.Clear(); }

private:
    /// Every route but POST /v1/messages(/count_tokens), kept out of Handle so that Handle's
    /// coroutine frame stays small enough for Asio's per-thread frame recycler.
    asio::awaitable<void> HandleOther(http::Exchange& ex, RequestRecord& rec, const std::shared_ptr<const Snapshot>& snap);
    enum class Endpoint { kMessages, kCountTokens, kChatCompletions };

    asio::awaitable<void> Respond(http::Exchange& ex, RequestRecord& rec, int status,
                                  std::string_view content_type, std::string body, bool head_only = false,
                                  std::string_view extra_headers = {});
    asio::awaitable<void> RespondError(http::Exchange& ex, RequestRecord& rec, int status,
                                       std::string_view message, std::string_view extra_headers = {});
    /// RespondWithError after failed attempts: the last upstream error answer byte-faithful, or
    /// Clove's own error; an `event: error` when the stream's head already went out.
    asio::awaitable<void> RespondFailure(http::Exchange& ex, RequestRecord& rec, FailedAttempt& failure,
                                         bool head_sent);
    /// An SSE comment (with the stream's head first if it has not gone out). False when the
    /// client is gone.
    asio::awaitable<bool> SendKeepalive(http::Exchange& ex, RequestRecord& rec, bool& head_sent);
    /// Reads the rest of a small response body (an error answer, a tokenizer's answer; decoded, at
    /// most `max_body`, 64 KiB by default) after its head.
    asio::awaitable<bool> ReadSmallBody(upstream::Connection& conn, const upstream::ResponseHead& resp, ByteBuffer& buf,
                                        size_t buffered, size_t head_size, std::string& out,
                                        std::chrono::milliseconds timeout, size_t max_body = 64 * 1024);
    /// One small request to an upstream outside the proxy flow (a tokenizer endpoint): status and
    /// body (at most 16 MiB), or nullopt when no answer came.
    asio::awaitable<std::optional<std::pair<int, std::string>>> SmallExchange(const UpstreamRuntime& up,
                                                                              const CredentialRuntime* cred,
                                                                              const http::Exchange& ex,
                                                                              std::string path, std::string body);
    /// SmallExchange for a JSON answer: the value of its top-level `field` when the status is 200.
    asio::awaitable<std::optional<boost::json::value>> PostForField(const UpstreamRuntime& up,
                                                                    const CredentialRuntime* cred,
                                                                    const http::Exchange& ex, std::string path,
                                                                    std::string body, std::string field);
    /// count_tokens from the backend's own tokenizer (`tokenize` = vllm | llamacpp): -1 when it
    /// cannot answer (the caller then estimates).
    asio::awaitable<int64_t> CountWithTokenizer(const http::Exchange& ex, const UpstreamRuntime& up,
                                                const CredentialRuntime* cred, std::string upstream_model);
    void BuildUpstreamHead(const http::Exchange& ex, const UpstreamRuntime& up, const CredentialRuntime* cred,
                           size_t body_size, std::string& head) const;
    /// The head of a translated request (an OpenAI-kind upstream, or the OpenAI front to an
    /// Anthropic upstream): built from scratch, only the user-agent comes from the client.
    void BuildTranslatedHead(const http::Exchange& ex, const UpstreamRuntime& up, const CredentialRuntime* cred,
                             size_t body_size, bool stream, std::string& head) const;
    /// One step of reading a response body: while `keepalives` (an SSE client at an event
    /// boundary), waits for the upstream with keepalive comments every interval; then reads.
    asio::awaitable<ReadStep> ReadBody(http::Exchange& ex, RequestRecord& rec, upstream::Connection& conn,
                                       ByteBuffer& buf, size_t& raw_end, http::BodyDecoder& decoder, bool keepalives,
                                       bool& head_sent, std::chrono::steady_clock::time_point& idle_deadline,
                                       std::chrono::milliseconds idle_timeout,
                                       std::chrono::milliseconds keepalive_interval, std::string& failure);
    /// Relay through a ResponseTransform: upstream SSE or JSON in, the client's stream or JSON out.
    asio::awaitable<void> RelayTransformed(http::Exchange& ex, RequestRecord& rec,
                                           std::unique_ptr<upstream::Connection>& conn, upstream::Connection*& current,
                                           ByteBuffer& buf, size_t buffered, size_t head_size,
                                           upstream::ResponseHead& resp, ResponseTransform& tf, bool head_sent,
                                           const UpstreamRuntime& up, std::chrono::milliseconds keepalive_interval);
    asio::awaitable<void> Proxy(http::Exchange& ex, RequestRecord& rec, Endpoint endpoint,
                                std::shared_ptr<const Snapshot> snap);
    asio::awaitable<void> Models(http::Exchange& ex, RequestRecord& rec, std::shared_ptr<const Snapshot> snap);

    /// The client key `presented` names (or passthrough). Returns nullptr, or the 401 message
    /// to answer with. Not a coroutine: it runs on every request and only its caller writes.
    const char* Authenticate(http::Exchange& ex, RequestRecord& rec, const Snapshot& snap,
                             const ClientKeyRuntime** key_out = nullptr);

    asio::io_context& ioc_;
    GatewayContext& ctx_;
    const SnapshotStore& store_;
    metrics::Cell* cell_;
    upstream::Pool pool_;
    base::RequestIdGenerator ids_;
    std::mt19937_64 rng_{std::random_device{}()};
};

asio::awaitable<void> Gateway::Respond(http::Exchange& ex, RequestRecord& rec, int status,
                                       std::string_view content_type, std::string body, bool head_only,
                                       std::string_view extra_headers) {
    std::string head;
    http::HeadBuilder h(head);
    h.Status(status);
    if (!content_type.empty()) {
        h.Header("content-type", content_type);
    }
    head += extra_headers;
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
                                            std::string_view message, std::string_view extra_headers) {
    if (rec.outcome == "ok") {
        rec.outcome = "gateway_error";
    }
    if (rec.openai_front) {
        co_await Respond(ex, rec, status, "application/json",
                         translate::ChatErrorJson(api::ErrorTypeForStatus(status), message), false, extra_headers);
        co_return;
    }
    co_await Respond(ex, rec, status, "application/json",
                     api::ErrorJson(api::ErrorTypeForStatus(status), message, rec.request_id), false, extra_headers);
}

asio::awaitable<void> Gateway::RespondFailure(http::Exchange& ex, RequestRecord& rec, FailedAttempt& failure,
                                              bool head_sent) {
    if (failure.response && failure.chat_body && !rec.openai_front) {
        // An OpenAI-kind upstream's error, for an Anthropic client: its status and type mapped.
        auto mapped = translate::MapChatError(failure.status, failure.body);
        failure.status = mapped.status;
        failure.message = mapped.message;
        std::string extra = failure.extra_headers;
        if (auto ra = failure.response->Get("retry-after"); !ra.empty()) {
            extra += fmt::format("retry-after: {}\r\n", ra);
        }
        failure.response.reset();
        failure.extra_headers = std::move(extra);
    } else if (failure.response && !failure.chat_body && rec.openai_front) {
        // An Anthropic upstream's error, for an OpenAI client.
        failure.body = translate::AnthropicErrorToChat(failure.status, failure.body);
        failure.chat_body = true;
    }
    if (head_sent) {
        std::string type(api::ErrorTypeForStatus(failure.status));
        std::string message = failure.message;
        if (failure.response) {
            message = ErrorMessageOf(failure.body);
            if (auto parsed = api::ParseErrorBody(failure.body); !parsed.type.empty() && parsed.type.size() < 64) {
                type = std::move(parsed.type);
            }
        }
        std::string ev;
        if (rec.openai_front) {
            if (failure.response) {
                message = translate::MapChatError(failure.status, failure.body).message;
            }
            ev = "data: " + translate::ChatErrorJson(type, message) + "\n\n";
        } else {
            ev = api::ErrorEvent(type, message, rec.request_id);
        }
        std::string tail = Hex(ev.size()) + "\r\n" + ev + "\r\n0\r\n\r\n";
        if (!co_await ex.Write(std::array<asio::const_buffer, 1>{asio::buffer(tail)})) {
            rec.outcome = "client_closed";
            rec.status = 499;
        }
        co_return;
    }
    if (!failure.response) {
        co_await RespondError(ex, rec, failure.status, failure.message, failure.extra_headers);
        co_return;
    }
    // The upstream's own answer, as it came: status, headers, body.
    const auto& resp = *failure.response;
    std::string head;
    {
        http::HeadBuilder h(head);
        h.Status(resp.status);
        const std::string_view resp_connection = resp.Get("connection");
        for (const auto& [name, value] : resp.headers) {
            if (IsHopByHop(name) || (!resp_connection.empty() && http::HasToken(resp_connection, name))) {
                continue;
            }
            h.Header(name, value);
        }
        h.Header("x-clove-request-id", rec.request_id);
        h.Header("content-length", static_cast<uint64_t>(failure.body.size()));
    }
    ex.AppendConnectionHeader(head);
    head += "\r\n";
    rec.status = resp.status;
    std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(failure.body)};
    if (!co_await ex.Write(out)) {
        rec.outcome = "client_closed";
        rec.status = 499;
    }
}

asio::awaitable<bool> Gateway::SendKeepalive(http::Exchange& ex, RequestRecord& rec, bool& head_sent) {
    static constexpr std::string_view kComment = "d\r\n: keepalive\n\n\r\n";  // one chunk
    std::string head;
    if (!head_sent) {
        http::HeadBuilder h(head);
        h.Status(200);
        h.Header("content-type", "text/event-stream; charset=utf-8");
        h.Header("cache-control", "no-cache");
        h.Header("request-id", rec.request_id);
        h.Header("x-clove-request-id", rec.request_id);
        h.Header("transfer-encoding", "chunked");
        ex.AppendConnectionHeader(head);
        head += "\r\n";
        rec.status = 200;
    }
    std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(kComment.data(), kComment.size())};
    head_sent = true;
    co_return co_await ex.Write(out);
}

asio::awaitable<bool> Gateway::ReadSmallBody(upstream::Connection& conn, const upstream::ResponseHead& resp,
                                             ByteBuffer& buf, size_t buffered, size_t head_size, std::string& out,
                                             std::chrono::milliseconds timeout, size_t max_body) {
    http::BodyDecoder decoder;
    StartDecoder(decoder, resp);
    std::memmove(buf.data(), buf.data() + head_size, buffered - head_size);
    size_t raw_end = buffered - head_size;
    size_t payload_end = 0;
    for (;;) {
        payload_end = decoder.Decode(buf.data(), payload_end, payload_end, raw_end);
        raw_end = payload_end;
        if (decoder.done() || decoder.failed() || payload_end > max_body) {
            break;
        }
        if (raw_end == buf.size()) {
            buf.resize(buf.size() * 2);
        }
        auto [ec, n] = co_await conn.ReadSome(asio::buffer(buf.data() + raw_end, buf.size() - raw_end), timeout);
        raw_end += n;
        if (ec) {
            if (ec == asio::error::eof) {
                decoder.Decode(buf.data(), payload_end, payload_end, raw_end);
                decoder.OnEof();
            }
            break;
        }
    }
    out.assign(buf.data(), std::min(payload_end, max_body));
    co_return decoder.done() && !decoder.failed();
}

void Gateway::BuildUpstreamHead(const http::Exchange& ex, const UpstreamRuntime& up, const CredentialRuntime* cred,
                                size_t body_size, std::string& head) const {
    const auto& req = ex.request;
    const bool passthrough = up.passthrough();
    head.clear();
    head.reserve(512 + req.target().size());
    head += req.method_string();
    head += ' ';
    head += up.peer.base_path;
    head += ex.path;
    if (!ex.query.empty()) {
        head += '?';
        head += ex.query;
    }
    head += " HTTP/1.1\r\nhost: ";
    head += up.peer.host_header;
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
        if (!connection_hdr.empty() && http::HasToken(connection_hdr, name)) {
            continue;
        }
        http::AppendHeaderLine(head, name, f.value());
    }
    if (cred) {
        head += cred->auth_header;
    }
    AppendIntField(head, "content-length: "sv, static_cast<int64_t>(body_size));
    head += "\r\n\r\n"sv;
}

void Gateway::BuildTranslatedHead(const http::Exchange& ex, const UpstreamRuntime& up, const CredentialRuntime* cred,
                                  size_t body_size, bool stream, std::string& head) const {
    head.clear();
    head.reserve(512);
    head += "POST ";
    if (up.native) {
        head += up.peer.base_path;
        head += "/v1/messages";
    } else {
        head += up.chat_path;
    }
    head += " HTTP/1.1\r\nhost: ";
    head += up.peer.host_header;
    head += "\r\ncontent-type: application/json\r\naccept: ";
    head += stream ? "text/event-stream" : "application/json";
    head += "\r\n";
    if (up.native) {
        head += "anthropic-version: 2023-06-01\r\n";
    }
    const std::string_view ua = ex.request[boost::beast::http::field::user_agent];
    head += "user-agent: ";
    head += ua.empty() ? std::string_view("clove/" CLOVE_VERSION) : ua.substr(0, 512);
    head += "\r\n";
    if (cred) {
        head += cred->auth_header;
    } else if (up.passthrough()) {
        // The client's own key, in the upstream's own header.
        head += up.native ? "x-api-key: " : "authorization: Bearer ";
        head += PresentedKey(ex.request);
        head += "\r\n";
    }
    head += "content-length: ";
    head += std::to_string(body_size);
    head += "\r\n\r\n";
}

asio::awaitable<std::optional<std::pair<int, std::string>>> Gateway::SmallExchange(const UpstreamRuntime& up,
                                                                                   const CredentialRuntime* cred,
                                                                                   const http::Exchange& ex,
                                                                                   std::string path, std::string body) {
    const auto timeout = std::chrono::milliseconds(std::min<uint32_t>(up.config.first_byte_timeout_ms, 30'000));
    std::string head = "POST " + path + " HTTP/1.1\r\nhost: " + up.peer.host_header +
                       "\r\ncontent-type: application/json\r\naccept: application/json\r\nuser-agent: clove/" CLOVE_VERSION
                       "\r\n";
    if (cred) {
        head += cred->auth_header;
    } else if (up.passthrough()) {
        head += "authorization: Bearer ";
        head += PresentedKey(ex.request);
        head += "\r\n";
    }
    head += "content-length: " + std::to_string(body.size()) + "\r\n\r\n";
    auto conn = pool_.Acquire(up.peer);
    if (!conn->reused()) {
        if (co_await conn->Connect(std::chrono::milliseconds(up.config.connect_timeout_ms))) {
            co_return std::nullopt;
        }
    }
    std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(body)};
    if (co_await conn->Write(out, timeout)) {
        co_return std::nullopt;
    }
    ByteBuffer buf;
    buf.resize(kUpstreamReadChunk);
    size_t used = 0, head_size = 0;
    upstream::ResponseHead resp;
    for (;;) {
        if (used == buf.size()) {
            buf.resize(buf.size() * 2);
        }
        auto [ec, n] = co_await conn->ReadSome(asio::buffer(buf.data() + used, buf.size() - used), timeout);
        used += n;
        std::string err;
        auto st = upstream::ParseResponseHead(std::string_view(buf.data(), used), kMaxResponseHead, resp, head_size, err);
        if (st == upstream::ParseStatus::kBad || (ec && st != upstream::ParseStatus::kComplete)) {
            co_return std::nullopt;
        }
        if (st == upstream::ParseStatus::kComplete) {
            break;
        }
    }
    std::string answer;
    if (!co_await ReadSmallBody(*conn, resp, buf, used, head_size, answer, timeout, 16u << 20)) {
        co_return std::nullopt;
    }
    co_return std::make_pair(resp.status, std::move(answer));  // the connection closes here
}

asio::awaitable<int64_t> Gateway::CountWithTokenizer(const http::Exchange& ex, const UpstreamRuntime& up,
                                                     const CredentialRuntime* cred, std::string upstream_model) {
    // The messages as the backend would get them, then its tokenizer at the server root
    // (vLLM: POST /tokenize with the messages; llama.cpp: POST /apply-template, POST /tokenize).
    translate::ChatPlan plan;
    std::string chat;
    if (translate::ToChatRequest(ex.request.body(), upstream_model, up.config.openai, chat, plan,
                                 /*for_count=*/true)) {
        co_return -1;
    }
    std::string root = up.chat_path.substr(0, up.chat_path.size() - std::strlen("/chat/completions"));
    if (root.ends_with("/v1")) {
        root.resize(root.size() - 3);
    }
    boost::system::error_code jec;
    auto parsed = boost::json::parse(chat, jec);
    if (jec || !parsed.is_object()) {
        co_return -1;
    }
    auto& req = parsed.as_object();
    boost::json::object call{{"model", upstream_model}, {"messages", req["messages"]}};
    if (up.config.openai.tokenize == "vllm") {
        call["add_generation_prompt"] = true;
        if (req.contains("tools")) {
            call["tools"] = req["tools"];
        }
        auto count = co_await PostForField(up, cred, ex, root + "/tokenize", boost::json::serialize(call), "count");
        co_return count && count->is_int64() ? count->as_int64() : -1;
    }
    // llama.cpp: the chat template first, then the token list of the prompt it gives.
    auto prompt = co_await PostForField(up, cred, ex, root + "/apply-template", boost::json::serialize(call), "prompt");
    if (!prompt || !prompt->is_string()) {
        co_return -1;
    }
    boost::json::object tok{{"content", std::move(*prompt)}};
    auto tokens = co_await PostForField(up, cred, ex, root + "/tokenize", boost::json::serialize(tok), "tokens");
    co_return tokens && tokens->is_array() ? static_cast<int64_t>(tokens->as_array().size()) : -1;
}

asio::awaitable<std::optional<boost::json::value>> Gateway::PostForField(const UpstreamRuntime& up,
                                                                         const CredentialRuntime* cred,
                                                                         const http::Exchange& ex, std::string path,
                                                                         std::string body, std::string field) {
    auto r = co_await SmallExchange(up, cred, ex, std::move(path), std::move(body));
    if (!r || r->first != 200) {
        co_return std::nullopt;
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(r->second, ec);
    if (ec || !v.is_object() || !v.as_object().contains(field)) {
        co_return std::nullopt;
    }
    co_return std::move(v.as_object()[field]);
}

asio::awaitable<ReadStep> Gateway::ReadBody(http::Exchange& ex, RequestRecord& rec, upstream::Connection& conn,
                                            ByteBuffer& buf, size_t& raw_end, http::BodyDecoder& decoder,
                                            bool keepalives, bool& head_sent,
                                            std::chrono::steady_clock::time_point& idle_deadline,
                                            std::chrono::milliseconds idle_timeout,
                                            std::chrono::milliseconds keepalive_interval, std::string& failure) {
    if (raw_end == buf.size()) {
        buf.resize(buf.size() * 2);
    }
    if (keepalives) {
        // At an event boundary while the upstream is silent (long thinking): SSE comments, so
        // idle timeouts of proxies in between do not cut the stream.
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(idle_deadline - std::chrono::steady_clock::now());
        if (left.count() > 0) {
            const auto wait_for = std::min(left, keepalive_interval);
            auto wait_ec = co_await conn.WaitReadable(wait_for);
            if (wait_ec == boost::beast::error::timeout) {
                // Only after a full interval: a shorter wait ran into the idle deadline.
                if (wait_for == keepalive_interval && std::chrono::steady_clock::now() < idle_deadline &&
                    !co_await SendKeepalive(ex, rec, head_sent)) {
                    rec.outcome = "client_closed";
                    rec.status = 499;
                    co_return ReadStep::kClientGone;
                }
                co_return ReadStep::kMore;
            }
        }
    }
    auto read_left = std::chrono::duration_cast<std::chrono::milliseconds>(idle_deadline - std::chrono::steady_clock::now());
    auto [ec, n] = co_await conn.ReadSome(asio::buffer(buf.data() + raw_end, buf.size() - raw_end),
                                          std::max(read_left, std::chrono::milliseconds(1)));
    raw_end += n;
    if (n > 0) {
        idle_deadline = std::chrono::steady_clock::now() + idle_timeout;
    }
    if (!ec) {
        co_return ReadStep::kMore;
    }
    if (ex.client_gone()) {
        rec.outcome = "client_closed";
        rec.status = 499;
        co_return ReadStep::kClientGone;
    }
    if (ec == asio::error::eof) {
        decoder.OnEof();
        if (decoder.done() && decoder.mode() == http::BodyDecoder::Mode::kUntilClose) {
            co_return ReadStep::kMore;  // handle what the final read brought, then finish
        }
    }
    failure = ec == boost::beast::error::timeout
                  ? fmt::format("stream idle for more than {} s", static_cast<double>(idle_timeout.count()) / 1000.0)
                  : std::string("upstream connection lost mid-stream");
    co_return ReadStep::kFailed;
}

asio::awaitable<void> Gateway::RelayTransformed(http::Exchange& ex, RequestRecord& rec,
                                                std::unique_ptr<upstream::Connection>& conn,
                                                upstream::Connection*& current, ByteBuffer& buf, size_t buffered,
                                                size_t head_size, upstream::ResponseHead& resp, ResponseTransform& tf,
                                                bool head_sent, const UpstreamRuntime& up,
                                                std::chrono::milliseconds keepalive_interval) {
    const auto& ucfg = up.config;
    const auto idle_timeout = std::chrono::milliseconds(ucfg.stream_idle_timeout_ms);
    if (resp.status >= 300) {
        // An error the routing relays (400, 404, 413...): in the client's error shape.
        FailedAttempt failed;
        failed.status = resp.status;
        failed.chat_body = !up.native;
        if (co_await ReadSmallBody(*conn, resp, buf, buffered, head_size, failed.body, idle_timeout)) {
            failed.response = std::move(resp);
        } else {
            failed.message = fmt::format("upstream \"{}\" answered {} with an unreadable body", ucfg.name, failed.status);
        }
        conn.reset();
        current = nullptr;
        rec.outcome = "upstream_error_status";
        co_await RespondFailure(ex, rec, failed, head_sent);
        co_return;
    }
    http::BodyDecoder decoder;
    StartDecoder(decoder, resp);
    std::memmove(buf.data(), buf.data() + head_size, buffered - head_size);
    size_t raw_end = buffered - head_size;
    size_t payload_end = 0;
    const bool up_sse = resp.event_stream;
    const bool client_sse = tf.client_stream();

    std::string chead;
    if (client_sse) {
        http::HeadBuilder h(chead);
        h.Status(200);
        h.Header("content-type", "text/event-stream; charset=utf-8");
        h.Header("cache-control", "no-cache");
        h.Header("request-id", rec.request_id);
        h.Header("x-clove-request-id", rec.request_id);
        if (rec.limits) {
            AppendKeyRateLimitHeaders(chead, *rec.limits, rec.ticket.window());
        }
        chead += "transfer-encoding: chunked\r\n";
        ex.AppendConnectionHeader(chead);
        chead += "\r\n";
    }
    rec.status = 200;
    sse::EventFramer framer;
    std::string scratch;
    std::string out;
    std::string failure;
    auto idle_deadline = std::chrono::steady_clock::now() + idle_timeout;
    for (;;) {
        payload_end = decoder.Decode(buf.data(), payload_end, payload_end, raw_end);
        raw_end = payload_end;
        if (up_sse) {
            const size_t fwd = framer.Scan(std::string_view(buf.data(), payload_end));
            if (fwd > 0) {
                sse::ForEachEvent(std::string_view(buf.data(), fwd), scratch, [&tf, &out](const sse::EventView& ev) {
                    if (!tf.done()) {
                        tf.OnEvent(ev.name, ev.data, out);
                    }
                });
                std::memmove(buf.data(), buf.data() + fwd, payload_end - fwd);
                framer.Consume(fwd);
                payload_end -= fwd;
                raw_end = payload_end;
            }
        }
        if (client_sse && !out.empty()) {
            std::string size_line = Hex(out.size());
            size_line += "\r\n";
            std::array<asio::const_buffer, 4> wr{asio::buffer(chead.data(), head_sent ? 0 : chead.size()),
                                                 asio::buffer(size_line), asio::buffer(out), asio::buffer("\r\n", 2)};
            head_sent = true;
            if (!co_await ex.Write(wr)) {
                rec.outcome = "client_closed";
                rec.status = 499;
                rec.usage = tf.usage();
                co_return;  // closing `conn` cancels the upstream request
            }
            out.clear();
        }
        if (tf.done() || decoder.done()) {
            break;
        }
        if (decoder.failed()) {
            failure = "malformed response framing";
            break;
        }
        if (payload_end >= (up_sse ? kMaxSseEvent : kMaxJsonResponse)) {
            failure = up_sse ? "stream event too large" : "upstream response too large";
            break;
        }
        const ReadStep step = co_await ReadBody(ex, rec, *conn, buf, raw_end, decoder, client_sse && up_sse && payload_end == 0,
                                                head_sent, idle_deadline, idle_timeout, keepalive_interval, failure);
        if (step == ReadStep::kClientGone) {
            rec.usage = tf.usage();
            co_return;  // closing `conn` cancels the upstream request
        }
        if (step == ReadStep::kFailed) {
            break;
        }
    }
    if (ex.client_gone()) {
        rec.outcome = "client_closed";
        rec.status = 499;
        rec.usage = tf.usage();
        co_return;
    }
    if (!failure.empty()) {
        tf.OnFailure(fmt::format("upstream \"{}\": {}", ucfg.name, failure), out);
    } else if (!up_sse && decoder.done()) {
        tf.OnBody(std::string_view(buf.data(), payload_end), out);
    } else if (!tf.done()) {
        tf.OnEnd(out);
    }
    rec.usage = tf.usage();
    const bool complete = tf.complete();
    if (!complete) {
        rec.outcome = "upstream_failed";
    }
    if (complete && !tf.abort_upstream() && decoder.done() && decoder.excess() == 0 && resp.keep_alive) {
        current = nullptr;
        pool_.Release(std::move(conn));
    } else {
        current = nullptr;
        conn.reset();  // a stream cut short (stop sequence, error) closes the upstream request
    }
    if (!client_sse) {
        if (out.empty()) {
            if (failure.empty()) {
                failure = "empty answer";
            }
            co_await RespondError(ex, rec, 502, fmt::format("upstream \"{}\": {}", ucfg.name, failure));
            co_return;
        }
        const int status = tf.final_status();
        if (status != 200 && rec.outcome == "ok") {
            rec.outcome = "upstream_failed";
        }
        std::string extra;
        if (rec.limits) {
            AppendKeyRateLimitHeaders(extra, *rec.limits, rec.ticket.window());
        }
        co_await Respond(ex, rec, status, "application/json", std::move(out), false, extra);
        co_return;
    }
    std::string tail;
    if (!out.empty()) {
        tail = Hex(out.size()) + "\r\n" + out + "\r\n";
    }
    tail += "0\r\n\r\n";
    std::array<asio::const_buffer, 2> wr{asio::buffer(chead.data(), head_sent ? 0 : chead.size()), asio::buffer(tail)};
    if (!co_await ex.Write(wr)) {
        rec.outcome = "client_closed";
        rec.status = 499;
    }
}

asio::awaitable<void> Gateway::Handle(http::Exchange& ex) {
    auto snap = store_.Load();
    InFlight in_flight(ctx_.in_flight);
    // The record lives outside the frame: with it, the frame was ~1.6 KiB, past what Asio's
    // recycler caches, so every request paid a large malloc and free for it.
    auto record = std::make_unique<RequestRecord>();
    RequestRecord& rec = *record;
    rec.request_id = ids_.Next();
    rec.method = std::string(ex.request.method_string());
    rec.path = std::string(ex.path);
    rec.start = ex.start;
    rec.wall_start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() -
                        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ex.start)
                            .count();
    FinishGuard finish{rec, snap, ctx_, cell_, &ioc_};
    if (ex.request.method() == boost::beast::http::verb::post &&
        (ex.path == "/v1/messages" || ex.path == "/v1/messages/count_tokens")) {
        co_await Proxy(ex, rec, ex.path == "/v1/messages" ? Endpoint::kMessages : Endpoint::kCountTokens, snap);
        co_return;
    }
    co_await HandleOther(ex, rec, snap);
}

asio::awaitable<void> Gateway::HandleOther(http::Exchange& ex, RequestRecord& rec,
                                           const std::shared_ptr<const Snapshot>& snap) {
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
    if (path == "/v1/messages" || path == "/v1/messages/count_tokens") {  // POST went to Proxy
        co_await RespondError(ex, rec, 405, fmt::format("method {} is not allowed on {}; use POST",
                                                        std::string(ex.request.method_string()), path));
        co_return;
    }
    if (path == "/v1/chat/completions") {
        rec.openai_front = true;
        if (method != verb::post) {
            co_await RespondError(ex, rec, 405, fmt::format("method {} is not allowed on {}; use POST",
                                                            std::string(ex.request.method_string()), path));
            co_return;
        }
        co_await Proxy(ex, rec, Endpoint::kChatCompletions, snap);
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

const char* Gateway::Authenticate(http::Exchange& ex, RequestRecord& rec, const Snapshot& snap,
                                  const ClientKeyRuntime** key_out) {
    std::string_view presented = PresentedKey(ex.request);
    if (presented.empty()) {
        return "missing API key: send it in x-api-key or Authorization: Bearer";
    }
    if (!snap.client_keys_configured) {
        rec.key = "passthrough";  // the client's own key goes to a passthrough upstream
        return nullptr;
    }
    const ClientKeyRuntime* who = snap.Authenticate(presented);
    if (!who) {
        return "invalid API key";
    }
    rec.key = who->name;
    rec.key_id = who->id;
    if (key_out) {
        *key_out = who;
    }
    if (who->Expired(rec.wall_start_ms)) {
        return "API key expired";
    }
    return nullptr;
}

asio::awaitable<void> Gateway::Models(http::Exchange& ex, RequestRecord& rec, std::shared_ptr<const Snapshot> snap) {
    // OpenAI SDK clients send neither anthropic-version nor x-api-key: they get OpenAI's shapes.
    const bool openai_shape = ex.request["anthropic-version"].empty() && ex.request["x-api-key"].empty() &&
                              !ex.request[boost::beast::http::field::authorization].empty();
    rec.openai_front = openai_shape;
    if (const char* refusal = Authenticate(ex, rec, *snap)) {
        co_await RespondError(ex, rec, 401, refusal);
        co_return;
    }
    auto models = ListModels(*snap);
    if (openai_shape) {
        if (ex.path == "/v1/models") {
            co_await Respond(ex, rec, 200, "application/json", OpenAIModelsJson(models));
            co_return;
        }
    }
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
            std::string one = openai_shape ? OpenAIModelJson(m) : ModelJson(m);
            co_await Respond(ex, rec, 200, "application/json", std::move(one));
            co_return;
        }
    }
    if (snap->Route(id).upstream) {
        const ModelEntry m{std::string(id), std::string(id), "2025-01-01T00:00:00Z"};
        std::string one = openai_shape ? OpenAIModelJson(m) : ModelJson(m);
        co_await Respond(ex, rec, 200, "application/json", std::move(one));
        co_return;
    }
    co_await RespondError(ex, rec, 404, fmt::format("model: {} not found", id));
}

asio::awaitable<void> Gateway::Proxy(http::Exchange& ex, RequestRecord& rec, Endpoint endpoint,
                                     std::shared_ptr<const Snapshot> snap) {
    const auto& req = ex.request;

    // ---- 1. Authenticate ---------------------------------------------------------------------
    const ClientKeyRuntime* client_key = nullptr;
    if (const char* refusal = Authenticate(ex, rec, *snap, &client_key)) {
        co_await RespondError(ex, rec, 401, refusal);
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
    rec.stream = endpoint != Endpoint::kCountTokens && view.stream;
    {
        if (client_key && !client_key->AllowsModel(view.model)) {
            co_await RespondError(ex, rec, 403,
                                  fmt::format("this API key may not use model \"{}\"", view.model));
            co_return;
        }
    }

    // ---- 3. Admit: the client key's limits, before any upstream call ---------------------------
    // Every key goes through the limiter, limits or not: its spend and minute counters stay exact,
    // so a budget or rate limit set later starts from the truth (and the admin API shows it).
    if (client_key && ctx_.limiter && endpoint != Endpoint::kCountTokens) {
        const auto& lim = client_key->limits;
        int64_t reserve = 0;
        if (lim.daily_budget_usd || lim.monthly_budget_usd || lim.budget_usd) {
            const config::PriceSpec* price = snap->prices ? snap->prices->Find(view.model) : nullptr;
            reserve = quota::ReserveNanoUsd(price, body.size(), view.max_tokens);
        }
        if (auto refusal = ctx_.limiter->Admit(client_key->id, client_key->limits, reserve, rec.ticket)) {
            std::string extra = fmt::format("retry-after: {}\r\nx-clove-limit: {}\r\n",
                                            std::max<int64_t>(1, (refusal->retry_after_ms + 999) / 1000), refusal->limit);
            rec.outcome = "limited";
            co_await RespondError(ex, rec, refusal->status, refusal->message, extra);
            co_return;
        }
        if (lim.any()) {
            rec.limits = &client_key->limits;
        }
    }

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

    // ---- 4. Plan: ordered candidates ------------------------------------------------------------
    const base::Clock& clock = ctx_.clock ? *ctx_.clock : base::SystemClock::Get();
    std::array<uint64_t, 9> sticky_keys{};
    size_t n_sticky = 0;
    if (auto session = req["x-claude-code-session-id"]; !session.empty()) {
        rec.session.assign(session.substr(0, 128));
        std::string k = "session:";
        k += session;
        sticky_keys[n_sticky++] = std::hash<std::string>{}(k) | 1;
    }
    for (auto it = view.cache_prefix_hashes.rbegin(); it != view.cache_prefix_hashes.rend() && n_sticky < sticky_keys.size(); ++it) {
        sticky_keys[n_sticky++] = *it | 1;
    }
    PlanRequest preq{view.model, std::span<const uint64_t>(sticky_keys.data(), n_sticky), clock.SteadyMs(), clock.WallMs()};
    Plan plan = PlanCandidates(*snap, preq, ctx_.sticky, rng_);
    bool early_head_sent = false;  // SSE head + keepalive comments already went out
    if (plan.candidates.empty() && plan.status == 429 && snap->settings.queue_timeout_ms > 0) {
        // Queueing (opt-in): wait, bounded, for the first credential to recover or free up.
        const auto queue_start = std::chrono::steady_clock::now();
        const auto queue_deadline = queue_start + std::chrono::milliseconds(snap->settings.queue_timeout_ms);
        asio::steady_timer timer(co_await asio::this_coro::executor);
        auto last_keepalive = ex.start;
        while (plan.candidates.empty() && plan.status == 429) {
            const auto now = std::chrono::steady_clock::now();
            if (now >= queue_deadline) {
                break;
            }
            // A cooldown ends at a known time; a full concurrency cap frees up at any moment. Wake
            // at least once a second to notice a client that left.
            auto step = std::chrono::milliseconds(plan.retry_after_ms && *plan.retry_after_ms > 1000
                                                      ? std::min<int64_t>(*plan.retry_after_ms, 1000)
                                                      : 25);
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(queue_deadline - now);
            timer.expires_after(std::min(step, left));
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));  // woken early only by cancellation
            if (ex.client_gone()) {
                rec.outcome = "client_closed";
                rec.status = 499;
                co_return;
            }
            // A stream waiting this long gets keepalive comments, as while waiting for a first byte.
            if (rec.stream && std::chrono::steady_clock::now() - ex.start >=
                                  std::chrono::milliseconds(snap->settings.first_byte_keepalive_ms) &&
                std::chrono::steady_clock::now() - last_keepalive >=
                    std::chrono::milliseconds(snap->settings.first_byte_keepalive_ms)) {
                last_keepalive = std::chrono::steady_clock::now();
                if (!co_await SendKeepalive(ex, rec, early_head_sent)) {
                    rec.outcome = "client_closed";
                    rec.status = 499;
                    co_return;
                }
            }
            preq.now_ms = clock.SteadyMs();
            preq.now_wall_ms = clock.WallMs();
            plan = PlanCandidates(*snap, preq, ctx_.sticky, rng_);
        }
        rec.queued_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - queue_start).count();
    }
    if (plan.candidates.empty()) {
        std::string extra;
        if (plan.retry_after_ms) {
            extra = fmt::format("retry-after: {}\r\n", std::max<int64_t>(1, (*plan.retry_after_ms + 999) / 1000));
        }
        rec.outcome = "no_candidate";
        if (early_head_sent) {
            FailedAttempt none;
            none.status = plan.status;
            none.message = plan.message;
            co_await RespondFailure(ex, rec, none, early_head_sent);
            co_return;
        }
        co_await RespondError(ex, rec, plan.status, plan.message, extra);
        co_return;
    }

    // count_tokens for a model whose first choice is a translated upstream: a local estimate
    // with a real BPE tokenizer (never a fake 0), marked as such.
    if (endpoint == Endpoint::kCountTokens && !plan.candidates.front().upstream->native) {
        const Candidate& first = plan.candidates.front();
        const auto& oa = first.upstream->config.openai;
        rec.upstream = first.upstream->config.name;
        rec.upstream_id = first.upstream->id;
        rec.record_usage = false;  // nothing was spent upstream
        int64_t n = -1;
        if (!oa.tokenize.empty()) {
            const auto mapped = first.upstream->config.model_map.find(view.model);
            std::string upstream_model = mapped != first.upstream->config.model_map.end() ? mapped->second : view.model;
            n = co_await CountWithTokenizer(ex, *first.upstream, first.credential, std::move(upstream_model));
        }
        std::string_view how = "x-clove-token-count: tokenizer\r\n";  // the backend's own tokenizer
        if (n < 0) {
            how = "x-clove-token-count: estimate\r\n";
            n = std::max<int64_t>(1, static_cast<int64_t>(
                                         static_cast<double>(tokenizer::EstimateRequestTokens(body)) * oa.token_factor + 0.5));
        }
        std::string answer = fmt::format(R"({{"input_tokens":{}}})", n);
        co_await Respond(ex, rec, 200, "application/json", std::move(answer), false, how);
        co_return;
    }

    // ---- 5. Attempts: Connect -> SendRequest -> AwaitResponseHead, failing over -----------------
    const auto& settings = snap->settings;
    const int max_attempts = std::clamp(settings.max_attempts, 1, 10);
    const auto failover_deadline = ex.start + std::chrono::milliseconds(settings.failover_deadline_ms);
    const auto first_keepalive = std::chrono::milliseconds(std::max<uint32_t>(settings.first_byte_keepalive_ms, 50));
    std::unique_ptr<upstream::Connection> conn;
    ByteBuffer buf;
    upstream::ResponseHead resp;
    size_t buffered = 0;  // bytes in buf
    size_t head_size = 0;
    Slot slot;                         // the chosen credential's concurrency slot
    FailedAttempt last_failure;        // what to answer when every attempt failed
    const UpstreamRuntime* up = nullptr;
    std::string mapped_body;
    std::string_view send_body = body;
    std::string head;
    std::vector<const UpstreamRuntime*> skipped_upstreams;
    translate::ChatPlan chat_plan;    // Anthropic front -> OpenAI upstream
    translate::FrontPlan front_plan;  // OpenAI front -> Anthropic upstream
    int attempts = 0;
    bool got_response = false;
    for (size_t ci = 0; ci < plan.candidates.size() && !got_response; ++ci) {
        const Candidate& cand = plan.candidates[ci];
        if (attempts >= max_attempts) {
            break;
        }
        if (attempts > 0 && std::chrono::steady_clock::now() >= failover_deadline) {
            break;
        }
        if (std::find(skipped_upstreams.begin(), skipped_upstreams.end(), cand.upstream) != skipped_upstreams.end()) {
            continue;
        }
        if (endpoint == Endpoint::kCountTokens && !cand.upstream->native) {
            continue;  // answered locally above when it comes first; never a fallback
        }
        Slot attempt_slot;
        if (cand.credential) {
            if (!cand.credential->health->TryAcquire(cand.upstream->credential_concurrency)) {
                continue;  // filled up since planning
            }
            attempt_slot.cred = cand.credential->health.get();
            cand.credential->health->last_used_seq.store(ctx_.health ? ctx_.health->NextSeq() : 0,
                                                         std::memory_order_relaxed);
            cand.credential->health->last_used_wall_ms.store(rec.wall_start_ms, std::memory_order_relaxed);
            cand.credential->health->requests.fetch_add(1, std::memory_order_relaxed);
        }
        attempt_slot.load = cand.upstream->load.get();
        if (attempt_slot.load) {
            attempt_slot.load->in_flight.fetch_add(1, std::memory_order_relaxed);
        }
        ++attempts;
        if (up != cand.upstream) {
            up = cand.upstream;
            mapped_body.clear();
            send_body = body;
            rec.upstream_model = view.model;
            const auto mapped = up->config.model_map.find(view.model);
            if (mapped != up->config.model_map.end()) {
                rec.upstream_model = mapped->second;
            }
            std::optional<translate::TranslateError> terr;
            if (endpoint == Endpoint::kChatCompletions && up->native) {
                terr = translate::FromChatRequest(body, rec.upstream_model, kDefaultChatMaxTokens, mapped_body, front_plan);
                send_body = mapped_body;
            } else if (endpoint != Endpoint::kChatCompletions && !up->native) {
                terr = translate::ToChatRequest(body, rec.upstream_model, up->config.openai, mapped_body, chat_plan);
                chat_plan.input_estimate = body.size() <= 16384 ? tokenizer::EstimateRequestTokens(body)
                                                                : static_cast<int64_t>(body.size() / 4);
                send_body = mapped_body;
            } else if (mapped != up->config.model_map.end()) {
                mapped_body = api::SpliceModel(body, mapped->second);
                send_body = mapped_body;
            }
            if (terr) {
                rec.upstream = up->config.name;
                rec.upstream_id = up->id;
                co_await RespondError(ex, rec, terr->status, terr->message);
                co_return;
            }
        }
        rec.upstream = up->config.name;
        rec.upstream_id = up->id;
        rec.credential_id = cand.credential ? cand.credential->id : std::string();
        if (up->native && endpoint != Endpoint::kChatCompletions) {
            BuildUpstreamHead(ex, *up, cand.credential, send_body.size(), head);
        } else {
            BuildTranslatedHead(ex, *up, cand.credential, send_body.size(), !up->native && endpoint != Endpoint::kChatCompletions
                                                                                 ? true
                                                                                 : rec.stream,
                                head);
        }

        const auto& ucfg = up->config;
        const auto first_byte_timeout = std::chrono::milliseconds(ucfg.first_byte_timeout_ms);
        AttemptResult result = AttemptResult::kHead;
        boost::system::error_code rec_ec;
        for (int stale_retry = 0;; ++stale_retry) {
            conn = pool_.Acquire(up->peer);
            current = conn.get();
            const bool reused = conn->reused();
            result = AttemptResult::kHead;
            rec_ec.clear();
            buffered = 0;
            if (!reused) {
                auto ec = co_await conn->Connect(std::chrono::milliseconds(ucfg.connect_timeout_ms));
                if (ec) {
                    result = AttemptResult::kConnectFailed;
                    rec_ec = ec;
                    break;
                }
            }
            std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(send_body.data(), send_body.size())};
            auto wec = co_await conn->Write(out, first_byte_timeout);
            if (wec) {
                result = AttemptResult::kLost;
                rec_ec = wec;
            } else {
                const auto head_deadline = std::chrono::steady_clock::now() + first_byte_timeout;
                buf.resize(kUpstreamReadChunk);
                for (;;) {
                    if (buffered == buf.size()) {
                        buf.resize(buf.size() * 2);
                    }
                    if (rec.stream && buffered == 0) {
                        // Waiting for the first byte of a stream: keep the client's connection
                        // alive with SSE comments, which still allow failing over.
                        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(head_deadline - std::chrono::steady_clock::now());
                        if (left.count() <= 0) {
                            result = AttemptResult::kLost;
                            rec_ec = boost::beast::error::timeout;
                            break;
                        }
                        auto wait_for = std::min(left, first_keepalive);
                        auto wait_ec = co_await conn->WaitReadable(wait_for);
                        if (wait_ec == boost::beast::error::timeout) {
                            // Only after a full interval: a shorter wait ran into the deadline.
                            if (wait_for == first_keepalive && std::chrono::steady_clock::now() < head_deadline) {
                                if (!co_await SendKeepalive(ex, rec, early_head_sent)) {
                                    rec.outcome = "client_closed";
                                    rec.status = 499;
                                    co_return;
                                }
                            }
                            continue;
                        }
                    }
                    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(head_deadline - std::chrono::steady_clock::now());
                    auto [ec, n] = co_await conn->ReadSome(asio::buffer(buf.data() + buffered, buf.size() - buffered),
                                                           std::max(left, std::chrono::milliseconds(1)));
                    if (ec) {
                        result = AttemptResult::kLost;
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
                        result = AttemptResult::kBadResponse;
                        last_failure.message = fmt::format("upstream \"{}\" sent an invalid response: {}", ucfg.name, perr);
                        break;
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
            if (result == AttemptResult::kLost && reused && buffered == 0 && stale_retry == 0 &&
                rec_ec != boost::beast::error::timeout && !ex.client_gone()) {
                continue;  // stale keep-alive connection: once more on a fresh one
            }
            break;
        }
        if (ex.client_gone()) {
            rec.outcome = "client_closed";
            rec.status = 499;
            co_return;
        }
        const int64_t now_wall = clock.WallMs();
        if (result != AttemptResult::kHead) {
            // OnConnectFailure / OnUpstreamFailure: nothing reached the client from this attempt.
            routing::Event ev;
            ev.kind = routing::Event::Kind::kFailure;
            if (result == AttemptResult::kConnectFailed) {
                const bool timeout = rec_ec == boost::beast::error::timeout;
                std::string reason = "connect timed out";
                if (!timeout) {
                    reason = rec_ec.message();
                }
                last_failure = FailedAttempt{};
                last_failure.status = timeout ? 504 : 502;
                last_failure.message = fmt::format("upstream \"{}\" is unreachable: {}", ucfg.name, reason);
            } else if (result == AttemptResult::kLost) {
                last_failure = FailedAttempt{};
                if (rec_ec == boost::beast::error::timeout) {
                    last_failure.status = 504;
                    last_failure.message = fmt::format("upstream \"{}\" did not answer within {} s", ucfg.name,
                                                       ucfg.first_byte_timeout_ms / 1000.0);
                } else {
                    last_failure.status = 502;
                    last_failure.message = fmt::format("upstream \"{}\" closed the connection before answering ({})",
                                                       ucfg.name, rec_ec.message());
                }
            } else {
                last_failure.status = 502;
                last_failure.response.reset();
            }
            ev.error = last_failure.message;
            if (cand.credential && ctx_.health) {
                ctx_.health->Record(cand.credential->id, *cand.credential->health, ev, snap->policy);
            }
            conn.reset();
            current = nullptr;
            skipped_upstreams.push_back(cand.upstream);
            continue;
        }
        // A response head. Judge it: relay, or try the next candidate.
        const routing::Verdict verdict = routing::Judge(resp.status);
        routing::Event ev = routing::EventFromResponse(resp, now_wall);
        if (verdict == routing::Verdict::kRelay) {
            if (cand.credential && ctx_.health) {
                ctx_.health->Record(cand.credential->id, *cand.credential->health, ev, snap->policy);
            }
            if (resp.status >= 200 && resp.status < 300 && cand.credential && ctx_.sticky) {
                for (size_t i = 0; i < n_sticky; ++i) {
                    ctx_.sticky->Remember(sticky_keys[i], cand.credential->id, clock.SteadyMs(), settings.sticky_ttl_ms);
                }
            }
            slot = std::move(attempt_slot);
            got_response = true;
            break;
        }
        // A retryable status: read its (small) body so it can be relayed if nothing else works.
        FailedAttempt failed;
        failed.status = resp.status;
        failed.chat_body = !up->native;
        const bool body_ok = co_await ReadSmallBody(*conn, resp, buf, buffered, head_size, failed.body,
                                                    std::chrono::milliseconds(ucfg.stream_idle_timeout_ms));
        if (ex.client_gone()) {
            rec.outcome = "client_closed";
            rec.status = 499;
            co_return;
        }
        ev.error = fmt::format("{} {}: {}", resp.status, api::ErrorTypeForStatus(resp.status),
                               ErrorMessageOf(failed.body));
        if (cand.credential && ctx_.health) {
            ctx_.health->Record(cand.credential->id, *cand.credential->health, ev, snap->policy);
        }
        if (body_ok) {
            failed.response = std::move(resp);
            resp = upstream::ResponseHead{};
        } else {
            failed.message = fmt::format("upstream \"{}\" answered {} with an unreadable body", ucfg.name, failed.status);
        }
        last_failure = std::move(failed);
        conn.reset();
        current = nullptr;
        if (verdict == routing::Verdict::kNextUpstream) {
            skipped_upstreams.push_back(cand.upstream);
        }
    }
    rec.attempts = attempts;
    if (!got_response) {
        // RespondWithError: every attempt failed (or none could start).
        rec.outcome = last_failure.response ? "upstream_error_status" : "upstream_failed";
        if (attempts == 0) {
            last_failure.status = 429;
            last_failure.message = fmt::format("all credentials for model \"{}\" are at their concurrency limit", view.model);
            last_failure.extra_headers = "retry-after: 1\r\n";
        }
        co_await RespondFailure(ex, rec, last_failure, early_head_sent);
        co_return;
    }
    const auto& ucfg = up->config;
    const auto idle_timeout = std::chrono::milliseconds(ucfg.stream_idle_timeout_ms);
    const auto keepalive_interval = std::chrono::milliseconds(std::max<uint32_t>(settings.keepalive_interval_ms, 50));

    // ---- 6. Relay ------------------------------------------------------------------------------
    if (!up->native || endpoint == Endpoint::kChatCompletions) {
        std::unique_ptr<ResponseTransform> tf;
        if (endpoint == Endpoint::kChatCompletions) {
            const int64_t now_s = rec.wall_start_ms / 1000;
            tf = up->native ? MakeChatFromMessages(front_plan, now_s) : MakeChatPassthrough(rec.stream);
        } else {
            tf = MakeMessagesFromChat(chat_plan, up->config.openai, "msg_" + ids_.Next().substr(4),
                                      &tokenizer::EstimateTextTokens);
        }
        co_await RelayTransformed(ex, rec, conn, current, buf, buffered, head_size, resp, *tf, early_head_sent, *up,
                                  keepalive_interval);
        co_return;
    }
    rec.status = resp.status;
    if (resp.status >= 400) {
        rec.outcome = "upstream_error_status";
    }
    http::BodyDecoder decoder;
    StartDecoder(decoder, resp);
    // Body bytes that came with the head go to the front of the buffer.
    std::memmove(buf.data(), buf.data() + head_size, buffered - head_size);
    size_t raw_end = buffered - head_size;
    size_t payload_end = 0;

    const bool sse = resp.event_stream;
    // The client head is per request: it lives across co_awaits (an SSE head leaves with the
    // first event, possibly several reads later), while other requests of this worker run.
    std::string chead;
    chead.reserve(1000);  // within malloc's per-thread cache (<= 1032 bytes)
    {
        http::HeadBuilder h(chead);
        h.Status(resp.status);
        const std::string_view resp_connection = resp.Get("connection");
        const unsigned own = rec.limits ? OwnRateLimitFamilies(*rec.limits) : 0u;
        for (const auto& [name, value] : resp.headers) {
            if (IsHopByHop(name) || (!resp_connection.empty() && http::HasToken(resp_connection, name))) {
                continue;
            }
            if (own && ReplacedRateLimitHeader(name, own)) {
                continue;
            }
            h.Header(name, value);
        }
        h.Header("x-clove-request-id", rec.request_id);
        if (own) {
            AppendKeyRateLimitHeaders(chead, *rec.limits, rec.ticket.window());
        }
    }

    if (early_head_sent && (!sse || resp.status != 200)) {
        // The stream's head already went out with keepalives: an answer that is not the stream
        // becomes an error event.
        FailedAttempt late;
        late.status = resp.status;
        co_await ReadSmallBody(*conn, resp, buf, raw_end, 0, late.body, idle_timeout);
        if (!sse) {
            late.response = std::move(resp);
        }
        conn.reset();
        current = nullptr;
        rec.outcome = "upstream_failed";
        co_await RespondFailure(ex, rec, late, early_head_sent);
        co_return;
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
    bool head_sent = early_head_sent;
    sse::EventFramer framer;
    api::StreamUsageTap tap;
    std::string scratch;
    std::string failure;
    auto idle_deadline = std::chrono::steady_clock::now() + idle_timeout;
    for (;;) {
        payload_end = decoder.Decode(buf.data(), payload_end, payload_end, raw_end);
        raw_end = payload_end;
        size_t fwd = framer.Scan(std::string_view(buf.data(), payload_end));
        if (fwd > 0) {
            sse::ForEachEvent(std::string_view(buf.data(), fwd), scratch,
                              [&tap](const sse::EventView& ev) { tap.OnEvent(ev.name, ev.data); });
            std::string size_line = Hex(fwd);
            size_line += "\r\n";
            // The stream's last events (the upstream body is complete, nothing is left over and
            // the stream ended properly) leave together with the terminating chunk: one write
            // (and one wakeup of the client) fewer per stream.
            const bool last = decoder.done() && fwd == payload_end && decoder.excess() == 0 &&
                              (tap.saw_message_stop() || tap.saw_error() || resp.status >= 300);
            std::array<asio::const_buffer, 4> out{
                asio::buffer(chead.data(), head_sent ? 0 : chead.size()), asio::buffer(size_line),
                asio::buffer(buf.data(), fwd), asio::buffer("\r\n0\r\n\r\n", last ? 7 : 2)};
            head_sent = true;
            if (last && resp.keep_alive) {
                current = nullptr;
                pool_.Release(std::move(conn));
            }
            if (!co_await ex.Write(out)) {
                rec.outcome = "client_closed";
                rec.status = 499;
                rec.usage = tap.usage();
                co_return;  // closing `conn` (destructor) cancels the upstream request
            }
            if (last) {
                rec.usage = tap.usage();
                co_return;
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
        const ReadStep step = co_await ReadBody(ex, rec, *conn, buf, raw_end, decoder, payload_end == 0 && head_sent,
                                                head_sent, idle_deadline, idle_timeout, keepalive_interval, failure);
        if (step == ReadStep::kClientGone) {
            rec.usage = tap.usage();
            co_return;  // closing `conn` (destructor) cancels the upstream request
        }
        if (step == ReadStep::kFailed) {
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
