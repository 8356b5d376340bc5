// Request mapping (Anthropic -> Chat Completions) and the stream translator's behaviour.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "clove/sse/event_framer.hpp"
#include "clove/translate/collector.hpp"
#include "clove/translate/from_chat.hpp"
#include "clove/translate/to_chat.hpp"

namespace json = boost::json;
using namespace clove::translate;
using clove::config::OpenAIOptions;

namespace {

json::object Translate(std::string_view body, OpenAIOptions opt = {}, ChatPlan* plan_out = nullptr) {
    std::string out;
    ChatPlan plan;
    auto err = ToChatRequest(body, "up-model", opt, out, plan);
    EXPECT_FALSE(err) << (err ? err->message : "");
    if (plan_out) {
        *plan_out = plan;
    }
    return err ? json::object() : json::parse(out).as_object();
}

std::string ErrorOf(std::string_view body, OpenAIOptions opt = {}) {
    std::string out;
    ChatPlan plan;
    auto err = ToChatRequest(body, "up-model", opt, out, plan);
    return err ? err->message : std::string();
}

struct Events {
    std::vector<std::string> names;
    std::vector<json::object> data;
};

Events Parse(const std::string& sse) {
    Events e;
    std::string scratch;
    clove::sse::ForEachEvent(sse, scratch, [&](const clove::sse::EventView& ev) {
        e.names.emplace_back(ev.name);
        e.data.push_back(json::parse(ev.data).as_object());
    });
    return e;
}

std::string Chunk(std::string_view delta_json, std::string_view finish = "null") {
    return std::string(R"({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":)") +
           std::string(delta_json) + R"(,"finish_reason":)" + std::string(finish) + "}]}";
}

}  // namespace

TEST(ToChatRequest, SystemMessagesToolsAndSampling) {
    auto c = Translate(R"({"model":"claude-x","max_tokens":100,"system":[{"type":"text","text":"A"},{"type":"text","text":"B","cache_control":{"type":"ephemeral"}}],
        "messages":[{"role":"user","content":"hi"},
                    {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"Let me look."},
                        {"type":"tool_use","id":"toolu_1","name":"get","input":{"q":1}}]},
                    {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"r1"}]},
                                              {"type":"tool_result","tool_use_id":"toolu_x66756e63","content":"bad","is_error":true},
                                              {"type":"text","text":"thanks"}]}],
        "tools":[{"name":"get","description":"d","input_schema":{"type":"object"}}],
        "tool_choice":{"type":"any","disable_parallel_tool_use":true},
        "temperature":0.5,"top_p":0.9,"top_k":5,"stop_sequences":["X","Y"],"metadata":{"user_id":"u1"},"stream":false})");
    EXPECT_EQ(c["model"], "up-model");
    EXPECT_EQ(c["max_tokens"], 100);
    EXPECT_EQ(c["stream"], true);
    EXPECT_EQ(c["stream_options"].at("include_usage"), true);
    EXPECT_EQ(c["temperature"], 0.5);
    EXPECT_FALSE(c.contains("top_k"));
    EXPECT_EQ(json::serialize(c["stop"]), R"(["X","Y"])");
    EXPECT_EQ(c["user"], "u1");
    EXPECT_EQ(c["tool_choice"], "required");
    EXPECT_EQ(c["parallel_tool_calls"], false);
    EXPECT_EQ(json::serialize(c["tools"]),
              R"([{"type":"function","function":{"name":"get","description":"d","parameters":{"type":"object"}}}])");
    auto& m = c["messages"].as_array();
    ASSERT_EQ(m.size(), 6u);
    EXPECT_EQ(json::serialize(m[0]), R"({"role":"system","content":"A\n\nB"})");
    EXPECT_EQ(json::serialize(m[1]), R"({"role":"user","content":"hi"})");
    EXPECT_EQ(json::serialize(m[2]),
              R"({"role":"assistant","content":"Let me look.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get","arguments":"{\"q\":1}"}}]})");
    EXPECT_EQ(json::serialize(m[3]), R"({"role":"tool","tool_call_id":"toolu_1","content":"r1"})");
    // toolu_x<hex> ids are decoded back to the upstream's own id
    EXPECT_EQ(json::serialize(m[4]), R"({"role":"tool","tool_call_id":"func","content":"Error: bad"})");
    EXPECT_EQ(json::serialize(m[5]), R"({"role":"user","content":"thanks"})");
}

