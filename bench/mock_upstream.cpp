// mock_upstream: a small, fast fake Anthropic upstream for the Clove benchmark.
//
// Single thread, Boost.Asio only (no Beast). A minimal HTTP/1.1 keep-alive reader: finds the
// end of the head, honours Content-Length (and chunked) request bodies, answers from
// pre-built buffers.
//
//   POST .../v1/messages  body without "stream":true  -> fixed ~650 B Messages JSON (Content-Length)
//   POST .../v1/messages  body with    "stream":true  -> fixed ~7 KB, 57-event SSE stream,
//                                                        Transfer-Encoding: chunked, 1-3 events/chunk
//   Trickle mode (one event per chunk, events spaced N ms apart), chosen by any of:
//     header  x-bench-trickle-ms: N
//     path    /trickle-N/v1/messages
//     flag    --trickle-ms N   (default for every stream this process serves)
//   GET /health -> {"status":"ok"};  anything else -> Anthropic-shaped 404.
//
// Build (no CMake): g++ -O2 -std=c++20 -o bench/.build/mock_upstream bench/mock_upstream.cpp -pthread
// Run:   mock_upstream --host 127.0.0.1 --port 8081 [--trickle-ms 536]
//        mock_upstream --print json|sse|sse-events   (dump the fixed bodies and exit)
//        mock_upstream --wait-ready PORT --out FILE [--path /health] [--timeout-ms N]
//            poll http://127.0.0.1:PORT/health with a new connection per try (~50 µs apart) until
//            it answers 200; writes FILE.started (wall-clock µs when polling began), then FILE =
//            "<wall-clock µs of the first 200> <tries>". Exit 1 on timeout. Used by bench/run.sh
//            to time a server's start-up without the poller's own start-up in the way.

#include <boost/asio.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// ---------------------------------------------------------------- fixed responses

std::string g_json_body;                 // ~650 B Messages JSON
std::string g_json_resp;                 // head + body
std::vector<std::string> g_events;       // 57 SSE events, each "event: ...\ndata: ...\n\n"
std::string g_sse_head;                  // 200 head with transfer-encoding: chunked
std::string g_sse_resp;                  // head + all events, 1-3 events per chunk, + last-chunk
std::vector<std::string> g_event_chunks; // one chunk per event (trickle mode)
const std::string g_last_chunk = "0\r\n\r\n";
std::string g_health_resp, g_404_resp, g_400_resp, g_413_resp;
const std::string g_continue = "HTTP/1.1 100 Continue\r\n\r\n";
int g_default_trickle_ms = 0;

const char* kCommonHeaders =
    "request-id: req_011CbenchMock0000000000001\r\n"
    "anthropic-organization-id: 00000000-0000-4000-8000-000000000000\r\n"
    "anthropic-ratelimit-requests-remaining: 3999\r\n"
    "anthropic-ratelimit-tokens-remaining: 399000\r\n";

std::string hex(size_t n) {
  char b[32];
  std::snprintf(b, sizeof b, "%zx", n);
  return b;
}

std::string chunk(std::string_view payload) {
  std::string c = hex(payload.size());
  c += "\r\n";
  c.append(payload);
  c += "\r\n";
  return c;
}

std::string simple_resp(int status, const char* reason, const std::string& body, bool close) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  r += "content-type: application/json\r\n";
  r += "content-length: " + std::to_string(body.size()) + "\r\n";
  if (close) r += "connection: close\r\n";
  r += "\r\n";
  r += body;
  return r;
}

