#include "clove/translate/chat_front.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "clove/sse/event_framer.hpp"

namespace {

namespace json = boost::json;
using clove::translate::AnthropicErrorToChat;
using clove::translate::ChatErrorJson;
using clove::translate::FromChatRequest;
using clove::translate::FrontPlan;
using clove::translate::MessagesToChatStream;
using clove::translate::MessageToChatCompletion;
using clove::translate::TranslateError;

// ---- helpers ----------------------------------------------------------------------------------

json::object Parse(const std::string& s) {
    boost::system::error_code ec;
    json::value v = json::parse(s, ec);
    EXPECT_FALSE(ec) << s;
    EXPECT_TRUE(v.is_object()) << s;
    return v.is_object() ? v.get_object() : json::object{};
}

/// Translates a request that must succeed.
json::object Req(const std::string& body, FrontPlan* plan_out = nullptr, int64_t default_max = 4096) {
    std::string out;
    FrontPlan plan;
    auto err = FromChatRequest(body, "claude-up", default_max, out, plan);
    EXPECT_FALSE(err.has_value()) << (err ? err->message : "") << "\nbody: " << body;
    if (plan_out) { *plan_out = plan; }
    if (err) { return {}; }
    EXPECT_EQ(out.find('\n'), std::string::npos);  // compact
    return Parse(out);
}

/// Translates a request that must fail; returns the error.
TranslateError ReqErr(const std::string& body) {
    std::string out;
    FrontPlan plan;
    auto err = FromChatRequest(body, "claude-up", 4096, out, plan);
    EXPECT_TRUE(err.has_value()) << "expected an error for: " << body << "\ngot: " << out;
    return err.value_or(TranslateError{0, ""});
}

std::string Msgs(const std::string& messages_json, const std::string& extra = "") {
    return R"({"model":"gpt-4o","messages":)" + messages_json + (extra.empty() ? "" : "," + extra) + "}";
}

json::value J(const std::string& s) { return json::parse(s); }

/// Splits a chunk stream into its `data:` payloads ("[DONE]" kept as a string value).
std::vector<json::value> Chunks(const std::string& bytes) {
    std::vector<json::value> out;
    size_t pos = 0;
    while (pos < bytes.size()) {
        size_t end = bytes.find("\n\n", pos);
        EXPECT_NE(end, std::string::npos) << "unterminated frame: " << bytes.substr(pos);
        if (end == std::string::npos) { break; }
        std::string frame = bytes.substr(pos, end - pos);
        pos = end + 2;
        EXPECT_EQ(frame.rfind("data: ", 0), 0u) << frame;
        std::string payload = frame.substr(6);
        EXPECT_EQ(payload.find('\n'), std::string::npos) << payload;
        if (payload == "[DONE]") {
            out.emplace_back("[DONE]");
            continue;
        }
        boost::system::error_code ec;
        json::value v = json::parse(payload, ec);
        EXPECT_FALSE(ec) << payload;
        out.push_back(v);
    }
    return out;
}

/// Feeds raw SSE bytes through EventFramer/ForEachEvent in `piece`-byte slices.
std::string FeedSse(MessagesToChatStream& conv, const std::string& sse, size_t piece) {
    std::string out;
    clove::sse::EventFramer framer;
    std::string window;
    std::string scratch;
    for (size_t pos = 0; pos < sse.size(); pos += piece) {
        window.append(sse, pos, piece);
        const size_t end = framer.Scan(window);
        if (end == 0) { continue; }
        clove::sse::ForEachEvent(std::string_view(window.data(), end), scratch,
                                 [&](const clove::sse::EventView& ev) { conv.OnEvent(ev.name, ev.data, out); });
        window.erase(0, end);
        framer.Consume(end);
    }
    return out;
}

std::string Ev(const std::string& name, const std::string& data) {
    return "event: " + name + "\ndata: " + data + "\n\n";
}

const json::object& Delta(const json::value& chunk) { return chunk.at("choices").at(0).at("delta").get_object(); }

/// A plan for the streaming tests: client model "m"; include_usage asks for the usage chunk.
FrontPlan StreamPlan(bool include_usage = false) {
    FrontPlan plan;
    plan.client_model = "m";
    plan.include_usage = include_usage;
    return plan;
}

/// The data of a text_delta event of block 0 (`text` already JSON-escaped).
std::string TextDelta(const std::string& text) {
    return R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":")" + text + "\"}}";
}

/// The start of a text answer: message_start with `message`, text block 0, a text_delta of `text`.
std::string TextOpening(const std::string& message, const std::string& text) {
    return Ev("message_start", R"({"type":"message_start","message":)" + message + "}") +
           Ev("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})") +
           Ev("content_block_delta", TextDelta(text));
}

// ---- request: basics ----------------------------------------------------------------------------

TEST(ChatFrontRequest, BasicMapping) {
    FrontPlan plan;
    auto out = Req(Msgs(R"([{"role":"user","content":"Hello"}])"), &plan);
    EXPECT_EQ(out.at("model"), "claude-up");
    EXPECT_EQ(out.at("max_tokens"), 4096);
    EXPECT_EQ(out.at("stream"), false);
    EXPECT_FALSE(out.contains("system"));
    EXPECT_EQ(out.at("messages"), J(R"([{"role":"user","content":"Hello"}])"));
    EXPECT_EQ(plan.client_model, "gpt-4o");
    EXPECT_FALSE(plan.stream);
    EXPECT_FALSE(plan.include_usage);
    EXPECT_TRUE(plan.reasoning_out);
}

