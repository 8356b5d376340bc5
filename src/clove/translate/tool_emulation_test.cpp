#include "clove/translate/tool_emulation.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace clove::translate {
namespace {

namespace json = boost::json;

json::array WeatherTools() {
    return json::parse(R"([
      {"name":"get_weather","description":"Current weather for a place.",
       "input_schema":{"type":"object","properties":{
         "location":{"type":"string"},
         "days":{"type":"integer"},
         "scale":{"type":"number"},
         "metric":{"type":"boolean"},
         "tags":{"type":"array","items":{"type":"string"}},
         "opts":{"type":"object"},
         "zip":{"type":"string"},
         "maybe":{"type":["integer","null"]},
         "either":{"anyOf":[{"type":"string"},{"type":"array"}]},
         "level":{"enum":[1,2,3]}
       },"required":["location"]}},
      {"name":"search","description":"Web search.",
       "input_schema":{"type":"object","properties":{"query":{"type":"string"}}}}
    ])")
        .as_array();
}

// A compact, comparable rendering of parser output: T[text] / C[name]{json}.
std::string Describe(const std::vector<ToolPiece>& pieces) {
    std::string out;
    for (const ToolPiece& p : pieces) {
        if (p.kind == ToolPiece::Kind::kText) {
            out += "T[" + p.text + "]";
        } else {
            out += "C[" + p.name + "]" + p.input_json;
        }
    }
    return out;
}

// Adjacent text pieces merged (how text is split across Feed calls is not part of the contract).
std::vector<ToolPiece> Normalize(const std::vector<ToolPiece>& pieces) {
    std::vector<ToolPiece> out;
    for (const ToolPiece& p : pieces) {
        if (p.kind == ToolPiece::Kind::kText && !out.empty() && out.back().kind == ToolPiece::Kind::kText) {
            out.back().text += p.text;
        } else {
            out.push_back(p);
        }
    }
    return out;
}

bool ValidUtf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        }
        i += n;
    }
    return true;
}

struct ParseRun {
    std::vector<ToolPiece> pieces;
    bool saw_tool_call = false;
};

ParseRun Parse(const json::array& tools, const std::vector<std::string_view>& chunks) {
    ToolCallParser parser(tools);
    ParseRun run;
    for (std::string_view c : chunks) parser.Feed(c, run.pieces);
    parser.Finish(run.pieces);
    run.saw_tool_call = parser.saw_tool_call();
    return run;
}

std::string Whole(const json::array& tools, std::string_view text) {
    return Describe(Normalize(Parse(tools, {text}).pieces));
}

std::string Whole(std::string_view text) { return Whole(WeatherTools(), text); }

// ---------------------------------------------------------------------------------------------
// RenderToolInstructions

TEST(RenderToolInstructions, AutoDescribesToolsAndFormat) {
    json::array tools = WeatherTools();
    std::string s = RenderToolInstructions(tools, nullptr);
    EXPECT_NE(s.find("<function_calls>\n<invoke name=\"TOOL_NAME\">\n<parameter name=\"PARAMETER_NAME\">"
                     "PARAMETER_VALUE</parameter>\n...\n</invoke>\n</function_calls>"),
              std::string::npos)
        << s;
    EXPECT_NE(s.find("<function>{\"name\":\"get_weather\",\"description\":\"Current weather for a place.\","
                     "\"parameters\":{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\"}"),
              std::string::npos)
        << s;
    EXPECT_NE(s.find("<function>{\"name\":\"search\""), std::string::npos);
    EXPECT_LT(s.find("get_weather"), s.find("\"search\""));
    EXPECT_NE(s.find("only when you want to call a tool"), std::string::npos);
    EXPECT_EQ(s.find("must call"), std::string::npos);
    EXPECT_NE(s.find("several"), std::string::npos);
    EXPECT_NE(s.find("<function_results>"), std::string::npos);
    // Deterministic.
    EXPECT_EQ(s, RenderToolInstructions(WeatherTools(), nullptr));
    json::value auto_choice = json::parse(R"({"type":"auto"})");
    EXPECT_EQ(s, RenderToolInstructions(tools, &auto_choice));
    json::value null_choice;
    EXPECT_EQ(s, RenderToolInstructions(tools, &null_choice));
}

