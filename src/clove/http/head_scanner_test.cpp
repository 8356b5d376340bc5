#include "clove/http/head_scanner.hpp"

#include <gtest/gtest.h>

#include <string>

using clove::http::HeadScanner;

namespace {
HeadScanner::State ScanWhole(const std::string& s) {
    HeadScanner h;
    return h.Scan(s);
}
}  // namespace

TEST(HeadScanner, AcceptsAValidHeadAtEverySplit) {
    const std::string head =
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-A: a\tb\r\n\r\n{}";
    for (size_t cut = 0; cut <= head.size(); ++cut) {
        HeadScanner h;
        auto s1 = h.Scan(std::string_view(head).substr(0, cut));
        if (s1 == HeadScanner::State::kComplete) {
            EXPECT_EQ(h.head_size(), head.size() - 2);
            continue;
        }
        ASSERT_EQ(s1, HeadScanner::State::kNeedMore) << cut;
        ASSERT_EQ(h.Scan(head), HeadScanner::State::kComplete) << cut;
        EXPECT_EQ(h.head_size(), head.size() - 2);
    }
}

TEST(HeadScanner, RejectsFramingTricks) {
    EXPECT_EQ(ScanWhole("GET / HTTP/1.1\nHost: x\n\n"), HeadScanner::State::kBad);
    EXPECT_EQ(ScanWhole("GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n"), HeadScanner::State::kBad);
    EXPECT_EQ(ScanWhole("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"), HeadScanner::State::kBad);
    EXPECT_EQ(ScanWhole("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), HeadScanner::State::kBad);
    EXPECT_EQ(ScanWhole(std::string("GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n", 28)), HeadScanner::State::kBad);
    EXPECT_EQ(ScanWhole("GET / HTTP/1.1\r\n: x\r\n\r\n"), HeadScanner::State::kBad);
    EXPECT_EQ(ScanWhole("GET / HTTP/1.1\r\nHost: x\r\n\n"), HeadScanner::State::kBad);
}

TEST(HeadScanner, RefusesEveryControlByteAndDelAtEveryPositionOfALine) {
    // Each byte value at each position of a 19-byte header value (the eight-byte blocks and the
    // tail): a head is refused exactly when the byte is a control other than HTAB, or DEL.
    // Bytes >= 0x80 (obs-text) pass.
    const std::string value = "abcdefghijklmnopqrs";
    for (size_t pos = 0; pos < value.size(); ++pos) {
        for (int b = 0; b < 256; ++b) {
            std::string v = value;
            v[pos] = static_cast<char>(b);
            const std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX-Long-Header: " + v + "\r\n\r\n";
            const bool bad = (b < 0x20 && b != '\t') || b == 0x7f;
            EXPECT_EQ(ScanWhole(head), bad ? HeadScanner::State::kBad : HeadScanner::State::kComplete)
                << "byte " << b << " at " << pos;
        }
    }
}

TEST(HeadScanner, SkipsLeadingEmptyLines) {
    HeadScanner h;
    ASSERT_EQ(h.Scan("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), HeadScanner::State::kComplete);
    EXPECT_EQ(h.leading_blank_bytes(), 2u);
}