TEST(ChatFrontRequest, StreamFlagAndIncludeUsage) {
    FrontPlan plan;
    auto out = Req(Msgs(R"([{"role":"user","content":"hi"}])",
                        R"("stream":true,"stream_options":{"include_usage":true})"),
                   &plan);
    EXPECT_EQ(out.at("stream"), true);
    EXPECT_TRUE(plan.stream);
    EXPECT_TRUE(plan.include_usage);
    EXPECT_FALSE(out.contains("stream_options"));

    out = Req(Msgs(R"([{"role":"user","content":"hi"}])", R"("stream":false)"), &plan);
    EXPECT_EQ(out.at("stream"), false);
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"hi"}])", R"("stream":"yes")")).status, 400);
}

TEST(ChatFrontRequest, MaxTokens) {
    auto out = Req(Msgs(R"([{"role":"user","content":"x"}])", R"("max_completion_tokens":100,"max_tokens":50)"));
    EXPECT_EQ(out.at("max_tokens"), 100);
    out = Req(Msgs(R"([{"role":"user","content":"x"}])", R"("max_tokens":50)"));
    EXPECT_EQ(out.at("max_tokens"), 50);
    out = Req(Msgs(R"([{"role":"user","content":"x"}])", R"("max_tokens":null)"), nullptr, 777);
    EXPECT_EQ(out.at("max_tokens"), 777);
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"x"}])", R"("max_tokens":0)")).status, 400);
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"x"}])", R"("max_completion_tokens":"9")")).status, 400);
}

TEST(ChatFrontRequest, Errors) {
    EXPECT_EQ(ReqErr("{not json").status, 400);
    EXPECT_EQ(ReqErr("[1,2]").status, 400);
    EXPECT_EQ(ReqErr(R"({"model":"m"})").status, 400);
    EXPECT_EQ(ReqErr(R"({"model":"m","messages":[]})").status, 400);
    EXPECT_EQ(ReqErr(R"({"model":"m","messages":"hi"})").status, 400);
    EXPECT_EQ(ReqErr(R"({"messages":[{"role":"user","content":"x"}]})").status, 400);
    auto e = ReqErr(Msgs(R"([{"role":"user","content":"x"}])", R"("n":2)"));
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(e.message.find("n"), std::string::npos);
    Req(Msgs(R"([{"role":"user","content":"x"}])", R"("n":1)"));
    e = ReqErr(Msgs(R"([{"role":"robot","content":"x"}])"));
    EXPECT_NE(e.message.find("robot"), std::string::npos);
    EXPECT_NE(e.message.find("messages[0].role"), std::string::npos);
    EXPECT_EQ(ReqErr(Msgs(R"([{"content":"x"}])")).status, 400);
    EXPECT_EQ(ReqErr(Msgs(R"([1])")).status, 400);
    // Only system messages: nothing to send.
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"system","content":"x"}])")).status, 400);
    // Invalid UTF-8 in the body.
    const std::string bad_utf8 = std::string("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"") +
                                 "\xff\xfe" + "\"}]}";
    EXPECT_EQ(ReqErr(bad_utf8).status, 400);
}

// ---- request: messages --------------------------------------------------------------------------

TEST(ChatFrontRequest, SystemAndDeveloperHoisted) {
    auto out = Req(Msgs(R"([
        {"role":"system","content":"Be brief."},
        {"role":"user","content":"Q1"},
        {"role":"developer","content":[{"type":"text","text":"Part A"},{"type":"text","text":"Part B"}]},
        {"role":"assistant","content":"A1"},
        {"role":"system","content":""},
        {"role":"user","content":"Q2"}])"));
    EXPECT_EQ(out.at("system"), "Be brief.\nPart A\nPart B");
    EXPECT_EQ(out.at("messages"), J(R"([
        {"role":"user","content":"Q1"},
        {"role":"assistant","content":[{"type":"text","text":"A1"}]},
        {"role":"user","content":"Q2"}])"));
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"system","content":[{"type":"image_url","image_url":{"url":"x"}}]},
                              {"role":"user","content":"x"}])"))
                  .status,
              400);
}

TEST(ChatFrontRequest, UserParts) {
    auto out = Req(Msgs(R"([{"role":"user","content":[
        {"type":"text","text":"look"},
        {"type":"text","text":""},
        {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},
        {"type":"image_url","image_url":{"url":"data:image/jpg;base64,/9j/4AAQ"}},
        {"type":"image_url","image_url":{"url":"https://example.com/cat.webp"}},
        {"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0x","filename":"a.pdf"}},
        {"type":"file","file":{"file_data":"JVBERi0y"}}]}])"));
    EXPECT_EQ(out.at("messages"), J(R"([{"role":"user","content":[
        {"type":"text","text":"look"},
        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
        {"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}},
        {"type":"image","source":{"type":"url","url":"https://example.com/cat.webp"}},
        {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0x"},"title":"a.pdf"},
        {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0y"}}]}])"));
}

TEST(ChatFrontRequest, UserPartErrors) {
    auto part = [](const std::string& p) { return Msgs(R"([{"role":"user","content":[)" + p + "]}]"); };
    auto e = ReqErr(part(R"({"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}})"));
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(e.message.find("input_audio"), std::string::npos);
    e = ReqErr(part(R"({"type":"image_url","image_url":{"url":"data:image/bmp;base64,Qk0="}})"));
    EXPECT_NE(e.message.find("image/bmp"), std::string::npos);
    EXPECT_NE(e.message.find("messages[0].content[0]"), std::string::npos);
    EXPECT_EQ(ReqErr(part(R"({"type":"image_url","image_url":{"url":"data:image/png,rawbytes"}})")).status, 400);
    EXPECT_EQ(ReqErr(part(R"({"type":"image_url","image_url":{"url":"ftp://x/y.png"}})")).status, 400);
    EXPECT_EQ(ReqErr(part(R"({"type":"image_url","image_url":{}})")).status, 400);
    EXPECT_EQ(ReqErr(part(R"({"type":"file","file":{"file_id":"file-abc"}})")).status, 400);
    EXPECT_EQ(ReqErr(part(R"({"type":"file","file":{"file_data":"data:text/csv;base64,YSxi"}})")).status, 400);
    EXPECT_EQ(ReqErr(part(R"({"type":"video","video":{}})")).status, 400);
    EXPECT_EQ(ReqErr(part(R"({"text":"no type"})")).status, 400);
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user"}])")).status, 400);
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":5}])")).status, 400);
}