TEST(RenderToolInstructions, AnyAndToolAndNone) {
    json::array tools = WeatherTools();
    json::value any = json::parse(R"({"type":"any"})");
    std::string s_any = RenderToolInstructions(tools, &any);
    EXPECT_NE(s_any.find("You must call one of the tools"), std::string::npos) << s_any;
    EXPECT_EQ(s_any.find("only when you want"), std::string::npos);

    json::value tool = json::parse(R"({"type":"tool","name":"search"})");
    std::string s_tool = RenderToolInstructions(tools, &tool);
    EXPECT_NE(s_tool.find("You must call the tool \"search\""), std::string::npos) << s_tool;

    json::value none = json::parse(R"({"type":"none"})");
    EXPECT_EQ(RenderToolInstructions(tools, &none), "");

    // OpenAI-style strings are understood too.
    json::value required = json::parse(R"("required")");
    EXPECT_EQ(RenderToolInstructions(tools, &required), s_any);
    json::value none_str = json::parse(R"("none")");
    EXPECT_EQ(RenderToolInstructions(tools, &none_str), "");
}

TEST(RenderToolInstructions, NoToolsAndDisableParallel) {
    EXPECT_EQ(RenderToolInstructions(json::array{}, nullptr), "");
    json::value single = json::parse(R"({"type":"auto","disable_parallel_tool_use":true})");
    std::string s = RenderToolInstructions(WeatherTools(), &single);
    EXPECT_NE(s.find("at most one tool"), std::string::npos) << s;
}

