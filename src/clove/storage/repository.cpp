#include "clove/storage/repository.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <bit>
#include <chrono>
#include <map>
#include <tuple>

namespace clove::storage {

namespace json = boost::json;

int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

namespace {

Value V(const std::string& s) { return Value{s}; }
Value V(int64_t v) { return Value{v}; }
Value V(bool b) { return Value{int64_t{b ? 1 : 0}}; }
Value V(const std::optional<int64_t>& v) { return v ? Value{*v} : Value{}; }
Value V(const std::optional<std::string>& v) { return v ? Value{*v} : Value{}; }
Value Opt(const std::string& s) { return s.empty() ? Value{} : Value{s}; }
/// Views for strings that outlive the statement (no copy per bound parameter).
Value View(const std::string& s) { return Value{std::string_view(s)}; }
Value OptView(const std::string& s) { return s.empty() ? Value{} : Value{std::string_view(s)}; }

std::string StringsToJson(const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v) {
        a.emplace_back(s);
    }
    return json::serialize(a);
}

std::vector<std::string> StringsFromJson(const std::string& text) {
    std::vector<std::string> out;
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (!ec && v.is_array()) {
        for (const auto& e : v.as_array()) {
            if (e.is_string()) {
                out.emplace_back(e.as_string());
            }
        }
    }
    return out;
}

std::string MapToJson(const std::map<std::string, std::string>& m) {
    json::object o;
    for (const auto& [k, v] : m) {
        o[k] = v;
    }
    return json::serialize(o);
}

std::map<std::string, std::string> MapFromJson(const std::string& text) {
    std::map<std::string, std::string> out;
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (!ec && v.is_object()) {
        for (const auto& [k, e] : v.as_object()) {
            if (e.is_string()) {
                out.emplace(std::string(k), std::string(e.as_string()));
            }
        }
    }
    return out;
}

json::value OptInt(const std::optional<int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }

std::string LimitsToJson(const config::Limits& l) {
    json::object o;
    auto opt_d = [](const std::optional<double>& d) { return d ? json::value(*d) : json::value(nullptr); };
    o["rpm"] = OptInt(l.rpm);
    o["tpm"] = OptInt(l.tpm);
    o["input_tpm"] = OptInt(l.input_tpm);
    o["output_tpm"] = OptInt(l.output_tpm);
    o["concurrency"] = OptInt(l.concurrency);
    o["daily_budget_usd"] = opt_d(l.daily_budget_usd);
    o["monthly_budget_usd"] = opt_d(l.monthly_budget_usd);
    o["budget_usd"] = opt_d(l.budget_usd);
    o["budget_period"] = l.budget_period;
    return json::serialize(o);
}

config::Limits LimitsFromValue(const json::value& v) {
    config::Limits l;
    if (!v.is_object()) {
        return l;
    }
    const auto& o = v.as_object();
    auto geti = [&](const char* k) -> std::optional<int64_t> {
        auto* p = o.if_contains(k);
        if (p && p->is_int64()) {
            return p->as_int64();
        }
        if (p && p->is_uint64()) {
            return static_cast<int64_t>(p->as_uint64());
        }
        return std::nullopt;
    };
    l.rpm = geti("rpm");
    l.tpm = geti("tpm");
    l.input_tpm = geti("input_tpm");
    l.output_tpm = geti("output_tpm");
    l.concurrency = geti("concurrency");
    auto getd = [&](const char* k) -> std::optional<double> {
        if (auto* p = o.if_contains(k); p && p->is_number()) {
            return p->to_number<double>();
        }
        return std::nullopt;
    };
    l.budget_usd = getd("budget_usd");
    l.daily_budget_usd = getd("daily_budget_usd");
    l.monthly_budget_usd = getd("monthly_budget_usd");
    if (auto* p = o.if_contains("budget_period"); p && p->is_string()) {
        l.budget_period = std::string(p->as_string());
    }
    return l;
}

config::Limits LimitsFromJson(const std::string& text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    return ec ? config::Limits{} : LimitsFromValue(v);
}

}  // namespace

json::object OpenAIOptionsToJson(const config::OpenAIOptions& o) {
    return json::object{{"tools", o.tools},
                        {"tool_emulation", o.tool_emulation},
                        {"images", o.images},
                        {"reasoning_field", o.reasoning_field},
                        {"reasoning_control", o.reasoning_control},
                        {"replay_reasoning", o.replay_reasoning},
                        {"max_stop", o.max_stop},
                        {"max_tokens_field", o.max_tokens_field},
                        {"send_top_k", o.send_top_k},
                        {"tokenize", o.tokenize},
                        {"system_anywhere", o.system_anywhere},
                        {"stream_usage", o.stream_usage},
                        {"token_factor", o.token_factor},
                        {"think_tags", o.think_tags},
                        {"continue_final_message", o.continue_final_message}};
}

