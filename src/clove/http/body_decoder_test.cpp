#include "clove/http/body_decoder.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using clove::http::BodyDecoder;

namespace {

/// Feeds `wire` in pieces cut at `cuts` the way the relay does and returns the payload.
std::string DecodeAll(BodyDecoder::Mode mode, uint64_t len, const std::string& wire,
                      const std::vector<size_t>& cuts, bool eof, BodyDecoder& d) {
    d.Start(mode, len);
    std::string buf;
    size_t payload_end = 0;
    std::string payload;
    size_t prev = 0;
    auto feed = [&](size_t upto) {
        size_t raw_begin = buf.size();
        buf.append(wire, prev, upto - prev);
        prev = upto;
        payload_end = d.Decode(buf.data(), payload_end, raw_begin, buf.size());
        buf.resize(payload_end);  // what the relay does after forwarding: keep only payload
        payload += buf;
        buf.clear();
        payload_end = 0;
    };
    for (size_t c : cuts) {
        feed(c);
    }
    feed(wire.size());
    if (eof) {
        d.OnEof();
    }
    return payload;
}

}  // namespace

TEST(BodyDecoder, DecodesChunkedAtEverySplitPoint) {
    const std::string wire =
        "5;name=val\r\nhello\r\n7\r\n, world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
    for (size_t a = 0; a <= wire.size(); ++a) {
        for (size_t b = a; b <= wire.size(); b += 7) {
            BodyDecoder d;
            auto out = DecodeAll(BodyDecoder::Mode::kChunked, 0, wire, {a, b}, false, d);
            ASSERT_TRUE(d.done()) << a << "," << b;
            ASSERT_EQ(out, "hello, world0123456789") << a << "," << b;
        }
    }
}

TEST(BodyDecoder, DecodesByteByByte) {
    const std::string wire = "3\r\nabc\r\n0\r\n\r\n";
    std::vector<size_t> cuts;
    for (size_t i = 1; i < wire.size(); ++i) {
        cuts.push_back(i);
    }
    BodyDecoder d;
    EXPECT_EQ(DecodeAll(BodyDecoder::Mode::kChunked, 0, wire, cuts, false, d), "abc");
    EXPECT_TRUE(d.done());
}

TEST(BodyDecoder, DetectsTruncationAndBadFraming) {
    BodyDecoder d;
    DecodeAll(BodyDecoder::Mode::kChunked, 0, "5\r\nhel", {}, true, d);
    EXPECT_TRUE(d.failed());
    DecodeAll(BodyDecoder::Mode::kChunked, 0, "zz\r\n", {}, false, d);
    EXPECT_TRUE(d.failed());
    DecodeAll(BodyDecoder::Mode::kChunked, 0, "3\r\nabcX\r\n", {}, false, d);
    EXPECT_TRUE(d.failed());
    DecodeAll(BodyDecoder::Mode::kChunked, 0, "1;" + std::string(5000, 'e') + "\r\na\r\n", {}, false, d);
    EXPECT_TRUE(d.failed());
    DecodeAll(BodyDecoder::Mode::kLength, 10, "short", {}, true, d);
    EXPECT_TRUE(d.failed());
}

TEST(BodyDecoder, HandlesLengthUntilCloseAndExcess) {
    BodyDecoder d;
    EXPECT_EQ(DecodeAll(BodyDecoder::Mode::kLength, 5, "hello", {2}, false, d), "hello");
    EXPECT_TRUE(d.done());
    EXPECT_EQ(DecodeAll(BodyDecoder::Mode::kLength, 3, "abcdef", {}, false, d), "abc");
    EXPECT_EQ(d.excess(), 3u);
    EXPECT_EQ(DecodeAll(BodyDecoder::Mode::kUntilClose, 0, "abc", {1}, true, d), "abc");
    EXPECT_TRUE(d.done());
}

TEST(BodyDecoder, RejectsTrailersAndBareLfWhenAskedTo) {
    BodyDecoder d;
    d.Start(BodyDecoder::Mode::kChunked, 0, true);
    std::string w = "1\r\na\r\n0\r\nX: y\r\n\r\n";
    d.Decode(w.data(), 0, 0, w.size());
    EXPECT_TRUE(d.failed());
    d.Start(BodyDecoder::Mode::kChunked, 0, true);
    std::string lf = "1\r\na\r\n0\n\n";
    d.Decode(lf.data(), 0, 0, lf.size());
    EXPECT_TRUE(d.failed());
}