void build_responses() {
  // --- JSON (non-streaming) answer, padded to ~652 B
  {
    std::string text =
        "Hello! Here is a short answer from the benchmark mock. A reverse proxy sits between "
        "clients and servers, forwarding requests and relaying responses; this one should add "
        "as little latency and CPU as possible while keeping the bytes exact. Keep-alive "
        "connections and reused buffers are the cheap way to get there";
    g_json_body =
        R"({"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant",)"
        R"("model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":")" +
        text +
        R"("}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":25,)"
        R"("cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":57,)"
        R"("service_tier":"standard"}})";
    while (g_json_body.size() < 652) {  // pad inside the text to land on ~652 B
      auto pos = g_json_body.find(R"("}],"stop_reason")");
      g_json_body.insert(pos, ".");
    }
    g_json_resp = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n";
    g_json_resp += "content-length: " + std::to_string(g_json_body.size()) + "\r\n";
    g_json_resp += kCommonHeaders;
    g_json_resp += "\r\n";
    g_json_resp += g_json_body;
  }
  // --- SSE stream: message_start, content_block_start, ping, 51 deltas, content_block_stop,
  //     message_delta, message_stop = 57 events
  {
    auto ev = [](const char* name, const std::string& data) {
      return std::string("event: ") + name + "\ndata: " + data + "\n\n";
    };
    g_events.push_back(ev("message_start",
        R"({"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message",)"
        R"("role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,)"
        R"("stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,)"
        R"("cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}})"));
    g_events.push_back(ev("content_block_start",
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
    g_events.push_back(ev("ping", R"({"type": "ping"})"));
    static const char* words[] = {"Streaming", " responses", " arrive", " as", " small",
                                  " text", " deltas,", " one", " event", " at",
                                  " a", " time,", " and", " the", " proxy",
                                  " must", " pass", " each", " one", " along"};
    for (int i = 0; i < 51; ++i) {
      std::string t = words[i % 20];
      if (i % 3 == 0) t += " quickly";
      if (i % 7 == 0) t += " (really)";
      g_events.push_back(ev("content_block_delta",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":")" + t +
              R"("}})"));
    }
    g_events.push_back(ev("content_block_stop", R"({"type":"content_block_stop","index":0})"));
    g_events.push_back(ev("message_delta",
        R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},)"
        R"("usage":{"output_tokens":57}})"));
    g_events.push_back(ev("message_stop", R"({"type":"message_stop"})"));

    g_sse_head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
        "cache-control: no-cache\r\ntransfer-encoding: chunked\r\n";
    g_sse_head += kCommonHeaders;
    g_sse_head += "\r\n";

    // Fast mode framing, like the real API: mostly one event per chunk, sometimes a few.
    g_sse_resp = g_sse_head;
    size_t i = 0, n = g_events.size();
    int k = 0;
    while (i < n) {
      size_t take = 1;
      if (i == 1) take = 2;                      // content_block_start + ping
      else if (i + 3 == n) take = 3;             // content_block_stop + message_delta + message_stop
      else if (i > 2 && (k++ % 5) == 4) take = 2;  // every fifth delta chunk carries two
      take = std::min(take, n - i);
      std::string payload;
      for (size_t j = 0; j < take; ++j) payload += g_events[i + j];
      g_sse_resp += chunk(payload);
      i += take;
    }
    g_sse_resp += g_last_chunk;
    for (auto& e : g_events) g_event_chunks.push_back(chunk(e));
  }
  g_health_resp = simple_resp(200, "OK", R"({"status":"ok"})", false);
  g_404_resp = simple_resp(404, "Not Found",
      R"({"type":"error","error":{"type":"not_found_error","message":"mock: no such route"}})", false);
  g_400_resp = simple_resp(400, "Bad Request",
      R"({"type":"error","error":{"type":"invalid_request_error","message":"mock: bad request"}})", true);
  g_413_resp = simple_resp(413, "Payload Too Large",
      R"({"type":"error","error":{"type":"request_too_large","message":"mock: too large"}})", true);
}

// ---------------------------------------------------------------- request parsing

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool body_wants_stream(std::string_view body) {
  size_t pos = 0;
  while ((pos = body.find("\"stream\"", pos)) != std::string_view::npos) {
    size_t p = pos + 8;
    while (p < body.size() && (body[p] == ' ' || body[p] == '\t' || body[p] == '\n' || body[p] == '\r')) ++p;
    if (p < body.size() && body[p] == ':') {
      ++p;
      while (p < body.size() && (body[p] == ' ' || body[p] == '\t' || body[p] == '\n' || body[p] == '\r')) ++p;
      if (body.substr(p, 4) == "true") return true;
    }
    pos += 8;
  }
  return false;
}

constexpr size_t kInitialBuf = 16 * 1024;
constexpr size_t kMaxRequest = 64u * 1024 * 1024;