bool ApplyOpenAIOptionsJson(const json::object& in, config::OpenAIOptions& o, std::string& field, std::string& message) {
    config::OpenAIOptions next = o;
    for (const auto& [k, v] : in) {
        auto boolean = [&](bool& out) {
            if (!v.is_bool()) {
                message = "must be true or false";
                return false;
            }
            out = v.as_bool();
            return true;
        };
        auto string = [&](std::string& out) {
            if (!v.is_string()) {
                message = "must be a string";
                return false;
            }
            out = std::string(v.as_string());
            return true;
        };
        bool ok = true;
        field = std::string(k);
        if (k == "tools") ok = boolean(next.tools);
        else if (k == "tool_emulation") ok = boolean(next.tool_emulation);
        else if (k == "images") ok = boolean(next.images);
        else if (k == "reasoning_field") ok = string(next.reasoning_field);
        else if (k == "reasoning_control") ok = string(next.reasoning_control);
        else if (k == "replay_reasoning") ok = boolean(next.replay_reasoning);
        else if (k == "max_tokens_field") ok = string(next.max_tokens_field);
        else if (k == "send_top_k") ok = boolean(next.send_top_k);
        else if (k == "tokenize") ok = string(next.tokenize);
        else if (k == "system_anywhere") ok = boolean(next.system_anywhere);
        else if (k == "stream_usage") ok = boolean(next.stream_usage);
        else if (k == "think_tags") ok = boolean(next.think_tags);
        else if (k == "continue_final_message") ok = boolean(next.continue_final_message);
        else if (k == "max_stop") {
            if (!v.is_int64() || v.as_int64() < 0 || v.as_int64() > 64) {
                message = "must be an integer between 0 and 64";
                ok = false;
            } else {
                next.max_stop = static_cast<int>(v.as_int64());
            }
        } else if (k == "token_factor") {
            if (!v.is_number()) {
                message = "must be a number";
                ok = false;
            } else {
                next.token_factor = v.to_number<double>();
            }
        } else {
            message = "unknown field";
            ok = false;
        }
        if (!ok) {
            return false;
        }
    }
    if (auto bad = config::ValidateOpenAIOptions(next)) {
        field = bad->first;
        message = bad->second;
        return false;
    }
    o = next;
    field.clear();
    return true;
}

namespace {

constexpr const char* kUpstreamCols =
    "id, name, kind, base_url, auth, models, model_map, priority, weight, enabled, connect_timeout_ms, "
    "first_byte_timeout_ms, stream_idle_timeout_ms, created_at, updated_at, credential_concurrency, proxy_url, health_check, health_check_interval_ms, options";

UpstreamRow ToUpstream(const Row& r) {
    UpstreamRow u;
    u.id = r.Text(0);
    u.cfg.name = r.Text(1);
    u.cfg.kind = r.Text(2) == "openai" ? config::UpstreamKind::kOpenAI : config::UpstreamKind::kAnthropic;
    u.cfg.base_url = r.Text(3);
    u.cfg.auth = r.Text(4) == "passthrough" ? config::UpstreamAuth::kPassthrough : config::UpstreamAuth::kKey;
    u.cfg.models = StringsFromJson(r.Text(5));
    u.cfg.model_map = MapFromJson(r.Text(6));
    u.priority = static_cast<int>(r.Int(7));
    u.weight = static_cast<int>(r.Int(8));
    u.enabled = r.Int(9) != 0;
    u.cfg.connect_timeout_ms = static_cast<uint32_t>(r.Int(10));
    u.cfg.first_byte_timeout_ms = static_cast<uint32_t>(r.Int(11));
    u.cfg.stream_idle_timeout_ms = static_cast<uint32_t>(r.Int(12));
    u.created_at = r.Int(13);
    u.updated_at = r.Int(14);
    u.credential_concurrency = r.Int(15);
    u.cfg.proxy_url = r.OptText(16);
    u.cfg.health_check = r.Text(17).empty() ? "off" : r.Text(17);
    u.cfg.health_check_interval_ms = static_cast<uint32_t>(r.Int(18));
    if (u.cfg.kind == config::UpstreamKind::kOpenAI) {
        boost::system::error_code ec;
        auto v = json::parse(r.Text(19), ec);
        std::string field, message;
        if (!ec && v.is_object()) {
            ApplyOpenAIOptionsJson(v.as_object(), u.cfg.openai, field, message);
        }
    }
    return u;
}

std::vector<Value> UpstreamParams(const UpstreamRow& u) {
    return {V(u.id),
            V(u.cfg.name),
            V(std::string(config::UpstreamKindName(u.cfg.kind))),
            V(u.cfg.base_url),
            V(std::string(u.cfg.auth == config::UpstreamAuth::kPassthrough ? "passthrough" : "key")),
            V(StringsToJson(u.cfg.models)),
            V(MapToJson(u.cfg.model_map)),
            V(int64_t{u.priority}),
            V(int64_t{u.weight}),
            V(u.enabled),
            V(int64_t{u.cfg.connect_timeout_ms}),
            V(int64_t{u.cfg.first_byte_timeout_ms}),
            V(int64_t{u.cfg.stream_idle_timeout_ms}),
            V(u.created_at),
            V(u.updated_at),
            V(u.credential_concurrency),
            V(u.cfg.proxy_url),
            V(u.cfg.health_check),
            V(int64_t{u.cfg.health_check_interval_ms}),
            V(u.cfg.kind == config::UpstreamKind::kOpenAI ? json::serialize(OpenAIOptionsToJson(u.cfg.openai))
                                                          : std::string("{}"))};
}

constexpr const char* kCredentialCols =
    "id, upstream_id, label, secret, fingerprint, hint, enabled, state, last_error, cooldown_until, created_at, "
    "last_used_at";

CredentialRow ToCredential(const Row& r) {
    CredentialRow c;
    c.id = r.Text(0);
    c.upstream_id = r.Text(1);
    c.label = r.Text(2);
    c.sealed = r.Text(3);
    c.fingerprint = r.Text(4);
    c.hint = r.Text(5);
    c.enabled = r.Int(6) != 0;
    c.state = r.Text(7);
    if (!r.Null(8)) {
        c.last_error = r.Text(8);
    }
    c.cooldown_until = r.OptInt(9);
    c.created_at = r.Int(10);
    c.last_used_at = r.OptInt(11);
    return c;
}

constexpr const char* kKeyCols =
    "id, name, prefix, hash, enabled, created_at, last_used_at, expires_at, allowed_models, limits";

ClientKeyRow ToKey(const Row& r) {
    ClientKeyRow k;
    k.id = r.Text(0);
    k.name = r.Text(1);
    k.prefix = r.Text(2);
    k.hash = r.Text(3);
    k.enabled = r.Int(4) != 0;
    k.created_at = r.Int(5);
    k.last_used_at = r.OptInt(6);
    k.expires_at = r.OptInt(7);
    k.allowed_models = StringsFromJson(r.Text(8));
    k.limits = LimitsFromJson(r.Text(9));
    return k;
}

}  // namespace

