#include "clove/translate/stop_matcher.hpp"

#include <gtest/gtest.h>

using clove::translate::StopMatcher;

namespace {

struct Run {
    std::string text;
    std::optional<size_t> matched;
};

Run Feed(std::vector<std::string> stops, const std::vector<std::string>& chunks) {
    StopMatcher m(std::move(stops));
    Run r;
    for (const auto& c : chunks) {
        r.matched = m.Feed(c, r.text);
        if (r.matched) {
            return r;
        }
    }
    m.Flush(r.text);
    return r;
}

}  // namespace

TEST(StopMatcher, CutsBeforeTheSequenceAndExcludesIt) {
    auto r = Feed({"STOP"}, {"Hello STOP world"});
    EXPECT_EQ(r.text, "Hello ");
    ASSERT_TRUE(r.matched);
    EXPECT_EQ(*r.matched, 0u);
}

TEST(StopMatcher, SequenceSplitAcrossChunksNeverLeaks) {
    const std::string text = "Hello STOP world";
    for (size_t a = 0; a <= text.size(); ++a) {
        for (size_t b = a; b <= text.size(); ++b) {
            StopMatcher m({"STOP"});
            std::string out;
            std::optional<size_t> hit;
            for (auto piece : {text.substr(0, a), text.substr(a, b - a), text.substr(b)}) {
                std::string got;
                hit = m.Feed(piece, got);
                // Whatever was released is always a prefix of the answer: nothing is taken back.
                out += got;
                EXPECT_EQ(out, std::string("Hello ").substr(0, out.size())) << a << "," << b;
                if (hit) {
                    break;
                }
            }
            EXPECT_EQ(out, "Hello ") << a << "," << b;
            EXPECT_TRUE(hit) << a << "," << b;
        }
    }
}

TEST(StopMatcher, FalseStartsAreReleased) {
    auto r = Feed({"STOP"}, {"ST", "O", "-STO", "P!"});
    EXPECT_EQ(r.text, "STO-");
    EXPECT_TRUE(r.matched);
}

TEST(StopMatcher, TextThatCannotStartASequenceLeavesAtOnce) {
    StopMatcher m({"\n\nHuman:"});
    std::string out;
    EXPECT_FALSE(m.Feed("abc\n", out));
    EXPECT_EQ(out, "abc");  // "\n" may start the sequence: held
    EXPECT_FALSE(m.Feed("x", out));
    EXPECT_EQ(out, "abc\nx");
}

TEST(StopMatcher, EarliestEndingSequenceWinsAndIndexIsTheCallers) {
    auto r = Feed({"", "world", "lo w"}, {"Hello world"});
    EXPECT_EQ(r.text, "Hel");
    ASSERT_TRUE(r.matched);
    EXPECT_EQ(*r.matched, 2u);  // empty sequences are ignored but keep the caller's indices
}

TEST(StopMatcher, ManySequencesAndMultibyte) {
    auto r = Feed({"a", "b", "c", "d", "e", "终"}, {"xyz 你好", "终了"});
    EXPECT_EQ(r.text, "xyz 你好");
    ASSERT_TRUE(r.matched);
    EXPECT_EQ(*r.matched, 5u);
}

TEST(StopMatcher, NoMatchFlushesEverything) {
    auto r = Feed({"STOP"}, {"Hello ST", "ILL"});
    EXPECT_EQ(r.text, "Hello STILL");
    EXPECT_FALSE(r.matched);
    auto held = Feed({"STOP"}, {"ends with ST"});
    EXPECT_EQ(held.text, "ends with ST");
}

TEST(StopMatcher, WithoutSequencesPassesThrough) {
    StopMatcher m({});
    std::string out;
    EXPECT_FALSE(m.Feed("anything", out));
    EXPECT_EQ(out, "anything");
    EXPECT_TRUE(m.empty());
}
