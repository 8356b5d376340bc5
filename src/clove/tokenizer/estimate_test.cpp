#include "clove/tokenizer/estimate.hpp"

#include <gtest/gtest.h>

#include <string>

#include "clove/tokenizer/bpe.hpp"

namespace clove::tokenizer {
namespace {

using C = EstimateConstants;

int64_t Tokens(std::string_view text) { return static_cast<int64_t>(Bpe::Default().Count(text)); }

TEST(Estimate, PlainText) {
    EXPECT_EQ(EstimateTextTokens(""), 0);
    EXPECT_EQ(EstimateTextTokens("Hello, world! It's 2024."), 9);
}

TEST(Estimate, SingleUserMessage) {
    const std::string body =
        R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hello, world! It's 2024."}]})";
    EXPECT_EQ(EstimateRequestTokens(body), C::kRequest + C::kMessage + 9);
}

TEST(Estimate, SystemStringAndBlocks) {
    const std::string base = R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})";
    const int64_t without = EstimateRequestTokens(base);
    EXPECT_EQ(without, C::kRequest + C::kMessage + Tokens("Hi"));
    const std::string as_string =
        R"({"model":"m","system":"You are a careful assistant.","messages":[{"role":"user","content":"Hi"}]})";
    EXPECT_EQ(EstimateRequestTokens(as_string), without + C::kSystem + Tokens("You are a careful assistant."));
    const std::string as_blocks =
        R"({"model":"m","system":[{"type":"text","text":"You are a careful assistant."},)"
        R"({"type":"text","text":"Answer briefly.","cache_control":{"type":"ephemeral"}}],)"
        R"("messages":[{"role":"user","content":"Hi"}]})";
    EXPECT_EQ(EstimateRequestTokens(as_blocks), without + C::kSystem + 2 * C::kBlock +
                                                    Tokens("You are a careful assistant.") +
                                                    Tokens("Answer briefly."));
}

TEST(Estimate, ToolsCountNameDescriptionSchemaAndThePrompt) {
    const std::string schema = R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})";
    const std::string body = R"({"model":"m","tools":[{"name":"get_weather","description":"Weather for a city.",)"
                             R"("input_schema": {"type": "object", "properties": {"city": {"type": "string"}},)"
                             R"( "required": ["city"]}}],"messages":[{"role":"user","content":"Hi"}]})";
    const int64_t tool = C::kTool + Tokens("get_weather") + Tokens("Weather for a city.") + Tokens(schema);
    const int64_t base = C::kRequest + C::kMessage + Tokens("Hi");
    EXPECT_EQ(EstimateRequestTokens(body), base + C::kToolsPromptAuto + tool);  // schema counted minified

    std::string forced = body;
    forced.insert(forced.size() - 1, R"(,"tool_choice":{"type":"any"})");
    EXPECT_EQ(EstimateRequestTokens(forced), base + C::kToolsPromptForced + tool);

    const std::string empty_tools = R"({"model":"m","tools":[],"messages":[{"role":"user","content":"Hi"}]})";
    EXPECT_EQ(EstimateRequestTokens(empty_tools), base);
}

TEST(Estimate, ServerToolsCountTheirSettings) {
    const std::string body = R"({"model":"m","tools":[{"type":"web_search_20250305","name":"web_search",)"
                             R"("allowed_domains":["example.com"]}],"messages":[]})";
    EXPECT_EQ(EstimateRequestTokens(body),
              C::kRequest + C::kToolsPromptAuto + C::kTool + Tokens("web_search") + Tokens("example.com"));
}

TEST(Estimate, ImagesAreAConstantAndTheirDataIsNotTokenized) {
    const std::string data(200000, 'A');
    const std::string body = R"({"model":"m","messages":[{"role":"user","content":[)"
                             R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":")" +
                             data + R"("}},{"type":"text","text":"What is this?"}]}]})";
    EXPECT_EQ(EstimateRequestTokens(body),
              C::kRequest + C::kMessage + C::kImage + C::kBlock + Tokens("What is this?"));
    const std::string by_url = R"({"model":"m","messages":[{"role":"user","content":[)"
                               R"({"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]})";
    EXPECT_EQ(EstimateRequestTokens(by_url), C::kRequest + C::kMessage + C::kImage);
}