// ---- upstreams ----

std::vector<UpstreamRow> ListUpstreams(Session& s) {
    std::vector<UpstreamRow> out;
    for (const auto& r : s.Query(std::string("SELECT ") + kUpstreamCols + " FROM upstreams ORDER BY priority DESC, name", {})) {
        out.push_back(ToUpstream(r));
    }
    return out;
}

std::optional<UpstreamRow> GetUpstream(Session& s, const std::string& id) {
    auto rows = s.Query(std::string("SELECT ") + kUpstreamCols + " FROM upstreams WHERE id = ?", {V(id)});
    if (rows.empty()) {
        return std::nullopt;
    }
    return ToUpstream(rows[0]);
}

std::optional<UpstreamRow> FindUpstreamByName(Session& s, const std::string& name) {
    auto rows = s.Query(std::string("SELECT ") + kUpstreamCols + " FROM upstreams WHERE name = ?", {V(name)});
    if (rows.empty()) {
        return std::nullopt;
    }
    return ToUpstream(rows[0]);
}

void InsertUpstream(Session& s, const UpstreamRow& u) {
    auto p = UpstreamParams(u);
    s.Exec(std::string("INSERT INTO upstreams (") + kUpstreamCols + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", p);
}

bool UpdateUpstream(Session& s, const UpstreamRow& u) {
    auto p = UpstreamParams(u);
    // id goes last for the WHERE; created_at is never changed.
    std::vector<Value> q(p.begin() + 1, p.begin() + 13);
    q.push_back(V(u.updated_at));
    q.push_back(V(u.credential_concurrency));
    q.push_back(V(u.cfg.proxy_url));
    q.push_back(V(u.cfg.health_check));
    q.push_back(V(int64_t{u.cfg.health_check_interval_ms}));
    q.push_back(p[19]);
    q.push_back(V(u.id));
    return s.Exec(
               "UPDATE upstreams SET name = ?, kind = ?, base_url = ?, auth = ?, models = ?, model_map = ?, priority = ?, "
               "weight = ?, enabled = ?, connect_timeout_ms = ?, first_byte_timeout_ms = ?, stream_idle_timeout_ms = ?, "
               "updated_at = ?, credential_concurrency = ?, proxy_url = ?, health_check = ?, health_check_interval_ms = ?, "
               "options = ? WHERE id = ?",
               q) > 0;
}

std::vector<KeySpend> SpendByKey(Session& s, int64_t day_start, int64_t month_start) {
    std::vector<KeySpend> out;
    for (const auto& r : s.Query("SELECT key_id, SUM(CASE WHEN ts >= ? THEN cost_nanousd ELSE 0 END), "
                                 "SUM(CASE WHEN ts >= ? THEN cost_nanousd ELSE 0 END), SUM(cost_nanousd) "
                                 "FROM usage WHERE key_id <> '' GROUP BY key_id",
                                 {V(day_start), V(month_start)})) {
        out.push_back({r.Text(0), r.Int(1), r.Int(2), r.Int(3)});
    }
    return out;
}

bool UpdateCredentialState(Session& s, const std::string& id, const std::string& state,
                           const std::optional<std::string>& last_error, const std::optional<int64_t>& cooldown_until) {
    return s.Exec("UPDATE credentials SET state = ?, last_error = ?, cooldown_until = ? WHERE id = ?",
                  {V(state), V(last_error), V(cooldown_until), V(id)}) > 0;
}

bool DeleteUpstream(Session& s, const std::string& id) {
    s.Exec("DELETE FROM credentials WHERE upstream_id = ?", {V(id)});
    return s.Exec("DELETE FROM upstreams WHERE id = ?", {V(id)}) > 0;
}

// ---- credentials ----

std::vector<CredentialRow> ListCredentials(Session& s, const std::optional<std::string>& upstream_id) {
    std::vector<CredentialRow> out;
    std::vector<Row> rows;
    if (upstream_id) {
        rows = s.Query(std::string("SELECT ") + kCredentialCols +
                           " FROM credentials WHERE upstream_id = ? ORDER BY created_at, id",
                       {V(*upstream_id)});
    } else {
        rows = s.Query(std::string("SELECT ") + kCredentialCols + " FROM credentials ORDER BY created_at, id", {});
    }
    for (const auto& r : rows) {
        out.push_back(ToCredential(r));
    }
    return out;
}

std::optional<CredentialRow> GetCredential(Session& s, const std::string& id) {
    auto rows = s.Query(std::string("SELECT ") + kCredentialCols + " FROM credentials WHERE id = ?", {V(id)});
    if (rows.empty()) {
        return std::nullopt;
    }
    return ToCredential(rows[0]);
}

std::optional<CredentialRow> FindCredentialByFingerprint(Session& s, const std::string& upstream_id,
                                                         const std::string& fingerprint) {
    auto rows = s.Query(std::string("SELECT ") + kCredentialCols +
                            " FROM credentials WHERE upstream_id = ? AND fingerprint = ?",
                        {V(upstream_id), V(fingerprint)});
    if (rows.empty()) {
        return std::nullopt;
    }
    return ToCredential(rows[0]);
}

void InsertCredential(Session& s, const CredentialRow& c) {
    s.Exec(std::string("INSERT INTO credentials (") + kCredentialCols + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
           {V(c.id), V(c.upstream_id), V(c.label), V(c.sealed), V(c.fingerprint), V(c.hint), V(c.enabled), V(c.state),
            V(c.last_error), V(c.cooldown_until), V(c.created_at), V(c.last_used_at)});
}

bool UpdateCredential(Session& s, const CredentialRow& c) {
    return s.Exec("UPDATE credentials SET label = ?, enabled = ?, state = ?, last_error = ?, cooldown_until = ? "
                  "WHERE id = ?",
                  {V(c.label), V(c.enabled), V(c.state), V(c.last_error), V(c.cooldown_until), V(c.id)}) > 0;
}

bool DeleteCredential(Session& s, const std::string& id) {
    return s.Exec("DELETE FROM credentials WHERE id = ?", {V(id)}) > 0;
}

// ---- client keys ----

std::vector<ClientKeyRow> ListClientKeys(Session& s) {
    std::vector<ClientKeyRow> out;
    for (const auto& r : s.Query(std::string("SELECT ") + kKeyCols + " FROM client_keys ORDER BY created_at, name", {})) {
        out.push_back(ToKey(r));
    }
    return out;
}

std::optional<ClientKeyRow> GetClientKey(Session& s, const std::string& id) {
    auto rows = s.Query(std::string("SELECT ") + kKeyCols + " FROM client_keys WHERE id = ?", {V(id)});
    if (rows.empty()) {
        return std::nullopt;
    }
    return ToKey(rows[0]);
}

std::optional<ClientKeyRow> FindClientKeyByName(Session& s, const std::string& name) {
    auto rows = s.Query(std::string("SELECT ") + kKeyCols + " FROM client_keys WHERE name = ?", {V(name)});
    if (rows.empty()) {
        return std::nullopt;
    }
    return ToKey(rows[0]);
}

void InsertClientKey(Session& s, const ClientKeyRow& k) {
    s.Exec(std::string("INSERT INTO client_keys (") + kKeyCols + ") VALUES (?,?,?,?,?,?,?,?,?,?)",
           {V(k.id), V(k.name), V(k.prefix), V(k.hash), V(k.enabled), V(k.created_at), V(k.last_used_at),
            V(k.expires_at), V(StringsToJson(k.allowed_models)), V(LimitsToJson(k.limits))});
}

bool UpdateClientKey(Session& s, const ClientKeyRow& k) {
    return s.Exec("UPDATE client_keys SET name = ?, enabled = ?, expires_at = ?, allowed_models = ?, limits = ? "
                  "WHERE id = ?",
                  {V(k.name), V(k.enabled), V(k.expires_at), V(StringsToJson(k.allowed_models)),
                   V(LimitsToJson(k.limits)), V(k.id)}) > 0;
}

bool DeleteClientKey(Session& s, const std::string& id) {
    return s.Exec("DELETE FROM client_keys WHERE id = ?", {V(id)}) > 0;
}

// ---- admin keys ----

int64_t CountAdminKeys(Session& s) { return s.Query("SELECT COUNT(*) FROM admin_keys", {}).at(0).Int(0); }

std::vector<std::string> AdminKeyHashes(Session& s) {
    std::vector<std::string> out;
    for (const auto& r : s.Query("SELECT hash FROM admin_keys", {})) {
        out.push_back(r.Text(0));
    }
    return out;
}

void InsertAdminKey(Session& s, const std::string& id, const std::string& name, const std::string& prefix,
                    const std::string& hash, int64_t created_at) {
    s.Exec("INSERT INTO admin_keys (id, name, prefix, hash, created_at) VALUES (?,?,?,?,?)",
           {V(id), V(name), V(prefix), V(hash), V(created_at ? created_at : NowMs())});
}

std::vector<AdminKeyRow> ListAdminKeys(Session& s) {
    std::vector<AdminKeyRow> out;
    for (const auto& r : s.Query("SELECT id, name, prefix, hash, created_at FROM admin_keys ORDER BY created_at, id", {})) {
        out.push_back({r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4)});
    }
    return out;
}