TEST(ChatFrontRequest, AssistantTextAndToolCalls) {
    auto out = Req(Msgs(R"([
        {"role":"user","content":"weather?"},
        {"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"refusal","refusal":"no"}],
         "reasoning_content":"secret thoughts",
         "tool_calls":[
            {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]},
        {"role":"tool","tool_call_id":"call_1","content":"sunny"},
        {"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"12:"},{"type":"text","text":"00"}]},
        {"role":"user","content":"thanks"}])"));
    EXPECT_EQ(out.at("messages"), J(R"([
        {"role":"user","content":"weather?"},
        {"role":"assistant","content":[
            {"type":"text","text":"Checking."},
            {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},
            {"type":"tool_use","id":"call_2","name":"get_time","input":{}}]},
        {"role":"user","content":[
            {"type":"tool_result","tool_use_id":"call_1","content":"sunny"},
            {"type":"tool_result","tool_use_id":"call_2","content":"12:00"},
            {"type":"text","text":"thanks"}]}])"));
    EXPECT_EQ(serialize(out).find("secret thoughts"), std::string::npos);
}

TEST(ChatFrontRequest, ToolResultsGoFirstAndEmptyToolContent) {
    // A user message before the tool messages (odd but seen): tool_result blocks still lead.
    auto out = Req(Msgs(R"([
        {"role":"user","content":"q"},
        {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
        {"role":"user","content":"hurry"},
        {"role":"tool","tool_call_id":"c1","content":""}])"));
    EXPECT_EQ(out.at("messages").at(2), J(R"({"role":"user","content":[
        {"type":"tool_result","tool_use_id":"c1"},{"type":"text","text":"hurry"}]})"));
}

TEST(ChatFrontRequest, ToolResultWithImage) {
    auto out = Req(Msgs(R"([
        {"role":"user","content":"q"},
        {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"shot","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"here"},
            {"type":"image_url","image_url":{"url":"data:image/gif;base64,R0lG"}}]}])"));
    EXPECT_EQ(out.at("messages").at(2), J(R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"c1",
        "content":[{"type":"text","text":"here"},
                   {"type":"image","source":{"type":"base64","media_type":"image/gif","data":"R0lG"}}]}]})"));
}

TEST(ChatFrontRequest, InvalidToolArguments) {
    auto e = ReqErr(Msgs(R"([{"role":"user","content":"q"},
        {"role":"assistant","tool_calls":[{"id":"call_bad","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}])"));
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(e.message.find("call_bad"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("messages[1].tool_calls[0].function.arguments"), std::string::npos) << e.message;
    e = ReqErr(Msgs(R"([{"role":"user","content":"q"},
        {"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}])"));
    EXPECT_EQ(e.status, 400);
    // Missing id / name.
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"q"},
        {"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}])"))
                  .status,
              400);
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"q"},
        {"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}])"))
                  .status,
              400);
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"tool","content":"x"}])")).status, 400);
    // "null" and whitespace-only arguments mean no arguments.
    auto out = Req(Msgs(R"([{"role":"user","content":"q"},
        {"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":" null "}},
                                          {"id":"d","type":"function","function":{"name":"f","arguments":"  "}}]}])"));
    EXPECT_EQ(out.at("messages").at(1).at("content").at(0).at("input"), J("{}"));
    EXPECT_EQ(out.at("messages").at(1).at("content").at(1).at("input"), J("{}"));
}

