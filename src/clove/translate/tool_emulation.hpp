#pragma once

// Prompt-based tool calling for OpenAI-compatible backends without native tools (emulation.md
// §2.2b): tool definitions go into the system prompt, past tool_use / tool_result blocks are
// rendered as text in a pseudo-XML dialect, and the model output is parsed back into tool calls
// incrementally.
//
// The dialect (one block may hold several invokes, run in order):
//
//   <function_calls>
//   <invoke name="get_weather">
//   <parameter name="location">Paris</parameter>
//   <parameter name="days">3</parameter>
//   </invoke>
//   </function_calls>
//
// - A parameter value is plain text; numbers, booleans, arrays and objects are written as JSON.
//   One leading and one trailing newline of a value are dropped; the entities &lt; &gt; &amp;
//   &quot; &apos; are decoded.
// - Instead of parameters, an invoke may hold one JSON object: the whole input.
// - History: a tool_use is rendered as above with an extra `id` attribute on the invoke; a
//   tool_result as `<function_results>\n<result tool_use_id="ID">\nTEXT\n</result>\n</function_results>`
//   (`<error tool_use_id="ID">` when is_error).

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

namespace clove::translate {

/// System-prompt text describing the tools (name, description, input_schema JSON) and the exact
/// output format the model must use to call them. `tool_choice` (Anthropic shape, may be null):
/// auto or absent (may call), any ("you must call one of the tools"), tool{name} ("you must call
/// <name>"), none -> "" (tools omitted). `disable_parallel_tool_use` asks for one call at most.
/// No tools -> "". Deterministic output (tool order and key order as given).
std::string RenderToolInstructions(const boost::json::array& tools, const boost::json::value* tool_choice);

/// An assistant tool_use block as dialect text (a whole `<function_calls>` block, no trailing
/// newline). String values are written as is (only `</` and entity-like `&` escaped, so the
/// parser gives back the same value); other values as compact JSON.
std::string RenderToolUse(std::string_view id, std::string_view name, const boost::json::value& input);

/// A tool_result block as text: `content` a string or an array of blocks (text joined with "\n",
/// images replaced by "[image]", documents by "[document]"); `is_error` uses an `<error>` element.
/// No trailing newline.
std::string RenderToolResult(std::string_view tool_use_id, const boost::json::value& content, bool is_error);

/// The closing tag of a calls block: the translator also sends it as a stop string so the model
/// cannot invent results.
std::string_view ToolCallsCloseTag();

/// One piece of parsed model output.
struct ToolPiece {
    enum class Kind { kText, kToolCall } kind = Kind::kText;
    std::string text;        ///< kText
    std::string name;        ///< kToolCall
    std::string input_json;  ///< kToolCall: compact JSON object
};

/// Incremental parser of model output text. Text outside a calls block is returned as soon as it
/// cannot be part of the opening tag: only a possible partial tag prefix, the whitespace right
/// before it (trimmed when the tag follows) and an incomplete UTF-8 code point are held back.
/// Inside a block everything is buffered until the block closes (or the stream ends), then each
/// call is returned. Whitespace right after a parsed block is dropped. A block that does not
/// parse is returned verbatim as text (with the whitespace before it). One instance per stream;
/// not thread-safe.
class ToolCallParser {
public:
    /// `tools` gives the known tool names and input schemas, used to coerce parameter types: a
    /// parameter whose schema type is number/integer/boolean/array/object (also via a type list,
    /// anyOf/oneOf or enum) is parsed as JSON when possible; strings stay strings. A parameter
    /// without type information (unknown tool or property) is parsed as JSON only when it is a
    /// JSON array or object.
    explicit ToolCallParser(const boost::json::array& tools);

    /// Appends the pieces that became final to `out` (adjacent text produced by one call is
    /// merged into one piece; never an empty text piece).
    void Feed(std::string_view text, std::vector<ToolPiece>& out);

    /// End of output: flushes held text; an unclosed calls block is parsed leniently (its
    /// complete invokes are returned, a truncated trailing one dropped) if it holds at least one
    /// complete invoke, else it is returned as text. The parser is then reset.
    void Finish(std::vector<ToolPiece>& out);

    /// Whether a tool call has been returned.
    bool saw_tool_call() const { return saw_tool_call_; }

    /// tool name -> parameter name -> bit set of JSON types allowed by the schema.
    using TypeMap = std::unordered_map<std::string, std::unordered_map<std::string, unsigned>>;

private:
    void Drain(std::vector<ToolPiece>& out, std::size_t first_new);

    TypeMap types_;
    std::string buf_;         // outside: held text; inside: block content after the opening tag
    std::string pending_ws_;  // whitespace trimmed before the opening tag (restored on fallback)
    std::size_t scan_pos_ = 0;
    bool in_block_ = false;
    bool skip_ws_ = false;
    bool saw_tool_call_ = false;
};

}  // namespace clove::translate
