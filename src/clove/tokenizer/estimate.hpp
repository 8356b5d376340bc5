#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace clove::tokenizer {

/// Fixed parts of a request estimate, in tokens (docs/token-counting.md explains each). The text
/// parts are counted with Bpe::Default(); the caller multiplies the sum by its configured factor.
struct EstimateConstants {
    /// Once per request: the turn framing around the whole prompt and the assistant prefix.
    static constexpr int64_t kRequest = 4;
    /// Once when a system prompt is present (its own framing).
    static constexpr int64_t kSystem = 2;
    /// Per message: the role header and turn separator.
    static constexpr int64_t kMessage = 4;
    /// The tool-use system prompt Anthropic adds when `tools` is non-empty (documented per model;
    /// 346 with tool_choice auto/none, 313 with any/tool for the current models).
    static constexpr int64_t kToolsPromptAuto = 346;
    static constexpr int64_t kToolsPromptForced = 313;
    /// Per tool definition: the wrapper around its name, description and schema.
    static constexpr int64_t kTool = 12;
    /// Per tool_use / server_tool_use block (wrapper and id) and per tool_result block.
    static constexpr int64_t kToolUse = 12;
    static constexpr int64_t kToolResult = 8;
    /// Per image, whatever its size: Anthropic charges about width*height/750 tokens and scales
    /// images down to ~1.15 megapixels, so ~1,600 is the ceiling of a normal image.
    static constexpr int64_t kImage = 1600;
    /// Per PDF page (text plus the page image; Anthropic quotes 1,500-3,000 per page), pages found
    /// by counting /Type /Page objects; a PDF without visible page objects counts one page per
    /// kPdfBytesPerPage bytes (at least one). A document by URL or file id counts as one page.
    static constexpr int64_t kPdfPage = 2000;
    static constexpr int64_t kPdfBytesPerPage = 50'000;
    /// Per other block (content-block framing): text, thinking, document, search_result, ...
    static constexpr int64_t kBlock = 1;
    /// Text is tokenized exactly up to this many bytes per call; the rest (only in bodies far
    /// beyond any context window) is extrapolated at the tokens-per-byte ratio measured so far,
    /// which bounds the CPU time of one estimate (~0.1-0.7 s at worst, see the doc).
    static constexpr size_t kExactTextBytes = size_t{8} << 20;
};

/// Token estimate of a whole Anthropic Messages / count_tokens request body: system, tools (name,
/// description, input_schema as compact JSON), every message's text, tool_use (name + input
/// JSON), tool_result, thinking and document text, plus the fixed overheads above. Returns >= 1
/// for any body (a body that is not a JSON object is counted as plain text). Never throws.
int64_t EstimateRequestTokens(std::string_view anthropic_request_json);

/// Token estimate of plain text (e.g. output text when an upstream reports no usage): its BPE
/// token count, 0 for empty text. Never throws.
int64_t EstimateTextTokens(std::string_view text);

}  // namespace clove::tokenizer