TEST(RenderToolInstructions, ToolWithoutSchemaOrDescription) {
    json::array tools = json::parse(R"([{"name":"ping"},{"description":"no name"},42])").as_array();
    std::string s = RenderToolInstructions(tools, nullptr);
    EXPECT_NE(s.find("<function>{\"name\":\"ping\",\"parameters\":{\"type\":\"object\"}}</function>\n</functions>"),
              std::string::npos)
        << s;
    EXPECT_EQ(s.find("no name"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// RenderToolUse / RenderToolResult

TEST(RenderToolUse, ExactText) {
    json::value input = json::parse(R"({"location":"Paris","days":3,"metric":true,"tags":["a","b"],"opts":{"x":null}})");
    EXPECT_EQ(RenderToolUse("toolu_1", "get_weather", input),
              "<function_calls>\n"
              "<invoke name=\"get_weather\" id=\"toolu_1\">\n"
              "<parameter name=\"location\">Paris</parameter>\n"
              "<parameter name=\"days\">3</parameter>\n"
              "<parameter name=\"metric\">true</parameter>\n"
              "<parameter name=\"tags\">[\"a\",\"b\"]</parameter>\n"
              "<parameter name=\"opts\">{\"x\":null}</parameter>\n"
              "</invoke>\n"
              "</function_calls>");
}

TEST(RenderToolUse, EmptyAndNonObjectInput) {
    EXPECT_EQ(RenderToolUse("t", "ping", json::object{}),
              "<function_calls>\n<invoke name=\"ping\" id=\"t\">\n</invoke>\n</function_calls>");
    EXPECT_EQ(RenderToolUse("", "ping", json::value()),
              "<function_calls>\n<invoke name=\"ping\">\n</invoke>\n</function_calls>");
    EXPECT_EQ(RenderToolUse("", "x", json::parse("[1]")),
              "<function_calls>\n<invoke name=\"x\">\n[1]\n</invoke>\n</function_calls>");
}

TEST(RenderToolUse, EscapesOnlyWhatWouldBreak) {
    json::value input = json::parse(R"({"code":"if (a < b && c) { s = \"</div>\"; t = \"&lt;\"; }"})");
    EXPECT_EQ(RenderToolUse("id", "edit\"x", input),
              "<function_calls>\n<invoke name=\"edit&quot;x\" id=\"id\">\n"
              "<parameter name=\"code\">if (a < b && c) { s = \"&lt;/div>\"; t = \"&amp;lt;\"; }</parameter>\n"
              "</invoke>\n</function_calls>");
}

TEST(RenderToolUse, RoundTripsThroughParser) {
    json::array tools = WeatherTools();
    const char* inputs[] = {
        R"({"location":"Paris","days":3,"scale":1.5,"metric":false,"tags":["x","</parameter>"],"opts":{"a":{"b":[1]}}})",
        R"({"location":"\nleading and trailing\n","zip":"01234","query":"42"})",
        R"({"location":"\n","zip":"\r\n","either":"plain"})",
        R"({"location":"a &amp; b &lt; c </invoke></function_calls> & done","either":["x"]})",
        R"({"location":"multi\nline\n\ntext","maybe":null,"level":2})",
        R"({"location":"","zip":"  spaced  "})",
        R"({})",
    };
    for (const char* in : inputs) {
        json::value input = json::parse(in);
        std::string text = RenderToolUse("toolu_9", "get_weather", input);
        std::string expected = "C[get_weather]" + json::serialize(input);
        EXPECT_EQ(Describe(Parse(tools, {text}).pieces), expected) << text;
        // The history form is also accepted when the stop string cut the closing tag.
        std::string cut = text.substr(0, text.size() - ToolCallsCloseTag().size());
        EXPECT_EQ(Describe(Parse(tools, {cut}).pieces), expected) << cut;
    }
}

TEST(RenderToolResult, StringBlocksAndErrors) {
    EXPECT_EQ(RenderToolResult("toolu_1", json::value("15 degrees"), false),
              "<function_results>\n<result tool_use_id=\"toolu_1\">\n15 degrees\n</result>\n</function_results>");
    json::value blocks = json::parse(R"([
        {"type":"text","text":"line one"},
        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},
        {"type":"text","text":"line two"},
        {"type":"document","source":{}},
        {"type":"search_result","title":"t"}
    ])");
    EXPECT_EQ(RenderToolResult("toolu_2", blocks, false),
              "<function_results>\n<result tool_use_id=\"toolu_2\">\n"
              "line one\n[image]\nline two\n[document]\n[search_result]\n"
              "</result>\n</function_results>");
    EXPECT_EQ(RenderToolResult("toolu_3", json::value("boom"), true),
              "<function_results>\n<error tool_use_id=\"toolu_3\">\nboom\n</error>\n</function_results>");
    EXPECT_EQ(RenderToolResult("toolu_4", json::value(), false),
              "<function_results>\n<result tool_use_id=\"toolu_4\">\n</result>\n</function_results>");
    EXPECT_EQ(RenderToolResult("toolu_5", json::array{}, true),
              "<function_results>\n<error tool_use_id=\"toolu_5\">\n</error>\n</function_results>");
}

TEST(ToolCallsCloseTag, IsTheBlockEnd) { EXPECT_EQ(ToolCallsCloseTag(), "</function_calls>"); }

// ---------------------------------------------------------------------------------------------
// ToolCallParser: results

TEST(ToolCallParser, PlainTextPassesThrough) {
    EXPECT_EQ(Whole("Hello <b>world</b> & <function_call> <functions> </function_calls>"),
              "T[Hello <b>world</b> & <function_call> <functions> </function_calls>]");
    EXPECT_EQ(Whole("trailing spaces  \n"), "T[trailing spaces  \n]");
    EXPECT_EQ(Whole("ends with partial <function_ca"), "T[ends with partial <function_ca]");
    EXPECT_EQ(Whole(""), "");
    ParseRun run = Parse(WeatherTools(), {"no tools here"});
    EXPECT_FALSE(run.saw_tool_call);
}

TEST(ToolCallParser, SingleCallWithTextBefore) {
    ParseRun run = Parse(WeatherTools(), {"Let me check.\n\n<function_calls>\n<invoke name=\"get_weather\">\n"
                                     "<parameter name=\"location\">Paris</parameter>\n"
                                     "<parameter name=\"days\">3</parameter>\n</invoke>\n</function_calls>"});
    EXPECT_EQ(Describe(run.pieces), R"(T[Let me check.]C[get_weather]{"location":"Paris","days":3})");
    EXPECT_TRUE(run.saw_tool_call);
}

TEST(ToolCallParser, BlockAtStartHasNoText) {
    EXPECT_EQ(Whole("  \n<function_calls><invoke name=\"search\"><parameter name=\"query\">x</parameter></invoke>"
                    "</function_calls>"),
              R"(C[search]{"query":"x"})");
}

TEST(ToolCallParser, MultipleInvokesInOrder) {
    EXPECT_EQ(Whole("<function_calls>\n"
                    "<invoke name=\"search\">\n<parameter name=\"query\">one</parameter>\n</invoke>\n"
                    "<invoke name=\"get_weather\">\n<parameter name=\"location\">Rome</parameter>\n</invoke>\n"
                    "<invoke name=\"search\">\n<parameter name=\"query\">three</parameter>\n</invoke>\n"
                    "</function_calls>"),
              R"(C[search]{"query":"one"}C[get_weather]{"location":"Rome"}C[search]{"query":"three"})");
}

TEST(ToolCallParser, UnknownToolIsStillACall) {
    EXPECT_EQ(Whole("<function_calls><invoke name=\"launch_rocket\"><parameter name=\"count\">3</parameter>"
                    "<parameter name=\"cfg\">{\"a\":1}</parameter></invoke></function_calls>"),
              R"(C[launch_rocket]{"count":"3","cfg":{"a":1}})");
}

TEST(ToolCallParser, JsonBodyIsTheWholeInput) {
    EXPECT_EQ(Whole("<function_calls>\n<invoke name=\"get_weather\">\n{\"location\": \"Oslo\", \"days\": 2,}\n"
                    "</invoke>\n</function_calls>"),
              R"(C[get_weather]{"location":"Oslo","days":2})");
    // A JSON string containing </invoke>: the first </invoke> after which the body parses.
    EXPECT_EQ(Whole("<function_calls><invoke name=\"x\">{\"s\":\"a</invoke>b\"}</invoke></function_calls>"),
              R"(C[x]{"s":"a</invoke>b"})");
    // Entity-escaped JSON body.
    EXPECT_EQ(Whole("<function_calls><invoke name=\"x\">{&quot;s&quot;: 1}</invoke></function_calls>"),
              R"(C[x]{"s":1})");
}

TEST(ToolCallParser, EmptyAndSelfClosingInvokes) {
    EXPECT_EQ(Whole("<function_calls><invoke name=\"ping\"></invoke><invoke name='pong' id=\"t1\"/>"
                    "<invoke name=\"a\"><parameter name=\"p\"/></invoke></function_calls>"),
              R"(C[ping]{}C[pong]{}C[a]{"p":""})");
}

TEST(ToolCallParser, ValuesTrimOneNewlineAndDecodeEntities) {
    EXPECT_EQ(Whole("<function_calls><invoke name=\"search\"><parameter name=\"query\">\n\n  a &lt;b&gt; &amp;amp; "
                    "&quot;q&quot; &apos;s&apos; &nbsp; &\n\n</parameter></invoke></function_calls>"),
              R"(C[search]{"query":"\n  a <b> &amp; \"q\" 's' &nbsp; &\n"})");
    EXPECT_EQ(Whole("<function_calls><invoke name=\"search\"><parameter name=\"query\">\r\nx\r\n</parameter>"
                    "</invoke></function_calls>"),
              R"(C[search]{"query":"x"})");
    // Other markup inside a value is kept.
    EXPECT_EQ(Whole("<function_calls><invoke name=\"search\"><parameter name=\"query\"><b>x</b></invoke>"
                    "</parameter></invoke></function_calls>"),
              R"(C[search]{"query":"<b>x</b></invoke>"})");
}