enum class Parse { incomplete, ok, bad, too_large };

struct Request {
  std::string_view method, target;
  bool close = false;
  bool expect_continue = false;
  int trickle_ms = -1;
  size_t consumed = 0;   // head + body bytes
  std::string_view body; // valid until the buffer changes (Content-Length case)
  std::string chunked_body;
  bool head_only_seen = false;  // head parsed but body incomplete
};

// Decodes a chunked body starting at p. Returns bytes consumed, 0 if incomplete, SIZE_MAX if bad.
size_t parse_chunked(std::string_view in, std::string& out) {
  size_t p = 0;
  out.clear();
  for (;;) {
    size_t eol = in.find("\r\n", p);
    if (eol == std::string_view::npos) return 0;
    size_t sz = 0;
    size_t q = p;
    int digits = 0;
    for (; q < eol; ++q) {
      char c = in[q];
      int v;
      if (c >= '0' && c <= '9') v = c - '0';
      else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
      else break;
      if (++digits > 15) return SIZE_MAX;
      sz = sz * 16 + v;
    }
    if (digits == 0) return SIZE_MAX;
    p = eol + 2;
    if (sz == 0) {  // trailers until empty line
      for (;;) {
        size_t e = in.find("\r\n", p);
        if (e == std::string_view::npos) return 0;
        if (e == p) return p + 2;
        p = e + 2;
      }
    }
    if (in.size() < p + sz + 2) return 0;
    out.append(in.substr(p, sz));
    if (in.substr(p + sz, 2) != "\r\n") return SIZE_MAX;
    p += sz + 2;
  }
}

Parse parse_request(std::string_view in, Request& r) {
  size_t end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return in.size() > 1024 * 1024 ? Parse::too_large : Parse::incomplete;
  std::string_view head = in.substr(0, end + 2);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t s1 = line.find(' ');
  size_t s2 = line.rfind(' ');
  if (s1 == std::string_view::npos || s2 == s1) return Parse::bad;
  r.method = line.substr(0, s1);
  r.target = line.substr(s1 + 1, s2 - s1 - 1);
  std::string_view version = line.substr(s2 + 1);
  r.close = (version == "HTTP/1.0");
  long long content_length = 0;
  bool chunked = false;
  size_t p = eol + 2;
  while (p < head.size()) {
    size_t e = head.find("\r\n", p);
    std::string_view h = head.substr(p, e - p);
    p = e + 2;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) return Parse::bad;
    std::string_view name = h.substr(0, colon);
    std::string_view value = trim(h.substr(colon + 1));
    if (iequals(name, "content-length")) {
      content_length = std::strtoll(std::string(value).c_str(), nullptr, 10);
      if (content_length < 0) return Parse::bad;
    } else if (iequals(name, "transfer-encoding")) {
      chunked = value.find("chunked") != std::string_view::npos;
    } else if (iequals(name, "connection")) {
      if (iequals(value, "close")) r.close = true;
      else if (iequals(value, "keep-alive")) r.close = false;
    } else if (iequals(name, "x-bench-trickle-ms")) {
      r.trickle_ms = std::atoi(std::string(value).c_str());
    } else if (iequals(name, "expect")) {
      r.expect_continue = iequals(value, "100-continue");
    }
  }
  size_t body_start = end + 4;
  if (chunked) {
    size_t n = parse_chunked(in.substr(body_start), r.chunked_body);
    if (n == SIZE_MAX) return Parse::bad;
    if (n == 0) { r.head_only_seen = true; return in.size() > kMaxRequest ? Parse::too_large : Parse::incomplete; }
    r.body = r.chunked_body;
    r.consumed = body_start + n;
    return Parse::ok;
  }
  if (static_cast<unsigned long long>(content_length) > kMaxRequest) return Parse::too_large;
  if (in.size() < body_start + static_cast<size_t>(content_length)) {
    r.head_only_seen = true;
    return Parse::incomplete;
  }
  r.body = in.substr(body_start, content_length);
  r.consumed = body_start + content_length;
  return Parse::ok;
}

