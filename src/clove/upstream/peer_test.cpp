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
