#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace clove::config {

/// How Clove authenticates to an upstream.
enum class UpstreamAuth {
    kKey,          ///< send the operator's `api_key`; client credentials are removed.
    kPassthrough,  ///< forward the client's own `x-api-key` / `authorization` unchanged.
};

/// Provider family of an upstream: `kAnthropic` speaks the Messages API natively (requests are
/// forwarded untouched); `kOpenAI` speaks Chat Completions and goes through src/clove/translate.
enum class UpstreamKind { kAnthropic, kOpenAI };

std::string_view UpstreamKindName(UpstreamKind k) noexcept;

/// What an OpenAI-compatible backend can do (docs/translation.md). The gateway emulates the rest.
struct OpenAIOptions {
    bool tools = true;                    ///< native tool calling (`tools` / `tool_calls`)
    bool tool_emulation = false;          ///< without native tools: prompt-based tools (opt-in)
    bool images = true;                   ///< accepts image_url content parts
    std::string reasoning_field = "auto"; ///< "auto" | "reasoning_content" | "reasoning"
    /// How Anthropic `thinking` is expressed: "none" (dropped), "reasoning_effort",
    /// "chat_template_kwargs" (enable_thinking), "openrouter" (reasoning.max_tokens).
    std::string reasoning_control = "none";
    bool replay_reasoning = false;        ///< assistant thinking sent back as reasoning_content
    int max_stop = 4;                     ///< stop strings passed on; the gateway enforces all
    std::string max_tokens_field = "max_tokens";  ///< or "max_completion_tokens"
    bool send_top_k = false;              ///< forward top_k (vLLM, llama.cpp, Ollama accept it)
    std::string tokenize;                 ///< "" local BPE estimate | "vllm" | "llamacpp"
    bool system_anywhere = false;         ///< keep mid-conversation system messages in place
    bool stream_usage = true;             ///< send stream_options.include_usage
    double token_factor = 1.0;            ///< multiplier on local token estimates
    bool think_tags = true;               ///< content starting with <think>...</think> is reasoning
    /// A trailing assistant message (prefill) is sent with vLLM's `continue_final_message: true,
    /// add_generation_prompt: false`, so the model continues it instead of starting a new turn.
    bool continue_final_message = false;
    bool operator==(const OpenAIOptions&) const = default;
};

/// The first invalid field of `o` (name, message), or nullopt.
std::optional<std::pair<std::string, std::string>> ValidateOpenAIOptions(const OpenAIOptions& o);

struct UpstreamConfig {
    std::string name;
    UpstreamKind kind = UpstreamKind::kAnthropic;
    OpenAIOptions openai;  ///< kind = openai only
    std::string base_url = "https://api.anthropic.com";
    std::string api_key;  ///< secret: never logged or returned.
    std::vector<std::string> api_keys;  ///< more credentials (secrets); seeded like api_key
    int priority = 0;                   ///< higher is tried first
    int weight = 1;                     ///< share within a priority tier
    int64_t credential_concurrency = 0; ///< per-credential in-flight cap; 0 = none
    /// Outbound proxy for this upstream: nullopt = the global setting, "direct" = none, else a
    /// proxy URL (http://, socks5://, socks5h://; may carry user:password).
    std::optional<std::string> proxy_url;
    /// Periodic probe of every credential: "off", "models" (GET /v1/models, free) or "message"
    /// (a 1-token request to the first concrete model). Marks credentials invalid or valid again.
    std::string health_check = "off";
    uint32_t health_check_interval_ms = 60'000;
    UpstreamAuth auth = UpstreamAuth::kKey;
    std::vector<std::string> models = {"claude-*"};      ///< globs, first upstream matching wins.
    std::map<std::string, std::string> model_map;        ///< client name -> upstream name.
    uint32_t connect_timeout_ms = 10'000;
    /// Time from sending the request to the response head. Long non-streaming answers can take
    /// minutes (the SDK allows 10 min), so the default is generous.
    uint32_t first_byte_timeout_ms = 600'000;
    /// Longest silence allowed between two reads of a response body (streams included).
    uint32_t stream_idle_timeout_ms = 300'000;
};

struct ClientKeyConfig {
    std::string name;
    std::string key;  ///< secret.
};

struct ServerConfig {
    std::string host = "127.0.0.1";
    uint16_t port = 5201;
    uint32_t workers = 0;                     ///< 0 = number of cores.
    uint64_t max_body_bytes = 32ull << 20;    ///< Anthropic's own limit; larger → 413.
    uint32_t max_header_bytes = 64u << 10;    ///< larger → 431.
    uint32_t header_timeout_ms = 10'000;      ///< whole request head (slowloris bound).
    uint32_t body_timeout_ms = 30'000;        ///< longest silence between request body reads.
    uint32_t idle_timeout_ms = 75'000;        ///< keep-alive idle before close.
    uint32_t write_timeout_ms = 60'000;       ///< a client that reads nothing for this long is cut.
    uint32_t drain_timeout_ms = 30'000;       ///< SIGTERM: longest wait for in-flight requests.
};

/// Where runtime state lives. See docs/configuration.md ([storage]).
struct StorageConfig {
    std::string data_dir = "./data";  ///< SQLite file, secret key file, usage spool
    std::string database_url;         ///< postgres://... switches to PostgreSQL; "" = SQLite
    bool full_sync = false;           ///< usage_durability = "full": SQLite synchronous=FULL
};

/// The bootstrap configuration, validated. Immutable after Load.
struct Config {
    ServerConfig server;
    StorageConfig storage;
    /// --apply-config: write the file's upstreams, keys and settings into the database again
    /// (by name), not only at first start.
    bool apply_config = false;
    std::string log_level = "info";
    std::vector<UpstreamConfig> upstreams;
    std::vector<ClientKeyConfig> client_keys;
    std::string source;  ///< the config file path, or "" for embedded defaults.
    /// Env PROXY_URL: seeds the global outbound proxy setting (first start, --apply-config).
    std::optional<std::string> outbound_proxy;
};

/// Outcome of command-line parsing for flags that end the process early.
struct LoadResult {
    std::optional<Config> config;
    int exit_code = 0;        ///< meaningful when config is empty
    std::string message;      ///< text to print (help, version or the error)
    bool check_only = false;  ///< --check-config: validate and exit
};

/// Reads flags > env > file > defaults. `env` returns the value of a variable or nullopt
/// (injected for tests). Errors name the file, the field path and what is wrong.
LoadResult Load(int argc, const char* const* argv,
                const std::function<std::optional<std::string>(const char*)>& env);

/// Parses a TOML document (the file's contents) on top of defaults; `path` is only used in
/// messages. Throws std::runtime_error with "<path>: <field>: <problem>" on invalid input.
/// `env` expands `${VAR}` references in string values.
Config ParseToml(std::string_view text, const std::string& path,
                 const std::function<std::optional<std::string>(const char*)>& env);

/// Cross-field checks and the embedded default upstream. Throws std::runtime_error.
void Finalize(Config& config);

}  // namespace clove::config
