// The admin REST API (docs/admin-api.md). Every request: rate-limit check, admin-key check,
// then the route. Handlers run on the blocking pool (SQLite/libpq calls block); a change is one
// transaction with its audit entry, followed by a snapshot rebuild, so the next proxied request
// sees it.

#include "clove/admin/admin_api.hpp"

#include "clove/routing/probe.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/params_view.hpp>

#include <sodium.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "clove/admin/json_util.hpp"
#include "clove/api/errors.hpp"
#include "clove/base/glob.hpp"
#include "clove/base/log.hpp"
#include "clove/base/request_id.hpp"
#include "clove/http/response_head.hpp"
#include "clove/storage/repository.hpp"
#include "clove/upstream/response_parser.hpp"
#include "clove/usage/pricing.hpp"

namespace clove::admin {

namespace asio = boost::asio;
namespace json = boost::json;
using storage::Session;

// ---------------------------------------------------------------------------------------------
// AdminAuth and Services

void AdminAuth::Add(const proxy::KeyDigest& digest, std::string prefix) {
    std::unique_lock lock(keys_mutex_);
    if (env_set_.insert(digest).second) {
        env_.emplace_back(std::move(prefix), digest);
    }
}

void AdminAuth::SetStored(const std::vector<proxy::KeyDigest>& digests) {
    std::unordered_set<proxy::KeyDigest, proxy::KeyDigestHash> next(digests.begin(), digests.end());
    std::unique_lock lock(keys_mutex_);
    stored_.swap(next);
}

bool AdminAuth::HasEnvKeys() const {
    std::shared_lock lock(keys_mutex_);
    return !env_.empty();
}

std::vector<std::pair<std::string, proxy::KeyDigest>> AdminAuth::EnvKeys() const {
    std::shared_lock lock(keys_mutex_);
    return env_;
}

bool AdminAuth::Check(std::string_view presented) const {
    if (presented.empty()) {
        return false;
    }
    auto d = proxy::DigestKey(presented);
    std::shared_lock lock(keys_mutex_);
    for (const auto* set : {&env_set_, &stored_}) {
        auto it = set->find(d);
        if (it != set->end() && sodium_memcmp(it->data(), d.data(), d.size()) == 0) {
            return true;
        }
    }
    return false;
}

int AdminAuth::BlockedFor(const std::string& address) {
    std::lock_guard lock(attempts_mutex_);
    auto it = attempts_.find(address);
    if (it == attempts_.end()) {
        return 0;
    }
    auto now = std::chrono::steady_clock::now();
    auto end = it->second.window_start + kWindow;
    if (now >= end) {
        attempts_.erase(it);
        return 0;
    }
    if (it->second.failures < kMaxFailures) {
        return 0;
    }
    return static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(end - now).count()) + 1;
}

void AdminAuth::Failure(const std::string& address) {
    std::lock_guard lock(attempts_mutex_);
    auto now = std::chrono::steady_clock::now();
    if (attempts_.size() > 100'000) {  // bounded: forget expired windows
        std::erase_if(attempts_, [&](const auto& kv) { return now >= kv.second.window_start + kWindow; });
    }
    auto& a = attempts_[address];
    if (a.failures == 0 || now >= a.window_start + kWindow) {
        a.window_start = now;
        a.failures = 0;
    }
    ++a.failures;
}

void Services::ReloadAdminKeys() {
    const bool env = auth.HasEnvKeys();
    auto rows = db.Read([](Session& s) { return storage::ListAdminKeys(s); });
    std::vector<proxy::KeyDigest> digests;
    for (const auto& r : rows) {
        proxy::KeyDigest d{};
        if ((!env || r.name != storage::kGeneratedAdminKeyName) && proxy::DigestFromHex(r.hash, d)) {
            digests.push_back(d);
        }
    }
    auth.SetStored(digests);
}

namespace {
constexpr const char* kConfigVersion = "config_version";
}  // namespace

void Services::Rebuild() {
    std::lock_guard lock(rebuild_mutex);
    ReloadAdminKeys();
    const std::string version = auth::GenerateId("cfg_");
    auto state = db.Write([&](Session& s) {
        storage::SetMeta(s, kConfigVersion, version);
        return storage::LoadRuntimeState(s, box);
    });
    auto snap = proxy::Snapshot::Build(state, health);
    snapshots.Store(std::move(snap));
    config_version = version;
}

bool Services::RefreshIfChanged() {
    auto stored = db.Read([](Session& s) { return storage::GetMeta(s, kConfigVersion); });
    std::lock_guard lock(rebuild_mutex);
    if (!stored || *stored == config_version) {
        return false;
    }
    ReloadAdminKeys();
    // The version and the state from one transaction: a change committed in between is seen by
    // the next check.
    auto [version, state] = db.Read([&](Session& s) {
        return std::make_pair(storage::GetMeta(s, kConfigVersion).value_or(""), storage::LoadRuntimeState(s, box));
    });
    snapshots.Store(proxy::Snapshot::Build(state, health));
    config_version = version;
    return true;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Plumbing

struct Reply {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::string headers;  ///< extra header lines, each ending in \r\n
};

Reply Json(int status, const json::value& v) { return {status, json::serialize(v), "application/json", ""}; }
Reply NoContent() { return {204, "", "", ""}; }

/// Runs `f` on the blocking pool and completes on the caller's executor with its result (or its
/// exception). Callback-based on purpose: GCC 12 miscompiles coroutine frames that carry class
/// objects into co_spawn on another executor (double destruction), so no coroutine is involved.
template <class F>
auto Blocking(asio::thread_pool& pool, F f) {
    using R = std::invoke_result_t<F>;
    if constexpr (std::is_void_v<R>) {
        return asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr)>(
            [&pool](auto handler, F fn) {
                auto ex = asio::get_associated_executor(handler);
                asio::post(pool, [handler = std::move(handler), fn = std::move(fn), ex]() mutable {
                    std::exception_ptr e;
                    try {
                        fn();
                    } catch (...) {
                        e = std::current_exception();
                    }
                    asio::post(ex, [handler = std::move(handler), e]() mutable { std::move(handler)(e); });
                });
            },
            asio::use_awaitable, std::move(f));
    } else {
        return asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr, R)>(
            [&pool](auto handler, F fn) {
                auto ex = asio::get_associated_executor(handler);
                asio::post(pool, [handler = std::move(handler), fn = std::move(fn), ex]() mutable {
                    std::exception_ptr e;
                    R r{};
                    try {
                        r = fn();
                    } catch (...) {
                        e = std::current_exception();
                    }
                    asio::post(ex, [handler = std::move(handler), e, r = std::move(r)]() mutable {
                        std::move(handler)(e, std::move(r));
                    });
                });
            },
            asio::use_awaitable, std::move(f));
    }
}