TEST(ToChatRequest, ImagesDocumentsAndOptions) {
    OpenAIOptions opt;
    opt.max_tokens_field = "max_completion_tokens";
    opt.send_top_k = true;
    opt.max_stop = 1;
    opt.stream_usage = false;
    auto c = Translate(R"({"model":"m","max_tokens":10,"top_k":3,"stop_sequences":["a","b"],"messages":[{"role":"user","content":[
        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}},
        {"type":"image","source":{"type":"url","url":"https://example.com/a.png"}},
        {"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc"},"title":"T"},
        {"type":"text","text":"what?"}]}]})",
                       opt);
    EXPECT_EQ(c["max_completion_tokens"], 10);
    EXPECT_FALSE(c.contains("max_tokens"));
    EXPECT_EQ(c["top_k"], 3);
    EXPECT_EQ(json::serialize(c["stop"]), R"(["a"])");
    EXPECT_FALSE(c.contains("stream_options"));
    EXPECT_EQ(json::serialize(c["messages"].as_array()[0].at("content")),
              R"([{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR"}},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}},{"type":"text","text":"T\n\ndoc"},{"type":"text","text":"what?"}])");
    OpenAIOptions text_only;
    text_only.images = false;
    EXPECT_NE(ErrorOf(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]})",
                             text_only)
                  .find("does not accept images"),
              std::string::npos);
}

TEST(ToChatRequest, ThinkingToTheBackendsSwitch) {
    const char* body = R"({"model":"m","max_tokens":20000,"thinking":{"type":"enabled","budget_tokens":10000},"messages":[{"role":"user","content":"x"}]})";
    OpenAIOptions o;
    EXPECT_FALSE(Translate(body, o).contains("reasoning_effort"));  // "none": dropped
    o.reasoning_control = "reasoning_effort";
    EXPECT_EQ(Translate(body, o)["reasoning_effort"], "medium");
    o.reasoning_control = "chat_template_kwargs";
    EXPECT_EQ(json::serialize(Translate(body, o)["chat_template_kwargs"]), R"({"enable_thinking":true})");
    o.reasoning_control = "openrouter";
    EXPECT_EQ(json::serialize(Translate(body, o)["reasoning"]), R"({"max_tokens":10000})");
    o.reasoning_control = "reasoning_effort";
    EXPECT_EQ(Translate(R"({"model":"m","max_tokens":5,"thinking":{"type":"disabled"},"messages":[{"role":"user","content":"x"}]})", o)
                  ["reasoning_effort"],
              "none");
}

TEST(ToChatRequest, ReasoningReplayAndMidConversationSystem) {
    const char* body = R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"},
        {"role":"assistant","content":[{"type":"thinking","thinking":"because","signature":"clove-translated"},{"type":"text","text":"a"}]},
        {"role":"system","content":"be brief"},{"role":"user","content":"q2"}]})";
    OpenAIOptions o;
    auto c = Translate(body, o);
    auto& m = c["messages"].as_array();
    EXPECT_EQ(json::serialize(m[0]), R"({"role":"system","content":"be brief"})");
    EXPECT_FALSE(m[2].as_object().contains("reasoning_content"));
    o.replay_reasoning = true;
    o.system_anywhere = true;
    auto d = Translate(body, o);
    auto& n = d["messages"].as_array();
    EXPECT_EQ(n[1].at("reasoning_content"), "because");
    EXPECT_EQ(json::serialize(n[2]), R"({"role":"system","content":"be brief"})");
}

TEST(ToChatRequest, ToolsTheBackendCannotServe) {
    OpenAIOptions o;
    o.tools = false;
    const char* body = R"({"model":"m","max_tokens":5,"tools":[{"name":"t","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"x"}]})";
    EXPECT_NE(ErrorOf(body, o).find("does not support tool use"), std::string::npos);
    EXPECT_NE(ErrorOf(R"({"model":"m","max_tokens":5,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"x"}]})")
                  .find("server tool"),
              std::string::npos);
    o.tool_emulation = true;
    ChatPlan plan;
    auto c = Translate(body, o, &plan);
    EXPECT_TRUE(plan.tool_emulation);
    EXPECT_FALSE(c.contains("tools"));
    EXPECT_NE(std::string(c["messages"].as_array()[0].at("content").as_string()).find("<function_calls>"), std::string::npos);
    EXPECT_EQ(json::serialize(c["stop"]), R"(["</function_calls>"])");
}