// ---------------------------------------------------------------- connection

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  explicit Conn(tcp::socket s) : sock_(std::move(s)), timer_(sock_.get_executor()) {
    buf_.resize(kInitialBuf);
  }
  void start() { process(); }

 private:
  void read_more() {
    if (len_ == buf_.size()) {
      if (buf_.size() >= kMaxRequest + 64 * 1024) return close();
      buf_.resize(buf_.size() * 2);
    }
    sock_.async_read_some(asio::buffer(buf_.data() + len_, buf_.size() - len_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            if (ec) return self->close();
                            self->len_ += n;
                            self->process();
                          });
  }

  void consume(size_t n) {
    if (n < len_) std::memmove(buf_.data(), buf_.data() + n, len_ - n);
    len_ -= n;
  }

  void process() {
    Request r;
    Parse res = parse_request(std::string_view(buf_.data(), len_), r);
    if (res == Parse::incomplete) {
      if (r.head_only_seen && r.expect_continue && !sent_continue_) {
        sent_continue_ = true;
        asio::async_write(sock_, asio::buffer(g_continue),
                          [self = shared_from_this()](boost::system::error_code ec, size_t) {
                            if (ec) return self->close();
                            self->read_more();
                          });
        return;
      }
      return read_more();
    }
    if (res == Parse::bad) return write_then(g_400_resp, true);
    if (res == Parse::too_large) return write_then(g_413_resp, true);
    sent_continue_ = false;

    std::string_view path = r.target;
    if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    bool close_after = r.close;
    int trickle = r.trickle_ms;
    if (path.starts_with("/trickle-")) {
      trickle = std::atoi(std::string(path.substr(9)).c_str());
    }
    if (trickle < 0) trickle = g_default_trickle_ms;

    if (r.method == "POST" && path.ends_with("/v1/messages")) {
      bool stream = body_wants_stream(r.body);
      consume(r.consumed);
      if (!stream) return write_then(g_json_resp, close_after);
      if (trickle <= 0) return write_then(g_sse_resp, close_after);
      return start_trickle(trickle, close_after);
    }
    consume(r.consumed);
    if (r.method == "GET" && path == "/health") return write_then(g_health_resp, close_after);
    return write_then(g_404_resp, close_after);
  }

  void write_then(const std::string& resp, bool close_after) {
    asio::async_write(sock_, asio::buffer(resp),
                      [self = shared_from_this(), close_after](boost::system::error_code ec, size_t) {
                        if (ec || close_after) return self->close();
                        self->process();
                      });
  }

  void start_trickle(int ms, bool close_after) {
    trickle_ms_ = ms;
    close_after_ = close_after;
    ev_ = 0;
    std::array<asio::const_buffer, 2> bufs{asio::buffer(g_sse_head), asio::buffer(g_event_chunks[0])};
    ev_ = 1;
    asio::async_write(sock_, bufs, [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (ec) return self->close();
      self->trickle_wait();
    });
  }

  void trickle_wait() {
    timer_.expires_after(std::chrono::milliseconds(trickle_ms_));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return self->close();
      self->trickle_send();
    });
  }

  void trickle_send() {
    size_t i = ev_++;
    bool last = ev_ == g_event_chunks.size();
    std::array<asio::const_buffer, 2> bufs{asio::buffer(g_event_chunks[i]),
                                           last ? asio::buffer(g_last_chunk) : asio::const_buffer()};
    asio::async_write(sock_, bufs, [self = shared_from_this(), last](boost::system::error_code ec, size_t) {
      if (ec) return self->close();
      if (!last) return self->trickle_wait();
      if (self->close_after_) return self->close();
      self->process();
    });
  }

  void close() {
    boost::system::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
  }

  tcp::socket sock_;
  asio::steady_timer timer_;
  std::vector<char> buf_;
  size_t len_ = 0;
  bool sent_continue_ = false;
  int trickle_ms_ = 0;
  bool close_after_ = false;
  size_t ev_ = 0;
};

void do_accept(tcp::acceptor& acc) {
  acc.async_accept([&acc](boost::system::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<Conn>(std::move(s))->start();
    } else if (ec == asio::error::operation_aborted) {
      return;
    }
    do_accept(acc);
  });
}

long long realtime_us() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

bool write_file(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  std::fwrite(text.data(), 1, text.size(), f);
  return std::fclose(f) == 0;
}