TEST(ChatFrontRequest, UnsafeToolIdsRewrittenConsistently) {
    auto out = Req(Msgs(R"([{"role":"user","content":"q"},
        {"role":"assistant","tool_calls":[{"id":"functions.f:0","type":"function","function":{"name":"f","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"functions.f:0","content":"ok"}])"));
    const auto& use_id = out.at("messages").at(1).at("content").at(0).at("id").as_string();
    const auto& result_id = out.at("messages").at(2).at("content").at(0).at("tool_use_id").as_string();
    EXPECT_EQ(use_id, result_id);
    EXPECT_EQ(use_id.subview().substr(0, 7), "toolu_x");
    EXPECT_EQ(use_id.find_first_of(".:"), json::string::npos);
}

TEST(ChatFrontRequest, EmptyAssistantDroppedAndSameRoleMerged) {
    auto out = Req(Msgs(R"([
        {"role":"user","content":"one"},
        {"role":"assistant","content":""},
        {"role":"assistant","content":null},
        {"role":"assistant","content":[]},
        {"role":"user","content":[{"type":"text","text":"two"}]},
        {"role":"assistant","content":"A"},
        {"role":"assistant","content":"B"},
        {"role":"user","content":"three"}])"));
    EXPECT_EQ(out.at("messages"), J(R"([
        {"role":"user","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]},
        {"role":"assistant","content":[{"type":"text","text":"A"},{"type":"text","text":"B"}]},
        {"role":"user","content":"three"}])"));
}

TEST(ChatFrontRequest, TrailingAssistantPrefillTrimmed) {
    auto out = Req(Msgs(R"([{"role":"user","content":"q"},{"role":"assistant","content":"The answer is \n"}])"));
    EXPECT_EQ(out.at("messages").at(1), J(R"({"role":"assistant","content":[{"type":"text","text":"The answer is"}]})"));
    out = Req(Msgs(R"([{"role":"user","content":"q"},{"role":"assistant","content":"  "}])"));
    EXPECT_EQ(out.at("messages").as_array().size(), 1u);
}

TEST(ChatFrontRequest, LegacyFunctionMessages) {
    auto out = Req(Msgs(R"([
        {"role":"user","content":"q"},
        {"role":"assistant","content":null,"function_call":{"name":"lookup","arguments":"{\"k\":1}"}},
        {"role":"function","name":"lookup","content":"v"}])",
                        R"("functions":[{"name":"lookup","parameters":{"type":"object","properties":{"k":{"type":"integer"}}}}],
                           "function_call":{"name":"lookup"})"));
    EXPECT_EQ(out.at("messages"), J(R"([
        {"role":"user","content":"q"},
        {"role":"assistant","content":[{"type":"tool_use","id":"call_legacy_1","name":"lookup","input":{"k":1}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_legacy_1","content":"v"}]}])"));
    EXPECT_EQ(out.at("tools"), J(R"([{"name":"lookup","input_schema":{"type":"object","properties":{"k":{"type":"integer"}}}}])"));
    EXPECT_EQ(out.at("tool_choice"), J(R"({"type":"tool","name":"lookup"})"));

    out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("functions":[{"name":"a"}],"function_call":"none")"));
    EXPECT_EQ(out.at("tool_choice"), J(R"({"type":"none"})"));

    auto e = ReqErr(Msgs(R"([{"role":"user","content":"q"},{"role":"function","name":"lookup","content":"v"}])"));
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(e.message.find("lookup"), std::string::npos);
}

// ---- request: tools and options ---------------------------------------------------------------

TEST(ChatFrontRequest, Tools) {
    auto out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("tools":[
        {"type":"function","function":{"name":"a","description":"does a","strict":true,
            "parameters":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}}},
        {"type":"function","function":{"name":"b"}},
        {"type":"function","function":{"name":"c","description":"","parameters":{"properties":{}}}}])"));
    EXPECT_EQ(out.at("tools"), J(R"([
        {"name":"a","description":"does a","input_schema":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}},
        {"name":"b","input_schema":{"type":"object","properties":{}}},
        {"name":"c","input_schema":{"properties":{},"type":"object"}}])"));
    EXPECT_FALSE(out.contains("tool_choice"));

    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"q"}])",
                          R"("tools":[{"type":"custom","custom":{"name":"x"}}])"))
                  .status,
              400);
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"q"}])", R"("tools":[{"type":"function","function":{}}])"))
                  .status,
              400);
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"q"}])",
                          R"("tools":[{"type":"function","function":{"name":"x","parameters":"no"}}])"))
                  .status,
              400);
}

TEST(ChatFrontRequest, ToolChoice) {
    const std::string tools = R"("tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}])";
    auto choice = [&](const std::string& extra) {
        auto out = Req(Msgs(R"([{"role":"user","content":"q"}])", tools + "," + extra));
        return out.contains("tool_choice") ? out.at("tool_choice") : json::value(nullptr);
    };
    EXPECT_EQ(choice(R"("tool_choice":"auto")"), J(R"({"type":"auto"})"));
    EXPECT_EQ(choice(R"("tool_choice":"none")"), J(R"({"type":"none"})"));
    EXPECT_EQ(choice(R"("tool_choice":"required")"), J(R"({"type":"any"})"));
    EXPECT_EQ(choice(R"("tool_choice":{"type":"function","function":{"name":"b"}})"), J(R"({"type":"tool","name":"b"})"));
    EXPECT_EQ(choice(R"("parallel_tool_calls":false)"), J(R"({"type":"auto","disable_parallel_tool_use":true})"));
    EXPECT_EQ(choice(R"("tool_choice":"required","parallel_tool_calls":false)"),
              J(R"({"type":"any","disable_parallel_tool_use":true})"));
    EXPECT_EQ(choice(R"("tool_choice":{"type":"function","function":{"name":"a"}},"parallel_tool_calls":false)"),
              J(R"({"type":"tool","name":"a","disable_parallel_tool_use":true})"));
    EXPECT_EQ(choice(R"("tool_choice":"none","parallel_tool_calls":false)"), J(R"({"type":"none"})"));
    EXPECT_EQ(choice(R"("parallel_tool_calls":true)"), json::value(nullptr));
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"q"}])", tools + R"(,"tool_choice":"sometimes")")).status, 400);
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"q"}])", tools + R"(,"tool_choice":{"type":"function"})"))
                  .status,
              400);

    // allowed_tools: mode maps, the list keeps only the named tools.
    auto out = Req(Msgs(R"([{"role":"user","content":"q"}])",
                        tools + R"(,"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required",
                                    "tools":[{"type":"function","function":{"name":"b"}}]}})"));
    EXPECT_EQ(out.at("tool_choice"), J(R"({"type":"any"})"));
    EXPECT_EQ(out.at("tools"), J(R"([{"name":"b","input_schema":{"type":"object","properties":{}}}])"));

    // No tools: tool_choice and parallel_tool_calls have nothing to act on.
    out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("tool_choice":"none","parallel_tool_calls":false)"));
    EXPECT_FALSE(out.contains("tool_choice"));
    EXPECT_FALSE(out.contains("tools"));
}