TEST(ToolIds, ReversibleForIdsAClientCannotUse) {
    EXPECT_EQ(ClientToolId("call_abc-1"), "call_abc-1");
    const auto odd = ClientToolId("functions.get_weather:0");
    EXPECT_TRUE(odd.starts_with("toolu_x"));
    EXPECT_EQ(UpstreamToolId(odd), "functions.get_weather:0");
    EXPECT_EQ(UpstreamToolId("toolu_01abc"), "toolu_01abc");
    EXPECT_EQ(UpstreamToolId(ClientToolId("toolu_xyz")), "toolu_xyz");  // our prefix is always encoded
}

TEST(ChatToMessages, TextStreamIsAnExactMessagesStream) {
    ChatPlan plan;
    plan.client_model = "claude-x";
    plan.input_estimate = 7;
    ChatToMessages tr(plan, {}, "msg_1");
    std::string out;
    tr.OnData(Chunk(R"({"role":"assistant","content":""})"), out);
    tr.OnData(Chunk(R"({"content":"Hel"})"), out);
    tr.OnData(Chunk(R"({"content":"lo"})"), out);
    tr.OnData(Chunk("{}", R"("stop")"), out);
    tr.OnData(R"({"id":"c1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}})", out);
    tr.OnData("[DONE]", out);
    auto e = Parse(out);
    std::vector<std::string> want{"message_start", "content_block_start", "content_block_delta", "content_block_delta",
                                  "content_block_stop", "message_delta", "message_stop"};
    EXPECT_EQ(e.names, want);
    EXPECT_EQ(e.data[0]["message"].at("model"), "claude-x");
    EXPECT_EQ(e.data[0]["message"].at("usage").at("input_tokens"), 7);
    EXPECT_EQ(json::serialize(e.data[5]),
              R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":8,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"output_tokens":3}})");
    EXPECT_TRUE(tr.complete());
    EXPECT_EQ(tr.usage().input_tokens, 8);
}

TEST(ChatToMessages, ThinkingThenTextThenParallelTools) {
    ChatPlan plan;
    plan.client_model = "m";
    ChatToMessages tr(plan, {}, "msg_2");
    std::string out;
    tr.OnData(Chunk(R"({"reasoning_content":"think"})"), out);
    tr.OnData(Chunk(R"({"reasoning":" more","content":"A"})"), out);
    tr.OnData(Chunk(R"({"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]})"), out);
    tr.OnData(Chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]})"), out);
    tr.OnData(Chunk(R"({"tool_calls":[{"index":1,"id":"functions.g:1","type":"function","function":{"name":"g","arguments":"{}"}}]})"), out);
    tr.OnData(Chunk("{}", R"("tool_calls")"), out);
    tr.OnEnd(out);
    auto e = Parse(out);
    MessageCollector col;
    std::string scratch;
    clove::sse::ForEachEvent(out, scratch, [&](const clove::sse::EventView& ev) { col.OnEvent(ev.name, ev.data); });
    ASSERT_TRUE(col.complete());
    auto msg = json::parse(col.Json()).as_object();
    auto& content = msg["content"].as_array();
    ASSERT_EQ(content.size(), 4u);
    EXPECT_EQ(content[0].at("type"), "thinking");
    EXPECT_EQ(content[0].at("thinking"), "think more");  // reasoning_field "auto" reads both names
    EXPECT_EQ(content[0].at("signature"), "clove-translated");
    EXPECT_EQ(json::serialize(content[1]), R"({"type":"text","text":"A"})");
    EXPECT_EQ(json::serialize(content[2]), R"({"type":"tool_use","id":"call_1","name":"f","input":{"a":1}})");
    EXPECT_EQ(content[3].at("id"), json::value(ClientToolId("functions.g:1")));
    EXPECT_EQ(json::serialize(content[3].at("input")), "{}");
    EXPECT_EQ(msg["stop_reason"], "tool_use");
    // one block at a time, sequential indices
    int open = -1, next = 0;
    for (size_t i = 0; i < e.names.size(); ++i) {
        if (e.names[i] == "content_block_start") {
            EXPECT_EQ(open, -1);
            EXPECT_EQ(e.data[i]["index"], next);
            open = next++;
        } else if (e.names[i] == "content_block_delta") {
            EXPECT_EQ(e.data[i]["index"], open);
        } else if (e.names[i] == "content_block_stop") {
            EXPECT_EQ(e.data[i]["index"], open);
            open = -1;
        }
    }
    (void)e;
}