bool DeleteAdminKey(Session& s, const std::string& id) {
    return s.Exec("DELETE FROM admin_keys WHERE id = ?", {V(id)}) > 0;
}

// ---- settings, prices, meta ----

std::optional<std::string> GetMeta(Session& s, const std::string& name) {
    auto rows = s.Query("SELECT value FROM settings WHERE name = ?", {V(name)});
    if (rows.empty()) {
        return std::nullopt;
    }
    return rows[0].Text(0);
}

void SetMeta(Session& s, const std::string& name, const std::string& value) {
    s.Exec("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
           {V(name), V(value)});
}

config::Settings LoadSettings(Session& s) {
    config::Settings st;
    auto text = GetMeta(s, "runtime_settings");
    if (!text) {
        return st;
    }
    boost::system::error_code ec;
    auto v = json::parse(*text, ec);
    if (ec || !v.is_object()) {
        return st;
    }
    const auto& o = v.as_object();
    if (auto* p = o.if_contains("log_level"); p && p->is_string()) {
        st.log_level = std::string(p->as_string());
    }
    if (auto* p = o.if_contains("outbound_proxy"); p && p->is_string()) {
        st.outbound_proxy = std::string(p->as_string());
    }
    auto getu = [&](const char* k, uint32_t& out) {
        if (auto* p = o.if_contains(k); p && p->is_number()) {
            out = static_cast<uint32_t>(p->to_number<double>());
        }
    };
    getu("connect_timeout_ms", st.connect_timeout_ms);
    getu("first_byte_timeout_ms", st.first_byte_timeout_ms);
    getu("stream_idle_timeout_ms", st.stream_idle_timeout_ms);
    getu("failover_deadline_ms", st.failover_deadline_ms);
    getu("cooldown_fallback_ms", st.cooldown_fallback_ms);
    getu("failure_cooldown_ms", st.failure_cooldown_ms);
    getu("sticky_ttl_ms", st.sticky_ttl_ms);
    getu("first_byte_keepalive_ms", st.first_byte_keepalive_ms);
    getu("keepalive_interval_ms", st.keepalive_interval_ms);
    getu("queue_timeout_ms", st.queue_timeout_ms);
    if (auto* p = o.if_contains("max_attempts"); p && p->is_number()) {
        st.max_attempts = static_cast<int>(p->to_number<double>());
    }
    if (auto* p = o.if_contains("failure_threshold"); p && p->is_number()) {
        st.failure_threshold = static_cast<int>(p->to_number<double>());
    }
    if (auto* p = o.if_contains("usage_retention_days"); p && p->is_number()) {
        st.usage_retention_days = static_cast<int>(p->to_number<double>());
    }
    if (auto* p = o.if_contains("default_limits")) {
        st.default_limits = LimitsFromValue(*p);
    }
    return st;
}