TEST(Estimate, ToolUseAndToolResult) {
    const std::string body =
        R"({"model":"m","messages":[)"
        R"({"role":"user","content":"Weather in Paris?"},)"
        R"({"role":"assistant","content":[{"type":"thinking","thinking":"Use the tool.","signature":"c2lnbmF0dXJl"},)"
        R"({"type":"text","text":"Let me check."},)"
        R"({"type":"tool_use","id":"toolu_01","name":"get_weather","input":{ "city" : "Paris" }}]},)"
        R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":[)"
        R"({"type":"text","text":"18 C, sunny"},)"
        R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},)"
        R"({"type":"tool_result","tool_use_id":"toolu_02","content":"plain result","is_error":true}]}]})";
    const int64_t expected = C::kRequest + 3 * C::kMessage + Tokens("Weather in Paris?") +  //
                             C::kBlock + Tokens("Use the tool.") +                          // thinking
                             C::kBlock + Tokens("Let me check.") +                          // text
                             C::kToolUse + Tokens("get_weather") + Tokens(R"({"city":"Paris"})") +
                             C::kToolResult + C::kBlock + Tokens("18 C, sunny") + C::kImage +  //
                             C::kToolResult + Tokens("plain result");
    EXPECT_EQ(EstimateRequestTokens(body), expected);
}

TEST(Estimate, Documents) {
    const std::string text_doc =
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"document","title":"Notes",)"
        R"("source":{"type":"text","media_type":"text/plain","data":"The meeting is at noon."}}]}]})";
    EXPECT_EQ(EstimateRequestTokens(text_doc), C::kRequest + C::kMessage + C::kBlock + Tokens("Notes") +
                                                   Tokens("The meeting is at noon."));
    // A two-page PDF: "/Type /Page" twice (plus a /Pages root that must not count), base64.
    // %PDF-1.4 1 0 obj << /Type /Pages /Kids [2 0 R 3 0 R] >> 2 0 obj << /Type /Page >>
    // 3 0 obj << /Type/Page /Parent 1 0 R >>
    const std::string pdf_b64 =
        "JVBERi0xLjQKMSAwIG9iaiA8PCAvVHlwZSAvUGFnZXMgL0tpZHMgWzIgMCBSIDMgMCBSXSA+PgoyIDAgb2JqIDw8IC9UeXBlIC9QYWdl"
        "ID4+CjMgMCBvYmogPDwgL1R5cGUvUGFnZSAvUGFyZW50IDEgMCBSID4+Cg==";
    const std::string pdf_doc =
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"document",)"
        R"("source":{"type":"base64","media_type":"application/pdf","data":")" +
        pdf_b64 + R"("}}]}]})";
    EXPECT_EQ(EstimateRequestTokens(pdf_doc), C::kRequest + C::kMessage + C::kBlock + 2 * C::kPdfPage);
}

TEST(Estimate, UnknownBlocksCountTheirStrings) {
    const std::string body =
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"search_result","source":"https://a.example",)"
        R"("title":"A title","content":[{"type":"text","text":"Body text."}]}]}]})";
    EXPECT_EQ(EstimateRequestTokens(body), C::kRequest + C::kMessage + C::kBlock + Tokens("https://a.example") +
                                               Tokens("A title") + C::kBlock + Tokens("Body text."));
}

TEST(Estimate, AlwaysAtLeastOne) {
    EXPECT_EQ(EstimateRequestTokens("{}"), C::kRequest);
    EXPECT_GE(EstimateRequestTokens(""), 1);
    EXPECT_GE(EstimateRequestTokens("not json at all"), 1);
    EXPECT_GE(EstimateRequestTokens("[1,2,3]"), 1);
    EXPECT_GE(EstimateRequestTokens(R"({"messages":"oops","tools":{"x":1},"system":42})"), 1);
}

TEST(Estimate, SpecialTokenTextAndBadUnicodeAreCounted) {
    const std::string body = R"({"model":"m","messages":[{"role":"user","content":"<|endoftext|> \ud83d\ude00 <EOT>"}]})";
    EXPECT_EQ(EstimateRequestTokens(body), C::kRequest + C::kMessage + Tokens("<|endoftext|> \xF0\x9F\x98\x80 <EOT>"));
}

TEST(Estimate, DeepNestingIsBounded) {
    std::string deep = R"({"model":"m","messages":[{"role":"user","content":[{"type":"x","a":)";
    for (int i = 0; i < 500; ++i) deep += "[";
    deep += "\"s\"";
    for (int i = 0; i < 500; ++i) deep += "]";
    deep += "}]}]}";
    EXPECT_GE(EstimateRequestTokens(deep), C::kRequest + C::kMessage);
}

TEST(Estimate, TextBeyondTheExactBudgetIsExtrapolated) {
    const std::string sentence = "The quick brown fox jumps over the lazy dog. ";
    std::string text;
    while (text.size() < C::kExactTextBytes + (C::kExactTextBytes / 8)) text += sentence;
    // Tokens one more sentence adds in the middle of the text (the last one's trailing space is
    // a token of its own).
    const double per_byte = static_cast<double>(Tokens(sentence + sentence + sentence) - Tokens(sentence + sentence)) /
                            static_cast<double>(sentence.size());
    const double expected = per_byte * static_cast<double>(text.size());
    EXPECT_NEAR(static_cast<double>(EstimateTextTokens(text)), expected, expected / 100);
}

}  // namespace
}  // namespace clove::tokenizer