TEST(ChatFrontRequest, SamplingStopUserAndDroppedFields) {
    auto out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"(
        "temperature":1.7,"top_p":0.9,"stop":["END","  ","\n",""," x "],"user":"u-1",
        "logprobs":true,"top_logprobs":2,"seed":7,"presence_penalty":0.5,"frequency_penalty":0.5,
        "logit_bias":{"1":2},"store":true,"metadata":{"a":"b"},"service_tier":"auto","modalities":["text"],
        "prediction":{"type":"content","content":"x"},"verbosity":"low","prompt_cache_key":"k",
        "web_search_options":{},"response_format":{"type":"json_object"})"));
    EXPECT_EQ(out.at("temperature").to_number<double>(), 1.0);
    EXPECT_EQ(out.at("top_p").to_number<double>(), 0.9);
    EXPECT_EQ(out.at("stop_sequences"), J(R"(["END"," x "])"));
    EXPECT_EQ(out.at("metadata"), J(R"({"user_id":"u-1"})"));
    for (const char* k : {"logprobs", "top_logprobs", "seed", "presence_penalty", "frequency_penalty", "logit_bias",
                          "store", "service_tier", "modalities", "prediction", "verbosity", "prompt_cache_key",
                          "web_search_options", "response_format", "output_config", "user", "n", "thinking"}) {
        EXPECT_FALSE(out.contains(k)) << k;
    }
    const std::set<std::string> allowed = {"model", "max_tokens", "messages", "temperature", "top_p",
                                           "stop_sequences", "metadata", "stream"};
    for (const auto& kv : out) { EXPECT_TRUE(allowed.count(std::string(kv.key()))) << kv.key(); }

    out = Req(Msgs(R"([{"role":"user","content":"q"}])",
                   R"("temperature":-0.5,"stop":"STOP","user":"u-1","safety_identifier":"s-1","top_k":5)"));
    EXPECT_EQ(out.at("temperature").to_number<double>(), 0.0);
    EXPECT_EQ(out.at("stop_sequences"), J(R"(["STOP"])"));
    EXPECT_EQ(out.at("metadata"), J(R"({"user_id":"s-1"})"));
    EXPECT_EQ(out.at("top_k"), 5);

    out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("temperature":0,"stop":"   ")"));
    EXPECT_EQ(out.at("temperature").to_number<double>(), 0.0);
    EXPECT_FALSE(out.contains("stop_sequences"));

    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"q"}])", R"("temperature":"hot")")).status, 400);
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"q"}])", R"("stop":[1])")).status, 400);
}

TEST(ChatFrontRequest, ReasoningEffort) {
    struct Case {
        const char* effort;
        int64_t budget;
    };
    for (Case c : {Case{"minimal", 1024}, Case{"low", 2048}, Case{"medium", 4096}, Case{"high", 16384},
                   Case{"xhigh", 32768}, Case{"max", 65536}}) {
        auto out = Req(Msgs(R"([{"role":"user","content":"q"}])",
                            std::string(R"("max_tokens":1000,"reasoning_effort":")") + c.effort + "\""));
        EXPECT_EQ(out.at("thinking"), (json::value(json::object{{"type", "enabled"}, {"budget_tokens", c.budget}})))
            << c.effort;
        EXPECT_EQ(out.at("max_tokens"), c.budget + 1024) << c.effort;
    }
    // Enough room already: max_tokens kept.
    auto out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("max_tokens":100000,"reasoning_effort":"low")"));
    EXPECT_EQ(out.at("max_tokens"), 100000);
    // Equal to the budget: raised.
    out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("max_tokens":2048,"reasoning_effort":"low")"));
    EXPECT_EQ(out.at("max_tokens"), 3072);
    out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("reasoning_effort":"none")"));
    EXPECT_FALSE(out.contains("thinking"));
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"q"}])", R"("reasoning_effort":"extreme")")).status, 400);

    // Sampling Anthropic rejects with thinking is dropped; compatible values stay.
    out = Req(Msgs(R"([{"role":"user","content":"q"}])",
                   R"("reasoning_effort":"high","temperature":0.2,"top_p":0.5,"top_k":3)"));
    EXPECT_FALSE(out.contains("temperature"));
    EXPECT_FALSE(out.contains("top_p"));
    EXPECT_FALSE(out.contains("top_k"));
    out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("reasoning_effort":"high","temperature":1,"top_p":0.97)"));
    EXPECT_EQ(out.at("temperature").to_number<double>(), 1.0);
    EXPECT_EQ(out.at("top_p").to_number<double>(), 0.97);

    // A forced tool and reasoning_effort: Anthropic refuses thinking then, so it is left out.
    const std::string tools = R"("tools":[{"type":"function","function":{"name":"a"}}])";
    out = Req(Msgs(R"([{"role":"user","content":"q"}])",
                   tools + R"(,"tool_choice":"required","reasoning_effort":"high","max_tokens":100,"temperature":0.2)"));
    EXPECT_FALSE(out.contains("thinking"));
    EXPECT_EQ(out.at("max_tokens"), 100);
    EXPECT_TRUE(out.contains("temperature"));
    out = Req(Msgs(R"([{"role":"user","content":"q"}])", tools + R"(,"tool_choice":"auto","reasoning_effort":"high")"));
    EXPECT_TRUE(out.contains("thinking"));
}

TEST(ChatFrontRequest, ThinkingPassthrough) {
    auto out = Req(Msgs(R"([{"role":"user","content":"q"}])",
                        R"("max_tokens":500,"reasoning_effort":"high","thinking":{"type":"enabled","budget_tokens":2000})"));
    EXPECT_EQ(out.at("thinking"), J(R"({"type":"enabled","budget_tokens":2000})"));
    EXPECT_EQ(out.at("max_tokens"), 3024);
    out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("thinking":{"type":"adaptive"},"temperature":0.3)"));
    EXPECT_EQ(out.at("thinking"), J(R"({"type":"adaptive"})"));
    EXPECT_FALSE(out.contains("temperature"));
    out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("thinking":{"type":"disabled"},"temperature":0.3)"));
    EXPECT_EQ(out.at("thinking"), J(R"({"type":"disabled"})"));
    EXPECT_TRUE(out.contains("temperature"));
    EXPECT_EQ(ReqErr(Msgs(R"([{"role":"user","content":"q"}])", R"("thinking":true)")).status, 400);
}

TEST(ChatFrontRequest, ResponseFormatJsonSchema) {
    auto out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("response_format":{"type":"json_schema",
        "json_schema":{"name":"r","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}}}}})"));
    EXPECT_EQ(out.at("output_config"),
              J(R"({"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}}}}})"));
    out = Req(Msgs(R"([{"role":"user","content":"q"}])", R"("response_format":{"type":"text"})"));
    EXPECT_FALSE(out.contains("output_config"));
}

// ---- non-streaming response -------------------------------------------------------------------