void SaveSettings(Session& s, const config::Settings& st) {
    json::object o;
    o["log_level"] = st.log_level;
    o["outbound_proxy"] = st.outbound_proxy ? json::value(*st.outbound_proxy) : json::value(nullptr);
    o["connect_timeout_ms"] = st.connect_timeout_ms;
    o["first_byte_timeout_ms"] = st.first_byte_timeout_ms;
    o["stream_idle_timeout_ms"] = st.stream_idle_timeout_ms;
    o["usage_retention_days"] = st.usage_retention_days;
    o["max_attempts"] = st.max_attempts;
    o["failover_deadline_ms"] = st.failover_deadline_ms;
    o["cooldown_fallback_ms"] = st.cooldown_fallback_ms;
    o["failure_threshold"] = st.failure_threshold;
    o["failure_cooldown_ms"] = st.failure_cooldown_ms;
    o["sticky_ttl_ms"] = st.sticky_ttl_ms;
    o["first_byte_keepalive_ms"] = st.first_byte_keepalive_ms;
    o["keepalive_interval_ms"] = st.keepalive_interval_ms;
    o["queue_timeout_ms"] = st.queue_timeout_ms;
    o["default_limits"] = json::parse(LimitsToJson(st.default_limits));
    SetMeta(s, "runtime_settings", json::serialize(o));
}

std::vector<config::PriceSpec> ListPriceOverrides(Session& s) {
    std::vector<config::PriceSpec> out;
    for (const auto& r :
         s.Query("SELECT model, input, output, cache_write_5m, cache_write_1h, cache_read FROM prices ORDER BY model", {})) {
        out.push_back({r.Text(0), r.Real(1), r.Real(2), r.Real(3), r.Real(4), r.Real(5)});
    }
    return out;
}

void UpsertPrice(Session& s, const config::PriceSpec& p) {
    s.Exec("INSERT INTO prices (model, input, output, cache_write_5m, cache_write_1h, cache_read, updated_at) "
           "VALUES (?,?,?,?,?,?,?) ON CONFLICT (model) DO UPDATE SET input = excluded.input, output = excluded.output, "
           "cache_write_5m = excluded.cache_write_5m, cache_write_1h = excluded.cache_write_1h, "
           "cache_read = excluded.cache_read, updated_at = excluded.updated_at",
           {V(p.model), Value{p.input}, Value{p.output}, Value{p.cache_write_5m}, Value{p.cache_write_1h},
            Value{p.cache_read}, V(NowMs())});
}

bool DeletePrice(Session& s, const std::string& model) {
    return s.Exec("DELETE FROM prices WHERE model = ?", {V(model)}) > 0;
}

// ---- audit ----

void AppendAudit(Session& s, const std::string& actor, const std::string& action, const std::string& resource,
                 const std::string& resource_id, const std::string& detail_json) {
    s.Exec("INSERT INTO audit (ts, actor, action, resource, resource_id, detail) VALUES (?,?,?,?,?,?)",
           {V(NowMs()), V(actor), V(action), V(resource), Opt(resource_id), V(detail_json)});
}

std::vector<AuditRow> ListAudit(Session& s, int limit, std::optional<int64_t> before_id) {
    std::vector<Row> rows;
    if (before_id) {
        rows = s.Query("SELECT id, ts, actor, action, resource, resource_id, detail FROM audit WHERE id < ? "
                       "ORDER BY id DESC LIMIT ?",
                       {V(*before_id), V(int64_t{limit})});
    } else {
        rows = s.Query("SELECT id, ts, actor, action, resource, resource_id, detail FROM audit ORDER BY id DESC LIMIT ?",
                       {V(int64_t{limit})});
    }
    std::vector<AuditRow> out;
    for (const auto& r : rows) {
        out.push_back({r.Int(0), r.Int(1), r.Text(2), r.Text(3), r.Text(4), r.Text(5), r.Text(6)});
    }
    return out;
}

// ---- runtime state ----

config::RuntimeState LoadRuntimeState(Session& s, const auth::SecretBox& box) {
    config::RuntimeState st;
    st.settings = LoadSettings(s);
    auto creds = ListCredentials(s, std::nullopt);
    for (auto& u : ListUpstreams(s)) {
        config::UpstreamSpec spec;
        spec.id = u.id;
        spec.config = std::move(u.cfg);
        spec.priority = u.priority;
        spec.weight = u.weight;
        spec.enabled = u.enabled;
        spec.credential_concurrency = u.credential_concurrency;
        for (const auto& c : creds) {
            if (c.upstream_id != spec.id) {
                continue;
            }
            auto plain = box.Open(c.sealed, c.id);
            if (!plain) {
                // Wrong master key or a tampered row: the credential is unusable, never fatal.
                spec.credentials.push_back({c.id, "", false, "invalid", std::string("the stored key cannot be decrypted"), std::nullopt});
                continue;
            }
            spec.credentials.push_back({c.id, std::move(*plain), c.enabled, c.state, c.last_error, c.cooldown_until});
        }
        st.upstreams.push_back(std::move(spec));
    }
    for (auto& k : ListClientKeys(s)) {
        st.client_keys.push_back({k.id, k.name, k.hash, k.enabled, k.expires_at, k.allowed_models, k.limits});
    }
    st.prices = ListPriceOverrides(s);
    return st;
}