TEST(ToolCallParser, CoercesBySchema) {
    auto call = [](std::string_view params) {
        return Whole("<function_calls><invoke name=\"get_weather\">" + std::string(params) +
                     "</invoke></function_calls>");
    };
    EXPECT_EQ(call("<parameter name=\"days\">\n 7 \n</parameter><parameter name=\"scale\">2.5</parameter>"
                   "<parameter name=\"metric\">true</parameter><parameter name=\"tags\">[\"a\", \"b\"]</parameter>"
                   "<parameter name=\"opts\">{\"k\": {\"n\": 1}}</parameter>"),
              R"(C[get_weather]{"days":7,"scale":2.5E0,"metric":true,"tags":["a","b"],"opts":{"k":{"n":1}}})");
    // Strings stay strings even when they look like JSON.
    EXPECT_EQ(call("<parameter name=\"location\">42</parameter><parameter name=\"zip\">[1]</parameter>"
                   "<parameter name=\"location\">true</parameter>"),
              R"(C[get_weather]{"location":"true","zip":"[1]"})");
    // Not parseable as JSON: kept as a string.
    EXPECT_EQ(call("<parameter name=\"days\">three</parameter><parameter name=\"tags\">a, b</parameter>"
                   "<parameter name=\"metric\"></parameter>"),
              R"(C[get_weather]{"days":"three","tags":"a, b","metric":""})");
    // Type lists, anyOf and enum.
    EXPECT_EQ(call("<parameter name=\"maybe\">null</parameter><parameter name=\"either\">[\"x\"]</parameter>"
                   "<parameter name=\"level\">2</parameter>"),
              R"(C[get_weather]{"maybe":null,"either":["x"],"level":2})");
    EXPECT_EQ(call("<parameter name=\"either\">12</parameter><parameter name=\"maybe\">5</parameter>"),
              R"(C[get_weather]{"either":"12","maybe":5})");
    // Unknown property of a known tool: only arrays/objects are parsed.
    EXPECT_EQ(call("<parameter name=\"extra\">5</parameter><parameter name=\"extra2\">[5]</parameter>"),
              R"(C[get_weather]{"extra":"5","extra2":[5]})");
}

