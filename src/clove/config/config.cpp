#include "clove/config/config.hpp"
#include "clove/upstream/peer.hpp"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "clove/base/log.hpp"

namespace clove::config {

std::string_view UpstreamKindName(UpstreamKind k) noexcept {
    return k == UpstreamKind::kOpenAI ? "openai" : "anthropic";
}

std::optional<std::pair<std::string, std::string>> ValidateOpenAIOptions(const OpenAIOptions& o) {
    auto one_of = [](const std::string& v, std::initializer_list<std::string_view> allowed) {
        for (auto a : allowed) {
            if (v == a) {
                return true;
            }
        }
        return false;
    };
    if (!one_of(o.reasoning_field, {"auto", "reasoning_content", "reasoning"})) {
        return std::pair<std::string, std::string>{"reasoning_field", "must be auto, reasoning_content or reasoning"};
    }
    if (!one_of(o.reasoning_control, {"none", "reasoning_effort", "chat_template_kwargs", "openrouter"})) {
        return std::pair<std::string, std::string>{
            "reasoning_control", "must be none, reasoning_effort, chat_template_kwargs or openrouter"};
    }
    if (!one_of(o.max_tokens_field, {"max_tokens", "max_completion_tokens"})) {
        return std::pair<std::string, std::string>{"max_tokens_field", "must be max_tokens or max_completion_tokens"};
    }
    if (!one_of(o.tokenize, {"", "vllm", "llamacpp"})) {
        return std::pair<std::string, std::string>{"tokenize", "must be \"\", vllm or llamacpp"};
    }
    if (o.max_stop < 0 || o.max_stop > 64) {
        return std::pair<std::string, std::string>{"max_stop", "must be between 0 and 64"};
    }
    if (!(o.token_factor >= 0.1 && o.token_factor <= 10.0)) {
        return std::pair<std::string, std::string>{"token_factor", "must be between 0.1 and 10"};
    }
    if (o.tool_emulation && o.tools) {
        return std::pair<std::string, std::string>{"tool_emulation", "needs tools = false (the backend has native tools)"};
    }
    return std::nullopt;
}

namespace {

using EnvFn = std::function<std::optional<std::string>(const char*)>;

[[noreturn]] void Fail(const std::string& path, const std::string& field, const std::string& what) {
    throw std::runtime_error(fmt::format("{}: {}: {}", path.empty() ? "<config>" : path, field, what));
}

/// Replaces `${VAR}` with the variable's value; an unset variable is an error so that a typo
/// never silently becomes an empty key.
std::string Expand(std::string_view in, const std::string& path, const std::string& field,
                   const EnvFn& env) {
    std::string out;
    size_t i = 0;
    while (i < in.size()) {
        if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '{') {
            size_t end = in.find('}', i + 2);
            if (end == std::string_view::npos) {
                Fail(path, field, "unterminated ${...} reference");
            }
            std::string var(in.substr(i + 2, end - i - 2));
            auto value = env(var.c_str());
            if (!value) {
                Fail(path, field, fmt::format("environment variable {} is not set", var));
            }
            out += *value;
            i = end + 1;
        } else {
            out += in[i++];
        }
    }
    return out;
}

class TableReader {
public:
    TableReader(const toml::table& t, std::string prefix, const std::string& path, const EnvFn& env)
        : t_(t), prefix_(std::move(prefix)), path_(path), env_(env) {}

    std::string Field(std::string_view key) const {
        return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
    }

    void RejectUnknown(std::initializer_list<std::string_view> known) const {
        for (const auto& [k, v] : t_) {
            bool ok = false;
            for (auto kk : known) {
                ok = ok || k.str() == kk;
            }
            if (!ok) {
                Fail(path_, Field(k.str()), "unknown field");
            }
        }
    }

    void String(std::string_view key, std::string& out) const {
        if (auto* node = t_.get(key)) {
            auto s = node->value<std::string>();
            if (!node->is_string() || !s) {
                Fail(path_, Field(key), "must be a string");
            }
            out = Expand(*s, path_, Field(key), env_);
        }
    }

    template <typename T>
    void Integer(std::string_view key, T& out, int64_t min, int64_t max) const {
        if (auto* node = t_.get(key)) {
            if (!node->is_integer()) {
                Fail(path_, Field(key), "must be an integer");
            }
            int64_t v = *node->value<int64_t>();
            if (v < min || v > max) {
                Fail(path_, Field(key), fmt::format("must be between {} and {}", min, max));
            }
            out = static_cast<T>(v);
        }
    }