// ---- usage ----

size_t InsertUsage(Session& s, std::span<const usage::UsageRecord> records, bool replay) {
    using Key = std::tuple<int64_t, std::string, std::string, std::string, std::string>;
    struct Agg {
        int64_t requests = 0, errors = 0, in = 0, out = 0, cc = 0, cr = 0, cost = 0;
    };
    // Transparent comparators: a batch's records mostly share keys, so look up with views and
    // copy the strings only for a new key (this runs on the usage writer for every record).
    using KeyView = std::tuple<int64_t, std::string_view, std::string_view, std::string_view, std::string_view>;
    std::map<Key, Agg, std::less<>> rollup;
    std::map<std::string, int64_t, std::less<>> key_used, cred_used;
    auto latest = [](std::map<std::string, int64_t, std::less<>>& m, const std::string& id, int64_t ts) {
        auto it = m.find(std::string_view(id));
        if (it == m.end()) {
            m.emplace(id, ts);
        } else {
            it->second = std::max(it->second, ts);
        }
    };
    size_t inserted = 0;
    // Multi-row INSERTs (up to 64 rows per statement): one round trip per 64 rows on PostgreSQL
    // and less statement overhead on SQLite. Statement sizes are powers of two, so SQLite's
    // statement cache holds all seven texts: preparing a statement of n rows costs ~20k
    // instructions per row (callgrind), and with any remainder size a fresh text was prepared for
    // most batches. A replay checks each record first.
    constexpr size_t kRowsPerInsert = 64;
    constexpr const char* kInsertHead =
        "INSERT INTO usage (request_id, ts, key_id, upstream_id, credential_id, model, upstream_model, status, "
        "error_type, stream, ttfb_ms, duration_ms, input_tokens, output_tokens, cache_creation_tokens, "
        "cache_creation_5m_tokens, cache_creation_1h_tokens, cache_read_tokens, cost_nanousd) VALUES ";
    constexpr const char* kTuple = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    std::vector<const usage::UsageRecord*> fresh;
    fresh.reserve(records.size());
    for (const auto& r : records) {
        if (replay && !s.Query("SELECT 1 FROM usage WHERE ts = ? AND request_id = ?", {V(r.ts_ms), V(r.request_id)})
                           .empty()) {
            continue;  // committed before: the database answered too late to say so
        }
        fresh.push_back(&r);
    }
    std::vector<Value> params;
    std::string sql;
    for (size_t i = 0, n = 0; i < fresh.size(); i += n) {
        const size_t left = fresh.size() - i;
        n = std::bit_floor(std::min(left, kRowsPerInsert));  // 64, or a smaller power of two
        sql = kInsertHead;
        params.clear();
        params.reserve(n * 19);
        for (size_t j = 0; j < n; ++j) {
            const auto& r = *fresh[i + j];
            sql += j ? "," : "";
            sql += kTuple;
            params.insert(params.end(),
                          {View(r.request_id), V(r.ts_ms), OptView(r.key_id), OptView(r.upstream_id),
                           OptView(r.credential_id), OptView(r.model), OptView(r.upstream_model), V(int64_t{r.status}),
                           OptView(r.error_type), V(r.stream),
                           r.ttfb_ms < 0 ? Value{} : Value{r.ttfb_ms}, Value{r.duration_ms}, V(r.input_tokens),
                           V(r.output_tokens), V(r.cache_creation_tokens), V(r.cache_creation_5m_tokens),
                           V(r.cache_creation_1h_tokens), V(r.cache_read_tokens), V(r.cost_nanousd)});
        }
        s.Exec(sql, params);
    }
    for (const auto* rp : fresh) {
        const auto& r = *rp;
        ++inserted;
        const int64_t bucket = r.ts_ms / 3'600'000 * 3'600'000;
        auto it = rollup.find(KeyView{bucket, r.key_id, r.upstream_id, r.credential_id, r.model});
        if (it == rollup.end()) {
            it = rollup.emplace(Key{bucket, r.key_id, r.upstream_id, r.credential_id, r.model}, Agg{}).first;
        }
        auto& a = it->second;
        a.requests += 1;
        a.errors += r.status >= 400 ? 1 : 0;
        a.in += r.input_tokens;
        a.out += r.output_tokens;
        a.cc += r.cache_creation_tokens;
        a.cr += r.cache_read_tokens;
        a.cost += r.cost_nanousd;
        if (!r.key_id.empty()) {
            latest(key_used, r.key_id, r.ts_ms);
        }
        if (!r.credential_id.empty()) {
            latest(cred_used, r.credential_id, r.ts_ms);
        }
    }
    for (const auto& [k, a] : rollup) {
        s.Exec("INSERT INTO usage_hourly (bucket, key_id, upstream_id, credential_id, model, requests, errors, "
               "input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_nanousd) "
               "VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (bucket, key_id, upstream_id, credential_id, model) "
               "DO UPDATE SET requests = usage_hourly.requests + excluded.requests, "
               "errors = usage_hourly.errors + excluded.errors, "
               "input_tokens = usage_hourly.input_tokens + excluded.input_tokens, "
               "output_tokens = usage_hourly.output_tokens + excluded.output_tokens, "
               "cache_creation_tokens = usage_hourly.cache_creation_tokens + excluded.cache_creation_tokens, "
               "cache_read_tokens = usage_hourly.cache_read_tokens + excluded.cache_read_tokens, "
               "cost_nanousd = usage_hourly.cost_nanousd + excluded.cost_nanousd",
               {V(std::get<0>(k)), V(std::get<1>(k)), V(std::get<2>(k)), V(std::get<3>(k)), V(std::get<4>(k)),
                V(a.requests), V(a.errors), V(a.in), V(a.out), V(a.cc), V(a.cr), V(a.cost)});
    }
    for (const auto& [id, ts] : key_used) {
        s.Exec("UPDATE client_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
               {V(ts), V(id), V(ts)});
    }
    for (const auto& [id, ts] : cred_used) {
        s.Exec("UPDATE credentials SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
               {V(ts), V(id), V(ts)});
    }
    return inserted;
}

