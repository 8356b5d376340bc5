#include "clove/api/usage.hpp"

#include <gtest/gtest.h>

#include "clove/sse/event_framer.hpp"

using namespace clove::api;

namespace {
const std::string kStream =
    "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
    "\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":100,"
    "\"cache_read_input_tokens\":7,\"cache_creation\":{\"ephemeral_5m_input_tokens\":60,"
    "\"ephemeral_1h_input_tokens\":40},\"output_tokens\":1}}}\r\n\r\n"
    "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"
    "event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"end_turn\"},\"usage\":{\"output_tokens\":42,\"input_tokens\":null}}\r\n\r\n"
    "event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n";
}  // namespace

TEST(StreamUsageTap, ReadsCumulativeUsageAtEverySplitPoint) {
    for (size_t cut = 0; cut <= kStream.size(); ++cut) {
        StreamUsageTap tap;
        clove::sse::EventFramer framer;
        std::string window;
        std::string scratch;
        auto feed = [&](std::string_view piece) {
            window.append(piece);
            size_t end = framer.Scan(window);
            clove::sse::ForEachEvent(std::string_view(window).substr(0, end), scratch,
                                     [&](const clove::sse::EventView& ev) { tap.OnEvent(ev.name, ev.data); });
            window.erase(0, end);
            framer.Consume(end);
        };
        feed(std::string_view(kStream).substr(0, cut));
        feed(std::string_view(kStream).substr(cut));
        ASSERT_TRUE(tap.saw_message_start());
        ASSERT_TRUE(tap.saw_message_stop()) << cut;
        EXPECT_EQ(tap.usage().input_tokens, 12);
        EXPECT_EQ(tap.usage().output_tokens, 42);
        EXPECT_EQ(tap.usage().cache_creation_input_tokens, 100);
        EXPECT_EQ(tap.usage().cache_read_input_tokens, 7);
        EXPECT_EQ(tap.usage().cache_creation_5m_tokens, 60);
        EXPECT_EQ(tap.usage().cache_creation_1h_tokens, 40);
    }
}

TEST(ReadMessageUsage, ReadsANonStreamingMessage) {
    Usage u;
    ASSERT_TRUE(ReadMessageUsage(
        R"({"id":"msg","content":[{"type":"text","text":"hi \"usage\""}],"usage":{"input_tokens":3,"output_tokens":9}})",
        u));
    EXPECT_EQ(u.input_tokens, 3);
    EXPECT_EQ(u.output_tokens, 9);
    EXPECT_EQ(u.cache_read_input_tokens, -1);
    Usage bad;
    EXPECT_FALSE(ReadMessageUsage("not json", bad));
}

TEST(ReadMessageUsage, SkipsStringsEscapesAndNestingOnTheWayToUsage) {
    Usage u;
    ASSERT_TRUE(ReadMessageUsage(
        "  {\"id\" : \"m\\\\\", \"content\":[{\"text\":\"\\\"usage\\\":{\\\"input_tokens\\\":99}\"},"
        "{\"input\":{\"usage\":{\"input_tokens\":98}},\"x\":[1,[2,{}],\"]}\"]}],\n"
        "\"stop_sequence\":null,\"n\":-1.5e3,\"t\":true,\"usage\" : {\"input_tokens\" : 7,\n"
        "\"cache_creation\":{\"ephemeral_5m_input_tokens\":5,\"other\":[1]},\"output_tokens\":0,"
        "\"cache_read_input_tokens\":null,\"server_tool_use\":{\"web_search_requests\":1}}}",
        u));
    EXPECT_EQ(u.input_tokens, 7);
    EXPECT_EQ(u.output_tokens, 0);
    EXPECT_EQ(u.cache_read_input_tokens, -1);  // null keeps the previous value
    EXPECT_EQ(u.cache_creation_5m_tokens, 5);
    EXPECT_EQ(u.cache_creation_1h_tokens, -1);
}

TEST(ReadMessageUsage, ReadsOnlyIntegersThatFitAndRefusesBrokenDocuments) {
    Usage u;
    ASSERT_TRUE(ReadMessageUsage(
        R"({"usage":{"input_tokens":9223372036854775807,"output_tokens":9223372036854775808,"cache_read_input_tokens":1.0,"cache_creation_input_tokens":-3}})",
        u));
    EXPECT_EQ(u.input_tokens, INT64_MAX);
    EXPECT_EQ(u.output_tokens, -1);  // out of int64 range: not an integer here
    EXPECT_EQ(u.cache_read_input_tokens, -1);
    EXPECT_EQ(u.cache_creation_input_tokens, -3);
    const std::string good = R"({"content":[{"text":"a\\"}],"usage":{"input_tokens":4,"output_tokens":5}})";
    for (size_t cut = 0; cut < good.size(); ++cut) {
        Usage t;
        // Every truncation either fails or, once the usage object is complete, reads it whole.
        if (ReadMessageUsage(std::string_view(good).substr(0, cut), t)) {
            EXPECT_EQ(t.input_tokens, 4) << cut;
            EXPECT_EQ(t.output_tokens, 5) << cut;
        } else {
            EXPECT_EQ(t.input_tokens, -1) << cut;
            EXPECT_EQ(t.output_tokens, -1) << cut;
        }
    }
    for (std::string_view bad : {"", "[]", "{", "{\"usage\":", "{\"usage\":5}", "{\"usage\":\"x\"}",
                                 "{\"a\":\"unterminated}", "{\"a\" 1,\"usage\":{}}", "{\"a\":{\"b\":1,\"usage\":{}}"}) {
        Usage t;
        EXPECT_FALSE(ReadMessageUsage(bad, t)) << bad;
        EXPECT_EQ(t.input_tokens, -1) << bad;
    }
    Usage none;
    EXPECT_FALSE(ReadMessageUsage(R"({"id":"x","content":[]})", none));
}
