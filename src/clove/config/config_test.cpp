#include "clove/config/config.hpp"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

using namespace clove::config;

namespace {

std::function<std::optional<std::string>(const char*)> Env(std::map<std::string, std::string> vars) {
    return [vars](const char* name) -> std::optional<std::string> {
        auto it = vars.find(name);
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

std::string ErrorOf(std::string_view toml, std::map<std::string, std::string> vars = {}) {
    try {
        auto c = ParseToml(toml, "clove.toml", Env(vars));
        Finalize(c);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(ParseToml, ReadsTheDocumentedExample) {
    auto c = ParseToml(R"(
[server]
host = "0.0.0.0"
port = 8080
max_body_bytes = 1048576
[[upstream]]
name = "anthropic-main"
kind = "anthropic"
base_url = "https://api.anthropic.com"
api_key = "${ANTHROPIC_API_KEY}"
models = ["claude-*"]
model_map = { "claude-latest" = "claude-sonnet-4-5" }
[[client_key]]
name = "alice"
key = "${ALICE_KEY}"
)", "clove.toml", Env({{"ANTHROPIC_API_KEY", "sk-ant-x"}, {"ALICE_KEY", "ck-alice-123"}}));
    Finalize(c);
    EXPECT_EQ(c.server.host, "0.0.0.0");
    EXPECT_EQ(c.server.port, 8080);
    EXPECT_EQ(c.server.max_body_bytes, 1048576u);
    ASSERT_EQ(c.upstreams.size(), 1u);
    EXPECT_EQ(c.upstreams[0].api_key, "sk-ant-x");
    EXPECT_EQ(c.upstreams[0].model_map.at("claude-latest"), "claude-sonnet-4-5");
    ASSERT_EQ(c.client_keys.size(), 1u);
    EXPECT_EQ(c.client_keys[0].key, "ck-alice-123");
    EXPECT_GE(c.server.workers, 1u);
}

TEST(ParseToml, ErrorsNameTheFileFieldAndProblem) {
    EXPECT_EQ(ErrorOf("[server]\nport = 70000\n"), "clove.toml: server.port: must be between 0 and 65535");
    EXPECT_EQ(ErrorOf("[server]\nprot = 1\n"), "clove.toml: server.prot: unknown field");
    EXPECT_EQ(ErrorOf("[[upstream]]\nname = \"a\"\nbase_url = \"x\"\nauth = \"passthrough\"\n"),
              "clove.toml: upstream[0].base_url: must start with http:// or https://");
    EXPECT_EQ(ErrorOf("[[upstream]]\nname = \"a\"\napi_key = \"${NOPE}\"\n"),
              "clove.toml: upstream[0].api_key: environment variable NOPE is not set");
    EXPECT_EQ(ErrorOf("[[upstream]]\nname = \"a\"\nkind = \"bedrock\"\napi_key = \"k\"\n"),
              "clove.toml: upstream[0].kind: \"bedrock\" is not supported in this release (supported: anthropic, openai)");
    EXPECT_EQ(ErrorOf("[[upstream]]\nname = \"a\"\nkind = \"openai\"\napi_key = \"k\"\n[upstream.openai]\nmax_stop = 99\n"
                      "[[client_key]]\nname = \"c\"\nkey = \"ck-12345678\"\n"),
              "clove.toml: upstream[0].openai.max_stop: must be between 0 and 64");
    EXPECT_EQ(ErrorOf("[[upstream]]\nname = \"a\"\nkind = \"openai\"\napi_key = \"k\"\n[upstream.openai]\nreasoning_control = \"x\"\n"
                      "[[client_key]]\nname = \"c\"\nkey = \"ck-12345678\"\n"),
              "clove.toml: upstream[0].openai.reasoning_control: must be none, reasoning_effort, chat_template_kwargs or openrouter");
    EXPECT_EQ(ErrorOf("[[upstream]]\nname = \"a\"\napi_key = \"k\"\n[upstream.openai]\ntools = false\n"
                      "[[client_key]]\nname = \"c\"\nkey = \"ck-12345678\"\n"),
              "clove.toml: upstream[0].openai: only applies to kind = \"openai\"");
    EXPECT_NE(ErrorOf("[[upstream]]\nname = \"a\"\napi_key = \"k\"\n").find("needs client keys"), std::string::npos);
    EXPECT_NE(ErrorOf("[server\n").find("clove.toml:1"), std::string::npos);
}

TEST(Finalize, EmbeddedDefaultIsPassthroughToAnthropic) {
    Config c;
    Finalize(c);
    ASSERT_EQ(c.upstreams.size(), 1u);
    EXPECT_EQ(c.upstreams[0].base_url, "https://api.anthropic.com");
    EXPECT_EQ(c.upstreams[0].auth, UpstreamAuth::kPassthrough);
    EXPECT_EQ(c.server.port, 5201);
    EXPECT_EQ(c.server.host, "127.0.0.1");
}

TEST(Load, FlagsBeatEnvBeatFile) {
    const char* argv[] = {"clove", "--port", "7000"};
    auto r = Load(3, argv, Env({{"PORT", "6000"}, {"HOST", "0.0.0.0"}, {"API_KEYS", "ck-one-1111, ck-two-2222"}}));
    ASSERT_TRUE(r.config) << r.message;
    EXPECT_EQ(r.config->server.port, 7000);
    EXPECT_EQ(r.config->server.host, "0.0.0.0");
    ASSERT_EQ(r.config->client_keys.size(), 2u);
    EXPECT_EQ(r.config->client_keys[1].key, "ck-two-2222");
    const char* bad[] = {"clove", "--port", "x"};
    EXPECT_FALSE(Load(3, bad, Env({})).config);
    const char* ver[] = {"clove", "--version"};
    auto v = Load(2, ver, Env({}));
    EXPECT_FALSE(v.config);
    EXPECT_EQ(v.exit_code, 0);
    EXPECT_EQ(v.message.rfind("clove ", 0), 0u);
}

TEST(ParseToml, OpenAIKindWithCapabilityFlags) {
    auto c = ParseToml(R"(
[[upstream]]
name = "local"
kind = "openai"
base_url = "http://127.0.0.1:8000/v1"
api_key = "k"
[upstream.openai]
tools = false
tool_emulation = true
reasoning_control = "chat_template_kwargs"
max_stop = 0
token_factor = 1.25
[[upstream]]
name = "claude"
api_key = "k2"
[[client_key]]
name = "c"
key = "ck-12345678"
)",
                       "clove.toml", Env({}));
    Finalize(c);
    ASSERT_EQ(c.upstreams.size(), 2u);
    const auto& u = c.upstreams[0];
    EXPECT_EQ(u.kind, UpstreamKind::kOpenAI);
    EXPECT_EQ(u.models, std::vector<std::string>{"*"});  // an OpenAI upstream serves what it is asked by default
    EXPECT_FALSE(u.openai.tools);
    EXPECT_TRUE(u.openai.tool_emulation);
    EXPECT_EQ(u.openai.reasoning_control, "chat_template_kwargs");
    EXPECT_EQ(u.openai.max_stop, 0);
    EXPECT_DOUBLE_EQ(u.openai.token_factor, 1.25);
    EXPECT_EQ(c.upstreams[1].kind, UpstreamKind::kAnthropic);
    EXPECT_EQ(c.upstreams[1].openai, OpenAIOptions{});
}