TEST(ToolCallParser, MalformedBlocksFallBackToTextVerbatim) {
    const char* cases[] = {
        "before \n<function_calls></function_calls> after",
        "<function_calls>\n<invoke>\n</invoke>\n</function_calls>",
        "<function_calls><invoke name=\"a\"></invoke>stray text</function_calls>",
        "<function_calls><invoke name=\"a\"><parameter name=\"p\">x</invoke></function_calls>",
        "<function_calls><invoke name=\"a\"><parameter>x</parameter></invoke></function_calls>",
        "<function_calls><invoke name=a></invoke></function_calls>",
        "<function_calls><invoke name=\"a\">not json</invoke></function_calls>",
        "<function_calls><invoke name=\"a\">{\"broken\": }</invoke></function_calls>",
        "<function_calls><invoke name=\"a\">[1,2]</invoke></function_calls>",
        "<function_calls><invokes name=\"a\"></invokes></function_calls>",
    };
    for (const char* c : cases) {
        ParseRun run = Parse(WeatherTools(), {c});
        EXPECT_EQ(Describe(run.pieces), "T[" + std::string(c) + "]") << c;
        EXPECT_FALSE(run.saw_tool_call) << c;
    }
}

TEST(ToolCallParser, MalformedBlockThenGoodBlock) {
    EXPECT_EQ(Whole("a\n<function_calls>oops</function_calls>\nb\n<function_calls><invoke name=\"s\"></invoke>"
                    "</function_calls>\n\n c"),
              "T[a\n<function_calls>oops</function_calls>\nb]C[s]{}T[c]");
}

TEST(ToolCallParser, UnclosedBlockAtEndIsParsedLeniently) {
    // The usual case: the close tag was a stop string, so the backend never sent it.
    EXPECT_EQ(Whole("Checking.\n<function_calls>\n<invoke name=\"get_weather\">\n"
                    "<parameter name=\"location\">Paris</parameter>\n</invoke>\n"),
              R"(T[Checking.]C[get_weather]{"location":"Paris"})");
    // Complete invokes kept, a truncated trailing one dropped.
    EXPECT_EQ(Whole("<function_calls><invoke name=\"a\"></invoke>\n<invoke name=\"b\"><parameter name=\"q\">par"),
              "C[a]{}");
    EXPECT_EQ(Whole("<function_calls><invoke name=\"a\"></invoke>\n</function_ca"), "C[a]{}");
    // No complete invoke: the text comes back verbatim.
    EXPECT_EQ(Whole("x \n<function_calls>\n<invoke name=\"a\"><parameter name=\"q\">par"),
              "T[x \n<function_calls>\n<invoke name=\"a\"><parameter name=\"q\">par]");
    EXPECT_EQ(Whole("see `<function_calls>` in the docs"), "T[see `<function_calls>` in the docs]");
    ParseRun run = Parse(WeatherTools(), {"<function_calls>"});
    EXPECT_EQ(Describe(run.pieces), "T[<function_calls>]");
    EXPECT_FALSE(run.saw_tool_call);
}

