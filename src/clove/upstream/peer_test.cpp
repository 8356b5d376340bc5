#include "clove/upstream/peer.hpp"

#include <gtest/gtest.h>

using clove::upstream::ParseBaseUrl;

TEST(ParseBaseUrl, ReadsSchemeHostPortAndPath) {
    auto p = ParseBaseUrl("https://api.anthropic.com");
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->tls);
    EXPECT_EQ(p->host, "api.anthropic.com");
    EXPECT_EQ(p->port, 443);
    EXPECT_EQ(p->host_header, "api.anthropic.com");
    EXPECT_EQ(p->base_path, "");
    auto q = ParseBaseUrl("http://127.0.0.1:8080/proxy/");
    ASSERT_TRUE(q);
    EXPECT_FALSE(q->tls);
    EXPECT_EQ(q->port, 8080);
    EXPECT_EQ(q->host_header, "127.0.0.1:8080");
    EXPECT_EQ(q->base_path, "/proxy");
    auto v6 = ParseBaseUrl("http://[::1]:9000");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->host_header, "[::1]:9000");
}

TEST(ParseBaseUrl, RejectsMalformedUrls) {
    EXPECT_FALSE(ParseBaseUrl("ftp://x"));
    EXPECT_FALSE(ParseBaseUrl("http://"));
    EXPECT_FALSE(ParseBaseUrl("http://:80"));
    EXPECT_FALSE(ParseBaseUrl("http://x:99999"));
    EXPECT_FALSE(ParseBaseUrl("http://user@x"));
}

namespace clove::upstream {
namespace {

TEST(Peer, ProxyUrlsOfEveryKind) {
    auto p = *ParseBaseUrl("https://api.anthropic.com");
    ASSERT_TRUE(SetProxy(p, "socks5://user:p%40ss@127.0.0.1"));
    EXPECT_EQ(p.proxy_kind, Peer::ProxyKind::kSocks5);
    EXPECT_EQ(p.proxy_host, "127.0.0.1");
    EXPECT_EQ(p.proxy_port, 1080);
    EXPECT_EQ(p.proxy_user, "user");
    EXPECT_EQ(p.proxy_password, "p@ss");
    EXPECT_EQ(p.key.find("p@ss"), std::string::npos);
    p = *ParseBaseUrl("https://api.anthropic.com");
    ASSERT_TRUE(SetProxy(p, "http://[::1]:3128/"));
    EXPECT_EQ(p.proxy_kind, Peer::ProxyKind::kHttp);
    EXPECT_EQ(p.proxy_host, "::1");
    EXPECT_EQ(p.proxy_port, 3128);
    ASSERT_TRUE(SetProxy(p, "socks5h://proxy.local:9050"));
    EXPECT_EQ(p.proxy_port, 9050);
    ASSERT_TRUE(SetProxy(p, ""));
    EXPECT_EQ(p.proxy_kind, Peer::ProxyKind::kNone);
    EXPECT_FALSE(ValidProxyUrl("https://proxy:443"));
    EXPECT_FALSE(ValidProxyUrl("socks4://proxy:1080"));
    EXPECT_FALSE(ValidProxyUrl("http://proxy:3128/path"));
    EXPECT_FALSE(ValidProxyUrl(""));
    EXPECT_EQ(MaskProxyUrl("socks5://user:secret@127.0.0.1:1080"), "socks5://user:***@127.0.0.1:1080");
    EXPECT_EQ(MaskProxyUrl("http://127.0.0.1:3128"), "http://127.0.0.1:3128");
}

}  // namespace
}  // namespace clove::upstream

TEST(ChatCompletionsPath, AppendsWhatTheBaseLacks) {
    using clove::upstream::ChatCompletionsPath;
    EXPECT_EQ(ChatCompletionsPath(""), "/v1/chat/completions");
    EXPECT_EQ(ChatCompletionsPath("/v1"), "/v1/chat/completions");
    EXPECT_EQ(ChatCompletionsPath("/api/v1"), "/api/v1/chat/completions");
    EXPECT_EQ(ChatCompletionsPath("/v1beta/openai"), "/v1beta/openai/v1/chat/completions");
    EXPECT_EQ(ChatCompletionsPath("/openai/v3/"), "/openai/v3/chat/completions");
    EXPECT_EQ(ChatCompletionsPath("/custom/chat/completions"), "/custom/chat/completions");
    EXPECT_EQ(ChatCompletionsPath("/proxy"), "/proxy/v1/chat/completions");
}