namespace {
constexpr const char* kUsageCols =
    "u.id, u.request_id, u.ts, u.key_id, u.upstream_id, u.credential_id, u.model, u.upstream_model, u.status, "
    "u.error_type, u.stream, u.ttfb_ms, u.duration_ms, u.input_tokens, u.output_tokens, u.cache_creation_tokens, "
    "u.cache_creation_5m_tokens, u.cache_creation_1h_tokens, u.cache_read_tokens, u.cost_nanousd";
}

namespace {
void BuildUsageQuery(const UsageFilter& f, std::string& sql, std::vector<Value>& p) {
    sql = std::string("SELECT ") + kUsageCols + " FROM usage u WHERE 1 = 1";
    auto add = [&](const char* clause, Value v) {
        sql += clause;
        p.push_back(std::move(v));
    };
    if (f.key_id) add(" AND u.key_id = ?", V(*f.key_id));
    if (f.upstream_id) add(" AND u.upstream_id = ?", V(*f.upstream_id));
    if (f.credential_id) add(" AND u.credential_id = ?", V(*f.credential_id));
    if (f.model) add(" AND u.model = ?", V(*f.model));
    if (f.status) add(" AND u.status = ?", V(int64_t{*f.status}));
    if (f.status_range) {
        add(" AND u.status >= ?", V(int64_t{f.status_range->first}));
        add(" AND u.status <= ?", V(int64_t{f.status_range->second}));
    }
    // Errors have a partial index (WHERE status >= 400); the planner uses it only when the query
    // repeats that condition literally.
    if ((f.status && *f.status >= 400) || (f.status_range && f.status_range->first >= 400)) {
        sql += " AND u.status >= 400";
    }
    if (f.from_ms) add(" AND u.ts >= ?", V(*f.from_ms));
    if (f.to_ms) add(" AND u.ts < ?", V(*f.to_ms));
    if (f.before_id) add(" AND u.id < ?", V(*f.before_id));
    sql += " ORDER BY u.id DESC LIMIT ?";
    p.push_back(V(int64_t{f.limit}));
}
}  // namespace

std::string ExplainUsageQuery(Session& s, const UsageFilter& f) {
    std::string sql;
    std::vector<Value> p;
    BuildUsageQuery(f, sql, p);
    std::string plan;
    if (s.backend() == Backend::kSqlite) {
        for (const auto& r : s.Query("EXPLAIN QUERY PLAN " + sql, p)) {
            plan += r.Text(r.cols.size() - 1) + "\n";
        }
    } else {
        for (const auto& r : s.Query("EXPLAIN " + sql, p)) {
            plan += r.Text(0) + "\n";
        }
    }
    return plan;
}

std::vector<UsageRow> QueryUsage(Session& s, const UsageFilter& f) {
    std::string sql;
    std::vector<Value> p;
    BuildUsageQuery(f, sql, p);
    std::vector<UsageRow> out;
    for (const auto& r : s.Query(sql, p)) {
        UsageRow u;
        u.id = r.Int(0);
        auto& x = u.r;
        x.request_id = r.Text(1);
        x.ts_ms = r.Int(2);
        x.key_id = r.Text(3);
        x.upstream_id = r.Text(4);
        x.credential_id = r.Text(5);
        x.model = r.Text(6);
        x.upstream_model = r.Text(7);
        x.status = static_cast<int>(r.Int(8));
        x.error_type = r.Text(9);
        x.stream = r.Int(10) != 0;
        x.ttfb_ms = r.Null(11) ? -1 : r.Real(11);
        x.duration_ms = r.Real(12);
        x.input_tokens = r.Int(13);
        x.output_tokens = r.Int(14);
        x.cache_creation_tokens = r.Int(15);
        x.cache_creation_5m_tokens = r.Int(16);
        x.cache_creation_1h_tokens = r.Int(17);
        x.cache_read_tokens = r.Int(18);
        x.cost_nanousd = r.Int(19);
        out.push_back(std::move(u));
    }
    return out;
}

namespace {
constexpr const char* kSums =
    "SUM(requests), SUM(errors), SUM(input_tokens), SUM(output_tokens), SUM(cache_creation_tokens), "
    "SUM(cache_read_tokens), SUM(cost_nanousd)";

SummaryRow ToSummary(const Row& r) {
    return {r.Text(0), r.Int(1), r.Int(2), r.Int(3), r.Int(4), r.Int(5), r.Int(6), r.Int(7)};
}
}  // namespace

LatencySample SampleLatency(Session& s, int64_t from_ms, int64_t to_ms, int64_t max_rows) {
    LatencySample out;
    for (const auto& r : s.Query("SELECT COUNT(*) FROM usage WHERE ts >= ? AND ts < ?", {V(from_ms), V(to_ms)})) {
        out.total = r.Int(0);
    }
    // The newest rows first through the ts index: the sample is bounded whatever the range holds.
    for (const auto& r : s.Query("SELECT ttfb_ms, duration_ms FROM usage WHERE ts >= ? AND ts < ? ORDER BY ts DESC LIMIT ?",
                                 {V(from_ms), V(to_ms), V(max_rows)})) {
        if (!r.Null(0)) {
            out.ttfb_ms.push_back(r.Real(0));
        }
        out.duration_ms.push_back(r.Real(1));
    }
    return out;
}