    void StringArray(std::string_view key, std::vector<std::string>& out) const {
        if (auto* node = t_.get(key)) {
            auto* arr = node->as_array();
            if (!arr) {
                Fail(path_, Field(key), "must be an array of strings");
            }
            out.clear();
            size_t i = 0;
            for (auto& el : *arr) {
                auto s = el.value<std::string>();
                if (!el.is_string() || !s) {
                    Fail(path_, fmt::format("{}[{}]", Field(key), i), "must be a string");
                }
                out.push_back(Expand(*s, path_, Field(key), env_));
                ++i;
            }
        }
    }

    void StringMap(std::string_view key, std::map<std::string, std::string>& out) const {
        if (auto* node = t_.get(key)) {
            auto* tbl = node->as_table();
            if (!tbl) {
                Fail(path_, Field(key), "must be a table of strings");
            }
            for (auto& [k, v] : *tbl) {
                auto s = v.value<std::string>();
                if (!v.is_string() || !s) {
                    Fail(path_, Field(key) + "." + std::string(k.str()), "must be a string");
                }
                out[std::string(k.str())] = *s;
            }
        }
    }

    void Bool(std::string_view key, bool& out) const {
        if (auto* node = t_.get(key)) {
            if (!node->is_boolean()) {
                Fail(path_, Field(key), "must be true or false");
            }
            out = *node->value<bool>();
        }
    }

    void Number(std::string_view key, double& out, double min, double max) const {
        if (auto* node = t_.get(key)) {
            if (!node->is_number()) {
                Fail(path_, Field(key), "must be a number");
            }
            double v = *node->value<double>();
            if (!(v >= min && v <= max)) {
                Fail(path_, Field(key), fmt::format("must be between {} and {}", min, max));
            }
            out = v;
        }
    }

    const toml::table& table() const { return t_; }

private:
    const toml::table& t_;
    std::string prefix_;
    const std::string& path_;
    const EnvFn& env_;
};

const toml::table* SubTable(const toml::table& root, std::string_view key, const std::string& path) {
    auto* node = root.get(key);
    if (!node) {
        return nullptr;
    }
    if (!node->is_table()) {
        Fail(path, std::string(key), "must be a table ([" + std::string(key) + "])");
    }
    return node->as_table();
}

const toml::array* TableArray(const toml::table& root, std::string_view key, const std::string& path) {
    auto* node = root.get(key);
    if (!node) {
        return nullptr;
    }
    auto* arr = node->as_array();
    if (!arr || !arr->is_array_of_tables()) {
        Fail(path, std::string(key), "must be an array of tables ([[" + std::string(key) + "]])");
    }
    return arr;
}

void ValidateBaseUrl(const std::string& url, const std::string& path, const std::string& field) {
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
        Fail(path, field, "must start with http:// or https://");
    }
    auto rest = std::string_view(url).substr(url.find("://") + 3);
    if (rest.empty() || rest[0] == '/' || rest[0] == ':') {
        Fail(path, field, "has no host");
    }
    if (rest.find_first_of("?#") != std::string_view::npos) {
        Fail(path, field, "must not contain a query or fragment");
    }
}

std::vector<std::string> SplitKeys(std::string_view list) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string_view::npos) {
            end = list.size();
        }
        auto item = list.substr(start, end - start);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
            item.remove_prefix(1);
        }
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
            item.remove_suffix(1);
        }
        if (!item.empty()) {
            out.emplace_back(item);
        }
        start = end + 1;
    }
    return out;
}

}  // namespace