TEST(ChatToMessages, StopSequenceTheBackendIgnored) {
    ChatPlan plan;
    plan.client_model = "m";
    plan.stop_sequences = {"STOP"};
    ChatToMessages tr(plan, {}, "msg_3");
    std::string out;
    tr.OnData(Chunk(R"({"content":"Hello ST"})"), out);
    EXPECT_EQ(out.find("ST\""), std::string::npos);
    tr.OnData(Chunk(R"({"content":"OP world"})"), out);
    EXPECT_TRUE(tr.done());
    EXPECT_TRUE(tr.stopped_early());
    MessageCollector col;
    std::string scratch;
    clove::sse::ForEachEvent(out, scratch, [&](const clove::sse::EventView& ev) { col.OnEvent(ev.name, ev.data); });
    auto msg = json::parse(col.Json()).as_object();
    EXPECT_EQ(msg["stop_reason"], "stop_sequence");
    EXPECT_EQ(msg["stop_sequence"], "STOP");
    EXPECT_EQ(msg["content"].as_array()[0].at("text"), "Hello ");
    EXPECT_GE(msg["usage"].at("output_tokens").as_int64(), 1);
}

TEST(ChatToMessages, FailuresEndWithAnErrorEvent) {
    ChatPlan plan;
    {
        ChatToMessages tr(plan, {}, "msg_4");
        std::string out;
        tr.OnData(Chunk(R"({"content":"partial"})"), out);
        tr.OnEnd(out);  // no finish_reason, no [DONE]
        auto e = Parse(out);
        EXPECT_EQ(e.names.back(), "error");
        EXPECT_EQ(e.data.back()["error"].at("type"), "api_error");
        EXPECT_FALSE(tr.complete());
    }
    {
        ChatToMessages tr(plan, {}, "msg_5");
        std::string out;
        tr.OnData(R"({"error":{"message":"quota","code":429}})", out);
        auto e = Parse(out);
        EXPECT_EQ(e.names.back(), "error");
        EXPECT_EQ(e.data.back()["error"].at("type"), "rate_limit_error");
    }
    auto m = MapChatError(503, R"({"error":{"message":"busy","type":"server_error"}})");
    EXPECT_EQ(m.status, 529);
    EXPECT_EQ(m.type, "overloaded_error");
    EXPECT_EQ(m.message, "busy");
    EXPECT_EQ(MapChatError(422, "not json").status, 400);
}

TEST(ChatToMessages, NonStreamingCompletionBecomesEvents) {
    ChatPlan plan;
    plan.client_model = "m";
    ChatToMessages tr(plan, {}, "msg_6");
    std::string out;
    tr.OnCompletion(R"({"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"k\":2}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":2}})",
                    out);
    MessageCollector col;
    std::string scratch;
    clove::sse::ForEachEvent(out, scratch, [&](const clove::sse::EventView& ev) { col.OnEvent(ev.name, ev.data); });
    ASSERT_TRUE(col.complete());
    auto msg = json::parse(col.Json()).as_object();
    EXPECT_EQ(json::serialize(msg["content"]),
              R"([{"type":"text","text":"Hi"},{"type":"tool_use","id":"c","name":"f","input":{"k":2}}])");
    EXPECT_EQ(msg["stop_reason"], "tool_use");
    EXPECT_EQ(msg["usage"].at("input_tokens"), 5);
}

TEST(ToChatRequest, ConsecutiveUserTurnsAreMerged) {
    auto c = Translate(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"one"},{"role":"user","content":"two"},
        {"role":"user","content":[{"type":"text","text":"three"},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]})");
    auto& m = c["messages"].as_array();
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(json::serialize(m[0]),
              R"({"role":"user","content":[{"type":"text","text":"one\n\ntwo"},{"type":"text","text":"three"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]})");
}

TEST(ToChatRequest, PrefillContinuesOnVllm) {
    const char* body = R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"Write a haiku"},{"role":"assistant","content":"Autumn moon"}]})";
    OpenAIOptions o;
    auto plain = Translate(body, o);
    EXPECT_EQ(json::serialize(plain["messages"].as_array().back()), R"({"role":"assistant","content":"Autumn moon"})");
    EXPECT_FALSE(plain.contains("continue_final_message"));
    o.continue_final_message = true;
    auto c = Translate(body, o);
    EXPECT_EQ(c["continue_final_message"], true);
    EXPECT_EQ(c["add_generation_prompt"], false);
    // no prefill: nothing added
    EXPECT_FALSE(Translate(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})", o).contains("continue_final_message"));
}