std::string PercentDecode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() + 0 && i + 2 <= s.size() - 1) {
            auto hex = [](char c) -> int {
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                return -1;
            };
            int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

bool ValidUtf8(std::string_view s) {
    // NUL is valid UTF-8 but never a meaningful filter value; refuse it too.
    return s.find('\0') == std::string_view::npos && simdjson::validate_utf8(s.data(), s.size());
}

std::map<std::string, std::string> ParseQuery(std::string_view query) {
    std::map<std::string, std::string> out;
    if (query.empty()) {
        return out;
    }
    try {
        boost::urls::params_view pv(query);
        for (auto p : pv) {
            out[std::string(p.key)] = std::string(p.value);
        }
    } catch (const std::exception&) {
        Invalid("query", "malformed query string");
    }
    for (const auto& [k, v] : out) {
        if (!ValidUtf8(k) || !ValidUtf8(v)) {
            Invalid(Printable(k), "must be valid UTF-8");
        }
    }
    return out;
}


bool ValidId(std::string_view id) { return IsName(id, 64, "_-"); }

json::value OptIntJson(const std::optional<int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }

double Usd(int64_t nano) { return static_cast<double>(nano) / 1e9; }

// ---------------------------------------------------------------------------------------------
// JSON views of rows

json::object LimitsJson(const config::Limits& l) {
    auto usd = [](const std::optional<double>& d) { return d ? json::value(*d) : json::value(nullptr); };
    return {{"rpm", OptIntJson(l.rpm)},
            {"tpm", OptIntJson(l.tpm)},
            {"input_tpm", OptIntJson(l.input_tpm)},
            {"output_tpm", OptIntJson(l.output_tpm)},
            {"concurrency", OptIntJson(l.concurrency)},
            {"daily_budget_usd", usd(l.daily_budget_usd)},
            {"monthly_budget_usd", usd(l.monthly_budget_usd)},
            {"budget_usd", usd(l.budget_usd)},
            {"budget_period", l.budget_period}};
}

json::object UpstreamJson(const storage::UpstreamRow& u, const std::vector<storage::CredentialRow>& creds) {
    json::array models;
    for (const auto& m : u.cfg.models) {
        models.emplace_back(m);
    }
    json::object map;
    for (const auto& [k, v] : u.cfg.model_map) {
        map[k] = v;
    }
    int64_t total = 0, enabled = 0;
    for (const auto& c : creds) {
        if (c.upstream_id == u.id) {
            ++total;
            enabled += c.enabled ? 1 : 0;
        }
    }
    json::object out{{"id", u.id},
            {"name", u.cfg.name},
            {"kind", config::UpstreamKindName(u.cfg.kind)},
            {"base_url", u.cfg.base_url},
            {"auth", u.cfg.auth == config::UpstreamAuth::kPassthrough ? "passthrough" : "key"},
            {"models", std::move(models)},
            {"model_map", std::move(map)},
            {"priority", u.priority},
            {"weight", u.weight},
            {"credential_concurrency", u.credential_concurrency},
            {"health_check", u.cfg.health_check},
            {"health_check_interval_ms", u.cfg.health_check_interval_ms},
            {"proxy_url", u.cfg.proxy_url ? json::value(upstream::MaskProxyUrl(*u.cfg.proxy_url)) : json::value(nullptr)},
            {"enabled", u.enabled},
            {"connect_timeout_ms", u.cfg.connect_timeout_ms},
            {"first_byte_timeout_ms", u.cfg.first_byte_timeout_ms},
            {"stream_idle_timeout_ms", u.cfg.stream_idle_timeout_ms},
            {"credentials", json::object{{"total", total}, {"enabled", enabled}}},
            {"created_at", FormatTime(u.created_at)},
            {"updated_at", FormatTime(u.updated_at)}};
    if (u.cfg.kind == config::UpstreamKind::kOpenAI) {
        out["openai"] = storage::OpenAIOptionsToJson(u.cfg.openai);
    }
    return out;
}

/// A credential as stored, with its live routing state (`live`, when given) taking precedence:
/// the state machine runs in memory and is persisted when it changes.
json::object CredentialJson(const storage::CredentialRow& c, const routing::HealthTable* live = nullptr) {
    std::string state = c.enabled ? c.state : "disabled";
    std::optional<std::string> last_error = c.last_error;
    std::optional<int64_t> cooldown_until = c.cooldown_until;
    std::optional<int64_t> last_used = c.last_used_at;
    json::object counters{{"requests", 0}, {"successes", 0}, {"failures", 0}, {"rate_limited", 0}};
    int64_t in_flight = 0;
    if (auto h = live ? live->Find(c.id) : nullptr) {
        const auto st = h->Snapshot();
        const auto eff = routing::EffectiveHealth(st, live->clock().SteadyMs());
        if (c.enabled) {
            state = std::string(routing::HealthName(eff));
        }
        cooldown_until.reset();
        if (eff == routing::Health::kCoolingDown) {
            cooldown_until = st.until_wall_ms;
        }
        if (!st.last_error.empty()) {
            last_error = st.last_error;
        } else if (eff == routing::Health::kValid) {
            last_error.reset();
        }
        if (auto used = h->last_used_wall_ms.load(); used > 0 && (!last_used || used > *last_used)) {
            last_used = used;
        }
        counters = {{"requests", h->requests.load()},
                    {"successes", h->successes.load()},
                    {"failures", h->failures.load()},
                    {"rate_limited", h->rate_limited.load()}};
        in_flight = h->in_flight.load();
    } else if (state == "cooling_down" && cooldown_until && *cooldown_until <= storage::NowMs()) {
        state = "valid";
        cooldown_until.reset();
    }
    return {{"id", c.id},
            {"upstream_id", c.upstream_id},
            {"label", c.label},
            {"hint", c.hint},
            {"enabled", c.enabled},
            {"state", state},
            {"last_error", last_error ? json::value(*last_error) : json::value(nullptr)},
            {"cooldown_until", TimeOrNull(cooldown_until)},
            {"last_used_at", TimeOrNull(last_used)},
            {"in_flight", in_flight},
            {"counters", counters},
            {"created_at", FormatTime(c.created_at)}};
}

/// Credential states from the live state machine (the snapshot only knows what was stored), and
/// per-credential attempt counters.
void LiveCredentialMetrics(const proxy::Snapshot& snap, const routing::HealthTable& health, metrics::Gauges& g) {
    int64_t valid = 0, cooling = 0, invalid = 0;
    const int64_t now = health.clock().SteadyMs();
    std::string& out = g.extra;
    out += "# HELP clove_credential_attempts_total Upstream attempts per credential by result.\n"
           "# TYPE clove_credential_attempts_total counter\n";
    std::string in_flight = "# HELP clove_credential_in_flight Requests in flight per credential.\n"
                            "# TYPE clove_credential_in_flight gauge\n";
    for (const auto& u : snap.upstreams) {
        for (const auto& c : u.credentials) {
            const auto& h = *c.health;
            const auto st = h.health();
            if (st == routing::Health::kInvalid) {
                ++invalid;
            } else if (!h.Available(now)) {
                ++cooling;
            } else {
                ++valid;
            }
            for (auto [result, v] : {std::pair<const char*, int64_t>{"success", h.successes.load()},
                                     {"failure", h.failures.load()},
                                     {"rate_limited", h.rate_limited.load()}}) {
                out += fmt::format("clove_credential_attempts_total{{upstream=\"{}\",credential=\"{}\",result=\"{}\"}} {}\n",
                                   u.config.name, c.id, result, v);
            }
            in_flight += fmt::format("clove_credential_in_flight{{upstream=\"{}\",credential=\"{}\"}} {}\n",
                                     u.config.name, c.id, h.in_flight.load());
        }
    }
    out += in_flight;
    g.credentials["valid"] = valid;
    g.credentials["cooling_down"] = cooling;
    g.credentials["invalid"] = invalid;
}

/// Prompt-cache efficiency per client key and per credential (sessions only in the API: their
/// number is unbounded).
void CacheMetrics(const proxy::Snapshot& snap, const routing::CacheStats& stats, std::string& out) {
    out += "# HELP clove_prompt_tokens_total Prompt input tokens by cache use (input = uncached).\n"
           "# TYPE clove_prompt_tokens_total counter\n";
    std::string share = "# HELP clove_cache_read_share Share of prompt input read from the prompt cache.\n"
                        "# TYPE clove_cache_read_share gauge\n";
    auto emit = [&](const char* scope, const routing::CacheStats::Row& r, const std::string& label) {
        out += fmt::format("clove_prompt_tokens_total{{{}=\"{}\",kind=\"input\"}} {}\n", scope, label, r.input_tokens);
        out += fmt::format("clove_prompt_tokens_total{{{}=\"{}\",kind=\"cache_read\"}} {}\n", scope, label,
                           r.cache_read_tokens);
        out += fmt::format("clove_prompt_tokens_total{{{}=\"{}\",kind=\"cache_creation\"}} {}\n", scope, label,
                           r.cache_creation_tokens);
        share += fmt::format("clove_cache_read_share{{{}=\"{}\"}} {:.4f}\n", scope, label, r.ReadShare());
    };
    size_t n = 0;
    for (const auto& r : stats.Keys()) {
        if (++n > 1000) break;
        auto it = snap.names.find(r.id);
        emit("key", r, it == snap.names.end() ? r.id : it->second);
    }
    n = 0;
    for (const auto& r : stats.Credentials()) {
        if (++n > 1000) break;
        emit("credential", r, r.id);
    }
    out += share;
}

json::object CacheRowJson(const routing::CacheStats::Row& r) {
    return {{"id", r.id},
            {"requests", r.requests},
            {"input_tokens", r.input_tokens},
            {"cache_read_input_tokens", r.cache_read_tokens},
            {"cache_creation_input_tokens", r.cache_creation_tokens},
            {"cache_read_share", r.ReadShare()},
            {"last_seen_at", FormatTime(r.last_seen_ms)}};
}

json::object SpendJson(const quota::Limiter::Spend& sp) {
    return {{"day_usd", Usd(sp.day)}, {"month_usd", Usd(sp.month)}, {"total_usd", Usd(sp.total)},
            {"reserved_usd", Usd(sp.reserved)}};
}

json::object KeyJson(const storage::ClientKeyRow& k, const std::map<std::string, storage::SummaryRow>& totals,
                     quota::Limiter* limiter = nullptr) {
    json::array models;
    for (const auto& m : k.allowed_models) {
        models.emplace_back(m);
    }
    storage::SummaryRow t;
    if (auto it = totals.find(k.id); it != totals.end()) {
        t = it->second;
    }
    return {{"id", k.id},
            {"name", k.name},
            {"prefix", k.prefix},
            {"enabled", k.enabled},
            {"created_at", FormatTime(k.created_at)},
            {"last_used_at", TimeOrNull(k.last_used_at)},
            {"expires_at", TimeOrNull(k.expires_at)},
            {"allowed_models", std::move(models)},
            {"limits", LimitsJson(k.limits)},
            {"usage", json::object{{"requests", t.requests},
                                   {"input_tokens", t.input_tokens},
                                   {"output_tokens", t.output_tokens},
                                   {"cost_usd", Usd(t.cost_nanousd)}}},
            // What the budgets are checked against (this process's counters, seeded from the
            // usage rows at start): the current UTC day and month, and the key's lifetime.
            {"spend", limiter ? json::value(SpendJson(limiter->SpendOf(k.id))) : json::value(nullptr)}};
}

json::object SettingsJson(const config::Settings& st) {
    return {{"log_level", st.log_level},
            {"outbound_proxy", st.outbound_proxy ? json::value(upstream::MaskProxyUrl(*st.outbound_proxy)) : json::value(nullptr)},
            {"connect_timeout_ms", st.connect_timeout_ms},
            {"first_byte_timeout_ms", st.first_byte_timeout_ms},
            {"stream_idle_timeout_ms", st.stream_idle_timeout_ms},
            {"usage_retention_days", st.usage_retention_days},
            {"max_attempts", st.max_attempts},
            {"failover_deadline_ms", st.failover_deadline_ms},
            {"cooldown_fallback_ms", st.cooldown_fallback_ms},
            {"failure_threshold", st.failure_threshold},
            {"failure_cooldown_ms", st.failure_cooldown_ms},
            {"sticky_ttl_ms", st.sticky_ttl_ms},
            {"first_byte_keepalive_ms", st.first_byte_keepalive_ms},
            {"keepalive_interval_ms", st.keepalive_interval_ms},
            {"queue_timeout_ms", st.queue_timeout_ms},
            {"default_limits", LimitsJson(st.default_limits)}};
}

json::object PriceJson(const config::PriceSpec& p, bool custom) {
    return {{"model", p.model},
            {"input", p.input},
            {"output", p.output},
            {"cache_write_5m", p.cache_write_5m},
            {"cache_write_1h", p.cache_write_1h},
            {"cache_read", p.cache_read},
            {"source", custom ? "custom" : "builtin"}};
}

json::object CountersJson(const storage::SummaryRow& r) {
    const int64_t prompt = r.input_tokens + r.cache_creation_tokens + r.cache_read_tokens;
    return {{"requests", r.requests},
            {"errors", r.errors},
            {"input_tokens", r.input_tokens},
            {"output_tokens", r.output_tokens},
            {"cache_creation_input_tokens", r.cache_creation_tokens},
            {"cache_read_input_tokens", r.cache_read_tokens},
            {"cache_read_share", prompt > 0 ? static_cast<double>(r.cache_read_tokens) / static_cast<double>(prompt) : 0.0},
            {"cost_usd", Usd(r.cost_nanousd)}};
}

// ---------------------------------------------------------------------------------------------
// Validation of writable fields

config::Limits ReadLimits(const json::value& v, const std::string& path, config::Limits l) {
    if (!v.is_object()) {
        Invalid(path, "must be an object");
    }
    Fields f(v.as_object(), path + ".");
    f.RejectUnknown({"rpm", "tpm", "input_tpm", "output_tpm", "concurrency", "daily_budget_usd",
                     "monthly_budget_usd", "budget_usd", "budget_period"});
    auto opt_int = [&](const char* name, std::optional<int64_t>& out) {
        if (!f.Has(name)) {
            return;
        }
        if (f.IsNull(name)) {
            out.reset();
        } else {
            out = f.Int(name, 1, 1'000'000'000'000);
        }
    };
    opt_int("rpm", l.rpm);
    opt_int("tpm", l.tpm);
    opt_int("input_tpm", l.input_tpm);
    opt_int("output_tpm", l.output_tpm);
    opt_int("concurrency", l.concurrency);
    auto opt_usd = [&](const char* name, std::optional<double>& out) {
        if (!f.Has(name)) {
            return;
        }
        if (f.IsNull(name)) {
            out.reset();
        } else {
            out = f.Number(name, 0, 1e12);
        }
    };
    opt_usd("budget_usd", l.budget_usd);
    opt_usd("daily_budget_usd", l.daily_budget_usd);
    opt_usd("monthly_budget_usd", l.monthly_budget_usd);
    if (auto p = f.String("budget_period")) {
        if (*p != "total" && *p != "daily" && *p != "monthly") {
            Invalid(f.Path("budget_period"), "must be total, daily or monthly");
        }
        l.budget_period = *p;
    }
    return l;
}

void CheckSecret(const std::string& key, const std::string& path) {
    if (key.size() < 8 || key.size() > 512) {
        Invalid(path, "must be 8 to 512 characters");
    }
    for (unsigned char c : key) {
        if (c <= 0x20 || c >= 0x7f) {
            Invalid(path, "must be printable ASCII without spaces");
        }
    }
}

void ApplyUpstreamFields(const json::object& body, storage::UpstreamRow& u, bool create) {
    Fields f(body);
    if (create) {
        f.RejectUnknown({"name", "kind", "base_url", "auth", "models", "model_map", "priority", "weight", "enabled",
                         "connect_timeout_ms", "first_byte_timeout_ms", "stream_idle_timeout_ms",
                         "credential_concurrency", "proxy_url", "health_check", "health_check_interval_ms",
                         "credentials", "openai"});
    } else {
        f.RejectUnknown({"name", "kind", "base_url", "auth", "models", "model_map", "priority", "weight", "enabled",
                         "connect_timeout_ms", "first_byte_timeout_ms", "stream_idle_timeout_ms",
                         "credential_concurrency", "proxy_url", "health_check", "health_check_interval_ms", "openai"});
    }
    if (auto v = f.String("name")) {
        if (!IsName(*v, 64, "._-")) {
            Invalid("name", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
        }
        u.cfg.name = *v;
    } else if (create) {
        Invalid("name", "is required");
    }
    if (auto v = f.String("kind")) {
        if (*v == "bedrock" || *v == "vertex") {
            Invalid("kind", "\"" + *v + "\" is not supported in this release (supported: anthropic, openai)");
        }
        if (*v != "anthropic" && *v != "openai") {
            Invalid("kind", "must be one of anthropic, openai, bedrock, vertex");
        }
        const auto kind = *v == "openai" ? config::UpstreamKind::kOpenAI : config::UpstreamKind::kAnthropic;
        if (create && kind == config::UpstreamKind::kOpenAI && !f.Has("models")) {
            u.cfg.models = {"*"};
        }
        if (kind != u.cfg.kind) {
            u.cfg.openai = config::OpenAIOptions{};
        }
        u.cfg.kind = kind;
    }
    if (const auto* o = f.Get("openai"); o && !o->is_null()) {
        if (!o->is_object()) {
            Invalid("openai", "must be an object");
        }
        if (u.cfg.kind != config::UpstreamKind::kOpenAI) {
            Invalid("openai", "only applies to kind \"openai\"");
        }
        std::string field, message;
        if (!storage::ApplyOpenAIOptionsJson(o->as_object(), u.cfg.openai, field, message)) {
            Invalid("openai." + field, message);
        }
    }
    if (auto v = f.String("base_url")) {
        auto peer = upstream::ParseBaseUrl(*v);
        if (!peer || v->find_first_of("?# \t") != std::string::npos) {
            Invalid("base_url", "must be an http:// or https:// URL without query or fragment");
        }
        u.cfg.base_url = *v;
        while (u.cfg.base_url.size() > 8 && u.cfg.base_url.back() == '/') {
            u.cfg.base_url.pop_back();
        }
    } else if (create) {
        Invalid("base_url", "is required");
    }
    if (auto v = f.String("auth")) {
        if (*v == "key") {
            u.cfg.auth = config::UpstreamAuth::kKey;
        } else if (*v == "passthrough") {
            u.cfg.auth = config::UpstreamAuth::kPassthrough;
        } else {
            Invalid("auth", "must be key or passthrough");
        }
    }
    if (auto v = f.Strings("models")) {
        if (v->empty()) {
            Invalid("models", "must list at least one model glob");
        }
        u.cfg.models = *v;
    }
    if (auto* v = f.Get("model_map")) {
        if (!v->is_object()) {
            Invalid("model_map", "must be an object of model names");
        }
        std::map<std::string, std::string> m;
        for (const auto& [k, t] : v->as_object()) {
            std::string path = "model_map." + Printable(k);
            if (k.empty() || k.size() > 200) {
                Invalid(path, "model names must be 1-200 characters");
            }
            if (!t.is_string() || t.as_string().empty() || t.as_string().size() > 200) {
                Invalid(path, "must be a model name (1-200 characters)");
            }
            m.emplace(std::string(k), std::string(t.as_string()));
        }
        u.cfg.model_map = std::move(m);
    }
    if (auto v = f.Int("priority", -1000, 1000)) u.priority = static_cast<int>(*v);
    if (auto v = f.Int("weight", 1, 1000)) u.weight = static_cast<int>(*v);
    if (auto v = f.Int("credential_concurrency", 0, 100'000)) u.credential_concurrency = *v;
    if (auto v = f.String("health_check")) {
        if (*v != "off" && *v != "models" && *v != "message") {
            Invalid("health_check", "must be \"off\", \"models\" or \"message\"");
        }
        u.cfg.health_check = *v;
    }
    if (auto v = f.Int("health_check_interval_ms", 1000, 86'400'000)) {
        u.cfg.health_check_interval_ms = static_cast<uint32_t>(*v);
    }
    if (f.Has("proxy_url")) {
        if (f.IsNull("proxy_url")) {
            u.cfg.proxy_url.reset();
        } else {
            auto v = f.String("proxy_url");
            if (u.cfg.proxy_url && *v != *u.cfg.proxy_url && *v == upstream::MaskProxyUrl(*u.cfg.proxy_url)) {
                *v = *u.cfg.proxy_url;  // our own masked form sent back: unchanged (keeps the password)
            }
            if (*v != "direct" && !upstream::ValidProxyUrl(*v)) {
                Invalid("proxy_url",
                        "must be null (the global outbound proxy), \"direct\" or a proxy URL (http://, socks5:// or "
                        "socks5h://host:port)");
            }
            u.cfg.proxy_url = *v;
        }
    }
    if (auto v = f.Bool("enabled")) u.enabled = *v;
    if (auto v = f.Int("connect_timeout_ms", 1, 3'600'000)) u.cfg.connect_timeout_ms = static_cast<uint32_t>(*v);
    if (auto v = f.Int("first_byte_timeout_ms", 1, 3'600'000)) u.cfg.first_byte_timeout_ms = static_cast<uint32_t>(*v);
    if (auto v = f.Int("stream_idle_timeout_ms", 1, 3'600'000)) u.cfg.stream_idle_timeout_ms = static_cast<uint32_t>(*v);
}

storage::CredentialRow NewCredential(const auth::SecretBox& box, const std::string& upstream_id,
                                     const std::string& key, const std::string& label) {
    storage::CredentialRow c;
    c.id = auth::GenerateId("cred_");
    c.upstream_id = upstream_id;
    c.label = label;
    c.sealed = box.Seal(key, c.id);
    c.fingerprint = box.Fingerprint(key);
    c.hint = auth::Hint(key);
    c.created_at = storage::NowMs();
    return c;
}

/// Adds keys to an upstream inside the caller's transaction; per-item results.
json::array AddCredentials(Session& s, const auth::SecretBox& box, const std::string& upstream_id,
                           const std::vector<std::string>& keys, const std::string& label, const std::string& actor) {
    json::array results;
    std::set<std::string> seen;
    for (size_t i = 0; i < keys.size(); ++i) {
        const std::string& key = keys[i];
        json::object r{{"index", i}};
        std::string fp = box.Fingerprint(key);
        if (key.size() < 8 || key.size() > 512 ||
            std::any_of(key.begin(), key.end(), [](unsigned char c) { return c <= 0x20 || c >= 0x7f; })) {
            r["ok"] = false;
            r["error"] = "a key must be 8 to 512 printable ASCII characters without spaces";
        } else if (auto dup = storage::FindCredentialByFingerprint(s, upstream_id, fp)) {
            r["ok"] = false;
            r["error"] = "duplicate of " + dup->id;
        } else if (!seen.insert(fp).second) {
            r["ok"] = false;
            r["error"] = "duplicate of an earlier key in this request";
        } else {
            auto c = NewCredential(box, upstream_id, key, label);
            storage::InsertCredential(s, c);
            storage::AppendAudit(s, actor, "create", "credential", c.id,
                                 json::serialize(json::object{{"upstream_id", upstream_id}, {"hint", c.hint},
                                                              {"label", label}}));
            r["ok"] = true;
            r["credential"] = CredentialJson(c);
        }
        results.push_back(std::move(r));
    }
    return results;
}

// ---------------------------------------------------------------------------------------------
// The router

class Router {
public:
    Router(Services& s, std::string actor, proxy::KeyDigest presented)
        : s_(s), actor_(std::move(actor)), presented_(presented) {}

    /// Blocking: runs on the pool. `segs` are the path segments after /admin/api/.
    Reply Dispatch(boost::beast::http::verb method, const std::vector<std::string>& segs, std::string_view query,
                   const std::string& body, bool& changed) {
        using boost::beast::http::verb;
        const size_t n = segs.size();
        auto need = [&](bool ok) {
            if (!ok) {
                throw ApiError{405, "invalid_request_error", "method not allowed on this resource", {}};
            }
        };
        if (n == 0) {
            NotFound("unknown admin route");
        }
        const std::string& r = segs[0];
        if (n >= 2 && !ValidId(segs[1]) && r != "prices" && r != "usage") {
            NotFound(r + " " + Printable(segs[1]) + " not found");
        }
        if (r == "status" && n == 1) {
            need(method == verb::get);
            return Status();
        }
        if (r == "cache" && n == 1) {
            need(method == verb::get);
            return CacheEfficiency();
        }
        if (r == "upstreams") {
            if (n == 1) {
                if (method == verb::get) return ListUpstreams();
                need(method == verb::post);
                changed = true;
                return CreateUpstream(ParseObject(body));
            }
            if (n == 2) {
                if (method == verb::get) return GetUpstream(segs[1]);
                if (method == verb::patch) {
                    changed = true;
                    return PatchUpstream(segs[1], ParseObject(body));
                }
                need(method == verb::delete_);
                changed = true;
                return DeleteUpstream(segs[1]);
            }
            if (n == 3 && segs[2] == "credentials") {
                if (method == verb::get) return ListCredentials(segs[1]);
                need(method == verb::post);
                changed = true;
                return AddCredentialsRoute(segs[1], ParseObject(body));
            }
        }
        if (r == "credentials" && n == 2) {
            if (method == verb::get) return GetCredential(segs[1]);
            if (method == verb::patch) {
                changed = true;
                return PatchCredential(segs[1], ParseObject(body));
            }
            need(method == verb::delete_);
            changed = true;
            return DeleteCredential(segs[1]);
        }
        if (r == "keys") {
            if (n == 1) {
                if (method == verb::get) return ListKeys();
                need(method == verb::post);
                changed = true;
                return CreateKey(ParseObject(body));
            }
            if (n == 2) {
                if (method == verb::get) return GetKey(segs[1]);
                if (method == verb::patch) {
                    changed = true;
                    return PatchKey(segs[1], ParseObject(body));
                }
                need(method == verb::delete_);
                changed = true;
                return DeleteKey(segs[1]);
            }
        }
        if (r == "settings" && n == 1) {
            if (method == verb::get) return GetSettings();
            need(method == verb::patch || method == verb::put);
            changed = true;
            return PatchSettings(ParseObject(body));
        }
        if (r == "prices") {
            if (n == 1) {
                need(method == verb::get);
                return ListPrices();
            }
            if (n == 2) {
                std::string model = PercentDecode(segs[1]);
                if (model.empty() || model.size() > 200 ||
                    std::any_of(model.begin(), model.end(), [](unsigned char c) { return c < 0x21 || c >= 0x7f; })) {
                    Invalid("model", "must be 1-200 printable characters");
                }
                changed = true;
                if (method == verb::put) return PutPrice(model, ParseObject(body));
                need(method == verb::delete_);
                return DeletePrice(model);
            }
        }
        if (r == "usage" && n == 2 && segs[1] == "requests") {
            need(method == verb::get);
            return UsageRequests(ParseQuery(query));
        }
        if (r == "usage" && n == 2 && segs[1] == "summary") {
            need(method == verb::get);
            return UsageSummary(ParseQuery(query));
        }
        if (r == "usage" && n == 2 && segs[1] == "latency") {
            need(method == verb::get);
            return UsageLatency(ParseQuery(query));
        }
        if (r == "admin-keys") {
            if (n == 1) {
                if (method == verb::get) return ListAdminKeysRoute();
                need(method == verb::post);
                changed = true;  // a new config_version: other replicas reload their admin keys
                return CreateAdminKey(ParseObject(body));
            }
            if (n == 2) {
                need(method == verb::delete_);
                changed = true;
                return DeleteAdminKeyRoute(segs[1]);
            }
        }
        if (r == "audit" && n == 1) {
            need(method == verb::get);
            return Audit(ParseQuery(query));
        }
        NotFound("unknown admin route");
    }

private:
    /// Prompt-cache efficiency since start: per key, credential and Claude Code session.
    Reply CacheEfficiency() {
        json::array keys, creds, sessions;
        if (s_.cache_stats) {
            auto snap = s_.snapshots.Load();
            for (const auto& r : s_.cache_stats->Keys()) {
                auto o = CacheRowJson(r);
                auto it = snap->names.find(r.id);
                o["name"] = it == snap->names.end() ? json::value(nullptr) : json::value(it->second);
                keys.push_back(std::move(o));
            }
            for (const auto& r : s_.cache_stats->Credentials()) {
                creds.push_back(CacheRowJson(r));
            }
            for (const auto& r : s_.cache_stats->Sessions()) {
                auto o = CacheRowJson(r);
                o["credential_id"] = r.credential_id;
                sessions.push_back(std::move(o));
            }
        }
        return Json(200, json::object{{"keys", keys}, {"credentials", creds}, {"sessions", sessions}});
    }

    Reply Status() {
        auto now = std::chrono::steady_clock::now();
        json::object o{{"version", CLOVE_VERSION},
                       {"started_at", FormatTime(s_.started_at_ms)},
                       {"uptime_s", std::chrono::duration<double>(now - s_.started).count()},
                       {"in_flight", s_.in_flight.load()},
                       {"database", s_.db.name()},
                       {"schema_version", storage::LatestSchemaVersion()},
                       {"usage_queue_depth", s_.usage.queue_depth()},
                       {"usage_spooled", s_.usage.spooled()},
                       {"usage_written", s_.usage.written()}};
        // The database must answer: a status that says "ok" while it is down would mislead. The
        // credential states are the live ones of this process (as in the credential lists).
        json::object states{{"valid", 0}, {"cooling_down", 0}, {"invalid", 0}, {"disabled", 0}};
        s_.db.Read([&](Session& s) {
            for (const auto& c : storage::ListCredentials(s, std::nullopt)) {
                auto view = CredentialJson(c, s_.health);
                if (auto* st = view.if_contains("state"); st && st->is_string()) {
                    auto& slot = states[st->as_string()];
                    slot = (slot.is_int64() ? slot.as_int64() : 0) + 1;
                }
            }
        });
        o["credentials"] = std::move(states);
        o["listen"] = json::object{{"host", s_.server.host},
                                   {"port", s_.server.port},
                                   {"workers", s_.server.workers},
                                   {"data_dir", s_.server.data_dir},
                                   {"config", s_.server.config_source.empty() ? json::value(nullptr)
                                                                              : json::value(s_.server.config_source)}};
        return Json(200, o);
    }

    // ---- upstreams ----
    Reply ListUpstreams() {
        return s_.db.Read([](Session& s) {
            auto creds = storage::ListCredentials(s, std::nullopt);
            json::array a;
            for (const auto& u : storage::ListUpstreams(s)) {
                a.push_back(UpstreamJson(u, creds));
            }
            return Json(200, json::object{{"data", std::move(a)}});
        });
    }

    Reply GetUpstream(const std::string& id) {
        return s_.db.Read([&](Session& s) {
            auto u = storage::GetUpstream(s, id);
            if (!u) NotFound("upstream " + id + " not found");
            return Json(200, UpstreamJson(*u, storage::ListCredentials(s, id)));
        });
    }

    Reply CreateUpstream(const json::object& body) {
        storage::UpstreamRow u;
        auto settings = s_.db.Read([](Session& s) { return storage::LoadSettings(s); });
        u.cfg.connect_timeout_ms = settings.connect_timeout_ms;
        u.cfg.first_byte_timeout_ms = settings.first_byte_timeout_ms;
        u.cfg.stream_idle_timeout_ms = settings.stream_idle_timeout_ms;
        ApplyUpstreamFields(body, u, true);
        std::vector<std::string> keys;
        if (auto k = Fields(body).Strings("credentials")) {
            keys = *k;
            for (size_t i = 0; i < keys.size(); ++i) {
                CheckSecret(keys[i], "credentials[" + std::to_string(i) + "]");
            }
        }
        u.id = auth::GenerateId("up_");
        u.created_at = u.updated_at = storage::NowMs();
        return s_.db.Write([&](Session& s) {
            if (storage::FindUpstreamByName(s, u.cfg.name)) {
                Conflict("name", "an upstream named \"" + u.cfg.name + "\" already exists");
            }
            storage::InsertUpstream(s, u);
            auto view = UpstreamJson(u, {});
            storage::AppendAudit(s, actor_, "create", "upstream", u.id, json::serialize(view));
            if (!keys.empty()) {
                AddCredentials(s, s_.box, u.id, keys, "", actor_);
            }
            return Json(201, UpstreamJson(u, storage::ListCredentials(s, u.id)));
        });
    }

    Reply PatchUpstream(const std::string& id, const json::object& body) {
        return s_.db.Write([&](Session& s) {
            auto u = storage::GetUpstream(s, id);
            if (!u) NotFound("upstream " + id + " not found");
            auto before = UpstreamJson(*u, {});
            ApplyUpstreamFields(body, *u, false);
            if (auto other = storage::FindUpstreamByName(s, u->cfg.name); other && other->id != id) {
                Conflict("name", "an upstream named \"" + u->cfg.name + "\" already exists");
            }
            u->updated_at = storage::NowMs();
            storage::UpdateUpstream(s, *u);
            auto after = UpstreamJson(*u, storage::ListCredentials(s, id));
            json::object changes;
            for (const auto& [k, v] : body) {
                if (auto* a = after.if_contains(k)) {
                    changes[k] = *a;
                }
            }
            (void)before;
            storage::AppendAudit(s, actor_, "update", "upstream", id, json::serialize(changes));
            return Json(200, after);
        });
    }

    Reply DeleteUpstream(const std::string& id) {
        return s_.db.Write([&](Session& s) {
            auto u = storage::GetUpstream(s, id);
            if (!u) NotFound("upstream " + id + " not found");
            storage::DeleteUpstream(s, id);
            storage::AppendAudit(s, actor_, "delete", "upstream", id,
                                 json::serialize(json::object{{"name", u->cfg.name}}));
            return NoContent();
        });
    }

    // ---- credentials ----
    Reply ListCredentials(const std::string& upstream_id) {
        return s_.db.Read([&](Session& s) {
            if (!storage::GetUpstream(s, upstream_id)) NotFound("upstream " + upstream_id + " not found");
            json::array a;
            for (const auto& c : storage::ListCredentials(s, upstream_id)) {
                a.push_back(CredentialJson(c, s_.health));
            }
            return Json(200, json::object{{"data", std::move(a)}});
        });
    }

    Reply AddCredentialsRoute(const std::string& upstream_id, const json::object& body) {
        Fields f(body);
        f.RejectUnknown({"key", "keys", "label"});
        std::vector<std::string> keys;
        if (auto k = f.String("key")) {
            keys.push_back(*k);
        }
        if (auto* v = f.Get("keys")) {
            if (!v->is_array()) {
                Invalid("keys", "must be an array of strings");
            }
            size_t i = 0;
            for (const auto& e : v->as_array()) {
                if (!e.is_string()) {
                    Invalid("keys[" + std::to_string(i) + "]", "must be a string");
                }
                keys.emplace_back(e.as_string());
                ++i;
            }
        }
        if (keys.empty()) {
            Invalid("keys", "send one key in \"key\" or several in \"keys\"");
        }
        if (keys.size() > 1000) {
            Invalid("keys", "at most 1000 keys at once");
        }
        std::string label = f.String("label").value_or("");
        if (label.size() > 100) {
            Invalid("label", "must be at most 100 characters");
        }
        return s_.db.Write([&](Session& s) {
            if (!storage::GetUpstream(s, upstream_id)) NotFound("upstream " + upstream_id + " not found");
            auto results = AddCredentials(s, s_.box, upstream_id, keys, label, actor_);
            return Json(201, json::object{{"data", std::move(results)}});
        });
    }

    Reply GetCredential(const std::string& id) {
        return s_.db.Read([&](Session& s) {
            auto c = storage::GetCredential(s, id);
            if (!c) NotFound("credential " + id + " not found");
            return Json(200, CredentialJson(*c, s_.health));
        });
    }

    Reply PatchCredential(const std::string& id, const json::object& body) {
        Fields f(body);
        f.RejectUnknown({"enabled", "label"});
        auto enabled = f.Bool("enabled");
        auto label = f.String("label");
        if (label && label->size() > 100) {
            Invalid("label", "must be at most 100 characters");
        }
        return s_.db.Write([&](Session& s) {
            auto c = storage::GetCredential(s, id);
            if (!c) NotFound("credential " + id + " not found");
            json::object changes;
            if (enabled) {
                c->enabled = *enabled;
                changes["enabled"] = *enabled;
                if (*enabled) {
                    // An operator enabling a key vouches for it: invalid and cooling states end.
                    c->state = "valid";
                    c->last_error.reset();
                    c->cooldown_until.reset();
                    if (s_.health) {
                        s_.health->Reset(id);
                    }
                }
            }
            if (label) {
                c->label = *label;
                changes["label"] = *label;
            }
            storage::UpdateCredential(s, *c);
            storage::AppendAudit(s, actor_, "update", "credential", id, json::serialize(changes));
            return Json(200, CredentialJson(*c, s_.health));
        });
    }

    Reply DeleteCredential(const std::string& id) {
        return s_.db.Write([&](Session& s) {
            auto c = storage::GetCredential(s, id);
            if (!c) NotFound("credential " + id + " not found");
            storage::DeleteCredential(s, id);
            storage::AppendAudit(s, actor_, "delete", "credential", id,
                                 json::serialize(json::object{{"hint", c->hint}, {"upstream_id", c->upstream_id}}));
            return NoContent();
        });
    }

    // ---- client keys ----
    std::map<std::string, storage::SummaryRow> Totals(Session& s) {
        std::map<std::string, storage::SummaryRow> m;
        for (auto& r : storage::KeyTotals(s)) {
            m.emplace(r.group, r);
        }
        return m;
    }

    Reply ListKeys() {
        return s_.db.Read([&](Session& s) {
            auto totals = Totals(s);
            json::array a;
            for (const auto& k : storage::ListClientKeys(s)) {
                a.push_back(KeyJson(k, totals, s_.limiter));
            }
            return Json(200, json::object{{"data", std::move(a)}});
        });
    }

    Reply GetKey(const std::string& id) {
        return s_.db.Read([&](Session& s) {
            auto k = storage::GetClientKey(s, id);
            if (!k) NotFound("key " + id + " not found");
            return Json(200, KeyJson(*k, Totals(s), s_.limiter));
        });
    }

    void ApplyKeyFields(const json::object& body, storage::ClientKeyRow& k, bool create) {
        Fields f(body);
        f.RejectUnknown({"name", "enabled", "expires_at", "allowed_models", "limits"});
        if (auto v = f.String("name")) {
            if (!IsName(*v, 64, "._-@ ")) {
                Invalid("name", "must be 1-64 characters of A-Z a-z 0-9 . _ - @ and space");
            }
            k.name = *v;
        } else if (create) {
            Invalid("name", "is required");
        }
        if (auto v = f.Bool("enabled")) k.enabled = *v;
        if (f.Has("expires_at")) {
            if (f.IsNull("expires_at")) {
                k.expires_at.reset();
            } else {
                auto t = f.String("expires_at");
                auto ms = ParseTime(*t);
                if (!ms) Invalid("expires_at", "must be an RFC 3339 time such as 2027-01-31T00:00:00Z, or null");
                k.expires_at = *ms;
            }
        }
        if (auto v = f.Strings("allowed_models")) k.allowed_models = *v;
        if (auto* v = f.Get("limits")) k.limits = ReadLimits(*v, "limits", k.limits);
    }

    Reply CreateKey(const json::object& body) {
        storage::ClientKeyRow k;
        k.limits = s_.snapshots.Load()->settings.default_limits;
        ApplyKeyFields(body, k, true);
        std::string plaintext = auth::GenerateKey("clv_");
        k.id = auth::GenerateId("key_");
        k.prefix = plaintext.substr(0, 12);
        k.hash = auth::Sha256Hex(plaintext);
        k.created_at = storage::NowMs();
        return s_.db.Write([&](Session& s) {
            if (storage::FindClientKeyByName(s, k.name)) {
                Conflict("name", "a key named \"" + k.name + "\" already exists");
            }
            storage::InsertClientKey(s, k);
            auto view = KeyJson(k, {}, s_.limiter);
            storage::AppendAudit(s, actor_, "create", "client_key", k.id, json::serialize(view));
            view["key"] = plaintext;
            return Json(201, view);
        });
    }

    Reply PatchKey(const std::string& id, const json::object& body) {
        return s_.db.Write([&](Session& s) {
            auto k = storage::GetClientKey(s, id);
            if (!k) NotFound("key " + id + " not found");
            ApplyKeyFields(body, *k, false);
            if (auto other = storage::FindClientKeyByName(s, k->name); other && other->id != id) {
                Conflict("name", "a key named \"" + k->name + "\" already exists");
            }
            storage::UpdateClientKey(s, *k);
            auto view = KeyJson(*k, Totals(s), s_.limiter);
            json::object changes;
            for (const auto& [name, v] : body) {
                if (auto* a = view.if_contains(name)) {
                    changes[name] = *a;
                }
            }
            storage::AppendAudit(s, actor_, "update", "client_key", id, json::serialize(changes));
            return Json(200, view);
        });
    }

    Reply DeleteKey(const std::string& id) {
        return s_.db.Write([&](Session& s) {
            auto k = storage::GetClientKey(s, id);
            if (!k) NotFound("key " + id + " not found");
            storage::DeleteClientKey(s, id);
            storage::AppendAudit(s, actor_, "delete", "client_key", id,
                                 json::serialize(json::object{{"name", k->name}, {"prefix", k->prefix}}));
            return NoContent();
        });
    }

    // ---- settings ----
    Reply GetSettings() {
        return s_.db.Read([](Session& s) { return Json(200, SettingsJson(storage::LoadSettings(s))); });
    }

    Reply PatchSettings(const json::object& body) {
        Fields f(body);
        f.RejectUnknown({"log_level", "outbound_proxy", "connect_timeout_ms", "first_byte_timeout_ms",
                         "stream_idle_timeout_ms", "usage_retention_days", "default_limits", "max_attempts",
                         "failover_deadline_ms", "cooldown_fallback_ms", "failure_threshold", "failure_cooldown_ms",
                         "sticky_ttl_ms", "first_byte_keepalive_ms", "keepalive_interval_ms", "queue_timeout_ms"});
        return s_.db.Write([&](Session& s) {
            auto st = storage::LoadSettings(s);
            if (auto v = f.String("log_level")) {
                spdlog::level::level_enum lvl;
                if (!log::ParseLevel(*v, lvl) || *v == "warning") {
                    Invalid("log_level", "must be one of trace, debug, info, warn, error, off");
                }
                st.log_level = *v;
            }
            if (f.Has("outbound_proxy")) {
                if (f.IsNull("outbound_proxy")) {
                    st.outbound_proxy.reset();
                } else {
                    auto v = f.String("outbound_proxy");
                    if (st.outbound_proxy && *v != *st.outbound_proxy && *v == upstream::MaskProxyUrl(*st.outbound_proxy)) {
                        *v = *st.outbound_proxy;  // our own masked form sent back: unchanged
                    }
                    if (!upstream::ValidProxyUrl(*v)) {
                        Invalid("outbound_proxy",
                                "must be null or a proxy URL (http://, socks5:// or socks5h://[user:password@]host:port)");
                    }
                    st.outbound_proxy = *v;
                }
            }
            if (auto v = f.Int("connect_timeout_ms", 1, 3'600'000)) st.connect_timeout_ms = static_cast<uint32_t>(*v);
            if (auto v = f.Int("first_byte_timeout_ms", 1, 3'600'000)) st.first_byte_timeout_ms = static_cast<uint32_t>(*v);
            if (auto v = f.Int("stream_idle_timeout_ms", 1, 3'600'000)) st.stream_idle_timeout_ms = static_cast<uint32_t>(*v);
            if (auto v = f.Int("usage_retention_days", 1, 3650)) st.usage_retention_days = static_cast<int>(*v);
            if (auto v = f.Int("max_attempts", 1, 10)) st.max_attempts = static_cast<int>(*v);
            if (auto v = f.Int("failover_deadline_ms", 1, 3'600'000)) st.failover_deadline_ms = static_cast<uint32_t>(*v);
            if (auto v = f.Int("cooldown_fallback_ms", 1, 86'400'000)) st.cooldown_fallback_ms = static_cast<uint32_t>(*v);
            if (auto v = f.Int("failure_threshold", 1, 1000)) st.failure_threshold = static_cast<int>(*v);
            if (auto v = f.Int("failure_cooldown_ms", 1, 86'400'000)) st.failure_cooldown_ms = static_cast<uint32_t>(*v);
            if (auto v = f.Int("sticky_ttl_ms", 1, 86'400'000)) st.sticky_ttl_ms = static_cast<uint32_t>(*v);
            if (auto v = f.Int("first_byte_keepalive_ms", 50, 3'600'000)) st.first_byte_keepalive_ms = static_cast<uint32_t>(*v);
            if (auto v = f.Int("keepalive_interval_ms", 50, 3'600'000)) st.keepalive_interval_ms = static_cast<uint32_t>(*v);
            if (auto v = f.Int("queue_timeout_ms", 0, 600'000)) st.queue_timeout_ms = static_cast<uint32_t>(*v);
            if (auto* v = f.Get("default_limits")) st.default_limits = ReadLimits(*v, "default_limits", st.default_limits);
            storage::SaveSettings(s, st);
            json::object changes;
            auto view = SettingsJson(st);
            for (const auto& [name, v] : body) {
                if (auto* a = view.if_contains(name)) {
                    changes[name] = *a;
                }
            }
            storage::AppendAudit(s, actor_, "update", "settings", "", json::serialize(changes));
            if (f.Has("log_level")) {
                spdlog::level::level_enum lvl;
                if (log::ParseLevel(st.log_level, lvl)) {
                    spdlog::set_level(lvl);  // applies at once; the bootstrap level applies at the next start
                }
            }
            return Json(200, view);
        });
    }

    // ---- prices ----
    Reply ListPrices() {
        auto overrides = s_.db.Read([](Session& s) { return storage::ListPriceOverrides(s); });
        usage::PriceTable table(overrides);
        json::array a;
        for (const auto& e : table.entries()) {
            a.push_back(PriceJson(e.price, e.custom));
        }
        return Json(200, json::object{{"data", std::move(a)}});
    }

    Reply PutPrice(const std::string& model, const json::object& body) {
        Fields f(body);
        f.RejectUnknown({"model", "input", "output", "cache_write_5m", "cache_write_1h", "cache_read"});
        config::PriceSpec p;
        p.model = model;
        auto in = f.Number("input", 0, 1e6);
        auto out = f.Number("output", 0, 1e6);
        if (!in) Invalid("input", "is required (USD per million input tokens)");
        if (!out) Invalid("output", "is required (USD per million output tokens)");
        p.input = *in;
        p.output = *out;
        p.cache_write_5m = f.Number("cache_write_5m", 0, 1e6).value_or(-1);
        p.cache_write_1h = f.Number("cache_write_1h", 0, 1e6).value_or(-1);
        p.cache_read = f.Number("cache_read", 0, 1e6).value_or(-1);
        usage::DeriveCachePrices(p);
        return s_.db.Write([&](Session& s) {
            storage::UpsertPrice(s, p);
            auto view = PriceJson(p, true);
            storage::AppendAudit(s, actor_, "update", "price", model, json::serialize(view));
            return Json(200, view);
        });
    }

    Reply DeletePrice(const std::string& model) {
        return s_.db.Write([&](Session& s) {
            if (!storage::DeletePrice(s, model)) NotFound("no custom price for " + Printable(model));
            storage::AppendAudit(s, actor_, "delete", "price", model, "{}");
            return NoContent();
        });
    }

    // ---- usage ----
    static std::optional<int64_t> TimeParam(const std::map<std::string, std::string>& q, const char* name) {
        auto it = q.find(name);
        if (it == q.end() || it->second.empty()) {
            return std::nullopt;
        }
        auto t = ParseTime(it->second);
        if (!t) Invalid(name, "must be an RFC 3339 time or Unix milliseconds");
        return t;
    }

    static int LimitParam(const std::map<std::string, std::string>& q, int def, int max) {
        auto it = q.find("limit");
        if (it == q.end()) {
            return def;
        }
        auto t = ParseTime(it->second);  // digits only → the number itself
        if (!t || it->second.find_first_not_of("0123456789") != std::string::npos || *t < 1 || *t > max) {
            Invalid("limit", "must be an integer between 1 and " + std::to_string(max));
        }
        return static_cast<int>(*t);
    }

    static std::optional<int64_t> CursorParam(const std::map<std::string, std::string>& q) {
        auto it = q.find("cursor");
        if (it == q.end() || it->second.empty()) {
            return std::nullopt;
        }
        if (it->second.find_first_not_of("0123456789") != std::string::npos || it->second.size() > 18) {
            Invalid("cursor", "is not a cursor returned by this API");
        }
        return std::stoll(it->second);
    }

    Reply UsageRequests(const std::map<std::string, std::string>& q) {
        for (const auto& [k, v] : q) {
            static const std::set<std::string> kKnown = {"limit", "cursor", "key_id", "upstream_id", "credential_id",
                                                         "model", "status", "from", "to"};
            if (!kKnown.count(k)) Invalid(Printable(k), "unknown query parameter");
        }
        storage::UsageFilter f;
        const int limit = LimitParam(q, 50, 1000);
        f.limit = limit + 1;  // one more tells whether another page exists
        f.before_id = CursorParam(q);
        auto str = [&](const char* name) -> std::optional<std::string> {
            auto it = q.find(name);
            if (it == q.end() || it->second.empty()) return std::nullopt;
            if (it->second.size() > 200) Invalid(name, "too long");
            return it->second;
        };
        f.key_id = str("key_id");
        f.upstream_id = str("upstream_id");
        f.credential_id = str("credential_id");
        f.model = str("model");
        if (auto st = str("status")) {
            if (*st == "error") {
                f.status_range = {400, 999};
            } else if (st->size() == 3 && st->substr(1) == "xx" && (*st)[0] >= '1' && (*st)[0] <= '5') {
                int lo = ((*st)[0] - '0') * 100;
                f.status_range = {lo, lo + 99};
            } else if (st->size() == 3 && st->find_first_not_of("0123456789") == std::string::npos) {
                f.status = std::stoi(*st);
            } else {
                Invalid("status", "must be a status code (429), a class (4xx) or error");
            }
        }
        f.from_ms = TimeParam(q, "from");
        f.to_ms = TimeParam(q, "to");
        auto rows = s_.db.Read([&](Session& s) { return storage::QueryUsage(s, f); });
        const bool more = static_cast<int>(rows.size()) > limit;
        if (more) {
            rows.pop_back();
        }
        auto snap = s_.snapshots.Load();
        auto name_of = [&](const std::string& id) -> json::value {
            if (id.empty()) return nullptr;
            auto it = snap->names.find(id);
            return it == snap->names.end() ? json::value(nullptr) : json::value(it->second);
        };
        auto opt = [](const std::string& v) -> json::value { return v.empty() ? json::value(nullptr) : json::value(v); };
        json::array a;
        for (const auto& row : rows) {
            const auto& r = row.r;
            a.push_back(json::object{{"request_id", r.request_id},
                                     {"time", FormatTime(r.ts_ms)},
                                     {"key_id", opt(r.key_id)},
                                     {"key_name", name_of(r.key_id)},
                                     {"upstream_id", opt(r.upstream_id)},
                                     {"upstream", name_of(r.upstream_id)},
                                     {"credential_id", opt(r.credential_id)},
                                     {"model", opt(r.model)},
                                     {"upstream_model", opt(r.upstream_model)},
                                     {"status", r.status},
                                     {"error_type", opt(r.error_type)},
                                     {"stream", r.stream},
                                     {"ttfb_ms", r.ttfb_ms < 0 ? json::value(nullptr) : json::value(r.ttfb_ms)},
                                     {"duration_ms", r.duration_ms},
                                     {"input_tokens", r.input_tokens},
                                     {"output_tokens", r.output_tokens},
                                     {"cache_creation_input_tokens", r.cache_creation_tokens},
                                     {"cache_read_input_tokens", r.cache_read_tokens},
                                     {"cost_usd", Usd(r.cost_nanousd)}});
        }
        json::value next = nullptr;
        if (more && !rows.empty()) {
            next = std::to_string(rows.back().id);
        }
        return Json(200, json::object{{"data", std::move(a)}, {"next_cursor", next}});
    }

    Reply UsageSummary(const std::map<std::string, std::string>& q) {
        for (const auto& [k, v] : q) {
            if (k != "group_by" && k != "from" && k != "to") Invalid(Printable(k), "unknown query parameter");
        }
        std::string group = "key";
        if (auto it = q.find("group_by"); it != q.end()) {
            group = it->second;
        }
        static const std::set<std::string> kGroups = {"key", "upstream", "credential", "model", "hour", "day"};
        if (!kGroups.count(group)) Invalid("group_by", "must be key, upstream, credential, model, hour or day");
        int64_t to = TimeParam(q, "to").value_or(storage::NowMs() + 3'600'000);
        int64_t from = TimeParam(q, "from").value_or(storage::NowMs() - 86'400'000);
        auto rows = s_.db.Read([&](Session& s) { return storage::SummarizeUsage(s, group, from, to); });
        auto snap = s_.snapshots.Load();
        json::array a;
        storage::SummaryRow totals;
        for (const auto& r : rows) {
            auto o = CountersJson(r);
            json::value label = nullptr;
            if (group == "hour" || group == "day") {
                o["group"] = FormatTime(std::stoll(r.group.empty() ? "0" : r.group));
            } else {
                o["group"] = r.group.empty() ? json::value(nullptr) : json::value(r.group);
                if (group == "model") {
                    label = r.group.empty() ? json::value(nullptr) : json::value(r.group);
                } else if (auto it = snap->names.find(r.group); it != snap->names.end()) {
                    label = it->second;
                } else if (group == "key" && r.group.empty()) {
                    label = "passthrough";
                }
                o["label"] = label;
            }
            a.push_back(std::move(o));
            totals.requests += r.requests;
            totals.errors += r.errors;
            totals.input_tokens += r.input_tokens;
            totals.output_tokens += r.output_tokens;
            totals.cache_creation_tokens += r.cache_creation_tokens;
            totals.cache_read_tokens += r.cache_read_tokens;
            totals.cost_nanousd += r.cost_nanousd;
        }
        return Json(200, json::object{{"data", std::move(a)},
                                      {"totals", CountersJson(totals)},
                                      {"from", FormatTime(from)},
                                      {"to", FormatTime(to)}});
    }

    /// TTFB and duration percentiles over the newest requests of a range, and its failures by
    /// error type (the dashboard's latency and error panels).
    Reply UsageLatency(const std::map<std::string, std::string>& q) {
        for (const auto& [k, v] : q) {
            if (k != "from" && k != "to") Invalid(Printable(k), "unknown query parameter");
        }
        constexpr int64_t kMaxSample = 100'000;
        int64_t to = TimeParam(q, "to").value_or(storage::NowMs() + 3'600'000);
        int64_t from = TimeParam(q, "from").value_or(storage::NowMs() - 86'400'000);
        auto [sample, errors] = s_.db.Read([&](Session& s) {
            return std::make_pair(storage::SampleLatency(s, from, to, kMaxSample), storage::CountErrors(s, from, to));
        });
        auto percentiles = [](std::vector<double>& v) {
            auto at = [&v](double p) -> json::value {
                if (v.empty()) return nullptr;
                // Nearest rank: the smallest value with at least p of the sample at or below it.
                size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
                k = std::clamp<size_t>(k, 1, v.size()) - 1;
                std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
                return std::round(v[k] * 10.0) / 10.0;
            };
            return json::object{{"p50", at(0.50)}, {"p90", at(0.90)}, {"p99", at(0.99)}};
        };
        json::array errs;
        int64_t failed = 0;
        for (const auto& e : errors) {
            failed += e.count;
            errs.push_back(json::object{{"type", e.type.empty() ? json::value(nullptr) : json::value(e.type)},
                                        {"status", e.status},
                                        {"count", e.count}});
        }
        return Json(200, json::object{{"count", sample.total},
                                      {"sampled", static_cast<int64_t>(sample.duration_ms.size())},
                                      {"errors_total", failed},
                                      {"ttfb_ms", percentiles(sample.ttfb_ms)},
                                      {"duration_ms", percentiles(sample.duration_ms)},
                                      {"errors", std::move(errs)},
                                      {"from", FormatTime(from)},
                                      {"to", FormatTime(to)}});
    }

    // ---- admin keys ----
    bool IsCurrent(const std::string& hash_hex) const {
        proxy::KeyDigest d{};
        return proxy::DigestFromHex(hash_hex, d) && d == presented_;
    }

    Reply ListAdminKeysRoute() {
        json::array a;
        int i = 0;
        for (const auto& [prefix, digest] : s_.auth.EnvKeys()) {
            ++i;
            a.push_back(json::object{{"id", "env-" + std::to_string(i)},
                                     {"name", "ADMIN_API_KEYS #" + std::to_string(i)},
                                     {"prefix", prefix},
                                     {"source", "env"},
                                     {"active", true},
                                     {"created_at", nullptr},
                                     {"current", digest == presented_}});
        }
        const bool env = s_.auth.HasEnvKeys();
        auto rows = s_.db.Read([](Session& s) { return storage::ListAdminKeys(s); });
        for (const auto& r : rows) {
            a.push_back(AdminKeyJson(r, !(env && r.name == storage::kGeneratedAdminKeyName)));
        }
        return Json(200, json::object{{"data", std::move(a)}});
    }

    json::object AdminKeyJson(const storage::AdminKeyRow& r, bool active) const {
        return {{"id", r.id},
                {"name", r.name},
                {"prefix", r.prefix},
                {"source", "database"},
                {"active", active},
                {"created_at", FormatTime(r.created_at)},
                {"current", IsCurrent(r.hash)}};
    }

    Reply CreateAdminKey(const json::object& body) {
        Fields f(body);
        f.RejectUnknown({"name"});
        std::string name = f.String("name").value_or("");
        if (name.empty() || name.size() > 64 || !IsName(name, 64, "._-@ ")) {
            Invalid("name", "required: 1-64 characters of A-Z a-z 0-9 . _ - @ and space");
        }
        if (name == storage::kGeneratedAdminKeyName) {
            Invalid("name", "is reserved");
        }
        std::string plaintext = auth::GenerateKey("clv_admin_");
        storage::AdminKeyRow row{auth::GenerateId("adm_"), name, plaintext.substr(0, 14), auth::Sha256Hex(plaintext),
                                 storage::NowMs()};
        s_.db.Write([&](Session& s) {
            storage::InsertAdminKey(s, row.id, row.name, row.prefix, row.hash, row.created_at);
            storage::AppendAudit(s, actor_, "create", "admin_key", row.id,
                                 json::serialize(json::object{{"name", row.name}, {"prefix", row.prefix}}));
        });
        json::object view = AdminKeyJson(row, true);
        view["key"] = plaintext;
        return Json(201, view);
    }

    Reply DeleteAdminKeyRoute(const std::string& id) {
        if (id.rfind("env-", 0) == 0) {
            throw ApiError{400, "invalid_request_error",
                           "this key comes from ADMIN_API_KEYS: remove it there and restart Clove", "id"};
        }
        const bool env = s_.auth.HasEnvKeys();
        s_.db.Write([&](Session& s) {
            auto rows = storage::ListAdminKeys(s);
            auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.id == id; });
            if (it == rows.end()) NotFound("admin key " + id + " not found");
            size_t usable = env ? s_.auth.EnvKeys().size() : 0;
            for (const auto& r : rows) {
                if (r.id != id && !(env && r.name == storage::kGeneratedAdminKeyName)) ++usable;
            }
            if (usable == 0) {
                throw ApiError{409, "invalid_request_error",
                               "cannot delete the last admin key: create another one first", "id"};
            }
            storage::DeleteAdminKey(s, id);
            storage::AppendAudit(s, actor_, "delete", "admin_key", id,
                                 json::serialize(json::object{{"name", it->name}, {"prefix", it->prefix}}));
        });
        return NoContent();
    }

    Reply Audit(const std::map<std::string, std::string>& q) {
        for (const auto& [k, v] : q) {
            if (k != "limit" && k != "cursor") Invalid(Printable(k), "unknown query parameter");
        }
        int limit = LimitParam(q, 50, 1000);
        auto before = CursorParam(q);
        auto rows = s_.db.Read([&](Session& s) { return storage::ListAudit(s, limit + 1, before); });
        const bool more = static_cast<int>(rows.size()) > limit;
        if (more) {
            rows.pop_back();
        }
        json::array a;
        for (const auto& r : rows) {
            boost::system::error_code ec;
            auto detail = json::parse(r.detail, ec);
            a.push_back(json::object{{"id", r.id},
                                     {"time", FormatTime(r.ts)},
                                     {"actor", r.actor},
                                     {"action", r.action},
                                     {"resource", r.resource},
                                     {"resource_id", r.resource_id.empty() ? json::value(nullptr) : json::value(r.resource_id)},
                                     {"detail", ec ? json::value(json::object{}) : detail}});
        }
        json::value next = nullptr;
        if (more && !rows.empty()) {
            next = std::to_string(rows.back().id);
        }
        return Json(200, json::object{{"data", std::move(a)}, {"next_cursor", next}});
    }

    Services& s_;
    std::string actor_;
    proxy::KeyDigest presented_{};  ///< digest of the admin key of this request ("current" key)
};

std::vector<std::string> SplitSegments(std::string_view rest) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= rest.size()) {
        size_t slash = rest.find('/', start);
        if (slash == std::string_view::npos) {
            slash = rest.size();
        }
        if (slash > start) {
            out.emplace_back(rest.substr(start, slash - start));
        }
        start = slash + 1;
    }
    return out;
}

/// `GET {base_url}/v1/models?limit=1` with the credential: proves the key works without
/// spending tokens. Runs on the worker's io_context.
asio::awaitable<json::object> TestCredential(asio::io_context& ioc, upstream::SharedTlsContext& tls,
                                             const std::string& base_url, const std::string& key,
                                             std::chrono::milliseconds timeout, const std::string& proxy,
                                             bool openai) {
    auto peer = upstream::ParseBaseUrl(base_url);
    if (peer && !upstream::SetProxy(*peer, proxy)) {
        peer.reset();
    }
    if (!peer) {
        co_return json::object{{"ok", false}, {"status", nullptr}, {"message", "invalid base_url"}};
    }
    routing::ProbeResult r =
        co_await routing::Probe(ioc, tls, *peer, key, timeout, routing::ProbeKind::kModels, std::string(), openai);
    co_return json::object{{"ok", r.ok},
                           {"status", r.status ? json::value(r.status) : json::value(nullptr)},
                           {"latency_ms", r.latency_ms},
                           {"message", r.message}};
}

asio::awaitable<bool> WriteReply(http::Exchange& ex, const Reply& r, std::string_view request_id, bool head_only) {
    std::string head;
    http::HeadBuilder h(head);
    h.Status(r.status);
    if (r.status != 204) {
        h.Header("content-type", r.content_type);
        h.Header("content-length", static_cast<uint64_t>(r.body.size()));
    }
    h.Header("cache-control", "no-store");
    h.Header("x-content-type-options", "nosniff");
    h.Header("request-id", request_id);
    head += r.headers;
    ex.AppendConnectionHeader(head);
    h.End();
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head),
                                           asio::buffer(r.body.data(), head_only || r.status == 204 ? 0 : r.body.size())};
    co_return co_await ex.Write(bufs);
}