Config ParseToml(std::string_view text, const std::string& path, const EnvFn& env) {
    toml::table root;
    try {
        root = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
        const auto& src = e.source();
        throw std::runtime_error(fmt::format("{}:{}:{}: invalid TOML: {}", path, src.begin.line,
                                             src.begin.column, e.description()));
    }
    Config c;
    c.source = path;
    TableReader top(root, "", path, env);
    top.RejectUnknown({"server", "storage", "log", "upstream", "client_key"});

    if (auto* st = SubTable(root, "storage", path)) {
        TableReader r(*st, "storage", path, env);
        r.RejectUnknown({"data_dir", "database_url", "usage_durability"});
        r.String("data_dir", c.storage.data_dir);
        r.String("database_url", c.storage.database_url);
        std::string durability = "normal";
        r.String("usage_durability", durability);
        if (durability != "normal" && durability != "full") {
            Fail(path, "storage.usage_durability", "must be normal or full");
        }
        c.storage.full_sync = durability == "full";
        if (c.storage.data_dir.empty()) {
            Fail(path, "storage.data_dir", "must not be empty");
        }
    }

    if (auto* s = SubTable(root, "server", path)) {
        TableReader r(*s, "server", path, env);
        r.RejectUnknown({"host", "port", "workers", "max_body_bytes", "max_header_bytes",
                         "header_timeout_ms", "body_timeout_ms", "idle_timeout_ms",
                         "write_timeout_ms", "drain_timeout_ms"});
        r.String("host", c.server.host);
        r.Integer("port", c.server.port, 0, 65535);
        r.Integer("workers", c.server.workers, 0, 256);
        r.Integer("max_body_bytes", c.server.max_body_bytes, 1024, 1ll << 32);
        r.Integer("max_header_bytes", c.server.max_header_bytes, 1024, 1 << 20);
        r.Integer("header_timeout_ms", c.server.header_timeout_ms, 100, 3'600'000);
        r.Integer("body_timeout_ms", c.server.body_timeout_ms, 100, 3'600'000);
        r.Integer("idle_timeout_ms", c.server.idle_timeout_ms, 100, 86'400'000);
        r.Integer("write_timeout_ms", c.server.write_timeout_ms, 100, 3'600'000);
        r.Integer("drain_timeout_ms", c.server.drain_timeout_ms, 0, 3'600'000);
    }
    if (auto* l = SubTable(root, "log", path)) {
        TableReader r(*l, "log", path, env);
        r.RejectUnknown({"level"});
        r.String("level", c.log_level);
        spdlog::level::level_enum lvl{};
        if (!log::ParseLevel(c.log_level, lvl)) {
            Fail(path, "log.level", "must be one of trace, debug, info, warn, error, off");
        }
    }
    if (auto* ups = TableArray(root, "upstream", path)) {
        size_t i = 0;
        for (auto& node : *ups) {
            std::string prefix = fmt::format("upstream[{}]", i++);
            TableReader r(*node.as_table(), prefix, path, env);
            r.RejectUnknown({"name", "kind", "base_url", "api_key", "api_keys", "auth", "models", "model_map",
                             "connect_timeout_ms", "first_byte_timeout_ms", "stream_idle_timeout_ms",
                             "priority", "weight", "credential_concurrency", "proxy_url", "health_check",
                             "health_check_interval_ms", "openai"});
            UpstreamConfig u;
            r.String("name", u.name);
            if (u.name.empty()) {
                Fail(path, r.Field("name"), "is required");
            }
            std::string kind = "anthropic";
            r.String("kind", kind);
            if (kind == "openai") {
                u.kind = UpstreamKind::kOpenAI;
                u.models = {"*"};
            } else if (kind == "bedrock" || kind == "vertex") {
                Fail(path, r.Field("kind"),
                     fmt::format("\"{}\" is not supported in this release (supported: anthropic, openai)", kind));
            } else if (kind != "anthropic") {
                Fail(path, r.Field("kind"), "must be one of anthropic, openai");
            }
            if (auto* oa_node = r.table().get("openai")) {
                if (!oa_node->is_table()) {
                    Fail(path, r.Field("openai"), "must be a table ([upstream.openai])");
                }
                if (u.kind != UpstreamKind::kOpenAI) {
                    Fail(path, r.Field("openai"), "only applies to kind = \"openai\"");
                }
                TableReader o(*oa_node->as_table(), r.Field("openai"), path, env);
                o.RejectUnknown({"tools", "tool_emulation", "images", "reasoning_field", "reasoning_control",
                                 "replay_reasoning", "max_stop", "max_tokens_field", "send_top_k", "tokenize",
                                 "system_anywhere", "stream_usage", "token_factor", "think_tags",
                                 "continue_final_message"});
                auto& oa = u.openai;
                o.Bool("tools", oa.tools);
                o.Bool("tool_emulation", oa.tool_emulation);
                o.Bool("images", oa.images);
                o.String("reasoning_field", oa.reasoning_field);
                o.String("reasoning_control", oa.reasoning_control);
                o.Bool("replay_reasoning", oa.replay_reasoning);
                o.Integer("max_stop", oa.max_stop, 0, 64);
                o.String("max_tokens_field", oa.max_tokens_field);
                o.Bool("send_top_k", oa.send_top_k);
                o.String("tokenize", oa.tokenize);
                o.Bool("system_anywhere", oa.system_anywhere);
                o.Bool("stream_usage", oa.stream_usage);
                o.Number("token_factor", oa.token_factor, 0.1, 10.0);
                o.Bool("think_tags", oa.think_tags);
                o.Bool("continue_final_message", oa.continue_final_message);
                if (auto bad = ValidateOpenAIOptions(oa)) {
                    Fail(path, o.Field(bad->first), bad->second);
                }
            }
            r.String("base_url", u.base_url);
            ValidateBaseUrl(u.base_url, path, r.Field("base_url"));
            r.String("api_key", u.api_key);
            r.StringArray("api_keys", u.api_keys);
            if (u.api_key.empty() && !u.api_keys.empty()) {
                u.api_key = u.api_keys.front();
                u.api_keys.erase(u.api_keys.begin());
            }
            // The same ranges as the admin API, so a seeded value can be sent back unchanged.
            r.Integer("priority", u.priority, -1000, 1000);
            r.Integer("weight", u.weight, 1, 1000);
            r.Integer("credential_concurrency", u.credential_concurrency, 0, 100'000);
            r.String("health_check", u.health_check);
            if (u.health_check != "off" && u.health_check != "models" && u.health_check != "message") {
                Fail(path, r.Field("health_check"), "must be \"off\", \"models\" or \"message\"");
            }
            r.Integer("health_check_interval_ms", u.health_check_interval_ms, 1000, 86'400'000);
            {
                std::string proxy;
                r.String("proxy_url", proxy);
                if (!proxy.empty()) {
                    if (proxy != "direct" && !upstream::ValidProxyUrl(proxy)) {
                        Fail(path, r.Field("proxy_url"),
                             "must be \"direct\" or a proxy URL (http://, socks5:// or socks5h://host:port)");
                    }
                    u.proxy_url = proxy;
                }
            }
            std::string auth = "key";
            r.String("auth", auth);
            if (auth == "passthrough") {
                u.auth = UpstreamAuth::kPassthrough;
            } else if (auth == "key") {
                u.auth = UpstreamAuth::kKey;
            } else {
                Fail(path, r.Field("auth"), "must be \"key\" or \"passthrough\"");
            }
            if (u.auth == UpstreamAuth::kKey && u.api_key.empty()) {
                Fail(path, r.Field("api_key"), "is required unless auth = \"passthrough\"");
            }
            r.StringArray("models", u.models);
            if (u.models.empty()) {
                Fail(path, r.Field("models"), "must list at least one model glob");
            }
            r.StringMap("model_map", u.model_map);
            r.Integer("connect_timeout_ms", u.connect_timeout_ms, 100, 600'000);
            r.Integer("first_byte_timeout_ms", u.first_byte_timeout_ms, 100, 3'600'000);
            r.Integer("stream_idle_timeout_ms", u.stream_idle_timeout_ms, 100, 3'600'000);
            c.upstreams.push_back(std::move(u));
        }
    }
    if (auto* keys = TableArray(root, "client_key", path)) {
        size_t i = 0;
        for (auto& node : *keys) {
            std::string prefix = fmt::format("client_key[{}]", i++);
            TableReader r(*node.as_table(), prefix, path, env);
            r.RejectUnknown({"name", "key"});
            ClientKeyConfig k;
            r.String("name", k.name);
            r.String("key", k.key);
            if (k.name.empty()) {
                Fail(path, r.Field("name"), "is required");
            }
            if (k.key.size() < 8) {
                Fail(path, r.Field("key"), "must be at least 8 characters");
            }
            c.client_keys.push_back(std::move(k));
        }
    }
    return c;
}

void Finalize(Config& c) {
    const std::string& path = c.source;
    if (c.upstreams.empty()) {
        // Embedded default: the Anthropic API with the client's own key, so a fresh start is
        // useful at once and never spends an operator key.
        UpstreamConfig u;
        u.name = "anthropic";
        u.auth = UpstreamAuth::kPassthrough;
        c.upstreams.push_back(std::move(u));
    }
    for (size_t i = 0; i < c.upstreams.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            if (c.upstreams[i].name == c.upstreams[j].name) {
                Fail(path, fmt::format("upstream[{}].name", i),
                     fmt::format("duplicate upstream name \"{}\"", c.upstreams[i].name));
            }
        }
    }
    for (size_t i = 0; i < c.client_keys.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            if (c.client_keys[i].key == c.client_keys[j].key) {
                Fail(path, fmt::format("client_key[{}].key", i), "duplicate key");
            }
        }
    }
    if (c.client_keys.empty()) {
        for (size_t i = 0; i < c.upstreams.size(); ++i) {
            if (c.upstreams[i].auth == UpstreamAuth::kKey) {
                Fail(path, fmt::format("upstream[{}].api_key", i),
                     "an operator key needs client keys: add [[client_key]] entries or set "
                     "API_KEYS, or use auth = \"passthrough\"");
            }
        }
    }
    if (c.server.workers == 0) {
        c.server.workers = std::max(1u, std::thread::hardware_concurrency());
    }
}