TEST(ChatFrontResponse, FullMessage) {
    FrontPlan plan;
    plan.client_model = "gpt-4o";
    const std::string msg = R"({"id":"msg_01","type":"message","role":"assistant","model":"claude-x",
        "content":[{"type":"thinking","thinking":"Let me think.","signature":"sig"},
                   {"type":"text","text":"Hello "},{"type":"text","text":"world"},
                   {"type":"tool_use","id":"toolu_1","name":"get","input":{"q":"x","n":[1,2]}},
                   {"type":"redacted_thinking","data":"zzz"}],
        "stop_reason":"tool_use","stop_sequence":null,
        "usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":5,"output_tokens":20,
                 "output_tokens_details":{"thinking_tokens":7}}})";
    const std::string s = MessageToChatCompletion(msg, plan, 1700000000);
    EXPECT_EQ(s.find('\n'), std::string::npos);
    auto out = Parse(s);
    EXPECT_EQ(out.at("id"), "chatcmpl-msg_01");
    EXPECT_EQ(out.at("object"), "chat.completion");
    EXPECT_EQ(out.at("created"), 1700000000);
    EXPECT_EQ(out.at("model"), "gpt-4o");
    const auto& choice = out.at("choices").at(0);
    EXPECT_EQ(choice.at("index"), 0);
    EXPECT_EQ(choice.at("finish_reason"), "tool_calls");
    EXPECT_TRUE(choice.at("logprobs").is_null());
    EXPECT_EQ(choice.at("message"), J(R"({"role":"assistant","content":"Hello world","refusal":null,
        "reasoning_content":"Let me think.",
        "tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get","arguments":"{\"q\":\"x\",\"n\":[1,2]}"}}]})"));
    EXPECT_EQ(out.at("usage"), J(R"({"prompt_tokens":115,"completion_tokens":20,"total_tokens":135,
        "prompt_tokens_details":{"cached_tokens":100,"cache_write_tokens":5},
        "completion_tokens_details":{"reasoning_tokens":7}})"));
}

TEST(ChatFrontResponse, ToolOnlyContentNullAndNoReasoning) {
    FrontPlan plan;
    plan.client_model = "m";
    plan.reasoning_out = false;
    auto out = Parse(MessageToChatCompletion(R"({"id":"msg_2","content":[
        {"type":"thinking","thinking":"hmm","signature":""},
        {"type":"tool_use","id":"t","name":"f","input":{}}],
        "stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}})",
                                             plan, 1));
    const auto& m = out.at("choices").at(0).at("message").as_object();
    EXPECT_TRUE(m.at("content").is_null());
    EXPECT_FALSE(m.contains("reasoning_content"));
    EXPECT_EQ(m.at("tool_calls").at(0).at("function").at("arguments"), "{}");
    EXPECT_EQ(out.at("usage"), J(R"({"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,
        "prompt_tokens_details":{"cached_tokens":0}})"));
}

TEST(ChatFrontResponse, FinishReasons) {
    FrontPlan plan;
    plan.client_model = "m";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"end_turn", "stop"},       {"stop_sequence", "stop"},
        {"pause_turn", "stop"},     {"max_tokens", "length"},
        {"model_context_window_exceeded", "length"},
        {"tool_use", "tool_calls"}, {"refusal", "content_filter"}};
    for (const auto& [anthropic, openai] : cases) {
        auto out = Parse(MessageToChatCompletion(
            R"({"id":"msg","content":[{"type":"text","text":"x"}],"stop_reason":")" + anthropic + R"("})", plan, 1));
        EXPECT_EQ(out.at("choices").at(0).at("finish_reason"), openai.c_str()) << anthropic;
        EXPECT_EQ(out.at("choices").at(0).at("message").at("content"), "x");
        EXPECT_FALSE(out.contains("usage"));
    }
}

TEST(ChatFrontResponse, MalformedMessage) {
    FrontPlan plan;
    auto out = Parse(MessageToChatCompletion("<html>oops</html>", plan, 1));
    EXPECT_EQ(out.at("error").at("type"), "api_error");
    out = Parse(MessageToChatCompletion(R"({"id":5,"content":"weird","stop_reason":7})", plan, 1));
    EXPECT_EQ(out.at("object"), "chat.completion");
    EXPECT_TRUE(out.at("choices").at(0).at("message").at("content").is_null());
}

// ---- streaming --------------------------------------------------------------------------------

const std::string kToolStream =
    Ev("message_start", R"({"type":"message_start","message":{"id":"msg_S1","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"usage":{"input_tokens":12,"cache_read_input_tokens":30,"cache_creation_input_tokens":2,"output_tokens":1}}})") +
    Ev("ping", R"({"type":"ping"})") +
    Ev("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})") +
    Ev("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Plan: call tools."}})") +
    Ev("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}})") +
    Ev("content_block_stop", R"({"type":"content_block_stop","index":0})") +
    Ev("content_block_start", R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})") +
    Ev("content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Sure – \"ok\"\n"}})") +
    Ev("content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{"type":"char_location"}}})") +
    Ev("content_block_stop", R"({"type":"content_block_stop","index":1})") +
    Ev("content_block_start", R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_A","name":"get_weather","input":{}}})") +
    Ev("content_block_delta", R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}})") +
    Ev("content_block_delta", R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}})") +
    Ev("content_block_delta", R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}})") +
    Ev("content_block_stop", R"({"type":"content_block_stop","index":2})") +
    Ev("content_block_start", R"({"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_B","name":"get_time","input":{}}})") +
    Ev("content_block_delta", R"({"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{}"}})") +
    Ev("content_block_stop", R"({"type":"content_block_stop","index":3})") +
    Ev("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":57}})") +
    Ev("message_stop", R"({"type":"message_stop"})");

