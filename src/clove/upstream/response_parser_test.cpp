#include "clove/upstream/response_parser.hpp"

#include <gtest/gtest.h>

using namespace clove::upstream;

TEST(ParseResponseHead, ReadsStatusFramingAndHeaders) {
    std::string w = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                    "Transfer-Encoding: chunked\r\nrequest-id: req_1\r\n\r\nabc";
    ResponseHead h;
    size_t n = 0;
    std::string err;
    for (size_t cut = 0; cut < w.size() - 3; ++cut) {
        ASSERT_EQ(ParseResponseHead(w.substr(0, cut), 65536, h, n, err), ParseStatus::kNeedMore);
    }
    ASSERT_EQ(ParseResponseHead(w, 65536, h, n, err), ParseStatus::kComplete);
    EXPECT_EQ(n, w.size() - 3);
    EXPECT_EQ(h.status, 200);
    EXPECT_TRUE(h.chunked);
    EXPECT_TRUE(h.event_stream);
    EXPECT_TRUE(h.keep_alive);
    EXPECT_FALSE(h.content_length);
    EXPECT_EQ(h.Get("REQUEST-ID"), "req_1");
}

TEST(ParseResponseHead, HandlesLengthCloseAndErrors) {
    ResponseHead h;
    size_t n = 0;
    std::string err;
    ASSERT_EQ(ParseResponseHead("HTTP/1.1 529 Overloaded\r\ncontent-length: 10\r\nconnection: close\r\n\r\n",
                                65536, h, n, err), ParseStatus::kComplete);
    EXPECT_EQ(h.status, 529);
    EXPECT_EQ(h.content_length, 10u);
    EXPECT_FALSE(h.keep_alive);
    EXPECT_EQ(ParseResponseHead("HTTP/1.1 20 OK\r\n\r\n", 65536, h, n, err), ParseStatus::kBad);
    EXPECT_EQ(ParseResponseHead("FOO\r\n\r\n", 65536, h, n, err), ParseStatus::kBad);
    EXPECT_EQ(ParseResponseHead("HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                                65536, h, n, err), ParseStatus::kBad);
    EXPECT_EQ(ParseResponseHead(std::string(100, 'x'), 50, h, n, err), ParseStatus::kBad);
}
