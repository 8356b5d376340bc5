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
