#include "clove/http/response_head.hpp"

#include <gtest/gtest.h>

TEST(HeadBuilder, WritesStatusHeadersAndBlankLine) {
    std::string s = "garbage";
    clove::http::HeadBuilder h(s);
    h.Status(529);
    h.Header("content-type", "application/json");
    h.Header("content-length", uint64_t{42});
    h.End();
    EXPECT_EQ(s, "HTTP/1.1 529 Overloaded\r\ncontent-type: application/json\r\ncontent-length: 42\r\n\r\n");
}
