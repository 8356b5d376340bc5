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

TEST(ParseMessagesRequest, LargeBodiesGetTheSameAnswers) {
    MessagesRequestView v;
    std::string pad(2u << 20, 'a');
    auto big = [&](std::string_view head, std::string_view tail) {
        return std::string(head) + "\"pad\":\"" + pad + "\"" + std::string(tail);
    };
    ASSERT_FALSE(Parse(big(R"({"model":"claude-x","stream":true,)", "}"), v));
    EXPECT_EQ(v.model, "claude-x");
    EXPECT_TRUE(v.stream);
    ASSERT_FALSE(Parse(big(R"({"messages":[{"model":"inner"}],"model":"m2",)", "}"), v));
    EXPECT_EQ(v.model, "m2");
    EXPECT_FALSE(v.stream);
    EXPECT_TRUE(Parse(big(R"({"model":5,)", "}"), v));
    EXPECT_TRUE(Parse(big(R"({"stream":"x","model":"m",)", "}"), v));
    EXPECT_TRUE(Parse(big(R"({"model":"m",)", ""), v));
    EXPECT_TRUE(Parse(big(R"({"model":"m","x":"\ud800",)", "}"), v));
    EXPECT_TRUE(Parse(big("{\"model\":\"m\xff\",", "}"), v));
    std::string deep = R"({"model":"m","x":)" + std::string(200, '[') + std::string(200, ']') + ",";
    auto err = Parse(big(deep, "}"), v);
    ASSERT_TRUE(err);
    EXPECT_NE(err->message.find("nested too deeply"), std::string::npos);
}
