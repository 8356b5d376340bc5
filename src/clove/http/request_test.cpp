#include "clove/http/request.hpp"

#include <gtest/gtest.h>

namespace clove::http {
namespace {

TEST(RequestParse, SplitsRequestLineAndFieldsInOrder) {
    Request r;
    ASSERT_EQ(r.Parse("POST /v1/messages?beta=true HTTP/1.1\r\nHost: a\r\nX-Api-Key:  k1 \r\n"
                      "content-type: application/json\r\nx-api-key: k2\r\n\r\n"),
              nullptr);
    EXPECT_EQ(r.method(), boost::beast::http::verb::post);
    EXPECT_EQ(r.method_string(), "POST");
    EXPECT_EQ(r.target(), "/v1/messages?beta=true");
    EXPECT_EQ(r.version(), 11u);
    EXPECT_TRUE(r.keep_alive());
    EXPECT_EQ(r["x-api-key"], "k1");  // the first one, value without OWS
    EXPECT_EQ(r["CONTENT-TYPE"], "application/json");
    EXPECT_EQ(r[boost::beast::http::field::host], "a");
    EXPECT_EQ(r.count("x-api-key"), 2u);
    EXPECT_EQ(r["missing"], "");
    std::vector<std::string> names;
    for (const auto& f : r) {
        names.emplace_back(f.name_string());
    }
    EXPECT_EQ(names, (std::vector<std::string>{"Host", "X-Api-Key", "content-type", "x-api-key"}));
}

TEST(RequestParse, KeepAliveFollowsVersionAndConnectionTokens) {
    Request r;
    ASSERT_EQ(r.Parse("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n"), nullptr);
    EXPECT_FALSE(r.keep_alive());
    ASSERT_EQ(r.Parse("GET / HTTP/1.0\r\n\r\n"), nullptr);
    EXPECT_EQ(r.version(), 10u);
    EXPECT_FALSE(r.keep_alive());
    ASSERT_EQ(r.Parse("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n"), nullptr);
    EXPECT_TRUE(r.keep_alive());
    ASSERT_EQ(r.Parse("GET / HTTP/1.1\r\nconnection: upgrade\r\nconnection: close\r\n\r\n"), nullptr);
    EXPECT_FALSE(r.keep_alive());  // several Connection lines form one list
}

TEST(RequestParse, UnknownMethodKeepsItsName) {
    Request r;
    ASSERT_EQ(r.Parse("BREW /pot HTTP/1.1\r\n\r\n"), nullptr);
    EXPECT_EQ(r.method(), boost::beast::http::verb::unknown);
    EXPECT_EQ(r.method_string(), "BREW");
}

TEST(RequestParse, RefusesMalformedRequestLines) {
    Request r;
    EXPECT_NE(r.Parse("POST  /x HTTP/1.1\r\n\r\n"), nullptr);      // empty target
    EXPECT_NE(r.Parse("POST /x HTTP/1.1 \r\n\r\n"), nullptr);      // trailing space
    EXPECT_NE(r.Parse("POST /x HTTX/1.1\r\n\r\n"), nullptr);
    EXPECT_NE(r.Parse("POST /x HTTP/11\r\n\r\n"), nullptr);
    EXPECT_NE(r.Parse("PO(ST /x HTTP/1.1\r\n\r\n"), nullptr);      // method is not a token
    EXPECT_NE(r.Parse(" POST /x HTTP/1.1\r\n\r\n"), nullptr);
    EXPECT_NE(r.Parse("POST /x\x7f HTTP/1.1\r\n\r\n"), nullptr);   // control byte in the target
    EXPECT_NE(r.Parse("POST /x HTTP/1.1\r\n:novalue\r\n\r\n"), nullptr);
}

TEST(RequestParse, ReusedObjectForgetsThePreviousRequest) {
    Request r;
    ASSERT_EQ(r.Parse("POST /a HTTP/1.1\r\nx-one: 1\r\n\r\n"), nullptr);
    r.body() = "payload";
    ASSERT_EQ(r.Parse("GET /b HTTP/1.1\r\nx-two: 2\r\n\r\n"), nullptr);
    EXPECT_EQ(r["x-one"], "");
    EXPECT_EQ(r["x-two"], "2");
    EXPECT_EQ(r.body(), "");
    EXPECT_EQ(r.target(), "/b");
}

TEST(HasTokenTest, CommaListsIgnoringCaseAndSpace) {
    EXPECT_TRUE(HasToken("keep-alive, Upgrade", "upgrade"));
    EXPECT_TRUE(HasToken(" close ", "close"));
    EXPECT_FALSE(HasToken("closed", "close"));
    EXPECT_FALSE(HasToken("", "close"));
}

}  // namespace
}  // namespace clove::http