LoadResult Load(int argc, const char* const* argv, const EnvFn& env) {
    LoadResult result;
    CLI::App app{"Clove: a fast, faithful gateway for the Claude Messages API", "clove"};
    std::string config_path;
    std::optional<std::string> host;
    std::optional<uint16_t> port;
    std::optional<uint32_t> workers;
    std::optional<std::string> log_level;
    std::optional<std::string> data_dir;
    bool version = false;
    bool check = false;
    bool apply = false;
    app.add_option("-c,--config", config_path, "TOML config file (env CLOVE_CONFIG)");
    app.add_option("--host", host, "address to bind (env HOST, default 127.0.0.1)");
    app.add_option("-p,--port", port, "port to listen on, 0 = any free port (env PORT, default 5201)");
    app.add_option("--workers", workers, "worker threads (default: one per core)");
    app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off (env LOG_LEVEL)");
    app.add_option("--data-dir", data_dir, "directory of the SQLite database, secret key and usage spool "
                                           "(env DATA_DIR, default ./data)");
    app.add_flag("--apply-config", apply, "write the config file's upstreams, keys and settings into the "
                                          "database again (normally only the first start seeds it)");
    app.add_flag("--check-config", check, "validate the configuration and exit");
    app.add_flag("-V,--version", version, "print the version and exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        result.exit_code = 0;
        result.message = app.help();
        return result;
    } catch (const CLI::ParseError& e) {
        result.exit_code = 2;
        result.message = fmt::format("clove: {}\nRun 'clove --help' for usage.", e.what());
        return result;
    }
    if (version) {
        result.message = fmt::format("clove {}", CLOVE_VERSION);
        return result;
    }
    try {
        if (config_path.empty()) {
            if (auto v = env("CLOVE_CONFIG"); v && !v->empty()) {
                config_path = *v;
            }
        }
        Config c;
        if (!config_path.empty()) {
            std::ifstream in(config_path, std::ios::binary);
            if (!in) {
                throw std::runtime_error(config_path + ": cannot open the config file");
            }
            std::stringstream ss;
            ss << in.rdbuf();
            c = ParseToml(ss.str(), config_path, env);
        }
        // env over file
        if (auto v = env("HOST"); v && !v->empty()) {
            c.server.host = *v;
        }
        if (auto v = env("PORT"); v && !v->empty()) {
            char* end = nullptr;
            long p = std::strtol(v->c_str(), &end, 10);
            if (*end != '\0' || p < 0 || p > 65535) {
                throw std::runtime_error("PORT: must be a port number between 0 and 65535");
            }
            c.server.port = static_cast<uint16_t>(p);
        }
        if (auto v = env("LOG_LEVEL"); v && !v->empty()) {
            c.log_level = *v;
        }
        if (auto v = env("DATA_DIR"); v && !v->empty()) {
            c.storage.data_dir = *v;
        }
        if (auto v = env("DATABASE_URL"); v && !v->empty()) {
            c.storage.database_url = *v;
        }
        if (auto v = env("PROXY_URL"); v && !v->empty()) {
            if (!upstream::ValidProxyUrl(*v)) {
                throw std::runtime_error("PROXY_URL: must be a proxy URL (http://, socks5:// or socks5h://host:port)");
            }
            c.outbound_proxy = *v;
        }
        if (auto v = env("API_KEYS"); v && !v->empty()) {
            size_t n = 0;
            for (auto& k : SplitKeys(*v)) {
                if (k.size() < 8) {
                    throw std::runtime_error("API_KEYS: every key must be at least 8 characters");
                }
                c.client_keys.push_back({fmt::format("env-{}", ++n), k});
            }
        }
        // flags over env
        if (host) { c.server.host = *host; }
        if (port) { c.server.port = *port; }
        if (workers) { c.server.workers = *workers; }
        if (log_level) { c.log_level = *log_level; }
        if (data_dir) { c.storage.data_dir = *data_dir; }
        c.apply_config = apply;
        if (!c.storage.database_url.empty() && c.storage.database_url.rfind("postgres://", 0) != 0 &&
            c.storage.database_url.rfind("postgresql://", 0) != 0) {
            throw std::runtime_error("DATABASE_URL: must start with postgres:// (SQLite needs no URL: see --data-dir)");
        }
        spdlog::level::level_enum lvl{};
        if (!log::ParseLevel(c.log_level, lvl)) {
            throw std::runtime_error("log level: must be one of trace, debug, info, warn, error, off");
        }
        Finalize(c);
        result.config = std::move(c);
        result.check_only = check;
    } catch (const std::exception& e) {
        result.exit_code = 2;
        result.message = fmt::format("clove: invalid configuration: {}", e.what());
    }
    return result;
}

}  // namespace clove::config
