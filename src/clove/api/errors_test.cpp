#include "clove/api/errors.hpp"

#include <gtest/gtest.h>

using namespace clove::api;

TEST(ErrorJson, BuildsTheAnthropicEnvelope) {
    EXPECT_EQ(ErrorJson("not_found_error", "no upstream serves model \"x\"", "req_1"),
              R"({"type":"error","error":{"type":"not_found_error","message":"no upstream serves model \"x\""},"request_id":"req_1"})");
    EXPECT_EQ(ErrorJson("api_error", "a\nb\x01", ""),
              R"({"type":"error","error":{"type":"api_error","message":"a\nb\u0001"},"request_id":null})");
}

TEST(ErrorTypeForStatus, MapsEveryDocumentedStatus) {
    EXPECT_EQ(ErrorTypeForStatus(400), "invalid_request_error");
    EXPECT_EQ(ErrorTypeForStatus(401), "authentication_error");
    EXPECT_EQ(ErrorTypeForStatus(402), "billing_error");
    EXPECT_EQ(ErrorTypeForStatus(403), "permission_error");
    EXPECT_EQ(ErrorTypeForStatus(404), "not_found_error");
    EXPECT_EQ(ErrorTypeForStatus(413), "request_too_large");
    EXPECT_EQ(ErrorTypeForStatus(429), "rate_limit_error");
    EXPECT_EQ(ErrorTypeForStatus(431), "invalid_request_error");
    EXPECT_EQ(ErrorTypeForStatus(500), "api_error");
    EXPECT_EQ(ErrorTypeForStatus(502), "api_error");
    EXPECT_EQ(ErrorTypeForStatus(504), "timeout_error");
    EXPECT_EQ(ErrorTypeForStatus(529), "overloaded_error");
}

TEST(ErrorEvent, IsOneSseFrame) {
    auto ev = ErrorEvent("overloaded_error", "busy", "req_2");
    EXPECT_EQ(ev.rfind("event: error\ndata: {", 0), 0u);
    EXPECT_EQ(ev.substr(ev.size() - 2), "\n\n");
    EXPECT_EQ(ev.find('\n', 13), ev.size() - 2);
}

TEST(ErrorBody, ReadsTypeAndMessageAroundChunkFraming) {
    auto e = clove::api::ParseErrorBody(
        "5a\r\n{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow \\\"down\\\"\"}}\r\n0\r\n\r\n");
    EXPECT_EQ(e.type, "rate_limit_error");
    EXPECT_EQ(e.message, "slow \"down\"");
    EXPECT_TRUE(clove::api::ParseErrorBody("<html>502 Bad Gateway</html>").message.empty());
    EXPECT_TRUE(clove::api::ParseErrorBody("{\"error\":\"flat\"}").type.empty());
}

TEST(AppendJsonString, EscapesOnlyWhatJsonNeedsAndCopiesRunsVerbatim) {
    auto lit = [](std::string_view s) {
        std::string out = "x";
        AppendJsonString(out, s);
        return out;
    };
    EXPECT_EQ(lit(""), "x\"\"");
    EXPECT_EQ(lit("req_clove_0123"), "x\"req_clove_0123\"");
    EXPECT_EQ(lit("a\"b\\c"), "x\"a\\\"b\\\\c\"");
    EXPECT_EQ(lit("\"\""), "x\"\\\"\\\"\"");
    EXPECT_EQ(lit("\n\r\t"), "x\"\\n\\r\\t\"");
    EXPECT_EQ(lit(std::string_view("\x00\x1f\x7f", 3)), "x\"\\u0000\\u001f\x7f\"");
    EXPECT_EQ(lit("caf\xc3\xa9 \xe2\x82\xac"), "x\"caf\xc3\xa9 \xe2\x82\xac\"");  // UTF-8 passes through
    EXPECT_EQ(lit("end\\"), "x\"end\\\\\"");
}

TEST(WriteJsonString, StaysWithinJsonStringMaxSizeForEveryByte) {
    // Each byte alone and all 256 together: the worst case (controls as \u00XX) fills the bound.
    std::string all;
    for (int c = 0; c < 256; ++c) {
        all += static_cast<char>(c);
        const std::string one(1, static_cast<char>(c));
        std::string buf(JsonStringMaxSize(1) + 1, '#');
        char* end = WriteJsonString(buf.data(), one);
        ASSERT_LE(static_cast<size_t>(end - buf.data()), JsonStringMaxSize(1)) << c;
        EXPECT_EQ(buf.back(), '#');
        std::string via_append;
        AppendJsonString(via_append, one);
        EXPECT_EQ(std::string_view(buf.data(), static_cast<size_t>(end - buf.data())), via_append);
    }
    std::string buf(JsonStringMaxSize(all.size()), '#');
    char* end = WriteJsonString(buf.data(), all);
    EXPECT_LE(static_cast<size_t>(end - buf.data()), buf.size());
    EXPECT_EQ(std::string_view(buf.data(), 8), "\"\\u0000\\");
}