TEST(ToolCallParser, WhitespaceAfterBlockDroppedTextKept) {
    EXPECT_EQ(Whole("<function_calls><invoke name=\"a\"></invoke></function_calls>\n\n  Done.\n"),
              "C[a]{}T[Done.\n]");
    EXPECT_EQ(Whole("<function_calls><invoke name=\"a\"></invoke></function_calls>\n\n"), "C[a]{}");
}

TEST(ToolCallParser, TwoBlocks) {
    EXPECT_EQ(Whole("A <function_calls><invoke name=\"a\"></invoke></function_calls> B "
                    "<function_calls><invoke name=\"b\"></invoke></function_calls>"),
              "T[A]C[a]{}T[B]C[b]{}");
}

// ---------------------------------------------------------------------------------------------
// ToolCallParser: streaming behaviour

// A parser fed one call at a time: Feed and Finish return Describe() of what that call produced.
class StepParser {
public:
    explicit StepParser(const json::array& tools) : parser_(tools) {}

    std::string Feed(std::string_view text) {
        std::vector<ToolPiece> out;
        parser_.Feed(text, out);
        return Describe(out);
    }

    std::string Finish() {
        std::vector<ToolPiece> out;
        parser_.Finish(out);
        return Describe(out);
    }

    bool saw_tool_call() const { return parser_.saw_tool_call(); }

private:
    ToolCallParser parser_;
};

TEST(ToolCallParser, TextIsReturnedAsSoonAsPossible) {
    StepParser p(WeatherTools());
    EXPECT_EQ(p.Feed("Hello wor"), "T[Hello wor]");
    EXPECT_EQ(p.Feed("ld <b"), "T[ld <b]");  // "<b" cannot start the tag
    EXPECT_EQ(p.Feed("> \n"), "T[>]");  // trailing whitespace waits: it is trimmed if a block follows
    EXPECT_EQ(p.Feed("<func"), "");
    EXPECT_EQ(p.Feed("tion"), "");
    EXPECT_EQ(p.Feed("al"), "T[ \n<functional]");  // no longer a tag prefix
    EXPECT_EQ(p.Feed(" x <function_calls><invoke name=\"a\">"), "T[ x]");
    EXPECT_EQ(p.Feed("</invoke>"), "");  // inside a block: buffered
    EXPECT_FALSE(p.saw_tool_call());
    EXPECT_EQ(p.Feed("</function_calls>"), "C[a]{}");
    EXPECT_TRUE(p.saw_tool_call());
    EXPECT_EQ(p.Finish(), "");
}

TEST(ToolCallParser, IncompleteCodePointsAreHeldBack) {
    StepParser p(json::array{});
    EXPECT_EQ(p.Feed("caf\xC3"), "T[caf]");
    EXPECT_EQ(p.Feed("\xA9 \xF0\x9F"), "T[\xC3\xA9 ]");
    EXPECT_EQ(p.Feed("\x98"), "");
    EXPECT_EQ(p.Feed("\x80!"), "T[\xF0\x9F\x98\x80!]");
    // Invalid bytes are not held forever; a truncated sequence at the end is flushed by Finish.
    EXPECT_EQ(p.Feed("\x80x\xE2\x82"), "T[\x80x]");
    EXPECT_EQ(p.Finish(), "T[\xE2\x82]");
}

TEST(ToolCallParser, FeedMergesTextOfOneCall) {
    ToolCallParser p(json::array{});
    std::vector<ToolPiece> out;
    p.Feed("a<function_calls>x</function_calls>b", out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].text, "a<function_calls>x</function_calls>b");
}

// Representative outputs: every split into two pieces, and one byte at a time, must give the
// same (normalized) pieces as one Feed, and every text piece must be valid UTF-8.
struct SplitCase {
    std::string input;
    std::string expected;
};

