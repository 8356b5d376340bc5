#include "clove/http/request.hpp"

#include <gtest/gtest.h>

namespace clove::http {
namespace {

/// The byte-by-byte definition IEqualsAscii must agree with.
bool ReferenceIEquals(std::string_view a, std::string_view b) {
    auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c; };
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

TEST(IEqualsAscii, AgreesWithTheBytewiseDefinitionForEveryBytePairAtEveryPosition) {
    // Every pair of byte values, at every position of strings of 1..20 bytes (the 8-byte blocks,
    // the overlapping last block and the short path), with the rest of the string equal but for
    // letter case; this includes the edges of the capital range ('@', 'A', 'Z', '[', '`', 'a',
    // 'z', '{') and bytes >= 0x80, whose low seven bits look like letters.
    for (size_t len = 1; len <= 20; ++len) {
        std::string base;
        for (size_t i = 0; i < len; ++i) {
            base += static_cast<char>("anthropic-ratelimit-"[i % 20]);
        }
        std::string flipped = base;
        for (auto& c : flipped) {
            if (c >= 'a' && c <= 'z') {
                c = static_cast<char>(c - 32);
            }
        }
        ASSERT_TRUE(IEqualsAscii(base, flipped)) << len;
        for (size_t pos = 0; pos < len; ++pos) {
            std::string a = base;
            std::string b = flipped;
            for (int x = 0; x < 256; ++x) {
                for (int y = 0; y < 256; ++y) {
                    a[pos] = static_cast<char>(x);
                    b[pos] = static_cast<char>(y);
                    ASSERT_EQ(IEqualsAscii(a, b), ReferenceIEquals(a, b)) << "len " << len << " pos " << pos << " x " << x << " y " << y;
                }
            }
        }
    }
    EXPECT_TRUE(IEqualsAscii("", ""));
    EXPECT_FALSE(IEqualsAscii("content-length", "content-lengtx"));
    EXPECT_FALSE(IEqualsAscii("connection", "connectio"));
    EXPECT_TRUE(IEqualsAscii("Anthropic-RateLimit-Requests-Remaining", "anthropic-ratelimit-requests-remaining"));
}

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
