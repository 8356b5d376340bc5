#include "clove/api/messages_request.hpp"

#include <gtest/gtest.h>

using namespace clove::api;

namespace {
std::optional<RequestError> Parse(std::string_view body, MessagesRequestView& v) {
    return ParseMessagesRequest(body, v);
}
}  // namespace

TEST(ParseMessagesRequest, ReadsModelAndStream) {
    MessagesRequestView v;
    ASSERT_FALSE(Parse(R"({"model":"claude-x","max_tokens":5,"stream":true,"messages":[]})", v));
    EXPECT_EQ(v.model, "claude-x");
    EXPECT_TRUE(v.stream);
    ASSERT_FALSE(Parse(R"({"stream":false,"model":"m"})", v));
    EXPECT_FALSE(v.stream);
    ASSERT_FALSE(Parse(R"({"model":"m"})", v));
    EXPECT_FALSE(v.stream);
}

TEST(ParseMessagesRequest, RejectsBadBodiesWithAReason) {
    MessagesRequestView v;
    EXPECT_TRUE(Parse("", v));
    EXPECT_TRUE(Parse("[]", v));
    EXPECT_TRUE(Parse(R"({"max_tokens":5})", v));
    EXPECT_TRUE(Parse(R"({"model":5})", v));
    EXPECT_TRUE(Parse(R"({"model":"m","stream":"yes"})", v));
    EXPECT_TRUE(Parse(R"({"model":"m",})", v));
    EXPECT_TRUE(Parse("{\"model\":\"m\xff\"}", v));
    auto lone = Parse(R"({"model":"m","x":"\ud800"})", v);
    ASSERT_TRUE(lone);
}

TEST(ParseMessagesRequest, LimitsNestingDepthTo128) {
    MessagesRequestView v;
    auto nested = [](int depth) {
        std::string s = R"({"model":"m","x":)";
        for (int i = 0; i < depth - 1; ++i) {
            s += '[';
        }
        for (int i = 0; i < depth - 1; ++i) {
            s += ']';
        }
        return s + "}";
    };
    EXPECT_FALSE(Parse(nested(128), v));
    auto err = Parse(nested(129), v);
    ASSERT_TRUE(err);
    EXPECT_NE(err->message.find("nested too deeply"), std::string::npos);
    EXPECT_TRUE(Parse(std::string(100000, '['), v));
}

TEST(SpliceModel, ReplacesOnlyTheModelValue) {
    std::string body = R"({ "max_tokens": 5, "model" : "claude-latest" , "messages":[{"model":"x"}]})";
    EXPECT_EQ(SpliceModel(body, "claude-sonnet-4-5"),
              R"({ "max_tokens": 5, "model" : "claude-sonnet-4-5" , "messages":[{"model":"x"}]})");
    EXPECT_EQ(SpliceModel(R"({"model":"a"})", "q\"b"), R"({"model":"q\"b"})");
}