std::vector<SplitCase> SplitCases() {
    return {
        {"Héllo <b>wörld</b> 😀 <function_call not a tag> — fin\n",
         "T[Héllo <b>wörld</b> 😀 <function_call not a tag> — fin\n]"},
        {"Let me check. ✓\n\n<function_calls>\n<invoke name=\"get_weather\">\n"
         "<parameter name=\"location\">Paris, 🇫🇷 &amp; Île</parameter>\n<parameter name=\"days\">3</parameter>\n"
         "</invoke>\n</function_calls>\nDone — ok.",
         R"(T[Let me check. ✓]C[get_weather]{"location":"Paris, 🇫🇷 & Île","days":3}T[Done — ok.])"},
        {"Sure \n<function_calls>\n<invoke name=\"search\">\n<parameter name=\"query\">\nnaïve &lt;x&gt;\n"
         "</parameter>\n</invoke>\n<invoke name=\"get_weather\">{\"location\": \"東京\", \"tags\": [1, 2]}</invoke>\n",
         R"(T[Sure]C[search]{"query":"naïve <x>"}C[get_weather]{"location":"東京","tags":[1,2]})"},
        {"x <function_calls><oops>é</oops></function_calls> y ✓",
         "T[x <function_calls><oops>é</oops></function_calls> y ✓]"},
        {"abc\n<function_calls>\n<invoke name=\"a\">\n<parameter name=\"x\">partial é",
         "T[abc\n<function_calls>\n<invoke name=\"a\">\n<parameter name=\"x\">partial é]"},
        {"1 <function_calls><invoke name=\"a\"/></function_calls> 2 <<function_calls><invoke name=\"b\">"
         "<parameter name=\"p\">[\"ü\"]</parameter></invoke></function_calls>",
         R"(T[1]C[a]{}T[2 <]C[b]{"p":["ü"]})"},
        {"trailing 中 <function_ca", "T[trailing 中 <function_ca]"},
        {"\n\n<function_calls><invoke name=\"a\"></invoke></function_calls>", "C[a]{}"},
    };
}

void CheckRun(const ParseRun& run, const std::string& expected, const std::string& what) {
    for (const ToolPiece& p : run.pieces) {
        if (p.kind == ToolPiece::Kind::kText) {
            EXPECT_FALSE(p.text.empty()) << what;
            EXPECT_TRUE(ValidUtf8(p.text)) << what << " piece: " << p.text;
        }
    }
    EXPECT_EQ(Describe(Normalize(run.pieces)), expected) << what;
}

TEST(ToolCallParserSplits, WholeInputGivesExpected) {
    for (const SplitCase& c : SplitCases()) {
        ASSERT_TRUE(ValidUtf8(c.input));
        CheckRun(Parse(WeatherTools(), {c.input}), c.expected, "whole: " + c.input);
    }
}

TEST(ToolCallParserSplits, EveryTwoPieceSplit) {
    json::array tools = WeatherTools();
    for (const SplitCase& c : SplitCases()) {
        std::string_view in = c.input;
        ParseRun whole = Parse(tools, {in});
        for (std::size_t k = 0; k <= in.size(); ++k) {
            ParseRun run = Parse(tools, {in.substr(0, k), in.substr(k)});
            CheckRun(run, c.expected, "split at " + std::to_string(k) + ": " + c.input);
            EXPECT_EQ(run.saw_tool_call, whole.saw_tool_call);
        }
    }
}

TEST(ToolCallParserSplits, OneByteAtATime) {
    json::array tools = WeatherTools();
    for (const SplitCase& c : SplitCases()) {
        std::vector<std::string_view> bytes;
        for (std::size_t i = 0; i < c.input.size(); ++i) bytes.push_back(std::string_view(c.input).substr(i, 1));
        CheckRun(Parse(tools, bytes), c.expected, "bytewise: " + c.input);
    }
}

TEST(ToolCallParserSplits, EveryThreePieceSplitOfOneCase) {
    json::array tools = WeatherTools();
    const SplitCase c = SplitCases()[1];
    std::string_view in = c.input;
    for (std::size_t a = 0; a <= in.size(); a += 3) {
        for (std::size_t b = a; b <= in.size(); b += 5) {
            CheckRun(Parse(tools, {in.substr(0, a), in.substr(a, b - a), in.substr(b)}), c.expected,
                     "3-split " + std::to_string(a) + "," + std::to_string(b));
        }
    }
}

}  // namespace
}  // namespace clove::translate