TEST(ChatFrontStream, ToolsThinkingUsageFromRealSseBytes) {
    for (size_t piece : {size_t{1}, size_t{7}, size_t{64}, kToolStream.size()}) {
        FrontPlan plan;
        plan.client_model = "gpt-4o";
        plan.stream = true;
        plan.include_usage = true;
        MessagesToChatStream conv(plan, 1711111111);
        const std::string out = FeedSse(conv, kToolStream, piece);
        EXPECT_TRUE(conv.done());
        auto chunks = Chunks(out);
        ASSERT_EQ(chunks.size(), 11u) << out;
        for (size_t i = 0; i + 1 < chunks.size(); ++i) {
            const auto& c = chunks[i].as_object();
            EXPECT_EQ(c.at("id"), "chatcmpl-msg_S1");
            EXPECT_EQ(c.at("object"), "chat.completion.chunk");
            EXPECT_EQ(c.at("created"), 1711111111);
            EXPECT_EQ(c.at("model"), "gpt-4o");
            if (i + 2 < chunks.size()) {
                EXPECT_TRUE(c.at("usage").is_null()) << i;
                ASSERT_EQ(c.at("choices").as_array().size(), 1u);
                EXPECT_EQ(c.at("choices").at(0).at("index"), 0);
                EXPECT_TRUE(c.at("choices").at(0).at("logprobs").is_null());
            }
        }
        EXPECT_EQ(Delta(chunks[0]), J(R"({"role":"assistant","content":""})"));
        EXPECT_TRUE(chunks[0].at("choices").at(0).at("finish_reason").is_null());
        EXPECT_EQ(Delta(chunks[1]), J(R"({"reasoning_content":"Plan: call tools."})"));
        EXPECT_EQ(Delta(chunks[2]), J(R"({"content":"Sure – \"ok\"\n"})"));
        EXPECT_EQ(Delta(chunks[3]), J(R"({"tool_calls":[{"index":0,"id":"toolu_A","type":"function",
                                         "function":{"name":"get_weather","arguments":""}}]})"));
        EXPECT_EQ(Delta(chunks[4]), J(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": "}}]})"));
        EXPECT_EQ(Delta(chunks[5]), J(R"({"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]})"));
        EXPECT_EQ(Delta(chunks[6]), J(R"({"tool_calls":[{"index":1,"id":"toolu_B","type":"function",
                                         "function":{"name":"get_time","arguments":""}}]})"));
        EXPECT_EQ(Delta(chunks[7]), J(R"({"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]})"));
        EXPECT_EQ(Delta(chunks[8]), J("{}"));
        EXPECT_EQ(chunks[8].at("choices").at(0).at("finish_reason"), "tool_calls");
        EXPECT_EQ(chunks[9].at("choices"), J("[]"));
        EXPECT_EQ(chunks[9].at("usage"), J(R"({"prompt_tokens":44,"completion_tokens":57,"total_tokens":101,
                                               "prompt_tokens_details":{"cached_tokens":30,"cache_write_tokens":2}})"));
        EXPECT_EQ(chunks[10], "[DONE]");
        EXPECT_EQ(out.substr(out.size() - 14), "data: [DONE]\n\n");

        // Nothing after the end.
        std::string more;
        conv.OnEvent("content_block_delta",
                     R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"late"}})", more);
        conv.Fail("api_error", "late", more);
        EXPECT_TRUE(more.empty());
    }
}

TEST(ChatFrontStream, NoUsageNoReasoning) {
    FrontPlan plan = StreamPlan();
    plan.stream = true;
    plan.reasoning_out = false;
    MessagesToChatStream conv(plan, 5);
    const std::string out = FeedSse(conv, kToolStream, 13);
    EXPECT_EQ(out.find("usage"), std::string::npos);
    EXPECT_EQ(out.find("reasoning_content"), std::string::npos);
    EXPECT_EQ(out.find("Plan: call tools."), std::string::npos);
    auto chunks = Chunks(out);
    ASSERT_EQ(chunks.size(), 9u);  // role, text, 4 tool chunks, +1 tool args, finish, [DONE]
    EXPECT_EQ(chunks[7].at("choices").at(0).at("finish_reason"), "tool_calls");
    EXPECT_EQ(chunks[8], "[DONE]");
}

TEST(ChatFrontStream, TextStreamFinishAndCumulativeUsage) {
    MessagesToChatStream conv(StreamPlan(true), 5);
    std::string sse =
        TextOpening(R"({"id":"msg_T","usage":{"input_tokens":0,"output_tokens":0}})", "Hi") +
        Ev("content_block_delta", TextDelta("")) +
        Ev("content_block_stop", R"({"type":"content_block_stop","index":0})") +
        Ev("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"input_tokens":9,"cache_read_input_tokens":null,"output_tokens":3,"output_tokens_details":{"thinking_tokens":0}}})") +
        Ev("message_stop", R"({"type":"message_stop"})");
    // CRLF line ends, as some proxies send.
    std::string crlf;
    for (char c : sse) {
        if (c == '\n') { crlf += "\r\n"; } else { crlf += c; }
    }
    auto chunks = Chunks(FeedSse(conv, crlf, 5));
    ASSERT_EQ(chunks.size(), 5u);
    EXPECT_EQ(Delta(chunks[1]), J(R"({"content":"Hi"})"));
    EXPECT_EQ(chunks[2].at("choices").at(0).at("finish_reason"), "length");
    EXPECT_EQ(chunks[3].at("usage"), J(R"({"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,
        "prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}})"));
    EXPECT_EQ(chunks[4], "[DONE]");
}

