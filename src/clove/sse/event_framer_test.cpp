#include "clove/sse/event_framer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using clove::sse::EventFramer;

struct Collected {
    std::string forwarded;
    std::vector<std::pair<std::string, std::string>> events;
};

/// Feeds `input` in pieces cut at `cuts`, forwarding complete events as a relay does.
Collected Relay(const std::string& input, const std::vector<size_t>& cuts) {
    Collected out;
    EventFramer framer;
    std::string window;
    std::string scratch;
    size_t prev = 0;
    auto feed = [&](size_t upto) {
        window.append(input, prev, upto - prev);
        prev = upto;
        size_t end = framer.Scan(window);
        if (end > 0) {
            std::string_view span(window.data(), end);
            out.forwarded.append(span);
            clove::sse::ForEachEvent(span, scratch, [&](const clove::sse::EventView& ev) {
                out.events.emplace_back(std::string(ev.name), std::string(ev.data));
            });
            window.erase(0, end);
            framer.Consume(end);
        }
    };
    for (size_t c : cuts) {
        feed(c);
    }
    feed(input.size());
    return out;
}

const std::string kLf =
    "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
    ": comment\n\n"
    "event: content_block_delta\ndata: {\"a\":1}\n\n"
    "event: ping\ndata: {\"type\":\"ping\"}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

std::string WithLineEnds(const std::string& lf, const std::string& eol) {
    std::string out;
    for (char c : lf) {
        if (c == '\n') {
            out += eol;
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

TEST(EventFramer, FindsEventsAtEverySplitPointForLfCrLfAndCr) {
    for (const std::string eol : {"\n", "\r\n", "\r"}) {
        const std::string input = WithLineEnds(kLf, eol);
        auto whole = Relay(input, {});
        ASSERT_EQ(whole.events.size(), 4u) << "eol size " << eol.size();
        EXPECT_EQ(whole.events[0].first, "message_start");
        EXPECT_EQ(whole.events[1].second, "{\"a\":1}");
        EXPECT_EQ(whole.events[3].first, "message_stop");
        EXPECT_EQ(whole.forwarded, input);
        for (size_t cut = 0; cut <= input.size(); ++cut) {
            auto split = Relay(input, {cut});
            ASSERT_EQ(split.events, whole.events) << "cut at " << cut;
            ASSERT_EQ(split.forwarded, input) << "cut at " << cut;
        }
        for (size_t a = 0; a <= input.size(); a += 3) {
            for (size_t b = a; b <= input.size(); b += 5) {
                auto split = Relay(input, {a, b});
                ASSERT_EQ(split.events, whole.events) << "cuts " << a << "," << b;
            }
        }
    }
}

TEST(EventFramer, ForwardsByteByByteWithoutLosingEvents) {
    const std::string input = WithLineEnds(kLf, "\r\n");
    std::vector<size_t> cuts;
    for (size_t i = 1; i < input.size(); ++i) {
        cuts.push_back(i);
    }
    auto r = Relay(input, cuts);
    EXPECT_EQ(r.events.size(), 4u);
    EXPECT_EQ(r.forwarded, input);
}

TEST(EventFramer, HoldsBackAnIncompleteEvent) {
    EventFramer f;
    std::string w = "event: a\ndata: {}\n\nevent: b\ndata: {";
    EXPECT_EQ(f.Scan(w), std::string("event: a\ndata: {}\n\n").size());
    std::string w2 = "event: a\ndata: {}\n";
    EventFramer g;
    EXPECT_EQ(g.Scan(w2), 0u);
}

TEST(ForEachEvent, JoinsMultiLineDataAndSkipsComments) {
    std::string scratch;
    std::vector<std::string> data;
    clove::sse::ForEachEvent("event: x\ndata: a\ndata: b\n: c\n\ndata: z\n\n", scratch,
                             [&](const clove::sse::EventView& ev) { data.emplace_back(ev.data); });
    ASSERT_EQ(data.size(), 2u);
    EXPECT_EQ(data[0], "a\nb");
    EXPECT_EQ(data[1], "z");
}