Reply ErrorReply(const ApiError& e, std::string_view request_id) {
    json::object err{{"type", e.type}, {"message", e.message}};
    if (!e.field.empty()) {
        err["field"] = e.field;
    }
    return Json(e.status, json::object{{"type", "error"}, {"error", std::move(err)}, {"request_id", request_id}});
}

}  // namespace

asio::awaitable<void> AdminApi::Handle(http::Exchange& ex, asio::io_context& ioc, upstream::SharedTlsContext& tls) {
    static thread_local base::RequestIdGenerator ids;
    const std::string request_id = ids.Next();
    const auto method = ex.request.method();
    std::string address;
    {
        boost::system::error_code ec;
        auto ep = ex.stream().socket().remote_endpoint(ec);
        address = "unknown";
        if (!ec) {
            address = ep.address().to_string();
        }
    }
    Reply reply;
    try {
        if (int wait = s_.auth.BlockedFor(address)) {
            reply = ErrorReply({429, "rate_limit_error", "too many failed admin logins from this address; retry later", {}},
                               request_id);
            reply.headers = "retry-after: " + std::to_string(wait) + "\r\n";
        } else {
            std::string_view presented = proxy::PresentedKey(ex.request);
            if (presented.empty()) {
                throw ApiError{401, "authentication_error",
                               "admin key required: send it as Authorization: Bearer <key> or x-api-key", {}};
            }
            if (!s_.auth.Check(presented)) {
                s_.auth.Failure(address);
                if (s_.snapshots.Load()->Authenticate(presented)) {
                    throw ApiError{403, "permission_error", "client keys cannot use the admin API", {}};
                }
                throw ApiError{401, "authentication_error", "invalid admin key", {}};
            }
            const std::string actor = "admin:" + auth::DisplayPrefix(presented);
            if (ex.path == "/metrics") {
                if (method != boost::beast::http::verb::get && method != boost::beast::http::verb::head) {
                    throw ApiError{405, "invalid_request_error", "method not allowed; use GET", {}};
                }
                auto snap = s_.snapshots.Load();
                metrics::Gauges g;
                g.in_flight = s_.in_flight.load();
                g.usage_queue_depth = static_cast<int64_t>(s_.usage.queue_depth());
                g.usage_spooled = static_cast<int64_t>(s_.usage.spooled());
                g.usage_written = static_cast<int64_t>(s_.usage.written());
                g.usage_batch = s_.usage.batch_latency();
                g.credentials = {{"valid", static_cast<int64_t>(snap->credentials_valid)},
                                 {"invalid", static_cast<int64_t>(snap->credentials_invalid)},
                                 {"disabled", static_cast<int64_t>(snap->credentials_disabled)},
                                 {"cooling_down", static_cast<int64_t>(snap->credentials_cooling)}};
                if (s_.health) {
                    LiveCredentialMetrics(*snap, *s_.health, g);
                }
                if (s_.cache_stats) {
                    CacheMetrics(*snap, *s_.cache_stats, g.extra);
                }
                reply = {200, s_.metrics.Render(g), "text/plain; version=0.0.4; charset=utf-8", ""};
            } else {
                auto segs = SplitSegments(ex.path.substr(std::string_view("/admin/api").size()));
                if (segs.size() == 3 && segs[0] == "credentials" && segs[2] == "test" && ValidId(segs[1])) {
                    if (method != boost::beast::http::verb::post) {
                        throw ApiError{405, "invalid_request_error", "method not allowed; use POST", {}};
                    }
                    // Load the credential and its upstream off the I/O thread, call upstream here.
                    // (Named lambdas: GCC 12 destroys lambda temporaries of a co_await
                    // full-expression twice.)
                    const std::string id = segs[1];
                    auto load = [this, id] {
                        return s_.db.Read([&](Session& s) {
                            auto c = storage::GetCredential(s, id);
                            if (!c) NotFound("credential " + id + " not found");
                            auto u = storage::GetUpstream(s, c->upstream_id);
                            if (!u) NotFound("upstream of credential " + id + " not found");
                            auto key = s_.box.Open(c->sealed, c->id);
                            if (!key) {
                                throw ApiError{409, "invalid_request_error",
                                               "the stored key cannot be decrypted (wrong CLOVE_SECRET_KEY?)", {}};
                            }
                            return std::make_tuple(u->cfg.base_url, u->cfg.connect_timeout_ms, *key, u->cfg.proxy_url,
                                                   u->cfg.kind == config::UpstreamKind::kOpenAI);
                        });
                    };
                    auto target = co_await Blocking(s_.blocking, std::move(load));
                    const std::string base_url = std::get<0>(target);
                    const auto timeout = std::chrono::milliseconds(std::min<uint32_t>(std::get<1>(target) + 20'000, 30'000));
                    std::string proxy = s_.snapshots.Load()->settings.outbound_proxy.value_or("");
                    if (const auto& own = std::get<3>(target)) {
                        proxy = *own == "direct" ? std::string() : *own;
                    }
                    json::object result =
                        co_await TestCredential(ioc, tls, base_url, std::get<2>(target), timeout, proxy,
                                                std::get<4>(target));
                    std::fill(std::get<2>(target).begin(), std::get<2>(target).end(), '\0');
                    auto save = [this, id, actor, result] {
                        const bool ok = result.at("ok").as_bool();
                        const auto status = result.at("status").is_int64() ? result.at("status").as_int64() : 0;
                        s_.db.Write([&](Session& s) {
                            auto c = storage::GetCredential(s, id);
                            if (!c) return;
                            if (status == 401 || status == 403) {
                                c->state = "invalid";
                                c->last_error = std::string(result.at("message").as_string());
                                if (s_.health) {
                                    s_.health->MarkInvalid(id, *c->last_error);
                                }
                            } else if (ok) {
                                auto live = s_.health ? s_.health->Find(id) : nullptr;
                                if (c->state == "invalid" || (live && live->health() == routing::Health::kInvalid)) {
                                    c->state = "valid";
                                    c->last_error.reset();
                                    if (s_.health) {
                                        s_.health->Reset(id);
                                    }
                                }
                            }
                            storage::UpdateCredential(s, *c);
                            storage::AppendAudit(s, actor, "test", "credential", c->id, json::serialize(result));
                        });
                        s_.Rebuild();
                    };
                    co_await Blocking(s_.blocking, std::move(save));
                    reply = Json(200, result);
                } else {
                    auto job = [this, method, segs, query = std::string(ex.query), body = ex.request.body(), actor,
                                digest = proxy::DigestKey(presented)]() {
                        bool changed = false;
                        Router router(s_, actor, digest);
                        Reply r = router.Dispatch(method, segs, query, body, changed);
                        if (changed && r.status < 300) {
                            s_.Rebuild();
                        }
                        return r;
                    };
                    reply = co_await Blocking(s_.blocking, std::move(job));
                }
            }
        }
    } catch (const ApiError& e) {
        reply = ErrorReply(e, request_id);
    } catch (const storage::DbError& e) {
        if (e.constraint()) {
            reply = ErrorReply({409, "invalid_request_error", "the change conflicts with existing data", {}}, request_id);
        } else if (e.unavailable()) {
            log::warn("admin {} {}: database unavailable: {}", std::string(ex.request.method_string()),
                      std::string(ex.path), e.what());
            reply = ErrorReply({503, "api_error", "the database is unavailable; try again shortly", {}}, request_id);
            reply.headers = "retry-after: 2\r\n";
        } else {
            log::error("admin {} {}: {}", std::string(ex.request.method_string()), std::string(ex.path), e.what());
            reply = ErrorReply({500, "api_error", "internal error (see the server log, request " + request_id + ")", {}},
                               request_id);
        }
    } catch (const std::exception& e) {
        log::error("admin {} {}: {}", std::string(ex.request.method_string()), std::string(ex.path), e.what());
        reply = ErrorReply({500, "api_error", "internal error (see the server log, request " + request_id + ")", {}},
                           request_id);
    }
    log::info("admin {} {} {} {}", std::string(ex.request.method_string()), std::string(ex.path), reply.status,
              request_id);
    co_await WriteReply(ex, reply, request_id, method == boost::beast::http::verb::head);
}

}  // namespace clove::admin