std::vector<ErrorCount> CountErrors(Session& s, int64_t from_ms, int64_t to_ms) {
    std::vector<ErrorCount> out;
    for (const auto& r : s.Query("SELECT COALESCE(error_type, ''), status, COUNT(*) FROM usage "
                                 "WHERE ts >= ? AND ts < ? AND status >= 400 GROUP BY COALESCE(error_type, ''), status "
                                 "ORDER BY COUNT(*) DESC, status",
                                 {V(from_ms), V(to_ms)})) {
        out.push_back({r.Text(0), r.Int(1), r.Int(2)});
    }
    return out;
}

std::vector<SummaryRow> SummarizeUsage(Session& s, const std::string& group_by, int64_t from_ms, int64_t to_ms) {
    // Whole hours come from the rollup; the partial hours at either end from the rows themselves
    // (index on ts), so the range is exact and the cost stays bounded by two hours of rows.
    constexpr int64_t kHour = 3'600'000;
    std::string rollup_col, raw_col;
    if (group_by == "key") { rollup_col = "key_id"; raw_col = "COALESCE(key_id, '')"; }
    else if (group_by == "upstream") { rollup_col = "upstream_id"; raw_col = "COALESCE(upstream_id, '')"; }
    else if (group_by == "credential") { rollup_col = "credential_id"; raw_col = "COALESCE(credential_id, '')"; }
    else if (group_by == "model") { rollup_col = "model"; raw_col = "COALESCE(model, '')"; }
    else if (group_by == "hour") { rollup_col = "bucket"; raw_col = "(ts / 3600000) * 3600000"; }
    else if (group_by == "day") { rollup_col = "(bucket / 86400000) * 86400000"; raw_col = "(ts / 86400000) * 86400000"; }
    else { rollup_col = "''"; raw_col = "''"; }
    std::map<std::string, SummaryRow> merged;
    auto add = [&](const Row& r) {
        auto& m = merged[r.Text(0)];
        m.group = r.Text(0);
        m.requests += r.Int(1);
        m.errors += r.Int(2);
        m.input_tokens += r.Int(3);
        m.output_tokens += r.Int(4);
        m.cache_creation_tokens += r.Int(5);
        m.cache_read_tokens += r.Int(6);
        m.cost_nanousd += r.Int(7);
    };
    auto raw = [&](int64_t a, int64_t b) {
        if (a >= b) {
            return;
        }
        std::string sql = "SELECT CAST(" + raw_col +
                          " AS TEXT), COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), SUM(input_tokens), "
                          "SUM(output_tokens), SUM(cache_creation_tokens), SUM(cache_read_tokens), SUM(cost_nanousd) "
                          "FROM usage WHERE ts >= ? AND ts < ? GROUP BY " + raw_col;
        for (const auto& r : s.Query(sql, {V(a), V(b)})) {
            add(r);
        }
    };
    if (from_ms < to_ms) {
        const int64_t first_full = (from_ms + kHour - 1) / kHour * kHour;
        const int64_t last_full = to_ms / kHour * kHour;
        if (first_full >= last_full) {
            raw(from_ms, to_ms);
        } else {
            raw(from_ms, first_full);
            std::string sql = "SELECT CAST(" + rollup_col + " AS TEXT) AS g, " + kSums +
                              " FROM usage_hourly WHERE bucket >= ? AND bucket < ? GROUP BY " + rollup_col;
            for (const auto& r : s.Query(sql, {V(first_full), V(last_full)})) {
                add(r);
            }
            raw(last_full, to_ms);
        }
    }
    std::vector<SummaryRow> out;
    for (auto& [g, r] : merged) {
        out.push_back(std::move(r));
    }
    if (group_by == "hour" || group_by == "day") {
        std::sort(out.begin(), out.end(), [](const SummaryRow& a, const SummaryRow& b) {
            return std::stoll(a.group.empty() ? "0" : a.group) < std::stoll(b.group.empty() ? "0" : b.group);
        });
    } else {
        std::sort(out.begin(), out.end(), [](const SummaryRow& a, const SummaryRow& b) {
            return a.cost_nanousd != b.cost_nanousd ? a.cost_nanousd > b.cost_nanousd : a.group < b.group;
        });
    }
    return out;
}

std::vector<SummaryRow> KeyTotals(Session& s) {
    std::vector<SummaryRow> out;
    for (const auto& r : s.Query(std::string("SELECT key_id, ") + kSums + " FROM usage_hourly GROUP BY key_id", {})) {
        out.push_back(ToSummary(r));
    }
    return out;
}

int64_t PruneUsage(Session& s, int64_t cutoff_ms, int64_t max_rows) {
    auto rows = s.Query("SELECT id FROM usage WHERE ts < ? ORDER BY id LIMIT 1 OFFSET ?", {V(cutoff_ms), V(max_rows - 1)});
    int64_t n;
    if (rows.empty()) {
        n = s.Exec("DELETE FROM usage WHERE ts < ?", {V(cutoff_ms)});
    } else {
        n = s.Exec("DELETE FROM usage WHERE ts < ? AND id <= ?", {V(cutoff_ms), V(rows[0].Int(0))});
    }
    s.Exec("DELETE FROM usage_hourly WHERE bucket < ?", {V(cutoff_ms / 3'600'000 * 3'600'000)});
    return n;
}

}  // namespace clove::storage