TEST(ChatFrontStream, ErrorEvent) {
    const FrontPlan plan = StreamPlan(true);
    MessagesToChatStream conv(plan, 5);
    std::string sse =
        TextOpening(R"({"id":"msg_E","usage":{"input_tokens":1}})", "par") +
        Ev("error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})") +
        Ev("message_stop", R"({"type":"message_stop"})");
    auto chunks = Chunks(FeedSse(conv, sse, 3));
    ASSERT_EQ(chunks.size(), 3u);
    EXPECT_EQ(chunks[2], J(R"({"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":null}})"));
    EXPECT_TRUE(conv.done());

    // An error event whose data is garbage still ends the stream with an error.
    MessagesToChatStream conv2(plan, 5);
    std::string out;
    conv2.OnEvent("error", "not json", out);
    chunks = Chunks(out);
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0].at("error").at("type"), "api_error");
    EXPECT_TRUE(conv2.done());
}

TEST(ChatFrontStream, FailAfterStart) {
    MessagesToChatStream conv(StreamPlan(), 5);
    std::string out;
    conv.OnEvent("message_start", R"({"type":"message_start","message":{"id":"msg_F"}})", out);
    EXPECT_FALSE(conv.done());
    conv.Fail("api_error", std::string("connection lost \xff"), out);
    EXPECT_TRUE(conv.done());
    auto chunks = Chunks(out);
    ASSERT_EQ(chunks.size(), 2u);
    EXPECT_EQ(chunks[1].at("error").at("message"), "connection lost \xEF\xBF\xBD");
    EXPECT_TRUE(chunks[1].at("error").at("param").is_null());
    EXPECT_TRUE(chunks[1].at("error").at("code").is_null());
    std::string more;
    conv.Fail("api_error", "again", more);
    EXPECT_TRUE(more.empty());
}

TEST(ChatFrontStream, MalformedEventsSkipped) {
    MessagesToChatStream conv(StreamPlan(), 5);
    std::string out;
    conv.OnEvent("message_start", "{broken", out);
    conv.OnEvent("message_start", R"({"type":"message_start","message":{"id":"msg_M"}})", out);
    conv.OnEvent("content_block_start", R"({"type":"content_block_start","content_block":{"type":"tool_use"}})", out);
    conv.OnEvent("content_block_start", R"({"type":"content_block_start","index":"x","content_block":{"type":"tool_use"}})", out);
    conv.OnEvent("content_block_start", R"({"type":"content_block_start","index":0})", out);
    conv.OnEvent("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":5}})", out);
    conv.OnEvent("content_block_delta", R"({"type":"content_block_delta","index":9,"delta":{"type":"input_json_delta","partial_json":"{"}})", out);
    conv.OnEvent("content_block_delta", TextDelta("\xc3\x28"), out);
    conv.OnEvent("content_block_delta", R"({"delta":"nope"})", out);
    conv.OnEvent("content_block_delta", "[]", out);
    conv.OnEvent("mystery", R"({"type":"mystery"})", out);
    conv.OnEvent("", TextDelta("named by data"), out);
    conv.OnEvent("message_delta", R"({"type":"message_delta","delta":null,"usage":"x"})", out);
    conv.OnEvent("message_stop", "", out);
    EXPECT_TRUE(conv.done());
    auto chunks = Chunks(out);
    ASSERT_EQ(chunks.size(), 4u) << out;
    EXPECT_EQ(Delta(chunks[0]), J(R"({"role":"assistant","content":""})"));
    EXPECT_EQ(Delta(chunks[1]), J(R"({"content":"named by data"})"));
    EXPECT_EQ(chunks[2].at("choices").at(0).at("finish_reason"), "stop");
    EXPECT_EQ(chunks[3], "[DONE]");
}

TEST(ChatFrontStream, MissingMessageStartAndMessageDelta) {
    // Content before message_start still gets a role chunk; message_stop without message_delta
    // still sends a finish chunk.
    MessagesToChatStream conv(StreamPlan(), 5);
    std::string out;
    conv.OnEvent("content_block_delta", TextDelta("x"), out);
    conv.OnEvent("message_stop", R"({"type":"message_stop"})", out);
    auto chunks = Chunks(out);
    ASSERT_EQ(chunks.size(), 4u);
    EXPECT_EQ(Delta(chunks[0]).at("role"), "assistant");
    EXPECT_EQ(Delta(chunks[1]).at("content"), "x");
    EXPECT_EQ(chunks[2].at("choices").at(0).at("finish_reason"), "stop");
    EXPECT_EQ(chunks[3], "[DONE]");
}

// ---- errors -----------------------------------------------------------------------------------

TEST(ChatFrontErrors, ChatErrorJson) {
    EXPECT_EQ(ChatErrorJson("invalid_request_error", "bad \"x\""),
              R"({"error":{"message":"bad \"x\"","type":"invalid_request_error","param":null,"code":null}})");
    auto out = Parse(ChatErrorJson("t", std::string("a\xff\xfe" "b\n")));
    EXPECT_EQ(out.at("error").at("message"), "a\xEF\xBF\xBD\xEF\xBF\xBD" "b\n");
}

TEST(ChatFrontErrors, AnthropicErrorToChat) {
    auto out = Parse(AnthropicErrorToChat(
        429, R"({"type":"error","error":{"type":"rate_limit_error","message":"Slow down"},"request_id":"req_1"})"));
    EXPECT_EQ(out, J(R"({"error":{"message":"Slow down","type":"rate_limit_error","param":null,"code":null}})"));
    out = Parse(AnthropicErrorToChat(529, "1a\r\n{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\r\n"));
    EXPECT_EQ(out.at("error").at("type"), "overloaded_error");
    out = Parse(AnthropicErrorToChat(502, "<html>Bad Gateway</html>"));
    EXPECT_EQ(out.at("error").at("type"), "api_error");
    EXPECT_NE(std::string(out.at("error").at("message").as_string()).find("502"), std::string::npos);
    out = Parse(AnthropicErrorToChat(404, ""));
    EXPECT_EQ(out.at("error").at("type"), "not_found_error");
    out = Parse(AnthropicErrorToChat(400, "\xff\xfe{"));
    EXPECT_EQ(out.at("error").at("type"), "invalid_request_error");
}

}  // namespace