int wait_ready(const std::string& host, int port, const std::string& path, const std::string& out,
               int timeout_ms) {
  if (!write_file(out + ".started", std::to_string(realtime_us()) + "\n")) return 2;
  const long long deadline = realtime_us() + static_cast<long long>(timeout_ms) * 1000;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) return 2;
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  long tries = 0;
  while (realtime_us() < deadline) {
    ++tries;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 2;
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd);
      usleep(50);
      continue;
    }
    bool ok = false;
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[512];
      size_t have = 0;
      for (;;) {
        ssize_t n = ::recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0) break;
        have += static_cast<size_t>(n);
        buf[have] = 0;
        if (have >= 12) {
          ok = std::strncmp(buf, "HTTP/1.1 200", 12) == 0 || std::strncmp(buf, "HTTP/1.0 200", 12) == 0;
          break;
        }
      }
    }
    long long t = realtime_us();
    ::close(fd);
    if (ok) {
      write_file(out, std::to_string(t) + " " + std::to_string(tries) + "\n");
      return 0;
    }
    usleep(1000);  // it answered, but not 200 yet
  }
  std::fprintf(stderr, "wait-ready: 127.0.0.1:%d%s not ready after %d ms (%ld tries)\n", port, path.c_str(),
               timeout_ms, tries);
  return 1;
}

void usage() {
  std::fprintf(stderr,
               "usage: mock_upstream [--host H] [--port P] [--trickle-ms N]\n"
               "       mock_upstream --print json|sse|sse-events\n"
               "       mock_upstream --wait-ready PORT --out FILE [--path /health] [--timeout-ms N]\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string print, ready_out, ready_path = "/health";
  int ready_port = 0, ready_timeout_ms = 10000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](const char* what) -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "missing value for %s\n", what); std::exit(2); }
      return argv[++i];
    };
    if (a == "--host") host = need("--host");
    else if (a == "--port") port = std::atoi(need("--port").c_str());
    else if (a == "--trickle-ms") g_default_trickle_ms = std::atoi(need("--trickle-ms").c_str());
    else if (a == "--print") print = need("--print");
    else if (a == "--wait-ready") ready_port = std::atoi(need("--wait-ready").c_str());
    else if (a == "--out") ready_out = need("--out");
    else if (a == "--path") ready_path = need("--path");
    else if (a == "--timeout-ms") ready_timeout_ms = std::atoi(need("--timeout-ms").c_str());
    else if (a == "-h" || a == "--help") { usage(); return 0; }
    else { usage(); return 2; }
  }
  if (ready_port > 0) {
    if (ready_out.empty()) { usage(); return 2; }
    return wait_ready(host, ready_port, ready_path, ready_out, ready_timeout_ms);
  }
  build_responses();
  if (!print.empty()) {
    if (print == "json") std::fwrite(g_json_body.data(), 1, g_json_body.size(), stdout);
    else if (print == "sse-events") {
      std::string all;
      for (auto& e : g_events) all += e;
      std::fwrite(all.data(), 1, all.size(), stdout);
    } else if (print == "sse") std::fwrite(g_sse_resp.data(), 1, g_sse_resp.size(), stdout);
    else { usage(); return 2; }
    return 0;
  }
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  tcp::acceptor acc(io);
  tcp::endpoint ep(asio::ip::make_address(host), static_cast<unsigned short>(port));
  acc.open(ep.protocol());
  acc.set_option(tcp::acceptor::reuse_address(true));
  acc.bind(ep);
  acc.listen(asio::socket_base::max_listen_connections);
  std::fprintf(stderr, "mock_upstream listening on http://%s:%u (json %zu B, sse %zu events %zu B, trickle %d ms)\n",
               host.c_str(), acc.local_endpoint().port(), g_json_body.size(), g_events.size(),
               [] { size_t n = 0; for (auto& e : g_events) n += e.size(); return n; }(),
               g_default_trickle_ms);
  asio::signal_set sigs(io, SIGINT, SIGTERM);
  sigs.async_wait([&](boost::system::error_code, int) { io.stop(); });
  do_accept(acc);
  io.run();
  return 0;
}
